/* Verifying a user's token with the keys the node holds, newer ones included. */
#include "autoconf.h"

#include "app.h"
#include "clock.h"
#include "jwks.h"
#include "usecase_auth.h"

enum pc_result
usecase_auth_verify(struct app *app, const char *token, size_t len,
    struct jwt_claims *claims, enum jwt_refusal *why, char *err)
{
	const struct config *cfg = &app->cfg;
	struct jwt_policy policy = {
		.audience = cfg->auth_audience,
		.issuer = cfg->auth_issuer,
		.leeway_s = cfg->auth_leeway,
		.max_lifetime_s = cfg->auth_max_token_lifetime,
	};
	const struct jwt_keys *keys = app->keys;
	enum pc_result r = PC_UNAVAILABLE;
	int64_t now = clock_now_us() / 1000000;

	*why = JWT_REFUSAL_NONE;
	if (app->jwks != NULL && (keys = jwks_keys(app->jwks)) == NULL) {
		pc_err(err, "no key set from [auth] jwks_url yet");
		goto out;
	}
	r = PC_INVALID;
	if (keys == NULL) {
		/* Without a key, every token's is unknown. */
		*why = JWT_REFUSAL_UNKNOWN_KEY;
		pc_err(err, "no [auth] key file");
		goto out;
	}
	r = jwt_verify(keys, token, len, &policy, now, claims, why, err);
	/* A rotation: the token's key was published after the set we hold. */
	if (r == PC_NOTFOUND && app->jwks != NULL && jwks_refetch(app->jwks) &&
	    (keys = jwks_keys(app->jwks)) != NULL)
		r = jwt_verify(keys, token, len, &policy, now, claims, why,
		    err);
	if (r == PC_NOTFOUND && app->jwks != NULL && !jwks_has_set(app->jwks)) {
		pc_err(err, "no key set from [auth] jwks_url yet");
		*why = JWT_REFUSAL_NONE;
		r = PC_UNAVAILABLE;
	}
out:
	return r;
}

/* Who is asking: Supabase tokens from Authorization: Bearer, for the routes. */
#include "autoconf.h"

#include <string.h>
#include <strings.h>

#include "app.h"
#include "clock.h"
#include "log.h"
#include "route_auth.h"
#include "usecase_profile_write.h"

enum auth_result
route_auth_check(struct app *app, const struct http_request *req,
    struct jwt_claims *claims)
{
	const char *h = http_request_header(req, "HTTP_AUTHORIZATION");
	struct jwt_policy policy = {
		.audience = app->cfg.auth_audience,
		.issuer = app->cfg.auth_issuer,
		.leeway_s = app->cfg.auth_leeway,
		.max_lifetime_s = app->cfg.auth_max_token_lifetime,
	};
	char err[PC_ERRLEN] = "";
	size_t n;

	memset(claims, 0, sizeof(*claims));
	if (h == NULL || *h == '\0')
		return AUTH_NONE;
	if (strncasecmp(h, "Bearer ", 7) != 0 || app->keys == NULL)
		return AUTH_INVALID;
	h += 7;
	while (*h == ' ')
		h++;
	n = strlen(h);
	while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	if (jwt_verify(app->keys, h, n, &policy, clock_now_us() / 1000000,
	    claims, err) != PC_OK) {
		/* The reason only: never the token. */
		log_info("token_refused", "reason=\"%s\"", err);
		return AUTH_INVALID;
	}
	return AUTH_OK;
}

bool
route_auth_may_write(const struct jwt_claims *claims, const char *id)
{
	return strcmp(claims->role, "service_role") == 0 ||
	    strcmp(claims->sub, id) == 0;
}

bool
route_auth_admit_write(struct app *app, const struct jwt_claims *claims,
    struct http_response *resp)
{
	long retry_after;

	if (strcmp(claims->role, "service_role") == 0 ||
	    usecase_write_admit(app, claims->sub, &retry_after))
		return true;
	http_header_add(resp, "Retry-After", "%ld", retry_after);
	http_error(resp, 429, "rate_limited", "too many writes; try again later");
	return false;
}

long
route_auth_max_pending(const struct app *app, const struct jwt_claims *claims)
{
	return strcmp(claims->role, "service_role") == 0 ? 0 :
	    app->cfg.limits_max_pending_bytes;
}

bool
route_auth_owner(struct app *app, const struct http_request *req,
    struct http_response *resp, const char *id, struct jwt_claims *claims)
{
	switch (route_auth_check(app, req, claims)) {
	case AUTH_NONE:
		http_header_add(resp, "WWW-Authenticate", "Bearer realm=\"profilecache\"");
		http_error(resp, 401, "unauthorized", "a bearer token is required");
		return false;
	case AUTH_INVALID:
		http_header_add(resp, "WWW-Authenticate",
		    "Bearer realm=\"profilecache\", error=\"invalid_token\"");
		http_error(resp, 401, "invalid_token",
		    "the bearer token is invalid or expired");
		return false;
	case AUTH_OK:
		break;
	}
	if (!route_auth_may_write(claims, id)) {
		http_error(resp, 403, "forbidden", "only the owner may change this profile");
		return false;
	}
	return true;
}

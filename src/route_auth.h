/*
 * Who is asking: Supabase user tokens from Authorization: Bearer, and the
 * project's secret key from the apikey header, for the routes.
 */
#ifndef PC_ROUTE_AUTH_H
#define PC_ROUTE_AUTH_H

#include <stdbool.h>

#include "http.h"
#include "jwt.h"

struct app;

enum auth_result {
	AUTH_NONE,          /* neither a bearer token nor a secret key */
	AUTH_INVALID,       /* an Authorization header, but no valid token:
				   why in auth_caller's refused and detail */
	AUTH_KEY_AS_BEARER, /* a publishable or secret key as the bearer token */
	AUTH_BAD_KEY,       /* an sb_secret_ apikey that is not [auth]'s */
	AUTH_UNAVAILABLE,   /* a token, but no key set to judge it by yet */
	AUTH_OK
};

/* Who is asking, once route_auth_check() answered AUTH_OK. */
struct auth_caller {
	bool admin; /* the secret key in apikey, or a legacy service_role
				   token while [auth] accept_legacy_service_role */
	struct jwt_claims claims; /* the verified token; zeroed for the key */
	enum jwt_refusal refused; /* AUTH_INVALID: what was wrong with the
					   token (JWT_REFUSAL_MALFORMED for an
					   Authorization header that is not
					   Bearer) */
	char detail[PC_ERRLEN];   /* AUTH_INVALID: jwt_verify()'s fixed
					   reason, never the token */
};

/*
 * Who sent req, into *who (zeroed unless AUTH_OK, but for refused and detail
 * with AUTH_INVALID). The secret key in apikey
 * makes the caller the admin unless an Authorization header comes with it:
 * then, as with PostgREST, the token says who is asking. Any other apikey
 * (a publishable or anon key, as supabase-js sends) is ignored.
 */
enum auth_result route_auth_check(struct app *app,
    const struct http_request *req, struct auth_caller *who);

/* True when who may see profile id when it is private: its owner or the admin. */
bool route_auth_may_read(const struct auth_caller *who, const char *id);

/*
 * Require a caller who may change profile id: the admin, or its owner (the
 * token's sub, role authenticated; an anonymous user only while [auth]
 * allow_anonymous). id NULL: any such user (the row's owner field is
 * checked later). False with 401 (with WWW-Authenticate) or 403 in resp
 * otherwise, or 503 with Retry-After when the token cannot be judged yet
 * ([auth] jwks_url has given no key set). The error's code says what to fix:
 * missing_credentials, token_* for a token refused (the reason of
 * jwt_verify(), see enum jwt_refusal) or of the wrong role, and so on; the
 * README lists them.
 */
bool route_auth_owner(struct app *app, const struct http_request *req,
    struct http_response *resp, const char *id, struct auth_caller *who);

/*
 * Count a write against the caller's per-minute limit (the admin has none).
 * False with 429 and Retry-After in resp when over it.
 */
bool route_auth_admit_write(struct app *app, const struct auth_caller *who,
    struct http_response *resp);

/*
 * The bytes of pending journal changes a write by who may leave its
 * profile holding ([limits] max_pending_bytes; a user writes only their own
 * profile, so this is theirs): 0, no limit, for the admin.
 */
long route_auth_max_pending(const struct app *app,
    const struct auth_caller *who);

#endif

/*
 * Who is asking: Supabase user tokens from Authorization: Bearer, and the
 * project's secret key from the apikey header, for the routes.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "apikey.h"
#include "app.h"
#include "log.h"
#include "ratelimit.h"
#include "route_auth.h"
#include "usecase_auth.h"

enum auth_result
route_auth_check(struct app *app, const struct http_request *req,
    struct auth_caller *who)
{
	const char *h = http_request_header(req, "HTTP_AUTHORIZATION");
	const char *key = http_request_header(req, "HTTP_APIKEY");
	const struct config *cfg = &app->cfg;
	char err[PC_ERRLEN] = "";
	enum apikey_kind kind;
	size_t n;

	memset(who, 0, sizeof(*who));
	if (key != NULL && apikey_kind(key) == APIKEY_SECRET) {
		if (!apikey_secret_matches(cfg->auth_secret_key, key,
		        strlen(key))) {
			/* The reason only: never the key. */
			log_info("api_key_refused",
			    "reason=\"not the secret key "
			    "of [auth]\"");
			return AUTH_BAD_KEY;
		}
		if (h == NULL || *h == '\0') {
			who->admin = true;
			return AUTH_OK;
		}
	}
	if (h == NULL || *h == '\0')
		return AUTH_NONE;
	if (strncasecmp(h, "Bearer ", 7) != 0) {
		who->refused = JWT_REFUSAL_MALFORMED;
		pc_err(who->detail, "the Authorization header is not Bearer");
		return AUTH_INVALID;
	}
	h += 7;
	while (*h == ' ')
		h++;
	kind = apikey_kind(h);
	if (kind == APIKEY_SECRET || kind == APIKEY_PUBLISHABLE) {
		log_info("token_refused",
		    "reason=\"an API key as the bearer token\"");
		return AUTH_KEY_AS_BEARER;
	}
	n = strlen(h);
	while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	/* The reason only: never the token. */
	switch (usecase_auth_verify(app, h, n, &who->claims, &who->refused,
	    err)) {
	case PC_OK:
		break;
	case PC_UNAVAILABLE:
		log_warn("token_unverifiable", "reason=\"%s\"", err);
		return AUTH_UNAVAILABLE;
	default:
		log_info("token_refused", "reason=\"%s\"", err);
		memcpy(who->detail, err, sizeof(who->detail));
		return AUTH_INVALID;
	}
	/*
	 * Supabase's legacy service_role key is an HS256 token; the asymmetric
	 * signing keys sign user sessions only, so a service_role claim under
	 * one of them grants nothing.
	 */
	who->admin = strcmp(who->claims.role, "service_role") == 0 &&
	    who->claims.hs256 && cfg->auth_accept_legacy_service_role;
	return AUTH_OK;
}

/* The owner of id: a signed-in user (role authenticated) whose sub it is. */
static bool
route_auth_is_owner(const struct auth_caller *who, const char *id)
{
	return strcmp(who->claims.role, "authenticated") == 0 &&
	    strcmp(who->claims.sub, id) == 0;
}

bool
route_auth_may_read(const struct auth_caller *who, const char *id)
{
	return who->admin || route_auth_is_owner(who, id);
}

bool
route_auth_admit_write(struct app *app, const struct auth_caller *who,
    struct http_response *resp)
{
	long retry_after;

	if (who->admin || ratelimit_admit(app, who->claims.sub, &retry_after))
		return true;
	http_header_add(resp, "Retry-After", "%ld", retry_after);
	http_error(resp, 429, "rate_limited",
	    "too many writes; try again later");
	return false;
}

/*
 * What a client is told about a refused token: the error's code, and a
 * message that says what to fix. Fixed strings, with neither '"' nor '\\',
 * so that they fit in a WWW-Authenticate error_description unchanged.
 */
static const struct route_auth_refusal {
	const char *code;
	const char *message;
} route_auth_refusals[] = {
	[JWT_REFUSAL_NONE] = { "invalid_token",
	    "the bearer token could not be verified" },
	[JWT_REFUSAL_MALFORMED] = { "token_malformed",
	    "the bearer token is not a well-formed JWT (three base64url parts: "
	    "a JSON header, a JSON payload with exp, a signature)" },
	[JWT_REFUSAL_UNSUPPORTED_ALG] = { "token_unsupported_alg",
	    "the bearer token's alg is not one this service verifies: sign "
	    "with the project's JWT secret (HS256) or signing keys (ES256, "
	    "RS256)" },
	[JWT_REFUSAL_UNKNOWN_KEY] = { "token_unknown_key",
	    "the bearer token names a signing key (kid) that the project's "
	    "keys do not hold for its alg" },
	[JWT_REFUSAL_BAD_SIGNATURE] = { "token_bad_signature",
	    "the bearer token's signature does not verify: it was signed with "
	    "another key or changed after signing" },
	[JWT_REFUSAL_EXPIRED] = { "token_expired",
	    "the bearer token has expired: refresh the session for a new one" },
	[JWT_REFUSAL_NOT_YET_VALID] = { "token_not_yet_valid",
	    "the bearer token is not valid yet (nbf or iat in the future): "
	    "check the issuer's clock" },
	[JWT_REFUSAL_LIFETIME_TOO_LONG] = { "token_lifetime_too_long",
	    "the bearer token lives longer (exp - iat) than this service "
	    "accepts ([auth] max_token_lifetime)" },
	[JWT_REFUSAL_WRONG_AUDIENCE] = { "token_wrong_audience",
	    "the bearer token is for another audience (aud)" },
	[JWT_REFUSAL_WRONG_ISSUER] = { "token_wrong_issuer",
	    "the bearer token was issued by another project or auth server "
	    "(iss)" },
};

/*
 * A 401 with the challenge RFC 6750 asks for: with error (and message as its
 * error_description) when a credential was sent, without when none was.
 */
static void
route_auth_unauthorized(struct http_response *resp, const char *error,
    const char *code, const char *message)
{
	if (error != NULL)
		http_header_add(resp, "WWW-Authenticate",
		    "Bearer realm=\"profilecache\", error=\"%s\", "
		    "error_description=\"%s\"",
		    error, message);
	else
		http_header_add(resp, "WWW-Authenticate",
		    "Bearer realm=\"profilecache\"");
	http_error(resp, 401, code, message);
}

/*
 * The 401 for a refused token. A malformed one gets jwt_verify()'s reason
 * (a fixed string: "bad exp", "missing signature", ...) after the message,
 * since "malformed" alone does not say which part is wrong.
 */
static void
route_auth_refused(struct http_response *resp, const struct auth_caller *who)
{
	const struct route_auth_refusal *r = &route_auth_refusals[0];
	char msg[PC_ERRLEN * 2];

	if ((size_t)who->refused <
	        sizeof(route_auth_refusals) / sizeof(route_auth_refusals[0]) &&
	    route_auth_refusals[who->refused].code != NULL)
		r = &route_auth_refusals[who->refused];
	if (who->refused == JWT_REFUSAL_MALFORMED && who->detail[0] != '\0')
		(void)snprintf(msg, sizeof(msg), "%s: %s", r->message,
		    who->detail);
	else
		(void)snprintf(msg, sizeof(msg), "%s", r->message);
	route_auth_unauthorized(resp, "invalid_token", r->code, msg);
}

long
route_auth_max_pending(const struct app *app, const struct auth_caller *who)
{
	return who->admin ? 0 : app->cfg.limits_max_pending_bytes;
}

bool
route_auth_owner(struct app *app, const struct http_request *req,
    struct http_response *resp, const char *id, struct auth_caller *who)
{
	const struct jwt_claims *c = &who->claims;

	switch (route_auth_check(app, req, who)) {
	case AUTH_NONE:
		route_auth_unauthorized(resp, NULL, "missing_credentials",
		    "this needs a user's token (Authorization: Bearer and a "
		    "JWT) or the secret key in the apikey header");
		return false;
	case AUTH_INVALID:
		route_auth_refused(resp, who);
		return false;
	case AUTH_KEY_AS_BEARER:
		route_auth_unauthorized(resp, "invalid_token",
		    "api_key_as_bearer",
		    "an API key is not a bearer token: send it in the apikey header");
		return false;
	case AUTH_BAD_KEY:
		route_auth_unauthorized(resp, NULL, "invalid_api_key",
		    "the apikey header holds a secret key that is not this "
		    "project's");
		return false;
	case AUTH_UNAVAILABLE:
		/* Not 401: the token may well be good, and a client that is
		 * told it is not would sign its user out. */
		http_header_add(resp, "Retry-After", "%ld",
		    app->cfg.auth_jwks_refetch_interval);
		http_error(resp, 503, "auth_unavailable",
		    "the project's signing keys could not be fetched; try again "
		    "later");
		return false;
	case AUTH_OK:
		break;
	}
	if (who->admin)
		return true;
	if (strcmp(c->role, "service_role") == 0) {
		http_error(resp, 403, "legacy_service_role_refused",
		    "service_role tokens are not accepted; send the secret key "
		    "in the apikey header");
		return false;
	}
	if (c->is_anonymous && !app->cfg.auth_allow_anonymous) {
		http_error(resp, 403, "anonymous_not_allowed",
		    "anonymous users may not change profiles; sign in first");
		return false;
	}
	/* Supabase's anon key is a token of role anon: no user signed in. */
	if (strcmp(c->role, "authenticated") != 0) {
		http_error(resp, 403, "token_wrong_role",
		    "this needs a signed-in user's token (role authenticated)");
		return false;
	}
	if (id != NULL && !route_auth_is_owner(who, id)) {
		http_error(resp, 403, "forbidden",
		    "only the owner may change this profile");
		return false;
	}
	return true;
}

/* Who is asking: Supabase tokens from Authorization: Bearer, for the routes. */
#ifndef PC_ROUTE_AUTH_H
#define PC_ROUTE_AUTH_H

#include <stdbool.h>

#include "http.h"
#include "jwt.h"

struct app;

enum auth_result {
	AUTH_NONE,	/* no Authorization header */
	AUTH_INVALID,	/* a header, but no valid Bearer token */
	AUTH_OK
};

/* Verify the request's bearer token, if any, into *claims. */
enum auth_result route_auth_check(struct app *app, const struct http_request *req,
    struct jwt_claims *claims);

/* True when claims may act on profile id: its owner, or the service role. */
bool route_auth_may_write(const struct jwt_claims *claims, const char *id);

/*
 * Require the owner of id or the service role. False with 401 (with
 * WWW-Authenticate) or 403 in resp otherwise.
 */
bool route_auth_owner(struct app *app, const struct http_request *req,
    struct http_response *resp, const char *id, struct jwt_claims *claims);

/*
 * Count a write against the caller's per-minute limit (the service role has
 * none). False with 429 and Retry-After in resp when over it.
 */
bool route_auth_admit_write(struct app *app, const struct jwt_claims *claims,
    struct http_response *resp);

/*
 * The bytes of pending journal changes a write by claims may leave its
 * profile holding ([limits] max_pending_bytes; a user writes only their own
 * profile, so this is theirs): 0, no limit, for the service role.
 */
long route_auth_max_pending(const struct app *app, const struct jwt_claims *claims);

#endif

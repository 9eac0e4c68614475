/* HTTP for /v1/profiles/{id}. */
#ifndef PC_ROUTE_PROFILE_H
#define PC_ROUTE_PROFILE_H

#include "http.h"

struct app;
struct write_result;

/*
 * Copy and validate the {id} segment into id (UUID_LEN + 1 bytes). False,
 * with a 400 in resp, when it is not a canonical UUID: nothing else has been
 * tried yet.
 */
bool route_profile_id(const struct http_request *req,
    struct http_response *resp, char *id);

/* Map a write's outcome onto the response (202/200 with the profile, or the error). */
void route_profile_write_answer(struct app *app, struct write_result *res,
    struct http_response *resp);

/* GET /v1/profiles/{id}: cache-first read with ETag, 304 and X-Cache. */
void route_profile_get(struct app *app, struct http_request *req,
    struct http_response *resp);

/*
 * PUT (replace the editable fields) and PATCH (merge) /v1/profiles/{id}:
 * owner or service role; 202 pending, or 200 synced when username changed.
 */
void route_profile_put(struct app *app, struct http_request *req,
    struct http_response *resp);
void route_profile_patch(struct app *app, struct http_request *req,
    struct http_response *resp);

/*
 * DELETE /v1/profiles/{id}: owner or service role, synchronous: 204 once
 * the database has deleted it, 503 and nothing changed otherwise.
 */
void route_profile_delete(struct app *app, struct http_request *req,
    struct http_response *resp);

#endif

/* HTTP for /v1/{resource}/{id}: the rows of declared resources. */
#ifndef PC_ROUTE_RESOURCE_H
#define PC_ROUTE_RESOURCE_H

#include <stdbool.h>

#include "http.h"

struct app;
struct resource;
struct write_result;

enum write_as {
	WRITE_AS_PUT,   /* replace the writable fields; creates */
	WRITE_AS_PATCH, /* merge into a row that exists */
	WRITE_AS_POST   /* create a row under a new id */
};

/*
 * Copy the id in s (len bytes) into id (UUID_LEN + 1 bytes). False, with a
 * 400 invalid_id naming res's item in resp, when it is not a canonical UUID.
 */
bool route_id(const struct resource *res, const char *s, size_t len,
    struct http_response *resp, char *id);

/*
 * The declared resource (besides profiles) a path /v1/{resource}/... names,
 * or NULL.
 */
const struct resource *route_resource_of(const struct app *app,
    const char *path);

/*
 * Answer a cache-first read of row id of res: 200 with ETag, X-Cache and
 * Cache-Control, 304 for a matching If-None-Match, or 404. A hidden row (its
 * visibility field true, or every row of a read = owner resource) is shown
 * only to its owner and the admin; to anyone else it is missing, in every
 * byte of the answer.
 */
void route_resource_read(struct app *app, const struct resource *res,
    const char *id, struct http_request *req, struct http_response *resp);

/*
 * Write row id of res from the request's JSON body: the caller must be the
 * admin or a signed-in user who owns the row (route_auth_owner(); with an
 * owner field of its own, the use-case checks the row). 202 pending, 200
 * synced for a write-through field, or the error of
 * route_resource_write_answer(). A POST answers with Location too.
 */
void route_resource_write(struct app *app, const struct resource *res,
    const char *id, enum write_as as, struct http_request *req,
    struct http_response *resp);

/* Map a write's outcome onto the response (202/200 with the row, or the error). */
void route_resource_write_answer(struct app *app, const struct resource *res,
    struct write_result *result, struct http_response *resp);

/*
 * Delete row id of res synchronously: 204 once the database deleted it
 * (404 when neither it nor this node had it), 403 for another user's row (404
 * for a read = owner resource), 503 and nothing changed when it is down.
 */
void route_resource_delete_row(struct app *app, const struct resource *res,
    const char *id, struct http_request *req, struct http_response *resp);

/*
 * The routes of a declared resource: GET, PUT (replace; creates), PATCH
 * (merge), DELETE /v1/{resource}/{id}, and POST /v1/{resource} (create under
 * a new random id).
 */
void route_resource_get(struct app *app, struct http_request *req,
    struct http_response *resp);
void route_resource_put(struct app *app, struct http_request *req,
    struct http_response *resp);
void route_resource_patch(struct app *app, struct http_request *req,
    struct http_response *resp);
void route_resource_delete(struct app *app, struct http_request *req,
    struct http_response *resp);
void route_resource_post(struct app *app, struct http_request *req,
    struct http_response *resp);

/*
 * GET /v1/{resource}?FIELD=eq.VALUE&order=FIELD.desc&limit=N&offset=M: a
 * page of rows (usecase_list()); 400 invalid_query for anything else; a
 * read = owner resource is listed only filtered on the caller's own id.
 */
/* POST /v1/{resource}/{id}/increments: one increment of a counter. */
void route_resource_increment(struct app *app, struct http_request *req,
    struct http_response *resp);
void route_resource_list(struct app *app, struct http_request *req,
    struct http_response *resp);

#endif

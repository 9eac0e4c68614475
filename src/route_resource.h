/* HTTP for /v1/{resource}/{id}: the rows of declared resources. */
#ifndef PC_ROUTE_RESOURCE_H
#define PC_ROUTE_RESOURCE_H

#include <stdbool.h>

#include "http.h"

struct app;
struct resource;

/*
 * The declared resource (besides profiles) a path /v1/{resource}/... names,
 * or NULL.
 */
const struct resource *route_resource_of(const struct app *app, const char *path);

/*
 * Answer a cache-first read of row id of res: 200 with ETag, X-Cache and
 * Cache-Control, 304 for a matching If-None-Match, or 404. A hidden row (its
 * visibility field true, or every row of a read = owner resource) is shown
 * only to its owner and the admin; to anyone else it is missing, in every
 * byte of the answer.
 */
void route_resource_read(struct app *app, const struct resource *res,
    const char *id, struct http_request *req, struct http_response *resp);

/* GET /v1/{resource}/{id} for a declared resource. */
void route_resource_get(struct app *app, struct http_request *req,
    struct http_response *resp);

#endif

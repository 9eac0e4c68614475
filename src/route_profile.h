/* HTTP for /v1/profiles/{id}. */
#ifndef PC_ROUTE_PROFILE_H
#define PC_ROUTE_PROFILE_H

#include "http.h"

struct app;

/* GET /v1/profiles/{id}: cache-first read with ETag, 304 and X-Cache. */
void route_profile_get(struct app *app, struct http_request *req,
    struct http_response *resp);

#endif

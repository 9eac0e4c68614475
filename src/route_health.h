/* HTTP for /v1/healthz. */
#ifndef PC_ROUTE_HEALTH_H
#define PC_ROUTE_HEALTH_H

#include "http.h"

struct app;

/*
 * GET /v1/healthz: each component's state. 200 "ok" when all are up, 200
 * "degraded" when only memcached is down (reads still work, from the
 * origin), 503 "unavailable" when the origin is down.
 */
void route_health_get(struct app *app, struct http_request *req,
    struct http_response *resp);

#endif

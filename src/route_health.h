/* HTTP for /v1/healthz. */
#ifndef PC_ROUTE_HEALTH_H
#define PC_ROUTE_HEALTH_H

#include "http.h"

struct app;

/*
 * GET /v1/healthz: each component's state, each memcached server of the
 * ring's, and the clock's offset to the database's as the flusher last
 * measured it. 200 "ok" when all are up, 200 "degraded" when a memcached
 * server is down (reads of its keys go to the origin) or the clock is off
 * by more than [flush] clock_warn_ms, 503 "unavailable" when the origin is
 * down.
 */
void route_health_get(struct app *app, struct http_request *req,
    struct http_response *resp);

#endif

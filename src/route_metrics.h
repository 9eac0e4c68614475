/* HTTP for /v1/metrics. */
#ifndef PC_ROUTE_METRICS_H
#define PC_ROUTE_METRICS_H

#include "http.h"

struct app;

/*
 * GET /v1/metrics: the node's counters and the journal's depth by state,
 * in Prometheus' text format. Only for loopback clients, or a bearer token
 * equal to [metrics] token_file's; 403 otherwise.
 */
void route_metrics_get(struct app *app, struct http_request *req,
    struct http_response *resp);

#endif

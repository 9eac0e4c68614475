/* HTTP for /v1/healthz. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cache.h"
#include "origin.h"
#include "route_health.h"

void
route_health_get(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	char err[PC_ERRLEN], *body;
	bool cache_up, origin_up;
	const char *status;
	int n;

	cache_up = cache_ping(app->cache) == PC_OK;
	origin_up = origin_ping(app->origin, err) == PC_OK;
	status = !origin_up ? "unavailable" : cache_up ? "ok" : "degraded";
	http_header_add(resp, "Cache-Control", "no-store");
	if ((body = malloc(160)) == NULL) {
		http_error(resp, 500, "internal", "out of memory");
		return;
	}
	n = snprintf(body, 160,
	    "{\"status\":\"%s\",\"components\":{\"cache\":\"%s\",\"origin\":\"%s\"}}",
	    status, cache_up ? "up" : "down", origin_up ? "up" : "down");
	http_body(resp, origin_up ? 200 : 503, "application/json", body, (size_t)n, body);
}

/* HTTP for /v1/healthz. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "buf.h"
#include "cache.h"
#include "origin.h"
#include "route_health.h"

/* The ring's servers as JSON members "host:port":"up|down". */
struct servers {
	struct buf b;
	enum pc_result r;
	unsigned n;
};

static void
server_state(void *arg, const char *host, unsigned port, bool up)
{
	struct servers *sv = arg;

	if (sv->r == PC_OK)
		sv->r = buf_printf(&sv->b, "%s\"%s:%u\":\"%s\"", sv->n > 0 ? "," : "",
		    host, port, up ? "up" : "down");
	sv->n++;
}

void
route_health_get(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	struct servers sv = { .r = PC_OK };
	char err[PC_ERRLEN], offset_ms[32] = "null";
	const char *status, *clock;
	struct buf b;
	bool origin_up;
	int64_t offset;
	unsigned nup;
	char *body;
	size_t len;

	(void)req;
	buf_init(&sv.b, 64 * 1024);
	buf_init(&b, 64 * 1024);
	nup = cache_ping_each(app->cache, server_state, &sv);
	origin_up = origin_ping(app->origin, err) == PC_OK;
	if (!app_clock_offset(&offset))
		clock = "unknown";
	else {
		clock = llabs(offset) <= app->cfg.flush_clock_warn_ms * 1000 ?
		    "ok" : "skewed";
		(void)snprintf(offset_ms, sizeof(offset_ms), "%.3f", (double)offset / 1000);
	}
	/* A server of the ring down: reads of its keys go to the database. */
	status = !origin_up ? "unavailable" : nup == sv.n && nup > 0 &&
	    strcmp(clock, "skewed") != 0 ? "ok" : "degraded";
	if (sv.r == PC_OK)
		sv.r = buf_printf(&b, "{\"status\":\"%s\",\"components\":{"
		    "\"cache\":\"%s\",\"cache_servers\":{%s},\"origin\":\"%s\","
		    "\"clock\":\"%s\",\"clock_offset_ms\":%s}}", status,
		    nup == 0 ? "down" : nup < sv.n ? "degraded" : "up",
		    sv.b.data != NULL ? sv.b.data : "", origin_up ? "up" : "down",
		    clock, offset_ms);
	buf_free(&sv.b);
	http_header_add(resp, "Cache-Control", "no-store");
	if (sv.r != PC_OK || (body = buf_steal(&b, &len)) == NULL) {
		buf_free(&b);
		http_error(resp, 500, "internal", "out of memory");
		return;
	}
	http_body(resp, origin_up ? 200 : 503, "application/json", body, len, body);
}

/* HTTP for /v1/healthz. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "buf.h"
#include "route_health.h"
#include "usecase_status.h"

void
route_health_get(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	char offset_ms[32] = "null";
	struct health h;
	struct buf b;
	char *body = NULL;
	enum pc_result r;
	size_t len;

	(void)req;
	http_header_add(resp, "Cache-Control", "no-store");
	buf_init(&b, 64 * 1024);
	r = usecase_health(app, &h);
	if (r == PC_OK && h.have_offset)
		(void)snprintf(offset_ms, sizeof(offset_ms), "%.3f",
		    (double)h.offset_us / 1000);
	if (r == PC_OK)
		r = buf_printf(&b,
		    "{\"status\":\"%s\",\"components\":{"
		    "\"cache\":\"%s\",\"cache_servers\":{%s},\"origin\":\"%s\","
		    "\"clock\":\"%s\",\"clock_offset_ms\":%s}}",
		    h.status, h.cache, h.servers, h.origin_up ? "up" : "down",
		    h.clock, offset_ms);
	if (r != PC_OK || (body = buf_steal(&b, &len)) == NULL) {
		health_release(&h);
		buf_free(&b);
		http_error(resp, 500, "internal", "out of memory");
		return;
	}
	http_body(resp, h.origin_up ? 200 : 503, "application/json", body, len,
	    body);
	health_release(&h);
}

/* HTTP for /v1/metrics. */
#include "autoconf.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "route_metrics.h"
#include "usecase_status.h"

/*
 * True when REMOTE_ADDR is exactly one of the loopback addresses a web
 * server writes for a local client. The whole string is compared: a prefix
 * test ("127.") also takes any value that merely starts like one. Behind a
 * reverse proxy on the same host every client is loopback: then token_file
 * is what protects the route (docs/security.md).
 */
static bool
is_loopback(const char *addr)
{
	static const char *const loopback[] = { "127.0.0.1", "::1",
		"::ffff:127.0.0.1" };
	size_t i;

	if (addr == NULL)
		return false;
	for (i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++)
		if (strcmp(addr, loopback[i]) == 0)
			return true;
	return false;
}

static bool
has_token(const struct app *app, const struct http_request *req)
{
	const char *h = http_request_header(req, "HTTP_AUTHORIZATION");
	const char *want = app->cfg.metrics_token;
	size_t n;

	if (want == NULL || h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	n = strlen(want);
	return strlen(h) == n && CRYPTO_memcmp(h, want, n) == 0;
}

void
route_metrics_get(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	char *body = NULL;
	size_t len;

	if (!is_loopback(http_request_header(req, "REMOTE_ADDR")) &&
	    !has_token(app, req)) {
		http_error(resp, 403, "forbidden",
		    "metrics are for loopback clients or the metrics token");
		return;
	}
	if (usecase_metrics(app, &body, &len) != PC_OK) {
		http_error(resp, 500, "internal", "out of memory");
		return;
	}
	http_header_add(resp, "Cache-Control", "no-store");
	http_body(resp, 200, "text/plain; version=0.0.4", body, len, body);
}

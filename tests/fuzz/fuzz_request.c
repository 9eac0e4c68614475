/* libFuzzer: request path handling, routing and conditional-request headers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "route.h"
#include "uuid.h"

static void
h(struct app *a, struct http_request *q, struct http_response *r)
{
	(void)a, (void)q, (void)r;
}

static const struct route table[] = {
	{ .method = "GET", .pattern = "/v1/profiles/*", .handler = h },
	{ .method = "POST", .pattern = "/v1/profiles/*/avatar", .handler = h },
	{ .method = "GET", .pattern = "/v1/healthz", .handler = h },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request req;
	struct http_if_match im;
	char *s, *script, *info, allow[128];
	int status;

	/* Three NUL-separated strings: REQUEST_URI, SCRIPT_NAME, PATH_INFO. */
	if ((s = malloc(size + 3)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = s[size + 1] = s[size + 2] = '\0';
	script = s + strlen(s) + 1;
	info = script + strlen(script) + 1;
	if (info > s + size + 2)
		info = s + size + 2;
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	if (http_request_path(s, script, info, req.path, sizeof(req.path)) == PC_OK &&
	    route_find(table, 3, &req, &status, allow, sizeof(allow)) != NULL &&
	    req.param[0] != NULL)
		(void)uuid_is_canonical(req.param[0], req.param_len[0]);
	http_if_match_parse(s, &im);
	(void)http_etag_match(s, "\"0123456789abcdef\"");
	free(s);
	return 0;
}

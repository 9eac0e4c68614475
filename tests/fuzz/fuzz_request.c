/* libFuzzer: request path handling, routing, conditional-request and CORS headers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "cors.h"
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

/* Origin and Access-Control-Request-Method from the input. */
struct cors_env {
	const char *origin, *method;
};

static const char *
cors_getenv(void *ctx, const char *name)
{
	const struct cors_env *e = ctx;

	if (strcmp(name, "HTTP_ORIGIN") == 0)
		return e->origin;
	if (strcmp(name, "HTTP_ACCESS_CONTROL_REQUEST_METHOD") == 0)
		return e->method;
	return NULL;
}

/*
 * Whatever the Origin, the CORS headers are well-formed lines, and an
 * echoed origin is one the configuration could hold.
 */
static void
cors_check(const char *origin, const char *method)
{
	static const char *const lists[] = { "https://app.example.com, *",
		"https://app.example.com" };
	struct cors_env env = { origin, method };
	struct http_response resp;
	struct http_request req;
	struct config cfg;
	const char *line, *end, *acao = "Access-Control-Allow-Origin: ";
	size_t i;

	for (i = 0; i < 2; i++) {
		memset(&cfg, 0, sizeof(cfg));
		cfg.http_cors_origins = (char *)lists[i];
		cfg.http_cors_max_age = 600;
		memset(&req, 0, sizeof(req));
		req.method = i == 0 ? "OPTIONS" : "GET";
		req.getenv = cors_getenv;
		req.env_ctx = &env;
		http_response_init(&resp);
		cors_preflight(&cfg, &req, &resp, "GET, HEAD, PATCH");
		req.method = "GET";
		cors_response(&cfg, &req, &resp);
		for (line = resp.headers; *line != '\0'; line = end + 2) {
			if ((end = strstr(line, "\r\n")) == NULL ||
			    strncmp(line, "Access-Control-", 15) != 0 ||
			    memchr(line, '\n', (size_t)(end - line)) != NULL ||
			    memchr(line, '\r', (size_t)(end - line)) != NULL)
				abort();
			if (strncmp(line, acao, strlen(acao)) == 0 &&
			    !cors_origin_valid(line + strlen(acao),
			        (size_t)(end - line) - strlen(acao)))
				abort();
		}
		http_response_free(&resp);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request req;
	struct http_if_match im;
	char *s, *script, *info, allow[128], err[PC_ERRLEN];
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
	if (http_request_path(s, script, info, req.path, sizeof(req.path)) ==
	        PC_OK &&
	    route_find(table, 3, &req, &status, allow, sizeof(allow)) != NULL &&
	    req.param[0] != NULL)
		(void)uuid_is_canonical(req.param[0], req.param_len[0]);
	cors_check(s, script);
	(void)cors_origins_check(s, err);
	http_if_match_parse(s, &im);
	(void)http_etag_match(s, "\"0123456789abcdef\"");
	free(s);
	return 0;
}

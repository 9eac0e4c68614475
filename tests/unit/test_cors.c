/* Unit tests for CORS: origin syntax, the cors_origins list, the headers of preflights and answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "cors.h"
#include "http.h"

static bool
valid(const char *o)
{
	return cors_origin_valid(o, strlen(o));
}

static void
test_origin_syntax(void **state)
{
	static const char *good[] = {
		"https://app.example.com",
		"http://localhost:5173",
		"http://127.0.0.1",
		"http://[::1]:3000",
		"https://xn--bcher-kva.example",
		"capacitor://localhost",
		"chrome-extension://abcdefghijklmnop",
		"https://a.b:65535",
		"https://a:1",
		"https://under_score.example",
	};
	static const char *bad[] = {
		"",
		"null",
		"*",
		"https://",
		"https:/a.test",
		"https//a.test",
		"a.test",
		"://a.test",
		"1https://a.test",
		"HTTPS://a.test",
		"https://A.test",
		"https://a.test/",
		"https://a.test/x",
		"https://a.test?x",
		"https://a.test#x",
		"https://user@a.test",
		"https://a.test:",
		"https://a.test:0",
		"https://a.test:080",
		"https://a.test:65536",
		"https://a.test:123456",
		"https://a.test:8x",
		"https://a.test x",
		"https://a.test\r\nX-Evil: 1",
		"https://a.test\n",
		"https://a.test\t",
		"https://a.test,https://b.test",
		"https://[::1",
		"https://[]",
		"https://[::g]",
		"https://a.test]",
		"javascript:alert(1)",
		"file://",
		"https://a.tést",
	};
	char long_origin[CORS_ORIGIN_MAX + 2];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!valid(good[i]))
			fail_msg("\"%s\" should be an origin", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (valid(bad[i]))
			fail_msg("\"%s\" should not be an origin", bad[i]);
	/* The length counts, not a NUL: a NUL inside is not an origin. */
	assert_false(cors_origin_valid("https://a.test\0x", 16));
	assert_true(cors_origin_valid("https://a.test,more", 14));
	/* Up to CORS_ORIGIN_MAX bytes. */
	memcpy(long_origin, "https://", 8);
	memset(long_origin + 8, 'a', sizeof(long_origin) - 9);
	long_origin[sizeof(long_origin) - 1] = '\0';
	assert_int_equal(strlen(long_origin), CORS_ORIGIN_MAX + 1);
	assert_false(valid(long_origin));
	long_origin[CORS_ORIGIN_MAX] = '\0';
	assert_true(valid(long_origin));
}

static void
check_error(const char *list, const char *needle)
{
	char err[PC_ERRLEN] = "";

	if (cors_origins_check(list, err) != PC_INVALID)
		fail_msg("\"%s\" should be refused", list);
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" for \"%s\" does not say \"%s\"", err,
		    list, needle);
}

static void
test_origins_check(void **state)
{
	char err[PC_ERRLEN];

	(void)state;
	assert_int_equal(cors_origins_check("https://app.example.com", err),
	    PC_OK);
	assert_int_equal(cors_origins_check("*", err), PC_OK);
	assert_int_equal(
	    cors_origins_check(" https://a.test ,http://localhost:5173\t*, ",
	        err),
	    PC_OK);
	assert_int_equal(
	    cors_origins_check("https://a.test:8443 http://[::1]:80", err),
	    PC_INVALID);
	assert_int_equal(
	    cors_origins_check("https://a.test:8443 http://[::1]:8080", err),
	    PC_OK);
	assert_int_equal(
	    cors_origins_check("http://a.test:443 https://a.test:80", err),
	    PC_OK);
	check_error(", ,", "no origin");
	check_error("https://a.test/", "\"https://a.test/\" is not an origin");
	check_error("https://a.test, https://B.test",
	    "\"https://B.test\" is not an origin");
	check_error("a.test", "scheme://host[:port]");
	check_error("null", "\"null\" cannot be allowed");
	check_error("https://a.test:443", "default port");
	check_error("http://a.test:80", "default port");
	check_error("http://[::1]:80", "default port");
	check_error("https://a.test;https://b.test", "is not an origin");
}

static void
test_origin_allowed(void **state)
{
	static const char list[] =
	    "https://app.example.com, http://localhost:5173";
	static const char *lookalikes[] = {
		"https://app.example.com.evil.test",
		"https://evil.test.app.example.com",
		"http://app.example.com",
		"https://app.example.com:8443",
		"https://app.example.com:443",
		"https://APP.example.com",
		"https://app.example.com/",
		"https://app.example.co",
		"https://pp.example.com",
		"https://app.example.comm",
		"http://localhost",
		"http://localhost:51730",
		"http://localhost:5173 ",
		"null",
		"*",
		"",
		"https://app.example.com, http://localhost:5173",
		"https://app.example.com\r\nX-Evil: 1",
	};
	size_t i;

	(void)state;
	assert_int_equal(cors_origin_allowed(list, "https://app.example.com"),
	    CORS_ANY);
	assert_int_equal(cors_origin_allowed(list, "http://localhost:5173"),
	    CORS_ANY);
	for (i = 0; i < sizeof(lookalikes) / sizeof(lookalikes[0]); i++)
		if (cors_origin_allowed(list, lookalikes[i]) != CORS_DENY)
			fail_msg("\"%s\" should not be allowed", lookalikes[i]);
	assert_int_equal(cors_origin_allowed(list, NULL), CORS_DENY);
	assert_int_equal(cors_origin_allowed(NULL, "https://app.example.com"),
	    CORS_DENY);

	/* "*": any valid origin may read; one listed by name may do anything. */
	assert_int_equal(cors_origin_allowed("*", "https://anyone.test"),
	    CORS_READ);
	assert_int_equal(cors_origin_allowed("*, https://app.example.com",
	                     "https://app.example.com"),
	    CORS_ANY);
	assert_int_equal(cors_origin_allowed("https://app.example.com *",
	                     "https://app.example.com"),
	    CORS_ANY);
	assert_int_equal(cors_origin_allowed("*", "null"), CORS_DENY);
	assert_int_equal(cors_origin_allowed("*",
	                     "https://a.test\r\nX-Evil: 1"),
	    CORS_DENY);
	assert_int_equal(cors_origin_allowed("*", "https://a.test/"),
	    CORS_DENY);
	assert_int_equal(cors_origin_allowed("*", ""), CORS_DENY);
}

/* A request whose headers come from a NULL-terminated name/value list. */
struct fake {
	const char *const *env;
};

static const char *
fake_getenv(void *ctx, const char *name)
{
	const struct fake *f = ctx;
	size_t i;

	for (i = 0; f->env[i] != NULL; i += 2)
		if (strcmp(f->env[i], name) == 0)
			return f->env[i + 1];
	return NULL;
}

static void
request(struct http_request *req, struct fake *f, const char *method,
    const char *const *env)
{
	memset(req, 0, sizeof(*req));
	f->env = env;
	req->method = method;
	req->getenv = fake_getenv;
	req->env_ctx = f;
}

static void
config(struct config *cfg, const char *origins)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->http_cors_origins = (char *)origins;
	cfg->http_cors_max_age = 600;
}

#define ALLOW_HEADERS \
	"authorization, content-type, if-match, if-none-match, " \
	"idempotency-key, apikey, x-client-info"

static void
test_preflight(void **state)
{
	static const char *const listed_patch[] = { "HTTP_ORIGIN",
		"https://app.example.com", "HTTP_ACCESS_CONTROL_REQUEST_METHOD",
		"PATCH", "HTTP_ACCESS_CONTROL_REQUEST_HEADERS",
		"authorization,content-type", NULL };
	static const char *const other_patch[] = { "HTTP_ORIGIN",
		"https://evil.test", "HTTP_ACCESS_CONTROL_REQUEST_METHOD",
		"PATCH", NULL };
	static const char *const other_get[] = { "HTTP_ORIGIN",
		"https://evil.test", "HTTP_ACCESS_CONTROL_REQUEST_METHOD",
		"GET", NULL };
	static const char *const listed_post[] = { "HTTP_ORIGIN",
		"https://app.example.com", "HTTP_ACCESS_CONTROL_REQUEST_METHOD",
		"POST", NULL };
	static const char *const no_method[] = { "HTTP_ORIGIN",
		"https://app.example.com", NULL };
	const char *allow = "GET, HEAD, PUT, PATCH, DELETE";
	struct http_response resp;
	struct http_request req;
	struct config cfg;
	struct fake f;

	(void)state;
	config(&cfg, "https://app.example.com");
	request(&req, &f, "OPTIONS", listed_patch);
	assert_true(cors_is_preflight(&req));
	http_response_init(&resp);
	cors_preflight(&cfg, &req, &resp, allow);
	assert_string_equal(resp.headers,
	    "Access-Control-Allow-Origin: https://app.example.com\r\n"
	    "Access-Control-Allow-Methods: GET, HEAD, PUT, PATCH, DELETE\r\n"
	    "Access-Control-Allow-Headers: " ALLOW_HEADERS "\r\n"
	    "Access-Control-Max-Age: 600\r\n");
	assert_string_equal(resp.vary, "Origin, Access-Control-Request-Method");
	/* A preflight's answer is cors_preflight()'s alone. */
	cors_response(&cfg, &req, &resp);
	assert_null(strstr(resp.headers, "Expose"));
	assert_string_equal(resp.vary, "Origin, Access-Control-Request-Method");
	http_response_free(&resp);

	/* Not listed, or a method the path does not take: nothing but Vary. */
	request(&req, &f, "OPTIONS", other_patch);
	cors_preflight(&cfg, &req, &resp, allow);
	assert_string_equal(resp.headers, "");
	assert_string_equal(resp.vary, "Origin, Access-Control-Request-Method");
	http_response_free(&resp);
	request(&req, &f, "OPTIONS", listed_post);
	cors_preflight(&cfg, &req, &resp, allow);
	assert_string_equal(resp.headers, "");
	http_response_free(&resp);

	/* "*": reads only, and only GET and HEAD are offered. */
	config(&cfg, "*");
	request(&req, &f, "OPTIONS", other_get);
	cors_preflight(&cfg, &req, &resp, allow);
	assert_string_equal(resp.headers,
	    "Access-Control-Allow-Origin: https://evil.test\r\n"
	    "Access-Control-Allow-Methods: GET, HEAD\r\n"
	    "Access-Control-Allow-Headers: " ALLOW_HEADERS "\r\n"
	    "Access-Control-Max-Age: 600\r\n");
	http_response_free(&resp);
	request(&req, &f, "OPTIONS", other_patch);
	cors_preflight(&cfg, &req, &resp, allow);
	assert_string_equal(resp.headers, "");
	http_response_free(&resp);

	/* Without the option, nothing at all. */
	config(&cfg, NULL);
	request(&req, &f, "OPTIONS", listed_patch);
	cors_preflight(&cfg, &req, &resp, allow);
	assert_string_equal(resp.headers, "");
	assert_string_equal(resp.vary, "");
	http_response_free(&resp);

	/* OPTIONS without Access-Control-Request-Method is no preflight. */
	request(&req, &f, "OPTIONS", no_method);
	assert_false(cors_is_preflight(&req));
	request(&req, &f, "GET", listed_patch);
	assert_false(cors_is_preflight(&req));
}

static void
test_response(void **state)
{
	static const char *const listed[] = { "HTTP_ORIGIN",
		"https://app.example.com", NULL };
	static const char *const other[] = { "HTTP_ORIGIN", "https://evil.test",
		NULL };
	static const char *const hostile[] = { "HTTP_ORIGIN",
		"https://app.example.com\r\nSet-Cookie: x=1", NULL };
	static const char *const none[] = { NULL };
	static const char expect[] =
	    "Access-Control-Allow-Origin: https://app.example.com\r\n"
	    "Access-Control-Expose-Headers: ETag, X-Cache, Retry-After, WWW-Authenticate, Location, Idempotent-Replayed\r\n";
	struct http_response resp;
	struct http_request req;
	struct config cfg;
	struct fake f;

	(void)state;
	config(&cfg, "https://app.example.com");
	http_response_init(&resp);
	/* An error answer is treated as any other. */
	http_error(&resp, 404, "not_found", "no such resource");
	request(&req, &f, "PATCH", listed);
	cors_response(&cfg, &req, &resp);
	assert_string_equal(resp.headers, expect);
	assert_string_equal(resp.vary, "Origin");
	http_response_free(&resp);

	/* Vary joins what the route said, once. */
	http_vary_add(&resp, "Authorization");
	http_vary_add(&resp, "apikey");
	http_vary_add(&resp, "Authorization");
	request(&req, &f, "GET", other);
	cors_response(&cfg, &req, &resp);
	assert_string_equal(resp.headers, "");
	assert_string_equal(resp.vary, "Authorization, apikey, Origin");
	http_response_free(&resp);

	request(&req, &f, "GET", hostile);
	cors_response(&cfg, &req, &resp);
	assert_string_equal(resp.headers, "");
	http_response_free(&resp);
	request(&req, &f, "GET", none);
	cors_response(&cfg, &req, &resp);
	assert_string_equal(resp.headers, "");
	assert_string_equal(resp.vary, "Origin");
	http_response_free(&resp);

	/* "*": the answers to reads only. */
	config(&cfg, "*");
	request(&req, &f, "HEAD", other);
	cors_response(&cfg, &req, &resp);
	assert_non_null(strstr(resp.headers,
	    "Access-Control-Allow-Origin: https://evil.test\r\n"));
	http_response_free(&resp);
	request(&req, &f, "PATCH", other);
	cors_response(&cfg, &req, &resp);
	assert_string_equal(resp.headers, "");
	http_response_free(&resp);

	config(&cfg, NULL);
	request(&req, &f, "GET", listed);
	cors_response(&cfg, &req, &resp);
	assert_string_equal(resp.headers, "");
	assert_string_equal(resp.vary, "");
	http_response_free(&resp);
}

static void
test_vary(void **state)
{
	struct http_response resp;
	char name[16];
	int i;

	(void)state;
	http_response_init(&resp);
	http_vary_add(&resp, "Origin");
	http_vary_add(&resp, "Access-Control-Request-Method");
	http_vary_add(&resp, "Origin");
	assert_string_equal(resp.vary, "Origin, Access-Control-Request-Method");
	/* A name that only starts like one listed is another name. */
	http_vary_add(&resp, "Orig");
	assert_string_equal(resp.vary,
	    "Origin, Access-Control-Request-Method, Orig");
	assert_false(resp.headers_full);
	/* Past HTTP_VARY_MAX the answer fails (500), as any header would. */
	for (i = 0; i < HTTP_VARY_MAX && !resp.headers_full; i++) {
		(void)snprintf(name, sizeof(name), "X-%d", i);
		http_vary_add(&resp, name);
	}
	assert_true(resp.headers_full);
	assert_true(strlen(resp.vary) < HTTP_VARY_MAX);
	http_response_free(&resp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_origin_syntax),
		cmocka_unit_test(test_origins_check),
		cmocka_unit_test(test_origin_allowed),
		cmocka_unit_test(test_preflight),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_vary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

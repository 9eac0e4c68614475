/* Unit tests for the route table: matching, 404 and 405 with Allow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "route.h"

static void
h_get(struct app *a, struct http_request *q, struct http_response *r)
{
	(void)a, (void)q, (void)r;
}

static void
h_put(struct app *a, struct http_request *q, struct http_response *r)
{
	(void)a, (void)q, (void)r;
}

static const struct route table[] = {
	{ .method = "GET", .pattern = "/v1/profiles/*", .handler = h_get },
	{ .method = "PUT", .pattern = "/v1/profiles/*", .handler = h_put },
	{ .method = "POST",
	    .pattern = "/v1/profiles/*/avatar",
	    .handler = h_put },
	{ .method = "GET", .pattern = "/v1/healthz", .handler = h_get },
};
#define N (sizeof(table) / sizeof(table[0]))

static const struct route *
find(const char *method, const char *path, struct http_request *req,
    int *status, char *allow)
{
	memset(req, 0, sizeof(*req));
	req->method = method;
	strcpy(req->path, path);
	*status = 0;
	return route_find(table, N, req, status, allow, 128);
}

static void
test_match_captures(void **state)
{
	struct http_request req;
	char allow[128];
	int status;
	const struct route *rt;

	(void)state;
	rt = find("GET", "/v1/profiles/abc", &req, &status, allow);
	assert_ptr_equal(rt, &table[0]);
	assert_int_equal(req.param_len[0], 3);
	assert_memory_equal(req.param[0], "abc", 3);
	assert_false(req.head);

	rt = find("POST", "/v1/profiles/xyz/avatar", &req, &status, allow);
	assert_ptr_equal(rt, &table[2]);
	assert_memory_equal(req.param[0], "xyz", 3);

	/* HEAD is answered by the GET route. */
	rt = find("HEAD", "/v1/healthz", &req, &status, allow);
	assert_ptr_equal(rt, &table[3]);
	assert_true(req.head);
}

static void
test_not_found(void **state)
{
	static const char *const paths[] = {
		"/",
		"/v1",
		"/v1/profiles",
		"/v1/profiles/",
		"/v1/profiles//avatar",
		"/v1/profiles/a/b",
		"/v1/healthz/",
		"/v1/healthzz",
		"/v2/healthz",
		"/v1/profiles/a/avatar/x",
		"//v1/healthz",
	};
	struct http_request req;
	char allow[128];
	int status;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		assert_null(find("GET", paths[i], &req, &status, allow));
		assert_int_equal(status, 404);
	}
}

static void
test_method_not_allowed(void **state)
{
	struct http_request req;
	char allow[128];
	int status;

	(void)state;
	assert_null(find("DELETE", "/v1/profiles/abc", &req, &status, allow));
	assert_int_equal(status, 405);
	assert_string_equal(allow, "GET, HEAD, PUT");

	assert_null(find("POST", "/v1/healthz", &req, &status, allow));
	assert_int_equal(status, 405);
	assert_string_equal(allow, "GET, HEAD");

	assert_null(find("get", "/v1/healthz", &req, &status, allow));
	assert_int_equal(status, 405);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_captures),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_method_not_allowed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

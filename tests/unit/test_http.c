/* Unit tests for request path handling, ETags and response helpers. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http.h"

static const char *
path(const char *uri, const char *script, const char *info)
{
	static char out[64];

	if (http_request_path(uri, script, info, out, sizeof(out)) != PC_OK)
		return NULL;
	return out;
}

static void
test_request_path(void **state)
{
	(void)state;
	/* FastCGI mounted at the root (lighttpd fix-root-scriptname). */
	assert_string_equal(path("/v1/profiles/x?a=b", "", "/v1/profiles/x"),
	    "/v1/profiles/x");
	/* lighttpd without fix-root-scriptname: the whole path is SCRIPT_NAME. */
	assert_string_equal(path("/v1/healthz", "/v1/healthz", ""),
	    "/v1/healthz");
	/* CGI under a script on a shared host. */
	assert_string_equal(path("/api/profiles.fcgi/v1/healthz?x",
	                        "/api/profiles.fcgi", "/v1/healthz"),
	    "/v1/healthz");
	/* A rewrite rule: REQUEST_URI is the public path. */
	assert_string_equal(path("/v1/healthz", "/cgi-bin/profilecache.fcgi",
	                        "/v1/healthz"),
	    "/v1/healthz");
	/* Encoded characters stay encoded: %2F is not a separator. */
	assert_string_equal(path("/v1/profiles/a%2Fb", "", "/v1/profiles/a/b"),
	    "/v1/profiles/a%2Fb");
	/* No REQUEST_URI: PATH_INFO. */
	assert_string_equal(path(NULL, "/x.fcgi", "/v1/healthz"),
	    "/v1/healthz");
	assert_null(path(NULL, NULL, NULL));
	assert_null(path("", "", ""));
	assert_null(path("?x", NULL, NULL));
}

static void
test_request_path_too_long(void **state)
{
	char uri[200], out[64];

	(void)state;
	memset(uri, 'a', sizeof(uri));
	uri[0] = '/';
	uri[sizeof(uri) - 1] = '\0';
	assert_int_equal(http_request_path(uri, NULL, NULL, out, sizeof(out)),
	    PC_TOOBIG);
}

static void
test_etag(void **state)
{
	char etag[HTTP_ETAG_LEN];

	(void)state;
	http_etag_format(UINT64_C(0x0123456789abcdef), etag);
	assert_string_equal(etag, "\"0123456789abcdef\"");
	assert_true(http_etag_match("\"0123456789abcdef\"", etag));
	assert_true(http_etag_match("W/\"0123456789abcdef\"", etag));
	assert_true(http_etag_match("\"x\", \"0123456789abcdef\"", etag));
	assert_true(http_etag_match("*", etag));
	assert_false(http_etag_match(NULL, etag));
	assert_false(http_etag_match("", etag));
	assert_false(http_etag_match("\"0123456789abcdee\"", etag));
	assert_false(http_etag_match("0123456789abcdef", etag));
	assert_false(http_etag_match("\"0123456789abcdef", etag));
	assert_false(http_etag_match("\"0123456789abcdef\"x", etag));
}

static void
test_headers_bounded(void **state)
{
	struct http_response resp;
	char big[HTTP_HEADERS_MAX];
	int i;

	(void)state;
	http_response_init(&resp);
	http_header_add(&resp, "X-A", "%d", 1);
	assert_string_equal(resp.headers, "X-A: 1\r\n");
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	http_header_add(&resp, "X-Big", "%s", big);
	assert_true(resp.headers_full);
	/* What fitted is intact. */
	assert_string_equal(resp.headers, "X-A: 1\r\n");
	for (i = 0; i < 200; i++)
		http_header_add(&resp, "X-Many", "%d", i);
	assert_true(resp.headers_len < HTTP_HEADERS_MAX);
	http_response_free(&resp);
}

static void
test_error_document(void **state)
{
	struct http_response resp;
	json_error_t jerr;
	json_t *doc;

	(void)state;
	http_response_init(&resp);
	http_error(&resp, 400, "invalid_id", "bad \"id\"\n");
	assert_int_equal(resp.status, 400);
	doc = json_loadb(resp.body, resp.body_len, 0, &jerr);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(doc, "error"), "code")),
	    "invalid_id");
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(doc, "error"), "message")),
	    "bad \"id\"\n");
	json_decref(doc);
	http_response_free(&resp);
	assert_null(resp.owned);
}

/* 422: "fields", then "allowed" when given, in the error object. */
static void
test_error_fields(void **state)
{
	struct http_response resp;
	json_t *fields, *allowed;
	char *text;

	(void)state;
	fields = json_pack("{s:s}", "nickname", "unknown field");
	allowed = json_pack("[s,s]", "bio", "username");
	assert_non_null(fields);
	assert_non_null(allowed);
	http_response_init(&resp);
	http_error_fields(&resp, 422, "invalid_fields",
	    "some fields are invalid", fields, allowed);
	assert_int_equal(resp.status, 422);
	text = strndup(resp.body, resp.body_len);
	assert_non_null(text);
	assert_string_equal(text,
	    "{\"error\":{\"code\":\"invalid_fields\","
	    "\"message\":\"some fields are invalid\",\"fields\":{\"nickname\":"
	    "\"unknown field\"},\"allowed\":[\"bio\",\"username\"]}}");
	free(text);
	http_response_free(&resp);
	http_error_fields(&resp, 422, "invalid_fields",
	    "some fields are invalid", fields, NULL);
	text = strndup(resp.body, resp.body_len);
	assert_non_null(text);
	assert_null(strstr(text, "allowed"));
	free(text);
	http_response_free(&resp);
	/* Borrowed: still the caller's. */
	assert_int_equal(json_object_size(fields), 1);
	json_decref(fields);
	json_decref(allowed);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_path),
		cmocka_unit_test(test_request_path_too_long),
		cmocka_unit_test(test_etag),
		cmocka_unit_test(test_headers_bounded),
		cmocka_unit_test(test_error_document),
		cmocka_unit_test(test_error_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

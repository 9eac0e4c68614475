/* Unit tests for the profile model: rows from the database into response bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "profile.h"

#define ID "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01"

static enum pc_result
render(const char *row, char **body, struct profile_meta *meta)
{
	char err[PC_ERRLEN] = "";
	size_t len = 0;
	enum pc_result r;

	r = profile_render(row, strlen(row), ID, PROFILE_SYNCED, body, &len, meta, err);
	if (r == PC_OK)
		assert_int_equal(len, strlen(*body));
	else
		assert_true(err[0] != '\0');
	return r;
}

static void
test_full_row(void **state)
{
	struct profile_meta meta;
	char *body = NULL;

	(void)state;
	assert_int_equal(render("{\"updated_at\":\"2026-11-21T16:31:03.1234+00:00\","
	    "\"id\":\"" ID "\",\"username\":\"alice\",\"display_name\":\"Alice \\u00e9\","
	    "\"bio\":null,\"avatar_url\":null,\"gradient\":\"#112233,#445566\","
	    "\"is_private\":false,\"created_at\":\"2026-01-01T00:00:00+00:00\","
	    "\"extra_column\":1}", &body, &meta), PC_OK);
	/* Fixed order, normalised timestamps, unknown columns dropped. */
	assert_string_equal(body,
	    "{\"profile\":{\"id\":\"" ID "\",\"username\":\"alice\","
	    "\"display_name\":\"Alice \xc3\xa9\",\"bio\":null,\"avatar_url\":null,"
	    "\"gradient\":\"#112233,#445566\",\"is_private\":false,"
	    "\"created_at\":\"2026-01-01T00:00:00.000000Z\","
	    "\"updated_at\":\"2026-11-21T16:31:03.123400Z\"},\"sync\":\"synced\"}");
	assert_int_equal(meta.updated_at_us, INT64_C(1795278663123400));
	assert_false(meta.is_private);
	free(body);
}

static void
test_private_and_missing_fields(void **state)
{
	struct profile_meta meta;
	char *body = NULL;

	(void)state;
	assert_int_equal(render("{\"id\":\"" ID "\",\"is_private\":true,"
	    "\"updated_at\":\"2026-11-21T16:31:03Z\"}", &body, &meta), PC_OK);
	assert_true(meta.is_private);
	assert_non_null(strstr(body, "\"username\":null"));
	assert_non_null(strstr(body, "\"created_at\":null"));
	free(body);
}

static void
test_rejects_bad_rows(void **state)
{
	static const char *const bad[] = {
		"", "[]", "null", "{\"id\":\"" ID "\"",
		/* another id than asked for */
		"{\"id\":\"7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02\","
		"\"updated_at\":\"2026-11-21T16:31:03Z\"}",
		/* no version */
		"{\"id\":\"" ID "\"}",
		"{\"id\":\"" ID "\",\"updated_at\":\"yesterday\"}",
		/* wrong types */
		"{\"id\":\"" ID "\",\"updated_at\":\"2026-11-21T16:31:03Z\",\"bio\":3}",
		"{\"id\":\"" ID "\",\"updated_at\":\"2026-11-21T16:31:03Z\","
		"\"is_private\":\"yes\"}",
		/* duplicate keys are refused, not silently resolved */
		"{\"id\":\"" ID "\",\"id\":\"" ID "\","
		"\"updated_at\":\"2026-11-21T16:31:03Z\"}",
	};
	struct profile_meta meta;
	char *body;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		body = NULL;
		assert_int_equal(render(bad[i], &body, &meta), PC_INVALID);
		assert_null(body);
	}
}

static void
test_constants(void **state)
{
	size_t len;
	const char *nf = profile_not_found_body(&len);

	(void)state;
	assert_int_equal(len, strlen(nf));
	assert_non_null(strstr(nf, "\"code\":\"not_found\""));
	assert_string_equal(profile_sync_name(PROFILE_PENDING), "pending");
	assert_non_null(strstr(profile_select_columns(), "updated_at"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_row),
		cmocka_unit_test(test_private_and_missing_fields),
		cmocka_unit_test(test_rejects_bad_rows),
		cmocka_unit_test(test_constants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

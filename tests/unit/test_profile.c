/* Unit tests for the profile model: rows from the database into response bodies,
 * and the checks of request fields. */
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "profile.h"
#include "resource.h"

#define ID "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01"

static enum pc_result
render(const char *row, char **body, struct profile_meta *meta)
{
	char err[PC_ERRLEN] = "";
	size_t len = 0;
	enum pc_result r;

	r = profile_render(row, strlen(row), ID, PROFILE_SYNCED, body, &len,
	    meta, err);
	if (r == PC_OK)
		assert_int_equal(len, strlen(*body));
	else
		assert_true(err[0] != '\0');
	return r;
}

/*
 * A threaded responder's threads can all ask for the declaration at once:
 * each must get it whole. First in main(): it must be the first use.
 */
#define FIRST_USERS 8

static pthread_barrier_t first_barrier;

static void *
first_user(void *arg)
{
	const struct resource *r;

	(void)pthread_barrier_wait(&first_barrier);
	r = profile_resource();
	*(bool *)arg = r->key != NULL && r->nfields > 0 && r->select != NULL;
	return NULL;
}

static void
test_first_use_from_threads(void **state)
{
	pthread_t t[FIRST_USERS];
	bool whole[FIRST_USERS];
	size_t i;

	(void)state;
	assert_int_equal(pthread_barrier_init(&first_barrier, NULL,
	                     FIRST_USERS),
	    0);
	for (i = 0; i < FIRST_USERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, first_user,
		                     &whole[i]),
		    0);
	for (i = 0; i < FIRST_USERS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_true(whole[i]);
	}
	(void)pthread_barrier_destroy(&first_barrier);
}

static void
test_full_row(void **state)
{
	struct profile_meta meta;
	char *body = NULL;

	(void)state;
	assert_int_equal(
	    render(
	        "{\"updated_at\":\"2026-11-21T16:31:03.1234+00:00\","
	        "\"id\":\"" ID
	        "\",\"username\":\"alice\",\"display_name\":\"Alice \\u00e9\","
	        "\"bio\":null,\"avatar_url\":null,\"gradient\":\"#112233,#445566\","
	        "\"is_private\":false,\"created_at\":\"2026-01-01T00:00:00+00:00\","
	        "\"extra_column\":1}",
	        &body, &meta),
	    PC_OK);
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
	                        "\"updated_at\":\"2026-11-21T16:31:03Z\"}",
	                     &body, &meta),
	    PC_OK);
	assert_true(meta.is_private);
	assert_non_null(strstr(body, "\"username\":null"));
	assert_non_null(strstr(body, "\"created_at\":null"));
	free(body);
}

static void
test_rejects_bad_rows(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"null",
		"{\"id\":\"" ID "\"",
		/* another id than asked for */
		"{\"id\":\"7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02\","
		"\"updated_at\":\"2026-11-21T16:31:03Z\"}",
		/* no version */
		"{\"id\":\"" ID "\"}",
		"{\"id\":\"" ID "\",\"updated_at\":\"yesterday\"}",
		/* wrong types */
		"{\"id\":\"" ID
		"\",\"updated_at\":\"2026-11-21T16:31:03Z\",\"bio\":3}",
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

/* The reason profile_patch_parse() gives for field in body, or NULL. */
static const char *
why(const char *body, const char *field)
{
	static char reason[128];
	json_t *patch, *errors;
	enum pc_result r;

	r = profile_patch_parse(body, strlen(body), false, &patch, &errors);
	json_decref(patch);
	reason[0] = '\0';
	if (r == PC_INVALID && errors != NULL)
		(void)snprintf(reason, sizeof(reason), "%s",
		    json_string_value(json_object_get(errors, field)) ?
		        json_string_value(json_object_get(errors, field)) :
		        "");
	else
		assert_int_equal(r, PC_OK);
	json_decref(errors);
	return reason[0] != '\0' ? reason : NULL;
}

static void
test_display_text(void **state)
{
	/* Refused in both fields, as JSON escapes and as raw UTF-8. */
	static const char *const refused[] = {
		"\\u0007",
		"\\u007f",
		"\\u0085",
		"\\u009f",
		"\\u200b",
		"\\u200c",
		"\\u200d",
		"\\u200e",
		"\\u200f",
		"\\u202a",
		"\\u202b",
		"\\u202c",
		"\\u202d",
		"\\u202e",
		"\\u2060",
		"\\u2066",
		"\\u2067",
		"\\u2068",
		"\\u2069",
		"\\ufeff",
		"\xe2\x80\xae",
		"\xef\xbb\xbf",
		"\xc2\x85",
	};
	/* Allowed in both: neighbours of the refused ranges, other scripts. */
	static const char *const allowed[] = {
		"\\u00a0",
		"\\u00e9",
		"\\u200a",
		"\\u2010",
		"\\u2029",
		"\\u202f",
		"\\u2061",
		"\\u2065",
		"\\u206a",
		"\\ufefe",
		"\\uff01",
		"\\u05d0\\u05d1",
		"\\ud83d\\ude00",
		"\xe2\x80\xa9",
		"\xf0\x9f\x98\x80",
	};
	char body[128];
	const char *r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(body, sizeof(body), "{\"display_name\":\"a%sb\"}",
		    refused[i]);
		if ((r = why(body, "display_name")) == NULL)
			fail_msg("display_name %s was let through", refused[i]);
		snprintf(body, sizeof(body), "{\"bio\":\"a%sb\"}", refused[i]);
		if ((r = why(body, "bio")) == NULL)
			fail_msg("bio %s was let through", refused[i]);
	}
	assert_string_equal(why("{\"display_name\":\"a\\u202eb\"}",
	                        "display_name"),
	    "must not contain bidirectional controls or zero-width characters");
	assert_string_equal(why("{\"display_name\":\"a\\u0007b\"}",
	                        "display_name"),
	    "must not contain control characters");
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		snprintf(body, sizeof(body), "{\"display_name\":\"a%sb\"}",
		    allowed[i]);
		if ((r = why(body, "display_name")) != NULL)
			fail_msg("display_name %s refused: %s", allowed[i], r);
		snprintf(body, sizeof(body), "{\"bio\":\"a%sb\"}", allowed[i]);
		if ((r = why(body, "bio")) != NULL)
			fail_msg("bio %s refused: %s", allowed[i], r);
	}
	/* Lines and tabs: in a bio, not in a name. */
	assert_null(why("{\"bio\":\"one\\ntwo\\r\\n\\tthree\"}", "bio"));
	assert_non_null(why("{\"display_name\":\"a\\nb\"}", "display_name"));
	assert_non_null(why("{\"display_name\":\"a\\tb\"}", "display_name"));
}

/* A field that is not the profile's names the ones that may be sent. */
static void
test_unknown_fields(void **state)
{
	json_t *names, *patch, *errors;
	size_t i;

	(void)state;
	assert_string_equal(why("{\"nickname\":\"x\"}", "nickname"),
	    "unknown field; allowed: username, display_name, bio, avatar_url, "
	    "gradient, is_private");
	assert_string_equal(why("{\"is_admin\":true,\"bio\":\"ok\"}",
	                        "is_admin"),
	    "unknown field; allowed: username, display_name, bio, "
	    "avatar_url, gradient, is_private");
	/* A field of the profile that is not written is not unknown. */
	assert_string_equal(why("{\"updated_at\":\"2030-01-01T00:00:00Z\"}",
	                        "updated_at"),
	    "read-only");
	assert_string_equal(why("{\"id\":\"x\"}", "id"), "read-only");

	/* Each name listed is one a patch may carry. */
	names = profile_editable_names();
	assert_non_null(names);
	assert_int_equal(json_array_size(names), 6);
	for (i = 0; i < json_array_size(names); i++) {
		char body[64];

		snprintf(body, sizeof(body), "{\"%s\":null}",
		    json_string_value(json_array_get(names, i)));
		(void)profile_patch_parse(body, strlen(body), false, &patch,
		    &errors);
		if (errors != NULL &&
		    json_object_get(errors,
		        json_string_value(json_array_get(names, i))) != NULL &&
		    strncmp(json_string_value(json_object_get(errors,
		                json_string_value(json_array_get(names, i)))),
		        "unknown", 7) == 0)
			fail_msg("%s is listed but unknown",
			    json_string_value(json_array_get(names, i)));
		json_decref(patch);
		json_decref(errors);
	}
	json_decref(names);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_use_from_threads),
		cmocka_unit_test(test_full_row),
		cmocka_unit_test(test_private_and_missing_fields),
		cmocka_unit_test(test_rejects_bad_rows),
		cmocka_unit_test(test_constants),
		cmocka_unit_test(test_display_text),
		cmocka_unit_test(test_unknown_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

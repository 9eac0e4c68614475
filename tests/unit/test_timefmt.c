/* Unit tests for RFC 3339 parsing and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "timefmt.h"

static int64_t
parse(const char *s)
{
	int64_t us = 0;

	assert_int_equal(timefmt_parse(s, strlen(s), &us), PC_OK);
	return us;
}

static void
test_parse_postgrest_forms(void **state)
{
	(void)state;
	assert_int_equal(parse("1970-01-01T00:00:00+00:00"), 0);
	assert_int_equal(parse("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(parse("1970-01-01 00:00:01.5+00"), 1500000);
	assert_int_equal(parse("2026-11-21T16:31:03.123456+00:00"),
	    INT64_C(1795278663123456));
	/* Offsets move the instant the other way. */
	assert_int_equal(parse("2026-11-21T18:31:03.123456+02:00"),
	    INT64_C(1795278663123456));
	assert_int_equal(parse("2026-11-21T11:01:03.123456-05:30"),
	    INT64_C(1795278663123456));
	assert_int_equal(parse("2026-11-21T16:31:03.1+00:00"),
	    INT64_C(1795278663100000));
	/* Before the epoch, and leap days. */
	assert_int_equal(parse("1969-12-31T23:59:59.999999Z"), -1);
	assert_int_equal(parse("2024-02-29T00:00:00Z"),
	    INT64_C(1709164800000000));
}

static void
test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"2026-11-21",
		"2026-11-21T16:31:03",
		"2026-13-01T00:00:00Z",
		"2026-02-29T00:00:00Z",
		"2026-11-21T24:00:00Z",
		"2026-11-21T16:60:00Z",
		"2026-11-21T16:31:03.Z",
		"2026-11-21T16:31:03.1234567Z",
		"2026-11-21T16:31:03+0",
		"2026-11-21T16:31:03Zjunk",
		"0000-01-01T00:00:00Z",
		"2026/11/21T16:31:03Z",
		"+2026-11-21T16:31:03Z",
		"2026-11-21T16:31:03+24:00",
	};
	int64_t us;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(timefmt_parse(bad[i], strlen(bad[i]), &us),
		    PC_INVALID);
}

static void
test_format_round_trip(void **state)
{
	static const char *const in[] = {
		"1970-01-01T00:00:00.000000Z",
		"2026-11-21T16:31:03.123456Z",
		"1969-12-31T23:59:59.999999Z",
		"2000-02-29T12:00:00.000001Z",
		"9999-12-31T23:59:59.999999Z",
		"0001-01-01T00:00:00.000000Z",
	};
	char out[TIMEFMT_LEN];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		assert_int_equal(timefmt_format(parse(in[i]), out), PC_OK);
		assert_string_equal(out, in[i]);
	}
	assert_int_equal(timefmt_format(INT64_MAX, out), PC_INVALID);
	assert_int_equal(timefmt_format(INT64_MIN / 2, out), PC_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_postgrest_forms),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_format_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for whole numbers from text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "strnum.h"

static void
test_accepts(void **state)
{
	long long v = 0;

	(void)state;
	assert_int_equal(strnum_parse("0", 0, 10, &v), PC_OK);
	assert_int_equal(v, 0);
	assert_int_equal(strnum_parse("10", 0, 10, &v), PC_OK);
	assert_int_equal(v, 10);
	assert_int_equal(strnum_parse("-5", -5, 5, &v), PC_OK);
	assert_int_equal(v, -5);
	assert_int_equal(strnum_parse("9223372036854775807", 0, INT64_MAX, &v),
	    PC_OK);
	assert_int_equal(v, INT64_MAX);
}

static void
test_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		" 1",
		"1 ",
		"+1",
		"1x",
		"0x10",
		"1e3",
		"-",
		"--1",
		"11",
		"-6",
		"99999999999999999999",
		"1.0",
	};
	long long v = 42;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(strnum_parse(bad[i], -5, 10, &v), PC_INVALID);
	assert_int_equal(v, 42); /* untouched on failure */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

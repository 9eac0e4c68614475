/* Unit tests for canonical UUID checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "uuid.h"

static bool
check(const char *s)
{
	return uuid_is_canonical(s, strlen(s));
}

static void
test_accepts_canonical(void **state)
{
	(void)state;
	assert_true(check("7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01"));
	assert_true(check("00000000-0000-0000-0000-000000000000"));
	assert_true(check("ffffffff-ffff-ffff-ffff-ffffffffffff"));
}

static void
test_rejects_other_forms(void **state)
{
	static const char *const bad[] = {
		"",
		"7b3e4a52",
		"7B3E4A52-1C9D-4F60-9A8E-2D5C6F7A8B01",
		"7b3e4a521c9d4f609a8e2d5c6f7a8b01",
		"{7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01}",
		"urn:uuid:7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01",
		"7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b0",
		"7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b011",
		"7b3e4a52-1c9d-4f60-9a8e_2d5c6f7a8b01",
		"7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b0g",
		"7b3e4a5--1c9d-4f60-9a8e-2d5c6f7a8b01",
		"../../../../../../../../etc/passwd00",
		"7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b%1",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(check(bad[i]));
	assert_false(uuid_is_canonical(NULL, 36));
	/* A NUL inside the length is not a digit. */
	assert_false(uuid_is_canonical("7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b0\0",
	    36));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts_canonical),
		cmocka_unit_test(test_rejects_other_forms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

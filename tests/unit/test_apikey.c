/* Unit tests for Supabase API keys: their kinds, the secret key's check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "apikey.h"

#define LEGACY \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." \
	"eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJlLV8"

static void
test_kinds(void **state)
{
	(void)state;
	assert_int_equal(
	    apikey_kind("sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz"),
	    APIKEY_SECRET);
	assert_int_equal(apikey_kind("sb_publishable_ZaEMn3QbI0t1kvV2qWspKw_Y"),
	    APIKEY_PUBLISHABLE);
	assert_int_equal(apikey_kind(LEGACY), APIKEY_JWT);
	/* Not quite a JWT: part counts, empty parts, other characters. */
	assert_int_equal(apikey_kind("a.b"), APIKEY_OTHER);
	assert_int_equal(apikey_kind("a.b.c.d"), APIKEY_OTHER);
	assert_int_equal(apikey_kind("a..c"), APIKEY_OTHER);
	assert_int_equal(apikey_kind(".b.c"), APIKEY_OTHER);
	assert_int_equal(apikey_kind("a.b."), APIKEY_OTHER);
	assert_int_equal(apikey_kind("a.b+/.c"), APIKEY_OTHER);
	assert_int_equal(apikey_kind("a.b.c "), APIKEY_OTHER);
	assert_int_equal(apikey_kind(""), APIKEY_OTHER);
	assert_int_equal(apikey_kind("0123456789abcdef0123456789abcdef"),
	    APIKEY_OTHER);
	/* The prefixes are case-sensitive, as Supabase writes them. */
	assert_int_equal(apikey_kind("SB_SECRET_x"), APIKEY_OTHER);
	assert_int_equal(apikey_kind("sb_secret"), APIKEY_OTHER);
}

static void
test_secret_matches(void **state)
{
	const char *key = "sb_secret_0123456789abcdef";

	(void)state;
	assert_true(apikey_secret_matches(key, key, strlen(key)));
	assert_true(apikey_secret_matches(key, "sb_secret_0123456789abcdefXX",
	    strlen(key)));
	assert_false(apikey_secret_matches(key, "sb_secret_0123456789abcdeF",
	    strlen(key)));
	assert_false(apikey_secret_matches(key, "sb_secret_0123456789abcde",
	    strlen(key) - 1));
	assert_false(apikey_secret_matches(key, "sb_secret_0123456789abcdef0",
	    strlen(key) + 1));
	assert_false(apikey_secret_matches(NULL, key, strlen(key)));
	assert_false(apikey_secret_matches(key, NULL, 0));
	assert_false(apikey_secret_matches("", "", 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_secret_matches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for the cache entry format (header + exact body). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cache.h"

static void
test_round_trip(void **state)
{
	static const char body[] =
	    "{\"profile\":{\"id\":\"x\"},\"sync\":\"synced\"}";
	struct cache_entry e = { 0 }, d;
	uint64_t tag;

	(void)state;
	e.flags = CACHE_F_PRIVATE;
	e.sync = 1;
	e.updated_at_us = INT64_C(1795278663123456);
	e.fresh_until_us = INT64_C(-42);
	assert_int_equal(cache_entry_build(&e, body, sizeof(body) - 1), PC_OK);
	tag = e.tag;
	assert_int_not_equal(tag, 0);
	assert_memory_equal(e.body, body, sizeof(body) - 1);

	assert_int_equal(cache_entry_decode(e.raw, CACHE_HDR_LEN + e.body_len,
	                     &d),
	    PC_OK);
	assert_int_equal(d.flags, CACHE_F_PRIVATE);
	assert_int_equal(d.sync, 1);
	assert_int_equal(d.updated_at_us, INT64_C(1795278663123456));
	assert_int_equal(d.fresh_until_us, -42);
	assert_int_equal(d.tag, tag);
	assert_int_equal(d.body_len, sizeof(body) - 1);
	/* The body is served straight from the value: no copy, no parse. */
	assert_ptr_equal(d.body, e.raw + CACHE_HDR_LEN);
	assert_null(d.raw);
	cache_entry_release(&e);
	assert_null(e.raw);
}

/* The field versions travel after the body and never become part of it. */
static void
test_versions_trailer(void **state)
{
	static const char body[] =
	    "{\"profile\":{\"bio\":\"x\"},\"sync\":\"pending\"}";
	static const char vers[] = "{\"bio\":1795278663123456}";
	struct cache_entry e = { 0 }, d, plain = { 0 };
	char local[sizeof(vers)];
	size_t len;

	(void)state;
	memcpy(local, vers, sizeof(vers));
	e.versions = local;
	e.versions_len = sizeof(vers) - 1;
	assert_int_equal(cache_entry_build(&e, body, sizeof(body) - 1), PC_OK);
	/* The entry owns its copy: the caller's buffer may go. */
	memset(local, 0, sizeof(local));
	assert_memory_equal(e.versions, vers, sizeof(vers) - 1);
	len = CACHE_HDR_LEN + e.body_len + e.versions_len;
	assert_int_equal(cache_entry_decode(e.raw, len, &d), PC_OK);
	assert_int_equal(d.body_len, sizeof(body) - 1);
	assert_memory_equal(d.body, body, sizeof(body) - 1);
	assert_int_equal(d.versions_len, sizeof(vers) - 1);
	assert_memory_equal(d.versions, vers, sizeof(vers) - 1);
	/* The ETag is the body's alone. */
	assert_int_equal(cache_entry_build(&plain, body, sizeof(body) - 1),
	    PC_OK);
	assert_int_equal(plain.tag, e.tag);
	assert_null(plain.versions);
	/* A trailer longer than the value is refused. */
	e.raw[5] = (char)0xff;
	assert_int_equal(cache_entry_decode(e.raw, len, &d), PC_INVALID);
	cache_entry_release(&e);
	cache_entry_release(&plain);
	assert_null(e.versions);
}

static void
test_tag_follows_body(void **state)
{
	struct cache_entry a = { 0 }, b = { 0 }, c = { 0 };

	(void)state;
	assert_int_equal(cache_entry_build(&a, "same", 4), PC_OK);
	assert_int_equal(cache_entry_build(&b, "same", 4), PC_OK);
	assert_int_equal(cache_entry_build(&c, "samf", 4), PC_OK);
	assert_int_equal(a.tag, b.tag);
	assert_int_not_equal(a.tag, c.tag);
	cache_entry_release(&a);
	cache_entry_release(&b);
	cache_entry_release(&c);
}

static void
test_decode_rejects(void **state)
{
	struct cache_entry e = { 0 }, d;
	char *raw;

	(void)state;
	assert_int_equal(cache_entry_build(&e, "", 0), PC_OK);
	raw = e.raw;
	assert_int_equal(cache_entry_decode(raw, CACHE_HDR_LEN, &d), PC_OK);
	assert_int_equal(d.body_len, 0);
	assert_int_equal(cache_entry_decode(raw, CACHE_HDR_LEN - 1, &d),
	    PC_INVALID);
	assert_int_equal(cache_entry_decode(NULL, 100, &d), PC_INVALID);
	raw[2] = CACHE_FORMAT + 1; /* a future format is a miss */
	assert_int_equal(cache_entry_decode(raw, CACHE_HDR_LEN, &d),
	    PC_INVALID);
	raw[2] = CACHE_FORMAT;
	raw[0] = 'X';
	assert_int_equal(cache_entry_decode(raw, CACHE_HDR_LEN, &d),
	    PC_INVALID);
	cache_entry_release(&e);
	/* Something another program stored under our key. */
	assert_int_equal(
	    cache_entry_decode("hello world, not ours at all......", 34, &d),
	    PC_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_versions_trailer),
		cmocka_unit_test(test_tag_follows_body),
		cmocka_unit_test(test_decode_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

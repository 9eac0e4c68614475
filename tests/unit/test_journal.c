/*
 * Unit tests for the journal (SQLite in a temporary directory): versions of
 * one id only rise, the pending bytes of one id are bounded, and the WAL
 * stays short under a long stream of writes from two connections, as from
 * two responders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "journal.h"

#define ID "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01"

struct fixture {
	char dir[64];
	char path[96];
	struct journal *a, *b;	/* two writers on one journal */
};

static struct journal *
open_one(const char *path)
{
	struct journal_opts o = { .path = path, .sync_full = false,
	    .busy_timeout_ms = 5000 };
	struct journal *j = NULL;
	char err[PC_ERRLEN];

	assert_int_equal(journal_open(&o, &j, err), PC_OK);
	return j;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	(void)snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/pc-journal.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	(void)snprintf(f->path, sizeof(f->path), "%s/journal.db", f->dir);
	f->a = open_one(f->path);
	f->b = open_one(f->path);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const files[] = { "", "-wal", "-shm", "-wlock" };
	char p[128];
	size_t i;

	journal_close(f->a);
	journal_close(f->b);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		(void)snprintf(p, sizeof(p), "%s%s", f->path, files[i]);
		(void)unlink(p);
	}
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

static enum pc_result
append(struct journal *j, int64_t now_us, int64_t *v)
{
	char err[PC_ERRLEN];
	int64_t seq;

	return journal_append(j, "profile", ID, "{\"bio\":\"x\"}", 0, now_us, 0, v,
	    &seq, err);
}

static void
test_versions_rise(void **state)
{
	struct fixture *f = *state;
	int64_t v1, v2, v3;

	assert_int_equal(append(f->a, 1000, &v1), PC_OK);
	assert_int_equal(v1, 1000);
	/* The clock went back, and the other writer appends: still newer. */
	assert_int_equal(append(f->b, 500, &v2), PC_OK);
	assert_true(v2 > v1);
	assert_int_equal(append(f->a, v2, &v3), PC_OK);
	assert_true(v3 > v2);
}

static void
test_pending_budget(void **state)
{
	struct fixture *f = *state;
	/* 14 bytes of JSON, 15 with the two-byte é: bytes, not characters. */
	static const char patch[] = "{\"bio\":\"\xc3\xa9" "abc\"}";
	static const char other[] = "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02";
	char err[PC_ERRLEN];
	int64_t bytes, v, seq;
	long n;

	assert_int_equal(strlen(patch), 15);
	assert_int_equal(journal_pending_bytes(f->a, "profile", ID, &bytes, err), PC_OK);
	assert_int_equal(bytes, 0);
	/* Up to the budget, exactly, from either writer. */
	assert_int_equal(journal_append(f->a, "profile", ID, patch, 0, 1000, 30, &v,
	    &seq, err), PC_OK);
	assert_int_equal(journal_append(f->b, "profile", ID, patch, 0, 1001, 30, &v,
	    &seq, err), PC_OK);
	assert_int_equal(journal_pending_bytes(f->b, "profile", ID, &bytes, err), PC_OK);
	assert_int_equal(bytes, 30);
	/* One byte past it: refused, and nothing written. */
	assert_int_equal(journal_append(f->a, "profile", ID, "{}", 0, 1002, 31, &v,
	    &seq, err), PC_TOOBIG);
	assert_non_null(strstr(err, "30 bytes pending"));
	assert_int_equal(journal_pending_bytes(f->a, "profile", ID, &bytes, err), PC_OK);
	assert_int_equal(bytes, 30);
	/* Another id has its own budget; 0 is no budget. */
	assert_int_equal(journal_append(f->a, "profile", other, patch, 0, 1003, 15, &v,
	    &seq, err), PC_OK);
	assert_int_equal(journal_append(f->a, "profile", ID, patch, 0, 1004, 0, &v,
	    &seq, err), PC_OK);
	/* Only pending changes count: once applied or cancelled, room again. */
	assert_int_equal(journal_supersede(f->a, "profile", ID, 1001, err), PC_OK);
	assert_int_equal(journal_pending_bytes(f->a, "profile", ID, &bytes, err), PC_OK);
	assert_int_equal(bytes, 15);
	assert_int_equal(journal_cancel(f->a, "profile", ID, &n, err), PC_OK);
	assert_int_equal(journal_append(f->a, "profile", ID, patch, 0, 1005, 15, &v,
	    &seq, err), PC_OK);
}

static void
test_wal_stays_short(void **state)
{
	struct fixture *f = *state;
	struct journal_depth d;
	char wal[128], err[PC_ERRLEN];
	struct stat st;
	int64_t v;
	off_t most = 0;
	int i;

	(void)snprintf(wal, sizeof(wal), "%s-wal", f->path);
	/* Each append writes a few pages: 6000 of them pass 70 MB of WAL when
	 * nothing checkpoints. */
	for (i = 0; i < 6000; i++) {
		struct journal *j = i % 2 ? f->b : f->a;

		assert_int_equal(append(j, 1000 + i, &v), PC_OK);
		journal_maintain(j);
		assert_int_equal(stat(wal, &st), 0);
		if (st.st_size > most)
			most = st.st_size;
	}
	assert_true(most < 4 * 1024 * 1024);
	assert_int_equal(journal_depth(f->a, &d, err), PC_OK);
	assert_int_equal(d.pending, 6000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_versions_rise, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_stays_short, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for the journal (SQLite in a temporary directory): versions of
 * one id only rise, the pending bytes of one id are bounded and counted
 * exactly through every way an entry leaves or re-enters pending, the WAL
 * stays short under a long stream of writes from two connections, as from
 * two responders, and commits of several processes share one fsync.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "journal.h"

#define ID "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01"

struct fixture {
	char dir[64];
	char path[96];
	struct journal *a, *b; /* two writers on one journal */
};

static struct journal *
open_sync(const char *path, bool sync_full)
{
	struct journal_opts o = { .path = path,
		.sync_full = sync_full,
		.busy_timeout_ms = 5000 };
	struct journal *j = NULL;
	char err[PC_ERRLEN];

	assert_int_equal(journal_open(&o, &j, err), PC_OK);
	return j;
}

static struct journal *
open_one(const char *path)
{
	return open_sync(path, false);
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
	static const char *const files[] = { "", "-wal", "-shm", "-wlock",
		"-sync" };
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

	return journal_append(j, "profile", ID, "{\"bio\":\"x\"}", 0, now_us, 0,
	    v, &seq, err);
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

/*
 * The rate limit's own counter: shared by the journal's connections, one
 * per name and minute, and minutes before the previous one are dropped.
 */
static void
test_count(void **state)
{
	struct fixture *f = *state;
	char err[PC_ERRLEN];
	int64_t n;

	assert_int_equal(journal_count(f->a, "writes:u1", 100, &n, err), PC_OK);
	assert_int_equal(n, 1);
	assert_int_equal(journal_count(f->b, "writes:u1", 100, &n, err), PC_OK);
	assert_int_equal(n, 2);
	assert_int_equal(journal_count(f->a, "writes:u2", 100, &n, err), PC_OK);
	assert_int_equal(n, 1);
	/* The next minute starts at 1 and keeps the previous one ... */
	assert_int_equal(journal_count(f->a, "writes:u1", 101, &n, err), PC_OK);
	assert_int_equal(n, 1);
	assert_int_equal(journal_count(f->b, "writes:u1", 100, &n, err), PC_OK);
	assert_int_equal(n, 3);
	/* ... which the one after drops. */
	assert_int_equal(journal_count(f->a, "writes:u1", 102, &n, err), PC_OK);
	assert_int_equal(journal_count(f->a, "writes:u1", 100, &n, err), PC_OK);
	assert_int_equal(n, 1);
}

/* Increments: an entry is found by its key, and a key is taken once. */
static void
test_keyed(void **state)
{
	struct fixture *f = *state;
	static const char ns[] = "balance/increment";
	static const char k1[] =
	    "{\"delta\":-3,\"field\":\"balance\",\"key\":\"k1\",\"value\":7}";
	static const char k1b[] =
	    "{\"delta\":-9,\"field\":\"balance\",\"key\":\"k1\",\"value\":1}";
	static const char other[] = "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02";
	struct journal_keyed found;
	struct journal_outcome o;
	char err[PC_ERRLEN];
	int64_t v, seq, seq1;

	assert_int_equal(journal_keyed(f->a, ns, ID, "k1", &found, err),
	    PC_NOTFOUND);
	journal_keyed_release(&found);
	assert_int_equal(journal_append_keyed(f->a, ns, ID, "k1", k1, 1000, 0,
	                     &found, &v, &seq1, err),
	    PC_OK);
	journal_keyed_release(&found);
	/* The same key again, from the other connection: found, not written. */
	assert_int_equal(journal_append_keyed(f->b, ns, ID, "k1", k1b, 1001, 0,
	                     &found, &v, &seq, err),
	    PC_CONFLICT);
	assert_int_equal(found.seq, seq1);
	assert_int_equal(found.state, JOURNAL_RETRY);
	assert_string_equal(found.patch, k1);
	journal_keyed_release(&found);
	/* Another row's key of the same name is another increment. */
	assert_int_equal(journal_append_keyed(f->b, ns, other, "k1", k1, 1002,
	                     0, &found, &v, &seq, err),
	    PC_OK);
	journal_keyed_release(&found);
	/* A patch with a "key" field is no increment: not found by it. */
	assert_int_equal(journal_append(f->a, "balance", ID, "{\"key\":\"k2\"}",
	                     0, 1003, 0, &v, &seq, err),
	    PC_OK);
	assert_int_equal(journal_keyed(f->a, "balance", ID, "k2", &found, err),
	    PC_NOTFOUND);
	journal_keyed_release(&found);
	/* Settled: found with its state and the reason. */
	memset(&o, 0, sizeof(o));
	o.seqs = &seq1;
	o.nseqs = 1;
	o.state = JOURNAL_DEAD;
	o.reason = "insufficient_balance: below 0";
	assert_int_equal(journal_record(f->b, &o, 1, err), PC_OK);
	assert_int_equal(journal_keyed(f->a, ns, ID, "k1", &found, err), PC_OK);
	assert_int_equal(found.state, JOURNAL_DEAD);
	assert_string_equal(found.reason, "insufficient_balance: below 0");
	journal_keyed_release(&found);
}

static void
test_pending_budget(void **state)
{
	struct fixture *f = *state;
	/* 14 bytes of JSON, 15 with the two-byte é: bytes, not characters. */
	static const char patch[] = "{\"bio\":\"\xc3\xa9"
	                            "abc\"}";
	static const char other[] = "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02";
	char err[PC_ERRLEN];
	int64_t bytes, v, seq;
	long n;

	assert_int_equal(strlen(patch), 15);
	assert_int_equal(journal_pending_bytes(f->a, "profile", ID, &bytes,
	                     err),
	    PC_OK);
	assert_int_equal(bytes, 0);
	/* Up to the budget, exactly, from either writer. */
	assert_int_equal(journal_append(f->a, "profile", ID, patch, 0, 1000, 30,
	                     &v, &seq, err),
	    PC_OK);
	assert_int_equal(journal_append(f->b, "profile", ID, patch, 0, 1001, 30,
	                     &v, &seq, err),
	    PC_OK);
	assert_int_equal(journal_pending_bytes(f->b, "profile", ID, &bytes,
	                     err),
	    PC_OK);
	assert_int_equal(bytes, 30);
	/* One byte past it: refused, and nothing written. */
	assert_int_equal(journal_append(f->a, "profile", ID, "{}", 0, 1002, 31,
	                     &v, &seq, err),
	    PC_TOOBIG);
	assert_non_null(strstr(err, "30 bytes pending"));
	assert_int_equal(journal_pending_bytes(f->a, "profile", ID, &bytes,
	                     err),
	    PC_OK);
	assert_int_equal(bytes, 30);
	/* Another id has its own budget; 0 is no budget. */
	assert_int_equal(journal_append(f->a, "profile", other, patch, 0, 1003,
	                     15, &v, &seq, err),
	    PC_OK);
	assert_int_equal(journal_append(f->a, "profile", ID, patch, 0, 1004, 0,
	                     &v, &seq, err),
	    PC_OK);
	/* Only pending changes count: once applied or cancelled, room again. */
	assert_int_equal(journal_supersede(f->a, "profile", ID, 1001, err),
	    PC_OK);
	assert_int_equal(journal_pending_bytes(f->a, "profile", ID, &bytes,
	                     err),
	    PC_OK);
	assert_int_equal(bytes, 15);
	assert_int_equal(journal_cancel(f->a, "profile", ID, &n, err), PC_OK);
	assert_int_equal(journal_append(f->a, "profile", ID, patch, 0, 1005, 15,
	                     &v, &seq, err),
	    PC_OK);
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

/* Does every id's counted pending bytes equal the sum of its pending patches? */
static void
assert_counted_exactly(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	/* Both ways round: a sum with no counter row, a counter row with no sum. */
	assert_int_equal(
	    sqlite3_prepare_v2(db,
	        "SELECT count(*) FROM (SELECT resource, id, sum(length(CAST(patch AS BLOB))) b"
	        " FROM changes WHERE state = 'pending' GROUP BY resource, id) s"
	        " FULL JOIN pending_bytes p USING (resource, id)"
	        " WHERE s.b IS NOT p.bytes",
	        -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void
exec(const char *path, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/*
 * The counter behind max_pending_bytes follows every way an entry enters or
 * leaves pending: append, supersede, settle, retry, cancel, a dead entry
 * given another try, an operator's delete, a patch rewritten in place, and a
 * journal migrated from format 3 (counted afresh).
 */
static void
test_pending_bytes_counted(void **state)
{
	struct fixture *f = *state;
	static const char *const ids[] = { ID,
		"7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02",
		"7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03" };
	char err[PC_ERRLEN], patch[64];
	int64_t v, seq, seqs[40], bytes;
	struct journal_outcome o;
	long n;
	int i;

	for (i = 0; i < 40; i++) {
		(void)snprintf(patch, sizeof(patch), "{\"bio\":\"%.*s\"}",
		    i % 13, "\xc3\xa9xxxxxxxxxxxxx");
		assert_int_equal(journal_append(i % 2 ? f->a : f->b, "profile",
		                     ids[i % 3], patch, 0, 1000 + i, 0, &v,
		                     &seqs[i], err),
		    PC_OK);
	}
	assert_counted_exactly(f->path);
	assert_int_equal(journal_supersede(f->a, "profile", ids[0], 1010, err),
	    PC_OK);
	assert_counted_exactly(f->path);
	memset(&o, 0, sizeof(o));
	o.seqs = seqs + 20;
	o.nseqs = 5;
	o.state = JOURNAL_APPLIED;
	assert_int_equal(journal_record(f->b, &o, 1, err), PC_OK);
	o.seqs = seqs + 25;
	o.state = JOURNAL_DEAD;
	o.reason = "23514";
	assert_int_equal(journal_record(f->b, &o, 1, err), PC_OK);
	o.seqs = seqs + 30;
	o.state = JOURNAL_RETRY;
	o.next_attempt_us = 5000;
	assert_int_equal(journal_record(f->a, &o, 1, err), PC_OK);
	assert_counted_exactly(f->path);
	assert_int_equal(journal_cancel(f->a, "profile", ids[2], &n, err),
	    PC_OK);
	assert_true(n > 0);
	assert_counted_exactly(f->path);
	/* What an operator's sqlite3 or profilecache-admin can do. */
	exec(f->path,
	    "UPDATE changes SET state = 'pending' WHERE state = 'dead';"
	    " UPDATE changes SET patch = '{\"bio\":\"rewritten, longer\"}'"
	    " WHERE seq = (SELECT max(seq) FROM changes WHERE state = 'pending');"
	    " DELETE FROM changes WHERE seq = (SELECT min(seq) FROM changes"
	    " WHERE state = 'pending');");
	assert_counted_exactly(f->path);
	/* Appends see the counter the triggers keep. */
	assert_int_equal(journal_pending_bytes(f->a, "profile", ids[1], &bytes,
	                     err),
	    PC_OK);
	assert_true(bytes > 0);
	assert_int_equal(journal_append(f->a, "profile", ids[1], "{}", 0, 9000,
	                     bytes + 1, &v, &seq, err),
	    PC_TOOBIG);
	assert_int_equal(journal_append(f->a, "profile", ids[1], "{}", 0, 9000,
	                     bytes + 2, &v, &seq, err),
	    PC_OK);
	/* A format-3 journal had no counter: migrating counts it afresh. */
	journal_close(f->a);
	journal_close(f->b);
	exec(f->path,
	    "DROP TRIGGER pending_bytes_insert; DROP TRIGGER pending_bytes_update;"
	    " DROP TRIGGER pending_bytes_delete; DROP TABLE pending_bytes;"
	    " INSERT INTO changes (resource, id, patch, updated_at_us, created_at_us)"
	    " VALUES ('profile', 'x', '{\"a\":1}', 1, 1); PRAGMA user_version = 3;");
	f->a = open_one(f->path);
	f->b = open_one(f->path);
	assert_counted_exactly(f->path);
	assert_int_equal(journal_pending_bytes(f->b, "profile", "x", &bytes,
	                     err),
	    PC_OK);
	assert_int_equal(bytes, 7);
}

/* The mapped counters of "<journal>-sync": tickets, durable, syncs. */
static void
group_read(const char *path, uint64_t c[3])
{
	char p[128];
	FILE *fp;

	(void)snprintf(p, sizeof(p), "%s-sync", path);
	assert_non_null(fp = fopen(p, "rb"));
	assert_int_equal(fread(c, sizeof(uint64_t), 3, fp), 3);
	fclose(fp);
}

static void
group_poke(const char *path, off_t at, const void *bytes, size_t n)
{
	char p[128];
	int fd;

	(void)snprintf(p, sizeof(p), "%s-sync", path);
	assert_true((fd = open(p, O_RDWR)) != -1);
	assert_int_equal(pwrite(fd, bytes, n, at), (ssize_t)n);
	(void)close(fd);
}

/* How many changes the journal holds, read past the journal's API. */
static int
rows_of(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM changes",
	                     -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static bool
count_one(void *arg, const char *patch, size_t len, int64_t v)
{
	(void)patch;
	(void)len;
	(void)v;
	(*(int *)arg)++;
	return true;
}

/*
 * Group commit: one writer alone fsyncs once per commit; writers whose
 * commits are made while another fsync runs (here: while the test holds the
 * sync lock) are made durable by one fsync between them; none of them
 * returns before its commit is covered; a read does not see past what is on
 * disk; and after a failed fsync nothing is acknowledged until another boot.
 */
static void
test_group_commit(void **state)
{
	struct fixture *f = *state;
	struct journal *j;
	uint64_t c[3], commits, syncs;
	char p[128];
	pid_t kids[3];
	int i, lock, status;
	int64_t v;

	j = open_sync(f->path, true);
	assert_true(journal_group_counts(j, &commits, &syncs));
	assert_int_equal(commits, 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(append(j, 1000 + i, &v), PC_OK);
	group_read(f->path, c);
	assert_int_equal(c[0], 5);
	assert_int_equal(c[1], 5);
	assert_int_equal(c[2], 5);
	assert_false(journal_group_counts(f->a, &commits, &syncs));

	/* Hold the sync lock, as a long fsync would, while three commit. */
	(void)snprintf(p, sizeof(p), "%s-sync", f->path);
	assert_true((lock = open(p, O_RDWR)) != -1);
	assert_int_equal(flock(lock, LOCK_EX), 0);
	for (i = 0; i < 3; i++) {
		assert_true((kids[i] = fork()) != -1);
		if (kids[i] == 0) {
			struct journal *k;

			(void)close(lock); /* the lock stays the test's only */
			k = open_sync(f->path, true);

			_exit(append(k, 2000 + i, &v) == PC_OK ? 0 : 1);
		}
	}
	for (i = 0; i < 500; i++) { /* each commits, takes a ticket, queues */
		group_read(f->path, c);
		if (c[0] == 8)
			break;
		usleep(10000);
	}
	assert_int_equal(c[0], 8);
	/* Committed, not yet durable: none of them has answered. */
	for (i = 0; i < 3; i++)
		assert_int_equal(waitpid(kids[i], &status, WNOHANG), 0);
	assert_int_equal(c[1], 5);
	assert_int_equal(flock(lock, LOCK_UN), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	group_read(f->path, c);
	assert_int_equal(c[1], 8);
	assert_int_equal(c[2], 6); /* one fsync for the three */

	/* A read of pending changes shows nothing that is not on disk yet. */
	assert_int_equal(flock(lock, LOCK_EX), 0);
	assert_true((kids[0] = fork()) != -1);
	if (kids[0] == 0) {
		struct journal *k;

		(void)close(lock);
		k = open_sync(f->path, true);

		_exit(append(k, 3000, &v) == PC_OK ? 0 : 1);
	}
	for (i = 0; i < 500; i++) {
		group_read(f->path, c);
		if (c[0] == 9)
			break;
		usleep(10000);
	}
	assert_int_equal(c[0], 9);
	assert_true((kids[1] = fork()) != -1);
	if (kids[1] == 0) {
		struct journal *k;
		char err[PC_ERRLEN];
		int seen = 0;

		(void)close(lock);
		k = open_sync(f->path, true);

		_exit(journal_pending(k, "profile", ID, count_one, &seen,
		          err) == PC_OK &&
		            seen == 9 ?
		        0 :
		        1);
	}
	usleep(200000);
	assert_int_equal(waitpid(kids[1], &status, WNOHANG), 0);
	assert_int_equal(flock(lock, LOCK_UN), 0);
	for (i = 0; i < 2; i++) {
		assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	(void)close(lock);

	/*
	 * A writer killed between counting its commit as begun and taking its
	 * ticket: the next read must not wait for it forever.
	 */
	group_read(f->path, c);
	{
		uint64_t begun = c[0] + 1, now[10];
		int seen = 0;
		char err[PC_ERRLEN];
		FILE *fp;
		char p2[128];

		group_poke(f->path, 72, &begun, sizeof(begun));
		assert_int_equal(journal_pending(j, "profile", ID, count_one,
		                     &seen, err),
		    PC_OK);
		assert_int_equal(seen, 9);
		(void)snprintf(p2, sizeof(p2), "%s-sync", f->path);
		assert_non_null(fp = fopen(p2, "rb"));
		assert_int_equal(fread(now, sizeof(uint64_t), 10, fp), 10);
		fclose(fp);
		assert_int_equal(now[0], begun); /* ticket caught up */
		assert_int_equal(now[9], begun);
		assert_true(now[1] >= begun); /* and made durable */
	}

	/* After a failed fsync nothing is acknowledged, until another boot. */
	group_poke(f->path, 24, "\1", 1);
	assert_int_equal(append(j, 4000, &v), PC_UNAVAILABLE);
	assert_int_equal(rows_of(f->path), 9); /* refused before it went in */
	journal_close(j);
	j = open_sync(f->path, true);
	assert_int_equal(append(j, 4001, &v), PC_UNAVAILABLE);
	journal_close(j);
	group_poke(f->path, 32, "another boot", 13);
	j = open_sync(f->path, true);
	assert_int_equal(append(j, 4002, &v), PC_OK);
	group_read(f->path, c);
	assert_int_equal(c[0], 1);
	assert_int_equal(c[1], 1);
	journal_close(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_versions_rise, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pending_budget, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_keyed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_stays_short, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pending_bytes_counted,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_count, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

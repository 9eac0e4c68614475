/* Operators' queries on the journal: queue depth, dead letters, requeue. */
#include "autoconf.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "journal.h"
#include "journal_admin.h"
#include "log.h"

struct journal_admin {
	sqlite3 *db;
	char *path;
	enum journal_admin_mode mode;
};

/* The journal's states, in the order operators see them; named by journal.c. */
static const enum journal_state admin_states[JOURNAL_ADMIN_NSTATES] = {
	[JOURNAL_ADMIN_PENDING] = JOURNAL_RETRY,
	[JOURNAL_ADMIN_APPLIED] = JOURNAL_APPLIED,
	[JOURNAL_ADMIN_CONFLICT] = JOURNAL_CONFLICT,
	[JOURNAL_ADMIN_DEAD] = JOURNAL_DEAD,
	[JOURNAL_ADMIN_CANCELLED] = JOURNAL_CANCELLED,
};

/* Entries per state; states without entries stay 0. */
static const char sql_counts[] =
    "SELECT state, count(*) FROM changes GROUP BY state";
/* Walks the changes_due index (pending only). */
static const char sql_pending[] =
    "SELECT count(*) FILTER (WHERE next_attempt_at <= ?1),"
    " count(*) FILTER (WHERE next_attempt_at > ?1), min(created_at_us),"
    " count(*) FILTER (WHERE attempts >= ?2)"
    " FROM changes WHERE state = 'pending'";
/*
 * meta values are text. The round trip through INTEGER accepts only a
 * canonical decimal that fits 64 bits; anything else reads as absent.
 */
static const char sql_meta[] =
    "SELECT (SELECT CAST(value AS INTEGER) FROM meta"
    "        WHERE key = 'last_flush_at_us'"
    "        AND CAST(CAST(value AS INTEGER) AS TEXT) = value),"
    " (SELECT value FROM meta WHERE key = 'last_flush_at_us'),"
    " (SELECT value FROM meta WHERE key = 'last_flush_summary'),"
    " (SELECT CAST(value AS INTEGER) FROM meta"
    "        WHERE key = 'clock_offset_us'"
    "        AND CAST(CAST(value AS INTEGER) AS TEXT) = value)";
static const char sql_dead_count[] =
    "SELECT count(*) FROM changes WHERE state = 'dead'";
static const char sql_dead_list[] =
    "SELECT seq, resource, id, patch, updated_at_us, attempts, created_at_us,"
    " last_error FROM changes WHERE state = 'dead' ORDER BY seq LIMIT ?1";
static const char sql_state_of[] = "SELECT state FROM changes WHERE seq = ?1";

/*
 * A retried change is stamped anew (now, on this node's clock, or just
 * after its old version): it was refused, and meanwhile a newer version of
 * its fields may have landed, over which the old version would never win.
 */
#define MOVE_RETRY \
	"UPDATE changes SET state = 'pending', attempts = 0," \
	" next_attempt_at = 0, last_error = NULL," \
	" updated_at_us = max(updated_at_us + 1," \
	" CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER))" \
	" WHERE state = 'dead'"
#define MOVE_DROP "UPDATE changes SET state = 'cancelled' WHERE state = 'dead'"

/* [how][all]: one entry by seq, or every dead entry. */
static const char *const sql_move[2][2] = {
	[JOURNAL_ADMIN_RETRY] = { MOVE_RETRY " AND seq = ?1", MOVE_RETRY },
	[JOURNAL_ADMIN_DROP] = { MOVE_DROP " AND seq = ?1", MOVE_DROP },
};

const char *
journal_admin_state_name(int s)
{
	return s >= 0 && s < JOURNAL_ADMIN_NSTATES ?
	    journal_state_name(admin_states[s]) :
	    "?";
}

/* Every SQLite error is "cannot read or write the journal now". */
static enum pc_result
journal_admin_fail(struct journal_admin *a, const char *op, char *err)
{
	if ((sqlite3_extended_errcode(a->db) & 0xff) == SQLITE_BUSY)
		pc_err(err,
		    "journal %s: %s: another process held the journal's"
		    " lock for longer than the busy timeout; try again",
		    a->path, op);
	else
		pc_err(err, "journal %s: %s: %s", a->path, op,
		    sqlite3_errmsg(a->db));
	log_debug("journal_admin_error", "op=%s code=%d", op,
	    sqlite3_extended_errcode(a->db));
	return PC_UNAVAILABLE;
}

static enum pc_result
journal_admin_exec(struct journal_admin *a, const char *sql, const char *op,
    char *err)
{
	if (sqlite3_exec(a->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return journal_admin_fail(a, op, err);
	return PC_OK;
}

static enum pc_result
journal_admin_prepare(struct journal_admin *a, const char *sql,
    sqlite3_stmt **st, const char *op, char *err)
{
	if (sqlite3_prepare_v2(a->db, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return journal_admin_fail(a, op, err);
	}
	return PC_OK;
}

/*
 * Finish the transaction journal_admin_exec(a, "BEGIN...") started:
 * commit when r is PC_OK, else roll back. Returns the final result.
 */
static enum pc_result
journal_admin_end(struct journal_admin *a, enum pc_result r, const char *op,
    char *err)
{
	if (r == PC_OK &&
	    sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		r = journal_admin_fail(a, op, err);
	if (r != PC_OK && !sqlite3_get_autocommit(a->db))
		(void)sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

/* Run a query of one integer row into *v. */
static enum pc_result
journal_admin_int(struct journal_admin *a, const char *sql, const char *op,
    int64_t *v, char *err)
{
	sqlite3_stmt *st = NULL;
	enum pc_result r;

	if ((r = journal_admin_prepare(a, sql, &st, op, err)) != PC_OK)
		return r;
	if (sqlite3_step(st) == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	else
		r = journal_admin_fail(a, op, err);
	sqlite3_finalize(st);
	return r;
}

enum pc_result
journal_admin_open(const char *path, enum journal_admin_mode mode,
    long busy_timeout_ms, struct journal_admin **out, char *err)
{
	struct journal_admin *a = NULL;
	enum pc_result r = PC_UNAVAILABLE;
	struct stat sb;
	int64_t version = 0;
	int flags, e;

	*out = NULL;
	if (stat(path, &sb) == -1) {
		e = errno;
		pc_err(err, "journal %s: %s", path, strerror(e));
		return e == ENOENT ? PC_NOTFOUND : PC_UNAVAILABLE;
	}
	if (!S_ISREG(sb.st_mode)) {
		pc_err(err, "journal %s: not a regular file", path);
		return PC_INVALID;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->path = strdup(path)) == NULL) {
		pc_err(err, "out of memory");
		r = PC_NOMEM;
		goto out;
	}
	a->mode = mode;
	/* Never SQLITE_OPEN_CREATE: an operator's typo must not make a file. */
	flags = (mode == JOURNAL_ADMIN_WRITE ? SQLITE_OPEN_READWRITE :
	                                       SQLITE_OPEN_READONLY) |
	    SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &a->db, flags, NULL) != SQLITE_OK) {
		pc_err(err, "journal %s: %s", path,
		    a->db != NULL ? sqlite3_errmsg(a->db) : "out of memory");
		goto out;
	}
	(void)sqlite3_extended_result_codes(a->db, 1);
	/*
	 * XXX SQLite's plain busy timeout, not the responders' writers'
	 * queue (an flock that journal.c keeps to itself): under a steady
	 * stream of writes an admin write may wait its whole timeout and
	 * fail; the operator runs it again.
	 */
	(void)sqlite3_busy_timeout(a->db,
	    busy_timeout_ms > 0 ?
	        (int)(busy_timeout_ms > 600000 ? 600000 : busy_timeout_ms) :
	        0);
	if ((r = journal_admin_int(a, "PRAGMA user_version", "open", &version,
	         err)) != PC_OK)
		goto out;
	if (version < 1) {
		pc_err(err,
		    "journal %s: not an initialised profilecache journal"
		    " (profilecache-admin init creates one)",
		    path);
		r = PC_INVALID;
		goto out;
	}
	if (version > JOURNAL_FORMAT) {
		pc_err(err,
		    "journal %s: format %lld is newer than this program's %d",
		    path, (long long)version, JOURNAL_FORMAT);
		r = PC_INVALID;
		goto out;
	}
	*out = a;
	a = NULL;
	r = PC_OK;
out:
	journal_admin_close(a);
	return r;
}

void
journal_admin_close(struct journal_admin *a)
{
	if (a == NULL)
		return;
	(void)sqlite3_close(a->db);
	free(a->path);
	free(a);
}

/* Copy the text of column i into dst (size bytes), truncated to fit. */
static void
column_copy(sqlite3_stmt *st, int i, char *dst, size_t size)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);

	if (s == NULL || size == 0)
		return;
	if (n >= size)
		n = size - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

static enum journal_admin_state
state_parse(const char *s)
{
	int i;

	for (i = 0; i < JOURNAL_ADMIN_NSTATES; i++)
		if (s != NULL &&
		    strcmp(s, journal_state_name(admin_states[i])) == 0)
			return (enum journal_admin_state)i;
	return JOURNAL_ADMIN_NSTATES;
}

enum pc_result
journal_admin_status(struct journal_admin *a, int64_t now_us, long max_attempts,
    struct journal_admin_status *st, char *err)
{
	sqlite3_stmt *q = NULL;
	enum journal_admin_state s;
	enum pc_result r;
	int rc;

	memset(st, 0, sizeof(*st));
	/* One read transaction: every number comes from the same snapshot. */
	if ((r = journal_admin_exec(a, "BEGIN", "status", err)) != PC_OK)
		return r;
	if ((r = journal_admin_prepare(a, sql_counts, &q, "status", err)) !=
	    PC_OK)
		goto out;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		s = state_parse((const char *)sqlite3_column_text(q, 0));
		if (s < JOURNAL_ADMIN_NSTATES)
			st->count[s] = sqlite3_column_int64(q, 1);
	}
	if (rc != SQLITE_DONE) {
		r = journal_admin_fail(a, "status", err);
		goto out;
	}
	sqlite3_finalize(q);
	q = NULL;

	if ((r = journal_admin_prepare(a, sql_pending, &q, "status", err)) !=
	    PC_OK)
		goto out;
	(void)sqlite3_bind_int64(q, 1, now_us);
	(void)sqlite3_bind_int64(q, 2, max_attempts);
	if (sqlite3_step(q) != SQLITE_ROW) {
		r = journal_admin_fail(a, "status", err);
		goto out;
	}
	st->pending_due = sqlite3_column_int64(q, 0);
	st->pending_waiting = sqlite3_column_int64(q, 1);
	if ((st->has_oldest = sqlite3_column_type(q, 2) != SQLITE_NULL))
		st->oldest_pending_us = sqlite3_column_int64(q, 2);
	st->pending_stuck = sqlite3_column_int64(q, 3);
	sqlite3_finalize(q);
	q = NULL;

	if ((r = journal_admin_prepare(a, sql_meta, &q, "status", err)) !=
	    PC_OK)
		goto out;
	if (sqlite3_step(q) != SQLITE_ROW) {
		r = journal_admin_fail(a, "status", err);
		goto out;
	}
	if ((st->has_last_flush = sqlite3_column_type(q, 0) != SQLITE_NULL))
		st->last_flush_at_us = sqlite3_column_int64(q, 0);
	else if (sqlite3_column_type(q, 1) != SQLITE_NULL)
		log_warn("journal_admin_meta_bad", "key=last_flush_at_us");
	if ((st->has_summary = sqlite3_column_type(q, 2) != SQLITE_NULL))
		column_copy(q, 2, st->summary, sizeof(st->summary));
	if ((st->has_clock_offset = sqlite3_column_type(q, 3) != SQLITE_NULL))
		st->clock_offset_us = sqlite3_column_int64(q, 3);
out:
	sqlite3_finalize(q);
	return journal_admin_end(a, r, "status", err);
}

enum pc_result
journal_admin_dead_list(struct journal_admin *a, long limit,
    journal_admin_entry_fn fn, void *arg, int64_t *total, char *err)
{
	struct journal_admin_entry d;
	sqlite3_stmt *q = NULL;
	enum pc_result r;
	int rc;

	*total = 0;
	if ((r = journal_admin_exec(a, "BEGIN", "dead list", err)) != PC_OK)
		return r;
	if ((r = journal_admin_int(a, sql_dead_count, "dead list", total,
	         err)) != PC_OK)
		goto out;
	if ((r = journal_admin_prepare(a, sql_dead_list, &q, "dead list",
	         err)) != PC_OK)
		goto out;
	(void)sqlite3_bind_int64(q, 1, limit);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		memset(&d, 0, sizeof(d));
		d.e.seq = sqlite3_column_int64(q, 0);
		d.e.resource = (const char *)sqlite3_column_text(q, 1);
		d.e.id = (const char *)sqlite3_column_text(q, 2);
		d.e.patch = (const char *)sqlite3_column_text(q, 3);
		d.e.updated_at_us = sqlite3_column_int64(q, 4);
		d.e.attempts = (long)sqlite3_column_int64(q, 5);
		d.created_at_us = sqlite3_column_int64(q, 6);
		d.last_error = (const char *)sqlite3_column_text(q, 7);
		if (!fn(arg, &d)) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		r = journal_admin_fail(a, "dead list", err);
out:
	sqlite3_finalize(q);
	return journal_admin_end(a, r, "dead list", err);
}

/* Each seq must name a dead entry; err names the first that does not. */
static enum pc_result
journal_admin_check_dead(struct journal_admin *a, const int64_t *seqs, size_t n,
    char *err)
{
	sqlite3_stmt *q = NULL;
	enum pc_result r;
	const char *state;
	size_t i;
	int rc;

	if ((r = journal_admin_prepare(a, sql_state_of, &q, "check", err)) !=
	    PC_OK)
		return r;
	for (i = 0; i < n && r == PC_OK; i++) {
		(void)sqlite3_reset(q);
		(void)sqlite3_bind_int64(q, 1, seqs[i]);
		rc = sqlite3_step(q);
		if (rc == SQLITE_DONE) {
			pc_err(err, "seq %lld: no such journal entry",
			    (long long)seqs[i]);
			r = PC_NOTFOUND;
		} else if (rc != SQLITE_ROW) {
			r = journal_admin_fail(a, "check", err);
		} else if ((state = (const char *)sqlite3_column_text(q, 0)) ==
		        NULL ||
		    strcmp(state, "dead") != 0) {
			pc_err(err, "seq %lld: the entry is %s, not dead",
			    (long long)seqs[i], state != NULL ? state : "?");
			r = PC_CONFLICT;
		}
	}
	sqlite3_finalize(q);
	return r;
}

enum pc_result
journal_admin_dead_move(struct journal_admin *a, enum journal_admin_move how,
    const int64_t *seqs, size_t n, bool all, int64_t *moved, char *err)
{
	sqlite3_stmt *q = NULL;
	enum pc_result r;
	size_t i;

	*moved = 0;
	if ((how != JOURNAL_ADMIN_RETRY && how != JOURNAL_ADMIN_DROP) ||
	    (all ? n != 0 : n == 0)) {
		pc_err(err, "journal_admin_dead_move: bad arguments");
		return PC_ERROR;
	}
	if (a->mode != JOURNAL_ADMIN_WRITE) {
		pc_err(err, "journal %s: opened read-only", a->path);
		return PC_ERROR;
	}
	/* Take the write lock first: nothing can change between check and move. */
	if ((r = journal_admin_exec(a, "BEGIN IMMEDIATE", "begin", err)) !=
	    PC_OK)
		return r;
	if (!all && (r = journal_admin_check_dead(a, seqs, n, err)) != PC_OK)
		goto out;
	if ((r = journal_admin_prepare(a, sql_move[how][all], &q, "move",
	         err)) != PC_OK)
		goto out;
	for (i = 0; i < (all ? 1 : n); i++) {
		(void)sqlite3_reset(q);
		if (!all)
			(void)sqlite3_bind_int64(q, 1, seqs[i]);
		if (sqlite3_step(q) != SQLITE_DONE) {
			r = journal_admin_fail(a, "move", err);
			goto out;
		}
		/* A seq given twice moves once: the second finds it moved. */
		*moved += sqlite3_changes(a->db);
	}
out:
	sqlite3_finalize(q);
	r = journal_admin_end(a, r, "commit", err);
	if (r != PC_OK)
		*moved = 0;
	return r;
}

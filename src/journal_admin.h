/* Operators' queries on the journal: queue depth, dead letters, requeue. */
#ifndef PC_JOURNAL_ADMIN_H
#define PC_JOURNAL_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "result.h"

/*
 * A connection of its own to the journal's SQLite file, apart from
 * struct journal: it never creates or migrates the file, and it may be
 * read-only, so looking at a journal cannot change it.
 */
struct journal_admin;

enum journal_admin_mode {
	JOURNAL_ADMIN_READ, /* SQLITE_OPEN_READONLY */
	JOURNAL_ADMIN_WRITE /* SQLITE_OPEN_READWRITE, never CREATE */
};

/*
 * Open the existing journal at path. Writers wait up to busy_timeout_ms for
 * the responder's and the flusher's transactions. On PC_OK *out is owned by
 * the caller (journal_admin_close()). PC_NOTFOUND: there is no file at path.
 * PC_INVALID: the file is not a journal profilecache initialised, or has a
 * newer format than this program. PC_UNAVAILABLE: SQLite cannot open or
 * read it. err says which, naming path.
 */
enum pc_result journal_admin_open(const char *path,
    enum journal_admin_mode mode, long busy_timeout_ms,
    struct journal_admin **out, char *err);
/* Close a; NULL is allowed. */
void journal_admin_close(struct journal_admin *a);

/* The states of schema/journal.sql, in the order reports list them. */
enum journal_admin_state {
	JOURNAL_ADMIN_PENDING,
	JOURNAL_ADMIN_APPLIED,
	JOURNAL_ADMIN_CONFLICT,
	JOURNAL_ADMIN_DEAD,
	JOURNAL_ADMIN_CANCELLED,
	JOURNAL_ADMIN_NSTATES
};

/* "pending", "applied", ...: the name of state s in the journal; "?" when
 * s is out of range. */
const char *journal_admin_state_name(int s);

#define JOURNAL_ADMIN_SUMMARY_MAX 1024 /* bytes kept of last_flush_summary */

struct journal_admin_status {
	int64_t count[JOURNAL_ADMIN_NSTATES]; /* entries per state */
	int64_t pending_due;     /* pending, next_attempt_at <= now */
	int64_t pending_waiting; /* pending, waiting for a retry */
	int64_t pending_stuck; /* pending, failed max_attempts times or more */
	bool has_clock_offset; /* meta clock_offset_us present, numeric */
	int64_t clock_offset_us; /* the database's clock minus the node's */
	bool has_oldest;
	int64_t oldest_pending_us; /* created_at_us of the oldest pending */
	bool has_last_flush;       /* meta last_flush_at_us present, numeric */
	int64_t last_flush_at_us;
	bool has_summary; /* meta last_flush_summary present */
	char summary[JOURNAL_ADMIN_SUMMARY_MAX]; /* truncated to fit */
};

/*
 * Fill *st from one consistent snapshot of the journal, "due" meaning
 * next_attempt_at <= now_us, "stuck" attempts >= max_attempts. A malformed last_flush_at_us counts as absent
 * (with a warning in the log). PC_UNAVAILABLE with err when it cannot be
 * read.
 */
enum pc_result journal_admin_status(struct journal_admin *a, int64_t now_us,
    long max_attempts, struct journal_admin_status *st, char *err);

/* One dead entry; the strings live only for the callback. */
struct journal_admin_entry {
	struct journal_entry e;
	int64_t created_at_us;
	const char *last_error; /* NULL when none was recorded */
};

/* Called per entry in seq order; return false to stop. */
typedef bool (*journal_admin_entry_fn)(void *arg,
    const struct journal_admin_entry *d);

/*
 * Visit the first limit dead entries in seq order, and set *total to how
 * many dead entries there are (same snapshot). PC_UNAVAILABLE with err
 * when the journal cannot be read.
 */
enum pc_result journal_admin_dead_list(struct journal_admin *a, long limit,
    journal_admin_entry_fn fn, void *arg, int64_t *total, char *err);

enum journal_admin_move {
	/* dead -> pending, attempts 0, due at once, last_error NULL */
	JOURNAL_ADMIN_RETRY,
	/* dead -> cancelled, kept (with its last_error) until pruned */
	JOURNAL_ADMIN_DROP
};

/*
 * Move dead entries, in one BEGIN IMMEDIATE transaction: every dead entry
 * when all is true (then n must be 0), else the n entries in seqs (n > 0;
 * a seq given twice counts once). *moved gets how many moved. When a seq is
 * not in the journal (PC_NOTFOUND) or its entry is not dead (PC_CONFLICT),
 * err names the seq and nothing is changed. PC_UNAVAILABLE: the write lock
 * was not had within the busy timeout or the commit failed; nothing is
 * changed. The journal must have been opened with JOURNAL_ADMIN_WRITE.
 */
enum pc_result journal_admin_dead_move(struct journal_admin *a,
    enum journal_admin_move how, const int64_t *seqs, size_t n, bool all,
    int64_t *moved, char *err);

#endif

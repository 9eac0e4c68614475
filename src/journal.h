/* The journal store: deferred writes made durable in a local SQLite file. */
#ifndef PC_JOURNAL_H
#define PC_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

struct journal;

struct journal_opts {
	const char *path;
	bool sync_full;		/* synchronous=FULL (default) or NORMAL */
	long busy_timeout_ms;	/* how long a writer waits for the lock */
};

/*
 * Open (creating and migrating when needed) the journal at opts->path in WAL
 * mode. PC_UNAVAILABLE with err when the file cannot be opened or migrated.
 */
enum pc_result journal_open(const struct journal_opts *opts, struct journal **out,
    char *err);
void journal_close(struct journal *j);

/*
 * Append one change (patch: a JSON object of the changed fields) for
 * (resource, id) and commit it. The change's version is
 * max(now_us, base_us + 1, newest pending version of the id + 1), computed
 * inside the write transaction, so versions of one id are strictly
 * increasing on this node whatever the clock does. On PC_OK the change is
 * durable (the commit returned) and *updated_at_us / *seq say what it got.
 * PC_UNAVAILABLE: the journal could not commit (disk full, read-only, lock
 * not had within busy_timeout_ms); nothing was written.
 */
enum pc_result journal_append(struct journal *j, const char *resource,
    const char *id, const char *patch, int64_t base_us, int64_t now_us,
    int64_t *updated_at_us, int64_t *seq, char *err);

/* Called per pending change in seq order; return false to stop. */
typedef bool (*journal_pending_fn)(void *arg, const char *patch, size_t len,
    int64_t updated_at_us);

/*
 * Visit the pending changes of (resource, id) in seq order. Returns PC_OK
 * (also when there are none), or PC_UNAVAILABLE when the journal cannot be
 * read.
 */
enum pc_result journal_pending(struct journal *j, const char *resource,
    const char *id, journal_pending_fn fn, void *arg, char *err);

/*
 * Mark the pending changes of (resource, id) with versions up to upto_us as
 * applied: a synchronous write carried them to the database.
 */
enum pc_result journal_supersede(struct journal *j, const char *resource,
    const char *id, int64_t upto_us, char *err);

/*
 * Housekeeping to run when no client is waiting (after the response has
 * been sent): checkpoint the WAL into the database once it has grown past
 * a threshold, so commits never pay for it.
 */
void journal_maintain(struct journal *j);

#endif

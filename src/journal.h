/* The journal store: deferred writes made durable in a local SQLite file. */
#ifndef PC_JOURNAL_H
#define PC_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

struct journal;

/* The journal's format (PRAGMA user_version); journal_open() migrates to it. */
#define JOURNAL_FORMAT 6

struct journal_opts {
	const char *path;
	bool sync_full; /* every commit on disk before it returns (default),
				   or NORMAL: a power loss may lose the last ones */
	long busy_timeout_ms; /* how long a writer waits for the lock */
	bool queue_poll;      /* wait for the writers' queue by polling: the
				   process has threads (the timer is per process) */
};

/*
 * Open (creating and migrating when needed) the journal at opts->path in WAL
 * mode. PC_UNAVAILABLE with err when the file cannot be opened or migrated.
 */
enum pc_result journal_open(const struct journal_opts *opts,
    struct journal **out, char *err);
void journal_close(struct journal *j);

/*
 * With sync_full, commits of every process of the node share their fsyncs
 * (group commit, "<journal>-sync"): *commits is how many write transactions
 * the node's processes have ended since boot (each takes a ticket), *syncs
 * how many fsyncs of the WAL made them durable. False
 * without group commit: sync_full off (no fsync per commit), or the file
 * could not be mapped (each COMMIT then fsyncs by itself).
 */
bool journal_group_counts(struct journal *j, uint64_t *commits,
    uint64_t *syncs);

/*
 * Append one change (patch: a JSON object of the changed fields) for
 * (resource, id) and commit it. The change's version is
 * max(now_us, base_us + 1, newest pending version of the id + 1), computed
 * inside the write transaction, so versions of one id are strictly
 * increasing on this node whatever the clock does. On PC_OK the change is
 * durable (committed, and with sync_full its WAL frames fsync'd) and
 * *updated_at_us / *seq say what it got.
 * PC_TOOBIG: the id's pending changes and this one would hold more than
 * max_pending bytes of patches (checked in the same transaction, so
 * concurrent writers of one id cannot both slip under it; 0: no limit);
 * nothing was written. PC_UNAVAILABLE: the journal could not commit (disk
 * full, read-only, lock not had within busy_timeout_ms) and nothing was
 * written; or, rarely, the commit was made but the fsync after it failed:
 * then the change is not acknowledged, yet it may still be flushed.
 */
enum pc_result journal_append(struct journal *j, const char *resource,
    const char *id, const char *patch, int64_t base_us, int64_t now_us,
    int64_t max_pending, int64_t *updated_at_us, int64_t *seq, char *err);

#ifdef UNITTESTS
/*
 * *bytes: the bytes of the patches of (resource, id)'s pending changes, what
 * journal_append()'s max_pending bounds.
 */
enum pc_result journal_pending_bytes(struct journal *j, const char *resource,
    const char *id, int64_t *bytes, char *err);
#endif

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

/* One journal entry, as the flusher and operators see it. */
struct journal_entry {
	int64_t seq;
	const char *resource;
	const char *id;
	const char *patch;
	int64_t updated_at_us;
	long attempts;
};

/* Called per entry; the strings live only for the call. Return false to stop. */
typedef bool (*journal_entry_fn)(void *arg, const struct journal_entry *e);

/*
 * Visit the pending entries due at now_us (next_attempt_at <= now), in seq
 * order, until fn returns false. An entry is never due while an older
 * pending entry of its id waits for a retry.
 */
enum pc_result journal_due(struct journal *j, int64_t now_us,
    journal_entry_fn fn, void *arg, char *err);

/*
 * Visit the ids of resource whose pending changes set field to value (a
 * text field: the owner field, which only a create sets), each once.
 */
typedef bool (*journal_id_fn)(void *arg, const char *id);
enum pc_result journal_pending_with(struct journal *j, const char *resource,
    const char *field, const char *value, journal_id_fn fn, void *arg,
    char *err);

/*
 * Make every pending entry that waits for a retry due now (the database is
 * back); *n gets how many were waiting.
 */
enum pc_result journal_due_now(struct journal *j, int64_t now_us, long *n,
    char *err);

/*
 * Whether a pending or dead change's patch contains needle (an avatar file
 * name, say). *found is true on an error too.
 */
enum pc_result journal_mentions(struct journal *j, const char *needle,
    bool *found, char *err);

/* Visit the dead-lettered changes of (resource, id) in seq order. */
enum pc_result journal_dead_of(struct journal *j, const char *resource,
    const char *id, journal_pending_fn fn, void *arg, char *err);

enum journal_state {
	JOURNAL_APPLIED,
	JOURNAL_CONFLICT,
	JOURNAL_DEAD,
	JOURNAL_CANCELLED,
	JOURNAL_RETRY /* still pending: attempts + 1, tried again later */
};

/* A state's name in the journal ("pending" for JOURNAL_RETRY), and back. */
const char *journal_state_name(enum journal_state s);
bool journal_state_parse(const char *name, enum journal_state *s);

/* An entry found by its key: an increment (see journal_append_keyed()). */
struct journal_keyed {
	int64_t seq;
	enum journal_state state; /* JOURNAL_RETRY while pending */
	char *patch;              /* owned */
	char *reason;             /* last_error, or NULL; owned */
};
void journal_keyed_release(struct journal_keyed *k);

/*
 * Append a change that carries a key (patch's "key": an increment's
 * Idempotency-Key) unless an entry of (resource, id) has that key already:
 * then nothing is written, *found describes that entry and the result is
 * PC_CONFLICT (the entry is on disk). Otherwise as journal_append(), with
 * no base version.
 */
enum pc_result journal_append_keyed(struct journal *j, const char *resource,
    const char *id, const char *key, const char *patch, int64_t now_us,
    int64_t max_pending, struct journal_keyed *found, int64_t *updated_at_us,
    int64_t *seq, char *err);

/* The entry of (resource, id) with key, or PC_NOTFOUND. */
enum pc_result journal_keyed(struct journal *j, const char *resource,
    const char *id, const char *key, struct journal_keyed *found, char *err);

/* What became of some pending entries. */
struct journal_outcome {
	const int64_t *seqs;
	size_t nseqs;
	enum journal_state state;
	const char *reason;        /* last_error; may be NULL */
	int64_t next_attempt_us;   /* JOURNAL_RETRY: when to try again */
	const char *resource, *id; /* JOURNAL_RETRY: every pending entry of
					   the id waits as long (may be NULL) */
};

/*
 * Record n outcomes in one transaction (one fsync for a whole batch).
 * Entries no longer pending are left alone. A retried entry is never given
 * up: only the database refusing a change makes it dead.
 */
enum pc_result journal_record(struct journal *j,
    const struct journal_outcome *o, size_t n, char *err);

/*
 * Cancel the pending entries of (resource, id): it was deleted. *n gets
 * how many there were.
 */
enum pc_result journal_cancel(struct journal *j, const char *resource,
    const char *id, long *n, char *err);

/* Delete applied and cancelled entries created before before_us. */
enum pc_result journal_prune(struct journal *j, int64_t before_us, long *pruned,
    char *err);

/* A key of the meta table into value (truncated to size); PC_NOTFOUND: none. */
enum pc_result journal_meta_get(struct journal *j, const char *key, char *value,
    size_t size, char *err);

/*
 * Count one more event of name in minute (seconds since the epoch / 60) and
 * set *n to the minute's count: this node's own counter, for what memcached
 * normally counts across nodes. Minutes before the previous one are removed.
 */
enum pc_result journal_count(struct journal *j, const char *name,
    int64_t minute, int64_t *n, char *err);

/* Set a key of the meta table. */
enum pc_result journal_meta_set(struct journal *j, const char *key,
    const char *value, char *err);

/*
 * Note that relpath, the avatar file the change seq replaces, may go once
 * that change has reached the database; seq < 0: once nothing refers to it
 * (a deleted profile's).
 */
enum pc_result journal_trash_add(struct journal *j, int64_t seq,
    const char *relpath, char *err);

/*
 * Called for a noted file whose change is no longer pending: applied says
 * whether the change reached the database (then the file may go). Return
 * true when done with it (the note is dropped), false to keep the note.
 */
typedef bool (*journal_trash_fn)(void *arg, const char *relpath, bool applied);

/* Visit the notes of settled changes, dropping those fn is done with. */
enum pc_result journal_trash_settled(struct journal *j, journal_trash_fn fn,
    void *arg, char *err);

/* Entries per state, in the order of enum journal_state's first four, then pending. */
struct journal_depth {
	long pending, applied, conflict, dead, cancelled;
};
enum pc_result journal_depth(struct journal *j, struct journal_depth *d,
    char *err);

/*
 * Housekeeping to run when no client is waiting (after the response has
 * been sent): checkpoint the WAL into the database once it has grown past
 * a threshold, so commits never pay for it.
 */
void journal_maintain(struct journal *j);

#endif

/* The cache-first read of a resource's row: hit, stale-while-revalidate, coalesced miss. */
#ifndef PC_USECASE_READ_H
#define PC_USECASE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "result.h"
#include "uuid.h"

struct app;
struct resource;

enum read_source { READ_HIT, READ_MISS, READ_STALE };

/* A row's answer as a route sends it: its JSON and the version it has. */
struct answer {
	uint64_t tag;     /* for the ETag */
	const char *body; /* points into raw */
	size_t body_len;
	char *raw; /* owned: answer_release(), or taken over */
};

/* Take e's bytes over into a (e keeps its header fields, not its value). */
void answer_take(struct answer *a, struct cache_entry *e);
void answer_release(struct answer *a);

struct read_result {
	/*
	 * PC_OK: the rest is set; the answer may be a (cached) not-found.
	 * PC_UNAVAILABLE: nothing cached and the origin is down.
	 * PC_ERROR: the origin gave an answer that makes no sense.
	 */
	enum pc_result result;
	enum read_source source;
	bool found;               /* a row, not a not-found */
	bool hidden;              /* only its owner and the admin may see it */
	char owner[UUID_LEN + 1]; /* hidden: whose it is ("": nobody's) */
	struct answer answer;     /* found: the row; read_result_release() */
	bool refresh; /* stale: call usecase_refresh() after answering */
};

/*
 * Read row id (a validated canonical UUID) of res cache-first. A fresh entry
 * is a hit. A stale one is returned at once with refresh set. On a miss
 * only the process that wins the memcached lock asks the origin; the others
 * wait up to lock_wait_ms for its entry, then ask the origin themselves.
 * With memcached down every read goes to the origin.
 */
void usecase_read(struct app *app, const struct resource *res, const char *id,
    struct read_result *out);
void read_result_release(struct read_result *rd);

/*
 * Build the entry for id from the database row with this node's pending
 * journal changes laid over it (read-your-writes), or a not-found entry.
 * Stores nothing. *expire_s: how long memcached should keep the entry (0:
 * not at all). e owns its value on PC_OK. PC_UNAVAILABLE: the origin or
 * the journal cannot be read.
 */
enum pc_result usecase_load(struct app *app, const struct resource *res,
    const char *id, struct cache_entry *e, long *expire_s);

/*
 * The same from a row already at hand: row (a database row as PostgREST
 * renders it, with field_versions; NULL when there is none) is taken over
 * and freed. Pending changes are laid over it field by field, then the
 * fields old (a cached entry, may be NULL) holds at newer versions;
 * dead-lettered ones that nothing newer replaced make it "sync":"failed"
 * with their fields listed. The entry carries the field versions.
 */
struct json_t;
enum pc_result usecase_build(struct app *app, const struct resource *res,
    const char *id, struct json_t *row, const struct cache_entry *old,
    struct cache_entry *e, long *expire_s);

/*
 * Cache what a read of id would now see, merged field by field with the
 * entry cached now (old, may be NULL: the fields it holds at newer
 * versions are kept, so another node's unflushed write is not dropped):
 * row (taken over; NULL: fetched from the origin) with this node's journal
 * over it, stored with CAS over the current entry or added.
 */
enum pc_result usecase_recache(struct app *app, const struct resource *res,
    const char *id, struct json_t *row);

/*
 * For a resource with counters, after a flush of increments: rebuild the
 * cached entries of ids (n of them) from one profilecache_counted call
 * (the rows and the ledger of one moment), each with CAS; one that changed
 * meanwhile is merged again on its own. Entries not cached are left to the
 * next read.
 */
void usecase_recache_counted(struct app *app, const struct resource *res,
    const char *const *ids, size_t n);

/*
 * A change made outside profilecache (a database webhook): drop the cached
 * entry of a deleted profile (and cancel this node's pending changes of
 * it, as a DELETE through profilecache does), or refresh a cached one from
 * the database,
 * merged field by field. An entry that is not cached is left alone.
 * PC_UNAVAILABLE when the database cannot be read (the entry is dropped).
 */
enum pc_result usecase_outside(struct app *app, const struct resource *res,
    const char *id, bool deleted);

/*
 * The member of an entry's versions that holds, for a resource with
 * counters, the increments its counters include that the database had not
 * settled when it was built: {"<key>": {"field","delta"}}.
 */
#define USECASE_INCREMENTS "$increments"

/* A cache entry's field versions (a new JSON object, empty when none). */
struct json_t *usecase_entry_versions(const struct cache_entry *e);
/* The row object of a cached body (its res->item; new reference), or NULL. */
struct json_t *usecase_entry_row(const struct resource *res,
    const struct cache_entry *e);

/*
 * Refresh a stale entry from the origin, if this process wins the lock.
 * Meant to run after the response is finished. When the origin fails the
 * stale entry is kept alive (stale-if-error, bounded by stale_if_error) and
 * the lock is left to expire, so the origin is tried at most once per
 * lock_ttl however many stale hits there are.
 */
void usecase_refresh(struct app *app, const struct resource *res,
    const char *id);

#endif

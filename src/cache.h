/* The cache store: memcached entries of header + exact response body, and locks. */
#ifndef PC_CACHE_H
#define PC_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

struct config;
struct cache;

/*
 * An entry's value is CACHE_HDR_LEN bytes of fixed little-endian header and
 * then the response body, byte for byte, so a hit is answered without JSON
 * work:
 *
 *   0  'P' 'C'           magic
 *   2  u8  version       CACHE_FORMAT
 *   3  u8  flags         CACHE_F_*
 *   4  u8  sync          enum profile_sync
 *   5  u24 versions_len  length of the versions trailer
 *   8  i64 updated_at    µs since the epoch (-1 for a not-found entry)
 *  16  i64 fresh_until   µs since the epoch; after it the entry is stale
 *  24  u64 tag           the ETag's value
 *  32  body, then versions_len bytes of versions
 *
 * The versions trailer is a JSON object giving each field the version (µs)
 * of the change that set the value in the body, so that an entry can be
 * merged field by field with a newer database row without losing a field
 * another node wrote and has not flushed yet.
 */
#define CACHE_HDR_LEN 32
#define CACHE_FORMAT 2
#define CACHE_VERSIONS_MAX 0xffffff

#define CACHE_F_NOTFOUND 0x01 /* a cached 404: body is the error document */
#define CACHE_F_PRIVATE 0x02  /* only the owner may see the body */

struct cache_entry {
	uint8_t flags;
	uint8_t sync;
	int64_t updated_at_us;
	int64_t fresh_until_us;
	uint64_t tag;
	const char *body; /* points into raw */
	size_t body_len;
	const char *versions; /* the trailer (not NUL-terminated), or NULL */
	size_t versions_len;
	char *raw; /* the whole value, owned (see cache_entry_release) */
	uint64_t cas;
};

/*
 * Encode e's header fields followed by body and e->versions into a new
 * value; *out is malloc()ed and owned by the caller.
 */
enum pc_result cache_entry_encode(const struct cache_entry *e, const char *body,
    size_t body_len, char **out, size_t *out_len);

/*
 * Decode a value. e->body points into raw, which stays owned by the caller
 * (e->raw is left NULL). PC_INVALID for a short value, a wrong magic or an
 * unknown format version.
 */
enum pc_result cache_entry_decode(const char *raw, size_t len,
    struct cache_entry *e);

/*
 * Encode e's header fields with body (and e->versions, which may point
 * anywhere until then) into a new value that e then owns: e->raw is the
 * whole value, e->body and e->versions point into it. e->tag is set to a
 * hash of the body (FNV-1a 64), the ETag of the entry.
 */
enum pc_result cache_entry_build(struct cache_entry *e, const char *body,
    size_t body_len);

/* Free the value an entry owns (after cache_get or cache_entry_build). */
void cache_entry_release(struct cache_entry *e);

/*
 * Connect lazily to the servers of cfg (consistent hashing across them).
 * PC_INVALID with err when the server list does not parse.
 */
enum pc_result cache_open(const struct config *cfg, struct cache **out,
    char *err);
void cache_close(struct cache *c);

/*
 * Fetch the entry for (ns, id), with its CAS value in e->cas.
 * PC_OK: e is filled and owns the value.
 * PC_NOTFOUND: no entry, or one in an unknown format. PC_UNAVAILABLE: no
 * server answered in time.
 */
enum pc_result cache_get(struct cache *c, const char *ns, const char *id,
    struct cache_entry *e);

/* Called per entry found by cache_get_many; e owns its value for the call. */
typedef void (*cache_found_fn)(void *arg, size_t index, struct cache_entry *e);

/*
 * A cache_found_fn that takes each found entry over into arg, an array of
 * n struct cache_entry (zeroed before: raw NULL means not found); the
 * caller releases each one.
 */
void cache_found_take(void *arg, size_t index, struct cache_entry *e);

/*
 * Fetch the entries of n ids in one round trip; fn is called for each one
 * that exists (index into ids). Missing entries are skipped.
 */
enum pc_result cache_get_many(struct cache *c, const char *ns,
    const char *const *ids, size_t n, cache_found_fn fn, void *arg);

/* Store a built entry (e->raw) that expires after expire_s seconds. */
enum pc_result cache_put(struct cache *c, const char *ns, const char *id,
    const struct cache_entry *e, long expire_s);

/*
 * Store only if nothing is stored under the key yet (memcached add): a fill
 * from the database never overwrites what a writer stored meanwhile.
 * PC_CONFLICT when an entry exists.
 */
enum pc_result cache_add(struct cache *c, const char *ns, const char *id,
    const struct cache_entry *e, long expire_s);

/*
 * Store only if the entry is unchanged since it was read with CAS value
 * cas. PC_CONFLICT when another process changed it, PC_NOTFOUND when it is
 * gone.
 */
enum pc_result cache_cas(struct cache *c, const char *ns, const char *id,
    const struct cache_entry *e, long expire_s, uint64_t cas);

enum pc_result cache_delete(struct cache *c, const char *ns, const char *id);

/*
 * Count one event in the fixed window (ns, key) of window_s seconds and
 * return the count so far in *count.
 */
enum pc_result cache_count(struct cache *c, const char *ns, const char *key,
    long window_s, uint64_t *count);

/*
 * The generation of (ns): a counter that lives as long as memcached keeps
 * it, read (bump false) or moved on (bump true), into *gen. A missing
 * counter starts at the time in microseconds, so one that was evicted
 * never comes back at a value it had before, and what was stored under an
 * old generation is never found again.
 */
enum pc_result cache_gen(struct cache *c, const char *ns, bool bump,
    uint64_t *gen);

/* Push an entry's expiry out to expire_s seconds from now. */
enum pc_result cache_touch(struct cache *c, const char *ns, const char *id,
    long expire_s);

/*
 * Try to take the lock for (ns, id) with memcached add, held for at most
 * ttl_s seconds. PC_OK: this process holds it. PC_CONFLICT: another does.
 * cache_unlock() frees it only while this process still holds it.
 */
enum pc_result cache_lock(struct cache *c, const char *ns, const char *id,
    long ttl_s);
void cache_unlock(struct cache *c, const char *ns, const char *id);

/* One round trip to see whether memcached answers. */
enum pc_result cache_ping(struct cache *c);

/* Called per server of the ring by cache_ping_each. */
typedef void (*cache_server_fn)(void *arg, const char *host, unsigned port,
    bool up);

/*
 * Ask every server of the ring, each through a key that consistent hashing
 * sends to it, and report each one's state. Returns how many are up.
 */
unsigned cache_ping_each(struct cache *c, cache_server_fn fn, void *arg);

#endif

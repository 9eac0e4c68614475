/* In-memory stand-ins for the cache, journal and origin stores, for use-case tests. */
#ifndef PC_FAKE_STORES_H
#define PC_FAKE_STORES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

#define FAKE_MAX 16

struct fake_item { /* one memcached value */
	char *ns, *id;
	char *raw;
	size_t len;
	uint64_t cas;
};

enum fake_state { FAKE_PENDING, FAKE_APPLIED, FAKE_DEAD, FAKE_CANCELLED };

struct fake_change { /* one journal entry */
	char *resource, *id, *patch;
	int64_t version_us;
	enum fake_state state;
};

struct fake_row { /* one database row, as PostgREST renders it */
	char *table, *id, *json;
};

/*
 * Everything the fakes hold and every knob: a *_result other than PC_OK is
 * what that operation answers, without doing anything. fake_reset() empties
 * it all.
 */
struct fake {
	struct fake_item items[FAKE_MAX];
	size_t nitems;
	uint64_t next_cas;
	enum pc_result cache_get_result;   /* cache_get and cache_get_many */
	enum pc_result cache_store_result; /* cache_put, cache_add, cache_cas */
	enum pc_result cache_lock_result;
	unsigned cache_gets, cache_stores, cache_deletes;

	struct fake_change changes[FAKE_MAX];
	size_t nchanges;
	enum pc_result journal_open_result;
	enum pc_result journal_append_result;
	enum pc_result
	    journal_read_result; /* journal_pending and journal_dead_of */
	unsigned journal_appends;

	struct fake_row rows[FAKE_MAX];
	size_t nrows;
	enum pc_result origin_get_result;
	enum pc_result origin_rpc_result;
	const char *origin_rpc_answer; /* origin_rpc's answer; NULL: "{}" */
	unsigned origin_gets, origin_rpcs;
	char origin_rpc_fn[64]; /* the last function called */

	char bumped[FAKE_MAX * 2][160]; /* the generations moved on, in order */
	size_t nbumped;
};

extern struct fake fake;

/* Free what the fakes hold and set every knob back to PC_OK. */
void fake_reset(void);

/* Hold a row (JSON text) of table in the fake database. */
void fake_origin_row(const char *table, const char *id, const char *json);

/* Add an entry to the fake journal as it stands after some earlier write. */
void fake_journal_add(const char *resource, const char *id, const char *patch,
    int64_t version_us, enum fake_state state);

/* How many times generation ns was moved on. */
unsigned fake_bumps(const char *ns);

/* The fake memcached's value under (ns, id), or NULL. */
struct fake_item *fake_cache_find(const char *ns, const char *id);

#endif

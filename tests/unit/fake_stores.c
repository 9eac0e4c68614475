/* In-memory stand-ins for the cache, journal and origin stores, for use-case tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "fake_stores.h"
#include "journal.h"
#include "origin.h"

struct fake fake;

/* A distinct non-NULL handle for each store; nothing is behind it. */
static char fake_handle;

static char *
fake_strdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		abort();
	return d;
}

void
fake_reset(void)
{
	size_t i;

	for (i = 0; i < fake.nitems; i++) {
		free(fake.items[i].ns);
		free(fake.items[i].id);
		free(fake.items[i].raw);
	}
	for (i = 0; i < fake.nchanges; i++) {
		free(fake.changes[i].resource);
		free(fake.changes[i].id);
		free(fake.changes[i].patch);
	}
	for (i = 0; i < fake.nrows; i++) {
		free(fake.rows[i].table);
		free(fake.rows[i].id);
		free(fake.rows[i].json);
	}
	memset(&fake, 0, sizeof(fake));
	fake.next_cas = 1;
}

/* --- cache ---------------------------------------------------------------- */

struct fake_item *
fake_cache_find(const char *ns, const char *id)
{
	size_t i;

	for (i = 0; i < fake.nitems; i++)
		if (strcmp(fake.items[i].ns, ns) == 0 &&
		    strcmp(fake.items[i].id, id) == 0)
			return &fake.items[i];
	return NULL;
}

enum pc_result
cache_open(const struct config *cfg, struct cache **out, char *err)
{
	*out = (struct cache *)&fake_handle;
	return PC_OK;
}

void
cache_close(struct cache *c)
{
}

enum pc_result
cache_get(struct cache *c, const char *ns, const char *id,
    struct cache_entry *e)
{
	struct fake_item *it;
	char *raw;

	fake.cache_gets++;
	if (fake.cache_get_result != PC_OK)
		return fake.cache_get_result;
	if ((it = fake_cache_find(ns, id)) == NULL)
		return PC_NOTFOUND;
	if ((raw = malloc(it->len)) == NULL)
		abort();
	memcpy(raw, it->raw, it->len);
	if (cache_entry_decode(raw, it->len, e) != PC_OK) {
		free(raw);
		return PC_NOTFOUND;
	}
	e->raw = raw;
	e->cas = it->cas;
	return PC_OK;
}

enum pc_result
cache_get_many(struct cache *c, const char *ns, const char *const *ids,
    size_t n, cache_found_fn fn, void *arg)
{
	struct cache_entry e;
	size_t i;

	for (i = 0; i < n; i++)
		if (cache_get(c, ns, ids[i], &e) == PC_OK) {
			fn(arg, i, &e);
			cache_entry_release(&e);
		} else if (fake.cache_get_result != PC_OK)
			return fake.cache_get_result;
	return PC_OK;
}

/* Store e's value under (ns, id), replacing what is there. */
static void
fake_store(const char *ns, const char *id, const struct cache_entry *e)
{
	struct fake_item *it = fake_cache_find(ns, id);
	size_t len = CACHE_HDR_LEN + e->body_len + e->versions_len;

	if (it == NULL) {
		if (fake.nitems == FAKE_MAX)
			abort();
		it = &fake.items[fake.nitems++];
		it->ns = fake_strdup(ns);
		it->id = fake_strdup(id);
	}
	free(it->raw);
	if ((it->raw = malloc(len)) == NULL)
		abort();
	memcpy(it->raw, e->raw, len);
	it->len = len;
	it->cas = fake.next_cas++;
	fake.cache_stores++;
}

enum pc_result
cache_put(struct cache *c, const char *ns, const char *id,
    const struct cache_entry *e, long expire_s)
{
	if (fake.cache_store_result != PC_OK)
		return fake.cache_store_result;
	fake_store(ns, id, e);
	return PC_OK;
}

enum pc_result
cache_add(struct cache *c, const char *ns, const char *id,
    const struct cache_entry *e, long expire_s)
{
	if (fake.cache_store_result != PC_OK)
		return fake.cache_store_result;
	if (fake_cache_find(ns, id) != NULL)
		return PC_CONFLICT;
	fake_store(ns, id, e);
	return PC_OK;
}

enum pc_result
cache_cas(struct cache *c, const char *ns, const char *id,
    const struct cache_entry *e, long expire_s, uint64_t cas)
{
	struct fake_item *it;

	if (fake.cache_store_result != PC_OK)
		return fake.cache_store_result;
	if ((it = fake_cache_find(ns, id)) == NULL)
		return PC_NOTFOUND;
	if (it->cas != cas)
		return PC_CONFLICT;
	fake_store(ns, id, e);
	return PC_OK;
}

enum pc_result
cache_delete(struct cache *c, const char *ns, const char *id)
{
	struct fake_item *it = fake_cache_find(ns, id);

	fake.cache_deletes++;
	if (it == NULL)
		return PC_NOTFOUND;
	free(it->ns);
	free(it->id);
	free(it->raw);
	*it = fake.items[--fake.nitems];
	return PC_OK;
}

enum pc_result
cache_count(struct cache *c, const char *ns, const char *key, long window_s,
    uint64_t *count)
{
	*count = 1;
	return PC_OK;
}

enum pc_result
cache_gen(struct cache *c, const char *ns, bool bump, uint64_t *gen)
{
	if (bump && fake.nbumped < sizeof(fake.bumped) / sizeof(fake.bumped[0]))
		(void)snprintf(fake.bumped[fake.nbumped++],
		    sizeof(fake.bumped[0]), "%s", ns);
	*gen = 1 + fake_bumps(ns);
	return PC_OK;
}

unsigned
fake_bumps(const char *ns)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < fake.nbumped; i++)
		n += strcmp(fake.bumped[i], ns) == 0;
	return n;
}

enum pc_result
cache_touch(struct cache *c, const char *ns, const char *id, long expire_s)
{
	return fake_cache_find(ns, id) != NULL ? PC_OK : PC_NOTFOUND;
}

enum pc_result
cache_lock(struct cache *c, const char *ns, const char *id, long ttl_s)
{
	return fake.cache_lock_result;
}

void
cache_unlock(struct cache *c, const char *ns, const char *id)
{
}

enum pc_result
cache_ping(struct cache *c)
{
	return fake.cache_get_result;
}

unsigned
cache_ping_each(struct cache *c, cache_server_fn fn, void *arg)
{
	fn(arg, "fake", 11211, fake.cache_get_result == PC_OK);
	return fake.cache_get_result == PC_OK;
}

/* --- journal -------------------------------------------------------------- */

void
fake_journal_add(const char *resource, const char *id, const char *patch,
    int64_t version_us, enum fake_state state)
{
	struct fake_change *ch;

	if (fake.nchanges == FAKE_MAX)
		abort();
	ch = &fake.changes[fake.nchanges++];
	ch->resource = fake_strdup(resource);
	ch->id = fake_strdup(id);
	ch->patch = fake_strdup(patch);
	ch->version_us = version_us;
	ch->state = state;
}

static bool
fake_change_of(const struct fake_change *ch, const char *resource,
    const char *id)
{
	return strcmp(ch->resource, resource) == 0 && strcmp(ch->id, id) == 0;
}

enum pc_result
journal_open(const struct journal_opts *opts, struct journal **out, char *err)
{
	*out = NULL;
	if (fake.journal_open_result != PC_OK) {
		pc_err(err, "fake journal: cannot open");
		return fake.journal_open_result;
	}
	*out = (struct journal *)&fake_handle;
	return PC_OK;
}

void
journal_close(struct journal *j)
{
}

bool
journal_group_counts(struct journal *j, uint64_t *commits, uint64_t *syncs)
{
	return false;
}

enum pc_result
journal_append(struct journal *j, const char *resource, const char *id,
    const char *patch, int64_t base_us, int64_t now_us, int64_t max_pending,
    int64_t *updated_at_us, int64_t *seq, char *err)
{
	int64_t v = now_us > base_us ? now_us : base_us + 1;
	size_t i;

	if (fake.journal_append_result != PC_OK) {
		pc_err(err, "fake journal: append refused");
		return fake.journal_append_result;
	}
	for (i = 0; i < fake.nchanges; i++)
		if (fake_change_of(&fake.changes[i], resource, id) &&
		    fake.changes[i].state == FAKE_PENDING &&
		    fake.changes[i].version_us >= v)
			v = fake.changes[i].version_us + 1;
	fake_journal_add(resource, id, patch, v, FAKE_PENDING);
	fake.journal_appends++;
	*updated_at_us = v;
	*seq = (int64_t)fake.nchanges;
	return PC_OK;
}

/* Visit the changes of (resource, id) in state. */
static enum pc_result
fake_visit(const char *resource, const char *id, enum fake_state state,
    journal_pending_fn fn, void *arg, char *err)
{
	const struct fake_change *ch;
	size_t i;

	if (fake.journal_read_result != PC_OK) {
		pc_err(err, "fake journal: cannot read");
		return fake.journal_read_result;
	}
	for (i = 0; i < fake.nchanges; i++) {
		ch = &fake.changes[i];
		if (fake_change_of(ch, resource, id) && ch->state == state &&
		    !fn(arg, ch->patch, strlen(ch->patch), ch->version_us))
			break;
	}
	return PC_OK;
}

enum pc_result
journal_pending(struct journal *j, const char *resource, const char *id,
    journal_pending_fn fn, void *arg, char *err)
{
	return fake_visit(resource, id, FAKE_PENDING, fn, arg, err);
}

enum pc_result
journal_dead_of(struct journal *j, const char *resource, const char *id,
    journal_pending_fn fn, void *arg, char *err)
{
	return fake_visit(resource, id, FAKE_DEAD, fn, arg, err);
}

enum pc_result
journal_supersede(struct journal *j, const char *resource, const char *id,
    int64_t upto_us, char *err)
{
	size_t i;

	for (i = 0; i < fake.nchanges; i++)
		if (fake_change_of(&fake.changes[i], resource, id) &&
		    fake.changes[i].state == FAKE_PENDING &&
		    fake.changes[i].version_us <= upto_us)
			fake.changes[i].state = FAKE_APPLIED;
	return PC_OK;
}

enum pc_result
journal_cancel(struct journal *j, const char *resource, const char *id, long *n,
    char *err)
{
	size_t i;

	*n = 0;
	for (i = 0; i < fake.nchanges; i++)
		if (fake_change_of(&fake.changes[i], resource, id) &&
		    fake.changes[i].state == FAKE_PENDING) {
			fake.changes[i].state = FAKE_CANCELLED;
			(*n)++;
		}
	return PC_OK;
}

enum pc_result
journal_trash_add(struct journal *j, int64_t seq, const char *relpath,
    char *err)
{
	return PC_OK;
}

enum pc_result
journal_meta_get(struct journal *j, const char *key, char *value, size_t size,
    char *err)
{
	return PC_NOTFOUND;
}

enum pc_result
journal_meta_set(struct journal *j, const char *key, const char *value,
    char *err)
{
	return PC_OK;
}

/* --- origin --------------------------------------------------------------- */

void
fake_origin_row(const char *table, const char *id, const char *json)
{
	struct fake_row *row;

	if (fake.nrows == FAKE_MAX)
		abort();
	row = &fake.rows[fake.nrows++];
	row->table = fake_strdup(table);
	row->id = fake_strdup(id);
	row->json = fake_strdup(json);
}

enum pc_result
origin_open(const struct config *cfg, struct origin **out, char *err)
{
	*out = (struct origin *)&fake_handle;
	return PC_OK;
}

void
origin_close(struct origin *o)
{
}

enum pc_result
origin_get_row(struct origin *o, const char *table, const char *key,
    const char *id, const char *select, char **row, size_t *row_len, char *err)
{
	size_t i;

	fake.origin_gets++;
	*row = NULL;
	*row_len = 0;
	if (fake.origin_get_result != PC_OK) {
		pc_err(err, "fake origin: %s",
		    pc_result_str(fake.origin_get_result));
		return fake.origin_get_result;
	}
	for (i = 0; i < fake.nrows; i++)
		if (strcmp(fake.rows[i].table, table) == 0 &&
		    strcmp(fake.rows[i].id, id) == 0) {
			*row = fake_strdup(fake.rows[i].json);
			*row_len = strlen(*row);
			return PC_OK;
		}
	return PC_NOTFOUND;
}

enum pc_result
origin_rpc(struct origin *o, const char *fn, const char *args, size_t args_len,
    char **resp, size_t *resp_len, char *err)
{
	fake.origin_rpcs++;
	(void)snprintf(fake.origin_rpc_fn, sizeof(fake.origin_rpc_fn), "%s",
	    fn);
	*resp = NULL;
	*resp_len = 0;
	if (fake.origin_rpc_result != PC_OK) {
		pc_err(err, "fake origin: %s",
		    pc_result_str(fake.origin_rpc_result));
		return fake.origin_rpc_result;
	}
	*resp = fake_strdup(fake.origin_rpc_answer != NULL ?
	        fake.origin_rpc_answer :
	        "{}");
	*resp_len = strlen(*resp);
	return PC_OK;
}

enum pc_result
origin_get_rows(struct origin *o, const char *table, const char *query,
    char **rows, size_t *rows_len, char *err)
{
	*rows = NULL;
	*rows_len = 0;
	pc_err(err, "fake origin: no lists");
	return PC_ERROR;
}

enum pc_result
origin_exists(struct origin *o, const char *table, const char *column,
    const char *value, bool *exists, char *err)
{
	*exists = false;
	return fake.origin_get_result;
}

enum pc_result
origin_ping(struct origin *o, char *err)
{
	return fake.origin_get_result;
}

/* The rest of journal.h, which no use-case test drives yet: empty answers. */

enum pc_result
journal_pending_with(struct journal *j, const char *resource, const char *field,
    const char *value, journal_id_fn fn, void *arg, char *err)
{
	return PC_OK;
}

enum pc_result
journal_due(struct journal *j, int64_t now_us, journal_entry_fn fn, void *arg,
    char *err)
{
	return PC_OK;
}

enum pc_result
journal_due_now(struct journal *j, int64_t now_us, long *n, char *err)
{
	*n = 0;
	return PC_OK;
}

enum pc_result
journal_mentions(struct journal *j, const char *needle, bool *found, char *err)
{
	*found = true; /* as on an error: keep the file */
	return PC_OK;
}

void
journal_keyed_release(struct journal_keyed *k)
{
	free(k->patch);
	free(k->reason);
	memset(k, 0, sizeof(*k));
}

enum pc_result
journal_keyed(struct journal *j, const char *resource, const char *id,
    const char *key, struct journal_keyed *found, char *err)
{
	memset(found, 0, sizeof(*found));
	return PC_NOTFOUND;
}

enum pc_result
journal_append_keyed(struct journal *j, const char *resource, const char *id,
    const char *key, const char *patch, int64_t now_us, int64_t max_pending,
    struct journal_keyed *found, int64_t *updated_at_us, int64_t *seq,
    char *err)
{
	memset(found, 0, sizeof(*found));
	return journal_append(j, resource, id, patch, -1, now_us, max_pending,
	    updated_at_us, seq, err);
}

enum pc_result
journal_record(struct journal *j, const struct journal_outcome *o, size_t n,
    char *err)
{
	return PC_OK;
}

enum pc_result
journal_prune(struct journal *j, int64_t before_us, long *pruned, char *err)
{
	*pruned = 0;
	return PC_OK;
}

enum pc_result
journal_trash_settled(struct journal *j, journal_trash_fn fn, void *arg,
    char *err)
{
	return PC_OK;
}

enum pc_result
journal_depth(struct journal *j, struct journal_depth *d, char *err)
{
	memset(d, 0, sizeof(*d));
	return PC_OK;
}

void
journal_maintain(struct journal *j)
{
}

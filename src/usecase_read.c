/* The cache-first read of a resource's row: hit, stale-while-revalidate, coalesced miss. */
#include "autoconf.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cache.h"
#include "clock.h"
#include "journal.h"
#include "log.h"
#include "origin.h"
#include "resource.h"
#include "timefmt.h"
#include "usecase_read.h"

#define WAIT_STEP_MIN_US 2000
#define WAIT_STEP_MAX_US 20000

struct overlay {
	const struct resource *res;
	json_t *row;		/* NULL until a row or a pending change exists */
	const char *id;
	int64_t row_us;		/* the database row's version (-1: no row) */
	int64_t last_us;	/* the newest pending change laid over it */
	json_t *failed;		/* fields the database refused, or NULL */
	json_t *laid;		/* field -> version of the pending change laid */
	json_t *dead;		/* field -> version of the newest change of it
				   the database refused, nothing newer held */
	enum pc_result r;
};

json_t *
usecase_entry_versions(const struct cache_entry *e)
{
	json_error_t jerr;
	json_t *v = NULL;

	if (e->versions != NULL && e->versions_len > 0)
		v = json_loadb(e->versions, e->versions_len, 0, &jerr);
	if (!json_is_object(v)) {
		json_decref(v);
		v = json_object();
	}
	return v;
}

json_t *
usecase_entry_row(const struct resource *res, const struct cache_entry *e)
{
	json_error_t jerr;
	json_t *doc, *p;

	if ((doc = json_loadb(e->body, e->body_len, 0, &jerr)) == NULL)
		return NULL;
	p = json_incref(json_object_get(doc, res->item));
	json_decref(doc);
	return json_is_object(p) ? p : (json_decref(p), NULL);
}

/*
 * The version field k holds: the pending change laid over it, else the
 * row's own (field_versions), or, for a row without field versions, the
 * row's.
 */
static int64_t
overlay_held(const struct overlay *ov, const char *k)
{
	json_t *fv = json_object_get(ov->row, "field_versions"), *v;

	if ((v = json_object_get(ov->laid, k)) != NULL)
		return (int64_t)json_integer_value(v);
	if (!json_is_object(fv))
		return ov->row_us;
	v = json_object_get(fv, k);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

static json_t *
overlay_patch(struct overlay *ov, const char *patch, size_t len)
{
	json_error_t jerr;
	json_t *p;

	if ((p = json_loadb(patch, len, 0, &jerr)) == NULL || !json_is_object(p)) {
		json_decref(p);
		log_error("journal_bad_patch", "id=%s", ov->id);
		return NULL;
	}
	return p;
}

/*
 * Lay one pending change over the row, field by field: a field the row
 * holds at a newer version (written later on another node) stays.
 */
static bool
overlay_one(void *arg, const char *patch, size_t len, int64_t us)
{
	struct overlay *ov = arg;
	const char *k;
	json_t *p, *v;

	if ((p = overlay_patch(ov, patch, len)) == NULL)
		return true;
	if (ov->row == NULL && (ov->row = json_pack("{s:s}", ov->res->key->name, ov->id)) == NULL)
		ov->r = PC_NOMEM;
	json_object_foreach(p, k, v) {
		if (ov->r != PC_OK || overlay_held(ov, k) >= us)
			continue;
		if (json_object_set(ov->row, k, v) != 0 ||
		    json_object_set_new(ov->laid, k, json_integer(us)) != 0)
			ov->r = PC_NOMEM;
		else if (us > ov->last_us)
			ov->last_us = us;
	}
	json_decref(p);
	return ov->r == PC_OK;
}

static bool
array_has(json_t *a, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

/*
 * Keep what an entry already cached holds at a newer version than the row
 * and this node's journal: another node's write that has not reached the
 * database yet.
 */
static void
overlay_old(struct overlay *ov, const struct cache_entry *old)
{
	json_t *vers, *prof, *v, *d;
	const char *k;
	int64_t us;

	if (old == NULL || (old->flags & CACHE_F_NOTFOUND))
		return;
	if ((prof = usecase_entry_row(ov->res, old)) == NULL)
		return;
	vers = usecase_entry_versions(old);
	if (ov->row == NULL && (ov->row = json_pack("{s:s}", ov->res->key->name, ov->id)) == NULL)
		ov->r = PC_NOMEM;
	json_object_foreach(vers, k, v) {
		us = json_integer_value(v);
		if (ov->r != PC_OK || us <= overlay_held(ov, k) ||
		    json_object_get(prof, k) == NULL)
			continue;
		/* The value the database refused: the row's stands. */
		if ((d = json_object_get(ov->dead, k)) != NULL &&
		    us <= (int64_t)json_integer_value(d))
			continue;
		if (json_object_set(ov->row, k, json_object_get(prof, k)) != 0 ||
		    json_object_set_new(ov->laid, k, json_integer(us)) != 0)
			ov->r = PC_NOMEM;
		else if (us > ov->last_us)
			ov->last_us = us;
	}
	/* A row the database does not have yet: keep its timestamps too. */
	if (ov->r == PC_OK && json_object_get(ov->row, "created_at") == NULL &&
	    json_object_get(prof, "created_at") != NULL)
		(void)json_object_set(ov->row, "created_at",
		    json_object_get(prof, "created_at"));
	json_decref(vers);
	json_decref(prof);
}

/* Note the fields of a dead-lettered change that nothing newer replaced. */
static bool
overlay_dead(void *arg, const char *patch, size_t len, int64_t us)
{
	struct overlay *ov = arg;
	const char *k;
	json_t *p, *v, *d;

	if ((p = overlay_patch(ov, patch, len)) == NULL)
		return true;
	json_object_foreach(p, k, v) {
		if (overlay_held(ov, k) >= us)
			continue;	/* written again since: nothing failed there */
		if ((d = json_object_get(ov->dead, k)) == NULL ||
		    (int64_t)json_integer_value(d) < us)
			(void)json_object_set_new(ov->dead, k, json_integer(us));
		if (ov->failed != NULL && array_has(ov->failed, k))
			continue;
		if (ov->failed == NULL && (ov->failed = json_array()) == NULL) {
			ov->r = PC_NOMEM;
			break;
		}
		(void)json_array_append_new(ov->failed, json_string(k));
	}
	json_decref(p);
	return ov->r == PC_OK;
}

/*
 * Lay this node's pending changes of id over row (which ov takes; NULL when
 * the database has none): read-your-writes, an acknowledged write shows even
 * when its cache entry is gone. ov->row stays NULL when neither exists.
 */
static enum pc_result
overlay_build(struct app *app, const struct resource *res, const char *id,
    json_t *row, const struct cache_entry *old, struct overlay *ov, char *err)
{
	struct journal *j;
	char ts[TIMEFMT_LEN];
	json_t *v;
	enum pc_result r;

	memset(ov, 0, sizeof(*ov));
	ov->res = res;
	ov->id = id;
	ov->row = row;
	ov->row_us = -1;
	ov->last_us = -1;
	if ((ov->laid = json_object()) == NULL || (ov->dead = json_object()) == NULL)
		return PC_NOMEM;
	if (row != NULL) {
		v = json_object_get(row, "updated_at");
		if (!json_is_object(row) || !json_is_string(v) ||
		    timefmt_parse(json_string_value(v), json_string_length(v),
		    &ov->row_us) != PC_OK) {
			pc_err(err, "database row has no valid updated_at");
			return PC_ERROR;
		}
	}
	if ((r = app_journal(app, &j, err)) != PC_OK ||
	    (r = journal_pending(j, res->item, id, overlay_one, ov, err)) != PC_OK ||
	    (r = journal_dead_of(j, res->item, id, overlay_dead, ov, err)) != PC_OK)
		return r;
	if (ov->r == PC_OK)
		overlay_old(ov, old);
	if (ov->r != PC_OK)
		return ov->r;
	if (ov->last_us > ov->row_us && (timefmt_format(ov->last_us, ts) != PC_OK ||
	    json_object_set_new(ov->row, "updated_at", json_string(ts)) != 0))
		return PC_NOMEM;
	return PC_OK;
}

/* The database row of id, or NULL (PC_OK) when there is none. */
static enum pc_result
fetch_row(struct app *app, const struct resource *res, const char *id,
    json_t **out, char *err)
{
	char *row = NULL;
	size_t row_len = 0;
	json_error_t jerr;
	enum pc_result r;

	*out = NULL;
	r = origin_get_row(app->origin, res->table, res->key->name, id, res->select,
	    &row, &row_len, err);
	if (r == PC_NOTFOUND)
		return PC_OK;
	if (r != PC_OK)
		return r;
	*out = json_loadb(row, row_len, JSON_REJECT_DUPLICATES, &jerr);
	free(row);
	if (*out == NULL || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		pc_err(err, "database row is not a JSON object");
		return PC_ERROR;
	}
	return PC_OK;
}

/* The field versions of the built row: the database's, then what was laid. */
static char *
overlay_versions(const struct overlay *ov, size_t *len)
{
	json_t *fv = json_object_get(ov->row, "field_versions"), *all;
	char *s = NULL;

	all = json_is_object(fv) ? json_copy(fv) : json_object();
	if (all != NULL && json_object_update(all, ov->laid) == 0)
		s = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(all);
	*len = s != NULL ? strlen(s) : 0;
	return s;
}

enum pc_result
usecase_build(struct app *app, const struct resource *res, const char *id,
    json_t *row, const struct cache_entry *old, struct cache_entry *e,
    long *expire_s)
{
	struct ttls ttl = app_ttls(app, res);
	struct resource_meta meta;
	struct overlay ov;
	char err[PC_ERRLEN] = "", *body = NULL, *vers = NULL;
	size_t body_len = 0;
	int64_t now = clock_now_us();
	enum pc_result r;

	memset(e, 0, sizeof(*e));
	*expire_s = 0;
	if ((r = overlay_build(app, res, id, row, old, &ov, err)) != PC_OK)
		goto out;
	if (ov.row == NULL) {
		e->flags = CACHE_F_NOTFOUND;
		e->updated_at_us = -1;
		e->fresh_until_us = now + ttl.negative * 1000000;
		*expire_s = ttl.negative;
		r = cache_entry_build(e, res->not_found_body, res->not_found_len);
		goto out;
	}
	e->sync = ov.failed != NULL ? RESOURCE_FAILED : ov.last_us >= 0 ?
	    RESOURCE_PENDING : RESOURCE_SYNCED;
	if ((r = resource_render(res, ov.row, id, e->sync, ov.failed, &body,
	    &body_len, &meta, err)) != PC_OK)
		goto out;
	e->flags = meta.is_private || res->owner_reads ? CACHE_F_PRIVATE : 0;
	e->updated_at_us = meta.updated_at_us;
	e->fresh_until_us = now + ttl.fresh * 1000000;
	*expire_s = ttl.fresh + ttl.stale;
	if ((vers = overlay_versions(&ov, &e->versions_len)) == NULL) {
		r = PC_NOMEM;
		goto out;
	}
	e->versions = vers;
	r = cache_entry_build(e, body, body_len);
out:
	free(vers);
	if (r != PC_OK && r != PC_NOMEM)
		log_warn("load_failed", "resource=%s id=%s result=%s error=\"%s\"", res->name, id,
		    pc_result_str(r), err);
	json_decref(ov.row);
	json_decref(ov.failed);
	json_decref(ov.laid);
	json_decref(ov.dead);
	free(body);
	return r;
}

enum pc_result
usecase_load(struct app *app, const struct resource *res, const char *id,
    struct cache_entry *e, long *expire_s)
{
	char err[PC_ERRLEN] = "";
	enum pc_result r;
	json_t *row;

	memset(e, 0, sizeof(*e));
	*expire_s = 0;
	if ((r = fetch_row(app, res, id, &row, err)) != PC_OK) {
		log_warn("load_failed", "resource=%s id=%s result=%s error=\"%s\"", res->name, id,
		    pc_result_str(r), err);
		return r;
	}
	return usecase_build(app, res, id, row, NULL, e, expire_s);
}

enum pc_result
usecase_recache(struct app *app, const struct resource *res, const char *id,
    json_t *row)
{
	char err[PC_ERRLEN] = "";
	struct cache_entry old, e;
	enum pc_result r, have;
	long expire_s;

	if (row == NULL && (r = fetch_row(app, res, id, &row, err)) != PC_OK) {
		log_warn("load_failed", "resource=%s id=%s result=%s error=\"%s\"", res->name, id,
		    pc_result_str(r), err);
		return r;
	}
	have = cache_get(app->cache, res->item, id, &old);
	if ((r = usecase_build(app, res, id, row, have == PC_OK ? &old : NULL,
	    &e, &expire_s)) == PC_OK && expire_s > 0) {
		/* CAS: a write stored meanwhile wins, and is not lost either: its
		 * node's next flush or this entry's next refresh merges it. */
		r = have == PC_OK ? cache_cas(app->cache, res->item, id, &e, expire_s, old.cas) :
		    cache_add(app->cache, res->item, id, &e, expire_s);
		cache_entry_release(&e);
	}
	if (have == PC_OK)
		cache_entry_release(&old);
	return r;
}

/*
 * Load from the origin and, when allowed, store the entry with add: a
 * writer's entry stored meanwhile is newer and wins.
 */
static enum pc_result
fill_and_store(struct app *app, const struct resource *res, const char *id,
    struct cache_entry *e, bool store)
{
	enum pc_result r;
	long expire_s;

	if ((r = usecase_load(app, res, id, e, &expire_s)) != PC_OK)
		return r;
	if (store && expire_s > 0)
		(void)cache_add(app->cache, res->item, id, e, expire_s);
	return PC_OK;
}

/*
 * A miss: fill through the origin, letting only one process per id do so
 * while the others wait for its entry (no dogpile).
 */
static void
read_miss(struct app *app, const struct resource *res, const char *id,
    struct read_result *out)
{
	int64_t deadline, step = WAIT_STEP_MIN_US;
	enum pc_result r;

	out->source = READ_MISS;
	deadline = clock_mono_us() + app->cfg.cache_lock_wait_ms * 1000;
	for (;;) {
		r = cache_lock(app->cache, res->item, id, app->cfg.cache_lock_ttl);
		if (r == PC_OK) {
			/* The previous holder may have stored the entry and let go
			 * between our last look and this lock: look once more. */
			if (cache_get(app->cache, res->item, id, &out->entry) == PC_OK) {
				out->source = READ_HIT;
				out->result = PC_OK;
			} else
				out->result = fill_and_store(app, res, id, &out->entry, true);
			cache_unlock(app->cache, res->item, id);
			return;
		}
		if (r != PC_CONFLICT || clock_mono_us() >= deadline)
			break;
		clock_sleep_us(step);
		step = step * 2 > WAIT_STEP_MAX_US ? WAIT_STEP_MAX_US : step * 2;
		r = cache_get(app->cache, res->item, id, &out->entry);
		if (r == PC_OK) {
			out->source = READ_HIT;
			out->result = PC_OK;
			return;
		}
		if (r != PC_NOTFOUND)
			break;
	}
	/* memcached is down, or the lock holder is taking too long. */
	out->result = fill_and_store(app, res, id, &out->entry, r != PC_UNAVAILABLE);
}

void
usecase_read(struct app *app, const struct resource *res, const char *id,
    struct read_result *out)
{
	enum pc_result r;

	memset(out, 0, sizeof(*out));
	r = cache_get(app->cache, res->item, id, &out->entry);
	if (r == PC_OK) {
		out->result = PC_OK;
		if (clock_now_us() < out->entry.fresh_until_us) {
			out->source = READ_HIT;
		} else {
			out->source = READ_STALE;
			out->refresh = true;
		}
		return;
	}
	if (r == PC_UNAVAILABLE) {
		out->source = READ_MISS;
		out->result = fill_and_store(app, res, id, &out->entry, false);
		return;
	}
	read_miss(app, res, id, out);
}

void
read_result_release(struct read_result *rd)
{
	cache_entry_release(&rd->entry);
}

void
usecase_refresh(struct app *app, const struct resource *res, const char *id)
{
	const struct config *cfg = &app->cfg;
	long stale_ttl = app_ttls(app, res).stale;
	struct cache_entry old;
	enum pc_result r;

	if (cache_lock(app->cache, res->item, id, cfg->cache_lock_ttl) != PC_OK)
		return;
	if (cache_get(app->cache, res->item, id, &old) != PC_OK) {
		cache_unlock(app->cache, res->item, id);
		return;
	}
	r = usecase_recache(app, res, id, NULL);
	if (r != PC_UNAVAILABLE && r != PC_ERROR) {
		cache_unlock(app->cache, res->item, id);
	} else if (clock_now_us() - old.fresh_until_us <
	    cfg->cache_stale_if_error * 1000000 && stale_ttl > 0) {
		/*
		 * The origin failed: keep serving what we have. The lock stays
		 * until its TTL runs out so the next attempt waits lock_ttl.
		 */
		(void)cache_touch(app->cache, res->item, id, cfg->cache_lock_ttl +
		    stale_ttl);
	}
	cache_entry_release(&old);
}

enum pc_result
usecase_outside(struct app *app, const struct resource *res, const char *id,
    bool deleted)
{
	char err[PC_ERRLEN] = "";
	struct cache_entry old;
	struct journal *j;
	enum pc_result r;
	long n = 0;

	if (deleted) {
		/*
		 * As the DELETE route does: this node's pending changes of it
		 * are cancelled (the tombstone the delete left would refuse
		 * them at the flush; meanwhile reads would lay them over a
		 * missing row), and the entry dropped.
		 */
		if (app_journal(app, &j, err) != PC_OK ||
		    journal_cancel(j, res->item, id, &n, err) != PC_OK)
			log_warn("outside_delete_cancel_failed", "resource=%s id=%s error=\"%s\"",
			    res->name, id, err);
		return cache_delete(app->cache, res->item, id) == PC_UNAVAILABLE ?
		    PC_UNAVAILABLE : PC_OK;
	}
	if ((r = cache_get(app->cache, res->item, id, &old)) != PC_OK)
		return r == PC_NOTFOUND ? PC_OK : r;
	cache_entry_release(&old);
	/* Merged with what is cached then, under CAS. */
	if ((r = usecase_recache(app, res, id, NULL)) == PC_UNAVAILABLE ||
	    r == PC_ERROR)
		(void)cache_delete(app->cache, res->item, id);
	return r == PC_CONFLICT ? PC_OK : r;
}

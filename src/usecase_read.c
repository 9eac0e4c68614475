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
#include "usecase_write.h"

#define WAIT_STEP_MIN_US 2000
#define WAIT_STEP_MAX_US 20000

struct overlay {
	const struct resource *res;
	json_t *row; /* NULL until a row or a pending change exists */
	const char *id;
	int64_t row_us;     /* the database row's version (-1: no row) */
	int64_t last_us;    /* the newest pending change laid over it */
	json_t *failed;     /* fields the database refused, or NULL */
	json_t *laid;       /* field -> version of the pending change laid */
	json_t *dead;       /* field -> version of the newest change of it
				   the database refused, nothing newer held */
	json_t *increments; /* key -> {"field","delta"}: the increments
				   counted in that the database has not
				   settled (counters only), or NULL */
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

	if ((p = json_loadb(patch, len, 0, &jerr)) == NULL ||
	    !json_is_object(p)) {
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
	if (ov->row == NULL &&
	    (ov->row = json_pack("{s:s}", ov->res->key->name, ov->id)) == NULL)
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

/* A counter's value is the database's plus the increments it lacks: no
 * version decides it. */
static bool
is_counter(const struct resource *res, const char *name)
{
	const struct field *f;

	return res->counters && (f = resource_field(res, name)) != NULL &&
	    f->policy == FP_COUNTER;
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
	if (ov->row == NULL &&
	    (ov->row = json_pack("{s:s}", ov->res->key->name, ov->id)) == NULL)
		ov->r = PC_NOMEM;
	json_object_foreach(vers, k, v) {
		us = json_integer_value(v);
		if (ov->r != PC_OK || !json_is_integer(v) ||
		    us <= overlay_held(ov, k) ||
		    json_object_get(prof, k) == NULL || is_counter(ov->res, k))
			continue;
		/* The value the database refused: the row's stands. */
		if ((d = json_object_get(ov->dead, k)) != NULL &&
		    us <= (int64_t)json_integer_value(d))
			continue;
		if (json_object_set(ov->row, k, json_object_get(prof, k)) !=
		        0 ||
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
			continue; /* written again since: nothing failed there */
		if ((d = json_object_get(ov->dead, k)) == NULL ||
		    (int64_t)json_integer_value(d) < us)
			(void)json_object_set_new(ov->dead, k,
			    json_integer(us));
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

/* The row's version: the newest change laid over it, when newer than its own. */
static enum pc_result
overlay_stamp(struct overlay *ov)
{
	char ts[TIMEFMT_LEN];

	if (ov->last_us > ov->row_us &&
	    (timefmt_format(ov->last_us, ts) != PC_OK ||
	        json_object_set_new(ov->row, "updated_at", json_string(ts)) !=
	            0))
		return PC_NOMEM;
	return PC_OK;
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
	json_t *v;
	enum pc_result r;

	memset(ov, 0, sizeof(*ov));
	ov->res = res;
	ov->id = id;
	ov->row = row;
	ov->row_us = -1;
	ov->last_us = -1;
	if ((ov->laid = json_object()) == NULL ||
	    (ov->dead = json_object()) == NULL)
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
	    (r = journal_pending(j, res->item, id, overlay_one, ov, err)) !=
	        PC_OK ||
	    (r = journal_dead_of(j, res->item, id, overlay_dead, ov, err)) !=
	        PC_OK)
		return r;
	if (ov->r == PC_OK)
		overlay_old(ov, old);
	if (ov->r != PC_OK)
		return ov->r;
	return overlay_stamp(ov);
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
	r = origin_get_row(app->origin, res->table, res->key->name, id,
	    res->select, &row, &row_len, err);
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
	if (all != NULL && json_object_update(all, ov->laid) == 0 &&
	    (json_object_size(ov->increments) == 0 ||
	        json_object_set(all, USECASE_INCREMENTS, ov->increments) == 0))
		s = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(all);
	*len = s != NULL ? strlen(s) : 0;
	return s;
}

/* The increments of one row not known to be settled: local and cached. */
struct counting {
	json_t *
	    list; /* [{"key","field","delta"}], this node's in seq order first */
	json_t *keys;      /* the same keys, for the database to look up */
	int64_t newest_us; /* the newest local one's version */
	json_t *row;       /* the database's row (NULL: none) and, of the */
	json_t *settled;   /* keys, those its ledger holds: from one snapshot */
};

static void
counting_clear(struct counting *c)
{
	json_decref(c->list);
	json_decref(c->keys);
	json_decref(c->row);
	json_decref(c->settled);
	memset(c, 0, sizeof(*c));
	c->newest_us = -1;
}

static bool
counting_add(struct counting *c, const char *key, const char *field,
    json_t *delta)
{
	size_t i;
	json_t *k;

	json_array_foreach(c->keys, i, k)
		if (strcmp(json_string_value(k), key) == 0)
			return true;
	return json_array_append_new(c->keys, json_string(key)) == 0 &&
	    json_array_append_new(c->list,
	        json_pack("{s:s,s:s,s:O}", "key", key, "field", field, "delta",
	            delta)) == 0;
}

/* One of this node's pending increments: {"field","delta","key","value"}. */
static bool
counting_local(void *arg, const char *patch, size_t len, int64_t us)
{
	struct counting *c = arg;
	json_error_t jerr;
	json_t *p = json_loadb(patch, len, 0, &jerr);
	const char *key = json_string_value(json_object_get(p, "key"));
	const char *field = json_string_value(json_object_get(p, "field"));
	json_t *delta = json_object_get(p, "delta");
	bool ok = true;

	if (key != NULL && field != NULL && json_is_integer(delta)) {
		ok = counting_add(c, key, field, delta);
		if (us > c->newest_us)
			c->newest_us = us;
	} else
		log_error("journal_bad_increment", "patch=\"%.*s\"",
		    (int)(len > 80 ? 80 : len), patch);
	json_decref(p);
	return ok;
}

/*
 * The increments of id to ask the ledger about: this node's pending ones,
 * and those old (a cached entry, may be NULL) counts in.
 */
static enum pc_result
counting_gather(struct app *app, const struct resource *res, const char *id,
    const struct cache_entry *old, struct counting *c, char *err)
{
	json_t *vers, *v;
	struct journal *j;
	const char *k;
	enum pc_result r;

	counting_clear(c);
	if ((c->list = json_array()) == NULL ||
	    (c->keys = json_array()) == NULL)
		return PC_NOMEM;
	if ((r = app_journal(app, &j, err)) != PC_OK ||
	    (r = journal_pending(j, res->increments_ns, id, counting_local, c,
	         err)) != PC_OK)
		return r;
	if (old == NULL || (old->flags & CACHE_F_NOTFOUND))
		return PC_OK;
	vers = usecase_entry_versions(old);
	json_object_foreach(json_object_get(vers, USECASE_INCREMENTS), k, v)
		if (json_is_string(json_object_get(v, "field")) &&
		    json_is_integer(json_object_get(v, "delta")) &&
		    !counting_add(c, k,
		        json_string_value(json_object_get(v, "field")),
		        json_object_get(v, "delta"))) {
			r = PC_NOMEM;
			break;
		}
	json_decref(vers);
	return r;
}

/*
 * Ask profilecache_counted about n rows and keys (one snapshot): *doc is
 * {"rows":[...],"settled":{"<id>":{"<key>":"..."}}}.
 */
static enum pc_result
counted_fetch(struct app *app, const struct resource *res,
    const char *const *ids, size_t n, json_t *keys, json_t **doc, char *err)
{
	json_t *args, *a;
	json_error_t jerr;
	char *s = NULL, *resp = NULL;
	size_t i, len = 0;
	enum pc_result r = PC_NOMEM;

	*doc = NULL;
	if ((args = json_pack("{s:s,s:[],s:O}", "resource", res->item, "ids",
	         "keys", keys)) == NULL)
		return PC_NOMEM;
	a = json_object_get(args, "ids");
	for (i = 0; i < n; i++)
		if (json_array_append_new(a, json_string(ids[i])) != 0)
			goto out;
	if ((s = json_dumps(args, JSON_COMPACT)) == NULL)
		goto out;
	r = origin_rpc(app->origin, "profilecache_counted", s, strlen(s), &resp,
	    &len, err);
	if (r == PC_TOOBIG) /* the answer, not the request: not a 413 */
		r = PC_ERROR;
	if (r != PC_OK)
		goto out;
	*doc = json_loadb(resp, len, 0, &jerr);
	if (!json_is_array(json_object_get(*doc, "rows")) ||
	    !json_is_object(json_object_get(*doc, "settled"))) {
		json_decref(*doc);
		*doc = NULL;
		pc_err(err, "profilecache_counted: unexpected answer");
		r = PC_ERROR;
	}
out:
	json_decref(args);
	free(s);
	free(resp);
	return r;
}

/* Take id's row and settled keys out of profilecache_counted's answer. */
static enum pc_result
counted_pick(const struct resource *res, json_t *doc, const char *id,
    struct counting *c)
{
	const char *k;
	json_t *row;
	size_t i;

	json_array_foreach(json_object_get(doc, "rows"), i, row) {
		k = json_string_value(json_object_get(row, res->key->name));
		if (json_is_object(row) && k != NULL && strcmp(k, id) == 0) {
			c->row = json_incref(row);
			break;
		}
	}
	c->settled =
	    json_incref(json_object_get(json_object_get(doc, "settled"), id));
	if (c->settled == NULL && (c->settled = json_object()) == NULL)
		return PC_NOMEM;
	return json_is_object(c->settled) ? PC_OK : PC_ERROR;
}

/*
 * Count in the increments the database has not settled: each counter is
 * the database's value plus them, in order, except one that would take it
 * out of its bounds (the database will refuse it too). They are kept in
 * the entry (ov->increments), so that any node's next rebuild can ask the
 * database which of them it has since.
 */
static enum pc_result
overlay_counters(struct overlay *ov, const struct counting *c,
    const struct cache_entry *old)
{
	json_t *settled = c->settled;
	const struct field *f;
	const char *key, *name;
	json_int_t cur, next;
	json_t *inc;
	size_t i;

	if ((ov->increments = json_object()) == NULL)
		return PC_NOMEM;
	json_array_foreach(c->list, i, inc) {
		key = json_string_value(json_object_get(inc, "key"));
		name = json_string_value(json_object_get(inc, "field"));
		if (json_object_get(settled, key) != NULL ||
		    (f = resource_field(ov->res, name)) == NULL ||
		    f->policy != FP_COUNTER)
			continue;
		if (json_object_set_new(ov->increments, key,
		        json_pack("{s:s,s:O}", "field", name, "delta",
		            json_object_get(inc, "delta"))) != 0)
			return PC_NOMEM;
		if (ov->row == NULL &&
		    (ov->row = json_pack("{s:s}", ov->res->key->name,
		         ov->id)) == NULL)
			return PC_NOMEM;
		cur = json_integer_value(json_object_get(ov->row, name));
		if (__builtin_add_overflow(cur,
		        json_integer_value(json_object_get(inc, "delta")),
		        &next) ||
		    (f->has_min && (double)next < f->min) ||
		    (f->has_max && (double)next > f->max))
			continue;
		if (json_object_set_new(ov->row, name, json_integer(next)) != 0)
			return PC_NOMEM;
	}
	/* A row only increments make yet: its version is theirs. */
	if (json_object_size(ov->increments) > 0 && ov->row_us < 0 &&
	    ov->last_us < 0)
		ov->last_us = c->newest_us >= 0           ? c->newest_us :
		    old != NULL && old->updated_at_us > 0 ? old->updated_at_us :
		                                            clock_now_us();
	return overlay_stamp(ov);
}

/*
 * usecase_build() with, for a resource with counters, what the ledger said
 * (c: counting_gather(), then counted_pick(); its row is used, not row).
 */
static enum pc_result
build(struct app *app, const struct resource *res, const char *id, json_t *row,
    const struct cache_entry *old, const struct counting *c,
    struct cache_entry *e, long *expire_s)
{
	struct ttls ttl = app_ttls(app, res);
	struct resource_meta meta;
	struct overlay ov;
	char err[PC_ERRLEN] = "", *body = NULL, *vers = NULL;
	size_t body_len = 0;
	int64_t now = clock_now_us();
	enum pc_result r;

	memset(e, 0, sizeof(*e));
	memset(&ov, 0, sizeof(ov));
	*expire_s = 0;
	if (c != NULL) {
		json_decref(row);
		row = json_incref(c->row);
	}
	if ((r = overlay_build(app, res, id, row, old, &ov, err)) != PC_OK)
		goto out;
	if (c != NULL && (r = overlay_counters(&ov, c, old)) != PC_OK)
		goto out;
	if (ov.row == NULL) {
		e->flags = CACHE_F_NOTFOUND;
		e->updated_at_us = -1;
		e->fresh_until_us = now + ttl.negative * 1000000;
		*expire_s = ttl.negative;
		r = cache_entry_build(e, res->not_found_body,
		    res->not_found_len);
		goto out;
	}
	e->sync = ov.failed != NULL ?
	    RESOURCE_FAILED :
	    ov.last_us >= 0 || json_object_size(ov.increments) > 0 ?
	    RESOURCE_PENDING :
	    RESOURCE_SYNCED;
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
		log_warn("load_failed",
		    "resource=%s id=%s result=%s error=\"%s\"", res->name, id,
		    pc_result_str(r), err);
	json_decref(ov.row);
	json_decref(ov.failed);
	json_decref(ov.laid);
	json_decref(ov.dead);
	json_decref(ov.increments);
	free(body);
	return r;
}

enum pc_result
usecase_build(struct app *app, const struct resource *res, const char *id,
    json_t *row, const struct cache_entry *old, struct cache_entry *e,
    long *expire_s)
{
	struct counting c = { .newest_us = -1 };
	char err[PC_ERRLEN] = "";
	json_t *doc = NULL;
	enum pc_result r;

	if (!res->counters)
		return build(app, res, id, row, old, NULL, e, expire_s);
	/* A counter is right only with the ledger of the same moment. */
	json_decref(row);
	memset(e, 0, sizeof(*e));
	*expire_s = 0;
	if ((r = counting_gather(app, res, id, old, &c, err)) == PC_OK &&
	    (r = counted_fetch(app, res, &id, 1, c.keys, &doc, err)) == PC_OK &&
	    (r = counted_pick(res, doc, id, &c)) == PC_OK)
		r = build(app, res, id, NULL, old, &c, e, expire_s);
	else if (r != PC_NOMEM)
		log_warn("load_failed",
		    "resource=%s id=%s result=%s error=\"%s\"", res->name, id,
		    pc_result_str(r), err);
	json_decref(doc);
	counting_clear(&c);
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
	/* Counters: usecase_build() reads the row with the ledger. */
	if (res->counters)
		return usecase_build(app, res, id, NULL, NULL, e, expire_s);
	if ((r = fetch_row(app, res, id, &row, err)) != PC_OK) {
		log_warn("load_failed",
		    "resource=%s id=%s result=%s error=\"%s\"", res->name, id,
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

	if (row == NULL && !res->counters &&
	    (r = fetch_row(app, res, id, &row, err)) != PC_OK) {
		log_warn("load_failed",
		    "resource=%s id=%s result=%s error=\"%s\"", res->name, id,
		    pc_result_str(r), err);
		return r;
	}
	have = cache_get(app->cache, res->item, id, &old);
	if ((r = usecase_build(app, res, id, row, have == PC_OK ? &old : NULL,
	         &e, &expire_s)) == PC_OK &&
	    expire_s > 0) {
		/* CAS: a write stored meanwhile wins, and is not lost either: its
		 * node's next flush or this entry's next refresh merges it. */
		r = have == PC_OK ?
		    cache_cas(app->cache, res->item, id, &e, expire_s,
		        old.cas) :
		    cache_add(app->cache, res->item, id, &e, expire_s);
		cache_entry_release(&e);
	}
	if (have == PC_OK)
		cache_entry_release(&old);
	return r;
}

void
usecase_recache_counted(struct app *app, const struct resource *res,
    const char *const *ids, size_t n)
{
	struct cache_entry *old = calloc(n, sizeof(*old)), e;
	struct counting *c = calloc(n, sizeof(*c));
	const char **want = calloc(n, sizeof(*want));
	char err[PC_ERRLEN] = "";
	json_t *keys = json_array(), *doc = NULL, *k;
	size_t i, m = 0, x;
	long expire_s;
	int tries;

	if (old == NULL || c == NULL || want == NULL || keys == NULL ||
	    cache_get_many(app->cache, res->item, ids, n, cache_found_take,
	        old) != PC_OK)
		goto out;
	/* Only what is cached: a read builds the rest. */
	for (i = 0; i < n; i++) {
		if (old[i].raw == NULL)
			continue;
		if (counting_gather(app, res, ids[i], &old[i], &c[i], err) !=
		    PC_OK)
			goto out;
		json_array_foreach(c[i].keys, x, k)
			(void)json_array_append(keys, k);
		want[m++] = ids[i];
	}
	if (m == 0 ||
	    counted_fetch(app, res, want, m, keys, &doc, err) != PC_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (old[i].raw == NULL ||
		    counted_pick(res, doc, ids[i], &c[i]) != PC_OK ||
		    build(app, res, ids[i], NULL, &old[i], &c[i], &e,
		        &expire_s) != PC_OK)
			continue;
		if (expire_s > 0 &&
		    cache_cas(app->cache, res->item, ids[i], &e, expire_s,
		        old[i].cas) == PC_CONFLICT)
			/* Changed meanwhile: merged with what is there now. */
			for (tries = 0; tries < 2; tries++)
				if (usecase_recache(app, res, ids[i], NULL) !=
				    PC_CONFLICT)
					break;
		cache_entry_release(&e);
	}
out:
	if (err[0] != '\0')
		log_warn("recache_failed", "resource=%s error=\"%s\"",
		    res->name, err);
	for (i = 0; old != NULL && i < n; i++)
		cache_entry_release(&old[i]);
	for (i = 0; c != NULL && i < n; i++)
		counting_clear(&c[i]);
	free(old);
	free(c);
	free(want);
	json_decref(keys);
	json_decref(doc);
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
    struct read_result *out, struct cache_entry *e)
{
	int64_t deadline, step = WAIT_STEP_MIN_US;
	enum pc_result r;

	out->source = READ_MISS;
	deadline = clock_mono_us() + app->cfg.cache_lock_wait_ms * 1000;
	for (;;) {
		r = cache_lock(app->cache, res->item, id,
		    app->cfg.cache_lock_ttl);
		if (r == PC_OK) {
			/* The previous holder may have stored the entry and let go
			 * between our last look and this lock: look once more. */
			if (cache_get(app->cache, res->item, id, e) == PC_OK) {
				out->source = READ_HIT;
				out->result = PC_OK;
			} else
				out->result =
				    fill_and_store(app, res, id, e, true);
			cache_unlock(app->cache, res->item, id);
			return;
		}
		if (r != PC_CONFLICT || clock_mono_us() >= deadline)
			break;
		clock_sleep_us(step);
		step =
		    step * 2 > WAIT_STEP_MAX_US ? WAIT_STEP_MAX_US : step * 2;
		r = cache_get(app->cache, res->item, id, e);
		if (r == PC_OK) {
			out->source = READ_HIT;
			out->result = PC_OK;
			return;
		}
		if (r != PC_NOTFOUND)
			break;
	}
	/* memcached is down, or the lock holder is taking too long. */
	out->result = fill_and_store(app, res, id, e, r != PC_UNAVAILABLE);
}

/*
 * What a route needs of the entry read: the answer's bytes (taken over),
 * its tag, whether it is a row at all, and for a hidden row whose it is.
 */
static void
read_answer(const struct resource *res, const char *id, struct cache_entry *e,
    struct read_result *out)
{
	const char *owner = NULL;
	json_t *row = NULL;
	size_t len;

	out->found = !(e->flags & CACHE_F_NOTFOUND);
	out->hidden = out->found && (e->flags & CACHE_F_PRIVATE);
	if (out->hidden && res->owner != NULL) {
		if (res->owner == res->key)
			owner = id;
		else if ((row = usecase_entry_row(res, e)) != NULL)
			owner = json_string_value(json_object_get(row,
			    res->owner->name));
		/* Longer than an id is nobody's: a cut one could match a user. */
		if (owner != NULL && (len = strlen(owner)) < sizeof(out->owner))
			memcpy(out->owner, owner, len + 1);
		json_decref(row);
	}
	if (out->found)
		answer_take(&out->answer, e);
}

void
usecase_read(struct app *app, const struct resource *res, const char *id,
    struct read_result *out)
{
	struct cache_entry e;
	enum pc_result r;

	memset(out, 0, sizeof(*out));
	memset(&e, 0, sizeof(e));
	r = cache_get(app->cache, res->item, id, &e);
	if (r == PC_OK) {
		out->result = PC_OK;
		if (clock_now_us() < e.fresh_until_us) {
			out->source = READ_HIT;
		} else {
			out->source = READ_STALE;
			out->refresh = true;
		}
	} else if (r == PC_UNAVAILABLE) {
		out->source = READ_MISS;
		out->result = fill_and_store(app, res, id, &e, false);
	} else
		read_miss(app, res, id, out, &e);
	if (out->result == PC_OK)
		read_answer(res, id, &e, out);
	cache_entry_release(&e);
}

void
read_result_release(struct read_result *rd)
{
	answer_release(&rd->answer);
}

void
answer_take(struct answer *a, struct cache_entry *e)
{
	answer_release(a);
	a->tag = e->tag;
	a->body = e->body;
	a->body_len = e->body_len;
	a->raw = e->raw;
	e->raw = NULL;
	e->body = e->versions = NULL;
	e->body_len = e->versions_len = 0;
}

void
answer_release(struct answer *a)
{
	free(a->raw);
	memset(a, 0, sizeof(*a));
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
	/*
	 * Another process may have refreshed it between our stale read and
	 * this lock (the lock is free again once it is done): then it is
	 * fresh, and a second origin read is the dogpile we avoid.
	 */
	if (clock_now_us() < old.fresh_until_us) {
		cache_unlock(app->cache, res->item, id);
		cache_entry_release(&old);
		return;
	}
	r = usecase_recache(app, res, id, NULL);
	if (r != PC_UNAVAILABLE && r != PC_ERROR) {
		cache_unlock(app->cache, res->item, id);
	} else if (clock_now_us() - old.fresh_until_us <
	        cfg->cache_stale_if_error * 1000000 &&
	    stale_ttl > 0) {
		/*
		 * The origin failed: keep serving what we have. The lock stays
		 * until its TTL runs out so the next attempt waits lock_ttl.
		 */
		(void)cache_touch(app->cache, res->item, id,
		    cfg->cache_lock_ttl + stale_ttl);
	}
	cache_entry_release(&old);
}

enum pc_result
usecase_outside(struct app *app, const struct resource *res, const char *id,
    bool deleted)
{
	char err[PC_ERRLEN] = "";
	struct cache_entry old;
	enum pc_result r;
	long n = 0;

	if (deleted) {
		/*
		 * As the DELETE route does: this node's pending changes of it
		 * are cancelled (the tombstone the delete left would refuse
		 * them at the flush; meanwhile reads would lay them over a
		 * missing row), and the entry dropped.
		 */
		if (usecase_cancel_pending(app, res, id, &n, err) != PC_OK)
			log_warn("outside_delete_cancel_failed",
			    "resource=%s id=%s error=\"%s\"", res->name, id,
			    err);
		return cache_delete(app->cache, res->item, id) ==
		        PC_UNAVAILABLE ?
		    PC_UNAVAILABLE :
		    PC_OK;
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

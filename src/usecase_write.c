/* The write of a resource's row: deferred (journal + cache) or, for a through field, through the database. */
#include "autoconf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cache.h"
#include "clock.h"
#include "journal.h"
#include "log.h"
#include "origin.h"
#include "profile.h"
#include "resource.h"
#include "rowlock.h"
#include "storage.h"
#include "timefmt.h"
#include "usecase_list.h"
#include "usecase_read.h"
#include "usecase_write.h"

enum pc_result
usecase_write_base(struct app *app, const struct resource *res, const char *id,
    struct write_base *cur)
{
	struct cache_entry e;
	enum pc_result r;
	long expire_s;

	memset(cur, 0, sizeof(*cur));
	cur->updated_at_us = -1;
	r = cache_get(app->cache, res->item, id, &e);
	if (r == PC_OK) {
		cur->have_cas = true;
		cur->cas = e.cas;
		if (!(e.flags & CACHE_F_NOTFOUND)) {
			cur->row = usecase_entry_row(res, &e);
			cur->versions = usecase_entry_versions(&e);
			cur->updated_at_us = e.updated_at_us;
			cur->tag = e.tag;
			cache_entry_release(&e);
			return cur->row != NULL ? PC_OK : PC_ERROR;
		}
		cache_entry_release(&e);
	}
	if ((r = usecase_load(app, res, id, &e, &expire_s)) != PC_OK)
		return r;
	if (!(e.flags & CACHE_F_NOTFOUND)) {
		cur->row = usecase_entry_row(res, &e);
		cur->versions = usecase_entry_versions(&e);
		cur->updated_at_us = e.updated_at_us;
		cur->tag = e.tag;
		if (cur->row == NULL)
			r = PC_ERROR;
	}
	cache_entry_release(&e);
	return r;
}

static bool
if_match_ok(const struct http_if_match *m, const struct write_base *cur)
{
	size_t i;

	if (m == NULL || !m->present)
		return true;
	if (cur->row == NULL)
		return false;
	if (m->any)
		return true;
	for (i = 0; i < m->ntags; i++)
		if (m->tags[i] == cur->tag)
			return true;
	return false;
}

enum pc_result
usecase_store(struct app *app, const struct resource *res, const char *id,
    json_t *row, json_t *versions, enum resource_sync sync, bool have_cas,
    uint64_t cas, struct cache_entry *e, char *err)
{
	struct ttls ttl = app_ttls(app, res);
	struct resource_meta meta;
	char *body = NULL, *vers = NULL;
	size_t len = 0;
	long expire_s = ttl.fresh + ttl.stale;
	enum pc_result r;

	memset(e, 0, sizeof(*e));
	if ((r = resource_render(res, row, id, sync, NULL, &body, &len, &meta,
	         err)) != PC_OK)
		return r;
	if ((vers = versions != NULL ?
	            json_dumps(versions, JSON_COMPACT | JSON_SORT_KEYS) :
	            strdup("{}")) == NULL) {
		free(body);
		return PC_NOMEM;
	}
	e->flags = meta.is_private || res->owner_reads ? CACHE_F_PRIVATE : 0;
	e->sync = sync;
	e->updated_at_us = meta.updated_at_us;
	e->fresh_until_us = clock_now_us() + ttl.fresh * 1000000;
	e->versions = vers;
	e->versions_len = strlen(vers);
	r = cache_entry_build(e, body, len);
	free(body);
	free(vers);
	if (r != PC_OK)
		return r;
	r = have_cas ? cache_cas(app->cache, res->item, id, e, expire_s, cas) :
	               cache_add(app->cache, res->item, id, e, expire_s);
	return r == PC_CONFLICT || r == PC_NOTFOUND ? PC_CONFLICT : r;
}

static enum pc_result
set_updated_at(json_t *row, int64_t us)
{
	char ts[TIMEFMT_LEN];

	if (timefmt_format(us, ts) != PC_OK ||
	    json_object_set_new(row, "updated_at", json_string(ts)) != 0)
		return PC_NOMEM;
	return PC_OK;
}

/*
 * After usecase_store(): the answer shows the entry built, unless it could
 * not be built. An entry memcached did not take is dropped (best effort),
 * so that no read keeps showing the version before the write: another
 * writer's (PC_CONFLICT), or one left when memcached failed mid-write
 * (PC_UNAVAILABLE).
 */
static void
store_settle(struct app *app, const struct write_request *w, enum pc_result r,
    struct cache_entry *e, struct write_result *res)
{
	if (e->raw != NULL)
		answer_take(&res->answer, e);
	cache_entry_release(e);
	if (r != PC_OK)
		(void)cache_delete(app->cache, w->res->item, w->id);
}

/* The deferred path: journal first, then the cache. */
static void
write_behind(struct app *app, const struct write_request *w,
    struct write_base *cur, struct write_result *res)
{
	char err[PC_ERRLEN] = "", *patch = NULL;
	int64_t updated_at, seq;
	struct cache_entry e = { 0 };
	struct journal *j;
	json_t *row = NULL, *versions = NULL, *v;
	const char *k;
	enum pc_result r;

	res->outcome = WRITE_UNAVAILABLE;
	if ((patch = json_dumps(w->patch, JSON_COMPACT | JSON_SORT_KEYS)) ==
	    NULL)
		goto out;
	if ((r = app_journal(app, &j, err)) == PC_OK)
		r = journal_append(j, w->res->item, w->id, patch,
		    cur->updated_at_us, app_version_now(), w->max_pending,
		    &updated_at, &seq, err);
	if (r == PC_TOOBIG) {
		log_info("write_over_budget", "resource=%s id=%s error=\"%s\"",
		    w->res->name, w->id, err);
		res->outcome = WRITE_OVER_BUDGET;
		goto out;
	}
	if (r != PC_OK) {
		log_error("write_not_durable",
		    "resource=%s id=%s result=%s error=\"%s\"", w->res->name,
		    w->id, pc_result_str(r), err);
		/* A journal that cannot take it now is 503; a bug is 500. */
		if (r == PC_ERROR || r == PC_NOMEM)
			res->outcome = WRITE_ERROR;
		goto out;
	}
	/* Durable from here on: whatever happens to the cache, it is acknowledged. */
	res->outcome = WRITE_PENDING;
	res->seq = seq;
	res->version_us = updated_at;
	if (cur->blind)
		goto out; /* no row to show or cache: reads lay it over the row */
	row = cur->row != NULL ?
	    json_deep_copy(cur->row) :
	    json_pack("{s:s,s:n}", w->res->key->name, w->id, "created_at");
	versions =
	    cur->versions != NULL ? json_copy(cur->versions) : json_object();
	if (versions != NULL)
		json_object_foreach(w->patch, k, v)
			if (json_object_set_new(versions, k,
			        json_integer(updated_at)) != 0)
				break;
	if (row == NULL || versions == NULL ||
	    json_object_update(row, w->patch) != 0 ||
	    set_updated_at(row, updated_at) != PC_OK)
		r = PC_NOMEM;
	else
		r = usecase_store(app, w->res, w->id, row, versions,
		    RESOURCE_PENDING, cur->have_cas, cur->cas, &e, err);
	store_settle(app, w, r, &e, res);
	/* The journal has it, so it is acknowledged all the same; reads
	 * rebuild the entry from the database and the journal. memcached's
	 * own failures are logged by cache.c. */
	if (r != PC_OK && r != PC_CONFLICT && r != PC_UNAVAILABLE)
		log_error("write_cache_update_failed",
		    "id=%s seq=%lld result=%s "
		    "error=\"%s\"",
		    w->id, (long long)seq, pc_result_str(r), err);
out:
	json_decref(row);
	json_decref(versions);
	free(patch);
}

struct pending {
	json_t *merged;   /* the pending patches merged in order */
	json_t *versions; /* each merged field's own version */
	int64_t newest_us;
};

/* Pending changes travel with the write, each field at its own version. */
static bool
pending_merge(void *arg, const char *patch, size_t len, int64_t us)
{
	struct pending *p = arg;
	json_error_t jerr;
	const char *k;
	json_t *o, *v;

	if ((o = json_loadb(patch, len, 0, &jerr)) != NULL &&
	    json_is_object(o)) {
		json_object_foreach(o, k, v) {
			/* The newest version of a field wins, not the last seq. */
			if (json_integer_value(json_object_get(p->versions,
			        k)) > us)
				continue;
			(void)json_object_set(p->merged, k, v);
			(void)json_object_set_new(p->versions, k,
			    json_integer(us));
		}
	}
	json_decref(o);
	if (us > p->newest_us)
		p->newest_us = us;
	return true;
}

/* Send one change to the resource's apply function; *result is its result object. */
static enum pc_result
apply_one(struct app *app, const struct resource *rs, const char *id,
    json_t *patch, json_t *versions, int64_t updated_at, json_t **result,
    char *err)
{
	char ts[TIMEFMT_LEN], *args = NULL, *resp = NULL;
	json_t *doc = NULL, *out = NULL;
	json_error_t jerr;
	size_t resp_len;
	enum pc_result r = PC_NOMEM;

	*result = NULL;
	if (timefmt_format(updated_at, ts) != PC_OK ||
	    (doc = json_pack("[{s:s,s:O,s:s,s:O}]", "id", id, "patch", patch,
	         "updated_at", ts, "versions", versions)) == NULL ||
	    (args = resource_apply_args(rs, doc)) == NULL)
		goto out;
	r = origin_rpc(app->origin, resource_apply_fn(rs), args, strlen(args),
	    &resp, &resp_len, err);
	if (r == PC_TOOBIG) /* the answer, not the request: not a 413 */
		r = PC_ERROR;
	if (r != PC_OK)
		goto out;
	r = PC_ERROR;
	if ((out = json_loadb(resp, resp_len, 0, &jerr)) == NULL) {
		pc_err(err, "%s: the answer is not JSON",
		    resource_apply_fn(rs));
		goto out;
	}
	*result =
	    json_incref(json_array_get(json_object_get(out, "results"), 0));
	if (!json_is_object(*result)) {
		json_decref(*result);
		*result = NULL;
		pc_err(err, "%s: no result for the change",
		    resource_apply_fn(rs));
		goto out;
	}
	r = PC_OK;
out:
	json_decref(doc);
	json_decref(out);
	free(args);
	free(resp);
	return r;
}

/* Whether a field of this request's patch was superseded in result. */
static bool
own_superseded(json_t *result, json_t *patch)
{
	json_t *sup = json_object_get(result, "superseded"), *f;
	size_t i;

	json_array_foreach(sup, i, f)
		if (json_is_string(f) &&
		    json_object_get(patch, json_string_value(f)) != NULL)
			return true;
	return false;
}

/*
 * What the database's refusals mean to a client. Its own message names
 * constraints, columns and SQLSTATEs, which tell a client how the database
 * is built and may quote values: it goes to the log, and the client gets
 * one of these. The codes are profilecache_apply's (30_apply.sql): a
 * SQLSTATE, or COLUMN_taken for a value another row holds in a unique
 * column (23505 when the index is not on that column alone); profiles'
 * username_taken is answered on its own (409).
 */
static const struct rejection {
	const char *db_code; /* NULL: any other */
	const char *code, *message;
} rejections[] = {
	/* Supabase's foreign key from profiles.id to auth.users. */
	{ "23503", "unknown_user", "there is no user with this profile's id" },
	/* A unique column of a declared table. */
	{ "_taken", "value_taken", "another row holds this value" },
	{ "23505", "value_taken", "another row holds this value" },
	{ NULL, "rejected", "the database refused a value of this change" },
};

/* Whether db_code is rj's: equal, or ending in it when it starts with _. */
static bool
rejection_matches(const struct rejection *rj, const char *db_code)
{
	size_t n = strlen(db_code), m = strlen(rj->db_code);

	if (rj->db_code[0] == '_')
		return n > m && strcmp(db_code + n - m, rj->db_code) == 0;
	return strcmp(db_code, rj->db_code) == 0;
}

static void
write_rejected(const char *id, json_t *result, struct write_result *res)
{
	const char *db_code =
	    json_string_value(json_object_get(result, "code"));
	const char *db_message =
	    json_string_value(json_object_get(result, "message"));
	const struct rejection *rj;

	for (rj = rejections; rj->db_code != NULL; rj++)
		if (db_code != NULL && rejection_matches(rj, db_code))
			break;
	log_warn("write_through_rejected",
	    "id=%s db_code=%s db_message=\"%s\" code=%s", id,
	    db_code != NULL ? db_code : "none",
	    db_message != NULL ? db_message : "", rj->code);
	res->outcome = WRITE_REJECTED;
	res->reject_code = rj->code;
	res->reject_message = rj->message;
}

/*
 * The write-through path: the database decides (username is unique there).
 * The change carries this node's pending changes of the id too, so the row
 * is never behind what was acknowledged; those entries are then marked
 * applied.
 */
static void
write_through(struct app *app, const struct write_request *w,
    struct write_base *cur, struct write_result *res)
{
	struct pending p = { .newest_us = -1 };
	struct cache_entry e;
	char err[PC_ERRLEN] = "";
	const char *status, *code, *k;
	struct list_touch touch = { 0 };
	enum pc_result r;
	json_t *result = NULL, *row, *v;
	struct journal *j;
	int64_t updated_at, t;
	int attempt;

	res->outcome = WRITE_UNAVAILABLE;
	if ((p.merged = json_object()) == NULL ||
	    (p.versions = json_object()) == NULL)
		goto out;
	if (app_journal(app, &j, err) != PC_OK ||
	    journal_pending(j, w->res->item, w->id, pending_merge, &p, err) !=
	        PC_OK)
		goto out;
	updated_at = app_version_now();
	if (cur->updated_at_us >= updated_at)
		updated_at = cur->updated_at_us + 1;
	if (p.newest_us >= updated_at)
		updated_at = p.newest_us + 1;

	for (attempt = 0; attempt < 2; attempt++) {
		/* This request's fields at its version, the pending ones at theirs. */
		json_object_foreach(w->patch, k, v) {
			if (json_object_set(p.merged, k, v) != 0 ||
			    json_object_set_new(p.versions, k,
			        json_integer(updated_at)) != 0)
				goto out;
		}
		json_decref(result);
		if (apply_one(app, w->res, w->id, p.merged, p.versions,
		        updated_at, &result, err) != PC_OK) {
			log_warn("write_through_failed", "id=%s error=\"%s\"",
			    w->id, err);
			res->outcome = WRITE_UNAVAILABLE;
			goto out;
		}
		status = json_string_value(json_object_get(result, "status"));
		row = json_object_get(result, "row");
		if (status == NULL || !json_is_object(row) ||
		    (strcmp(status, "conflict") != 0 &&
		        !own_superseded(result, w->patch)))
			break;
		/* Another node wrote a newer version: this request is later still. */
		code = json_string_value(json_object_get(row, "updated_at"));
		if (code == NULL ||
		    timefmt_parse(code, strlen(code), &t) != PC_OK)
			break;
		updated_at = t + 1;
	}
	status = json_string_value(json_object_get(result, "status"));
	code = json_string_value(json_object_get(result, "code"));
	row = json_object_get(result, "row");
	if (status != NULL && strcmp(status, "applied") == 0 &&
	    own_superseded(result, w->patch)) {
		/* Still written later elsewhere after a second try: no answer
		 * the client could trust; nothing of this request was kept. */
		log_warn("write_through_superseded", "id=%s", w->id);
		res->outcome = WRITE_UNAVAILABLE;
	} else if (status != NULL && strcmp(status, "applied") == 0 &&
	    json_is_object(row)) {
		if (p.newest_us >= 0 &&
		    journal_supersede(j, w->res->item, w->id, p.newest_us,
		        err) != PC_OK)
			log_warn("journal_supersede_failed",
			    "id=%s error=\"%s\"", w->id, err);
		/* Its pending changes went along: any field may have moved. */
		touch.id = w->id;
		touch.row = row;
		usecase_list_touched(app, w->res, &touch, 1);
		r = usecase_store(app, w->res, w->id, row,
		    json_object_get(row, "field_versions"), RESOURCE_SYNCED,
		    cur->have_cas, cur->cas, &e, err);
		store_settle(app, w, r, &e, res);
		res->outcome =
		    res->answer.raw != NULL ? WRITE_SYNCED : WRITE_ERROR;
	} else if (status != NULL && strcmp(status, "deleted") == 0) {
		res->outcome = WRITE_NOT_FOUND;
	} else if (code != NULL && strcmp(code, "username_taken") == 0) {
		res->outcome = WRITE_USERNAME_TAKEN;
	} else if (code != NULL && strcmp(code, "owner_conflict") == 0) {
		/* Another user created the id first. */
		res->outcome =
		    w->res->owner_reads ? WRITE_NOT_FOUND : WRITE_FORBIDDEN;
	} else if (status != NULL && strcmp(status, "rejected") == 0) {
		write_rejected(w->id, result, res);
	} else {
		log_error("write_through_unexpected", "id=%s status=%s", w->id,
		    status ? status : "none");
		res->outcome = WRITE_ERROR;
	}
out:
	json_decref(result);
	json_decref(p.merged);
	json_decref(p.versions);
}

/* Whether res has an image field (whose files a delete leaves to remove). */
static bool
has_image(const struct resource *res)
{
	size_t i;

	for (i = 0; i < res->nfields; i++)
		if (res->fields[i].type == FT_IMAGE)
			return true;
	return false;
}

/* Whether res's owner is a field of its own, which the key does not decide. */
static bool
owner_field(const struct resource *res)
{
	return res->owner != NULL && res->owner != res->key;
}

/* Whether row's owner field holds actor. */
static bool
owned_by(const struct resource *res, json_t *row, const char *actor)
{
	const char *owner =
	    json_string_value(json_object_get(row, res->owner->name));

	return owner != NULL && strcmp(owner, actor) == 0;
}

/*
 * Whether row is hidden from everyone but its owner: every row of a read =
 * owner resource, or one whose visibility field is true. Another user is
 * answered about it as about a missing row.
 */
static bool
hidden_from(const struct resource *res, json_t *row)
{
	return res->owner_reads ||
	    (res->visibility != NULL &&
	        json_is_true(json_object_get(row, res->visibility->name)));
}

void
usecase_write(struct app *app, const struct write_request *req,
    struct write_result *res)
{
	const struct resource *rs = req->res;
	struct write_request wc = *req, *w = &wc;
	bool mine = owner_field(rs) && w->actor != NULL;
	struct rowlock lk = { .fd = -1 };
	struct write_base cur;
	json_t *owned = NULL;
	enum pc_result r;

	memset(res, 0, sizeof(*res));
	memset(&cur, 0, sizeof(cur));
	if (rs->owner == NULL && w->actor != NULL) {
		res->outcome = WRITE_FORBIDDEN; /* no owner: the admin's only */
		goto out;
	}
	/* A row a user creates is theirs: the owner field is in its change. */
	if (mine && w->replace &&
	    ((owned = json_copy(w->patch)) == NULL ||
	        json_object_set_new(owned, rs->owner->name,
	            json_string(w->actor)) != 0)) {
		res->outcome = WRITE_ERROR;
		goto out;
	}
	/*
	 * A write whose answer depends on what the row holds now (If-Match,
	 * or a create under a chosen id, which must not find one) holds the
	 * row's locks from that look until its change is journaled and cached:
	 * two writes with one ETag were both acknowledged, none refused.
	 */
	if (((w->if_match != NULL && w->if_match->present) ||
	        (w->create && !w->new_id)) &&
	    (r = rowlock_take(app, rs->rows_ns, w->id, &lk)) != PC_OK) {
		res->outcome = WRITE_UNAVAILABLE;
		goto out;
	}
	r = usecase_write_base(app, rs, w->id, &cur);
	/*
	 * The database is away and nothing is cached: the change is journaled
	 * all the same (its fields carry their own versions, so it needs no
	 * base) and acknowledged; the flush applies it, creating the row if
	 * there was none. Not a user's write of a row with an owner field,
	 * which nothing would prove theirs, but for a new id made here.
	 */
	if (r == PC_UNAVAILABLE &&
	    !(w->if_match != NULL && w->if_match->present) &&
	    !resource_patch_names_through(rs, w->patch) &&
	    (!mine || w->new_id)) {
		log_info("write_blind", "resource=%s id=%s", rs->name, w->id);
		memset(&cur, 0, sizeof(cur));
		cur.updated_at_us = -1;
		cur.blind = true;
		if (owned != NULL)
			w->patch = owned;
		write_behind(app, w, &cur, res);
		goto out;
	}
	if (r != PC_OK) {
		res->outcome =
		    r == PC_UNAVAILABLE ? WRITE_UNAVAILABLE : WRITE_ERROR;
		goto out;
	}
	/* Before anything else answers: another user's row, as they may see it. */
	if (mine && cur.row != NULL && !owned_by(rs, cur.row, w->actor)) {
		res->outcome = hidden_from(rs, cur.row) ?
		    WRITE_NOT_FOUND :
		    WRITE_FORBIDDEN;
		goto out;
	}
	if (!if_match_ok(w->if_match, &cur)) {
		res->outcome = WRITE_PRECONDITION;
		goto out;
	}
	if (cur.row == NULL && !w->replace) {
		res->outcome = WRITE_NOT_FOUND;
		goto out;
	}
	/*
	 * Of a table whose rows only their owner sees, a user creates rows
	 * only under new ids made here: creating under a chosen id would
	 * answer differently when another user's hidden row has it.
	 */
	if (mine && rs->owner_reads && cur.row == NULL && !w->new_id) {
		res->outcome = WRITE_NOT_FOUND;
		goto out;
	}
	if (cur.row != NULL && w->create) {
		res->outcome = WRITE_EXISTS;
		goto out;
	}
	if (cur.row == NULL && owned != NULL)
		w->patch = owned;
	/*
	 * A user's PUT of an id nobody here knows goes through the database,
	 * which sets the owner once: two users cannot both be told they
	 * created it. A new random id made here needs no such check.
	 */
	if (resource_patch_needs_origin(rs, w->patch, cur.row) ||
	    (mine && cur.row == NULL && !w->new_id))
		write_through(app, w, &cur, res);
	else
		write_behind(app, w, &cur, res);
	res->before = json_incref(cur.row);
out:
	rowlock_release(app, &lk);
	json_decref(owned);
	json_decref(cur.row);
	json_decref(cur.versions);
}

enum write_outcome
usecase_write_allowed(struct app *app, const struct write_request *w)
{
	const struct resource *rs = w->res;
	bool mine = owner_field(rs) && w->actor != NULL;
	enum write_outcome out = WRITE_PENDING;
	struct write_base cur;
	enum pc_result r;

	if (rs->owner == NULL && w->actor != NULL)
		return WRITE_FORBIDDEN;
	if ((r = usecase_write_base(app, rs, w->id, &cur)) == PC_UNAVAILABLE)
		return mine ? WRITE_UNAVAILABLE :
		              WRITE_PENDING; /* the write decides */
	if (r != PC_OK)
		return WRITE_ERROR;
	if (mine && cur.row != NULL && !owned_by(rs, cur.row, w->actor))
		out = hidden_from(rs, cur.row) ?
		    WRITE_NOT_FOUND :
		    WRITE_FORBIDDEN;
	else if (cur.row == NULL && !w->replace)
		out = WRITE_NOT_FOUND;
	json_decref(cur.row);
	json_decref(cur.versions);
	return out;
}

void
write_base_release(struct write_base *b)
{
	json_decref(b->row);
	json_decref(b->versions);
	b->row = b->versions = NULL;
}

void
write_result_release(struct write_result *res)
{
	answer_release(&res->answer);
	json_decref(res->before);
	res->before = NULL;
}

enum pc_result
usecase_cancel_pending(struct app *app, const struct resource *rs,
    const char *id, long *n, char *err)
{
	struct journal *j;
	enum pc_result r;
	long increments = 0;

	*n = 0;
	if ((r = app_journal(app, &j, err)) != PC_OK ||
	    (r = journal_cancel(j, rs->item, id, n, err)) != PC_OK)
		return r;
	if (rs->increments_ns != NULL)
		r = journal_cancel(j, rs->increments_ns, id, &increments, err);
	return r;
}

enum delete_outcome
usecase_delete(struct app *app, const struct resource *rs, const char *id,
    const char *actor)
{
	char err[PC_ERRLEN] = "", *args = NULL, *resp = NULL,
	     (*rels)[AVATAR_RELPATH_LEN] = NULL;
	enum delete_outcome out = DELETE_ERROR;
	struct write_base cur;
	const char *status;
	struct journal *j;
	json_error_t jerr;
	json_t *doc = NULL;
	size_t len;
	long cancelled = 0;
	const char *owner = usecase_list_owner(rs, id, NULL);
	struct list_touch touch = { 0 };
	size_t i;
	enum pc_result r;

	if (rs->owner == NULL && actor != NULL)
		return DELETE_FORBIDDEN; /* no owner: the admin's only */
	/* Another user's row is not theirs to delete: read it first. */
	if (owner_field(rs) && actor != NULL) {
		r = usecase_write_base(app, rs, id, &cur);
		out = r != PC_OK ?
		    (r == PC_UNAVAILABLE ? DELETE_UNAVAILABLE : DELETE_ERROR) :
		    /* Nothing seen here: no tombstone for a user, which could
		     * cancel another's create waiting in some node's journal. */
		    cur.row == NULL              ? DELETE_NOT_FOUND :
		    owned_by(rs, cur.row, actor) ? DELETE_DONE :
		    hidden_from(rs, cur.row)     ? DELETE_NOT_FOUND :
		                                   DELETE_FORBIDDEN;
		/* Their own row: the pages of other owners stay. */
		if (out == DELETE_DONE)
			owner = actor;
		json_decref(cur.row);
		json_decref(cur.versions);
		if (out != DELETE_DONE)
			return out;
		out = DELETE_ERROR;
	}
	/* The image files to remove once the row is gone (read before, from
	 * the cache or the database, as a read would see it). */
	if (has_image(rs) && storage_enabled(&app->cfg) &&
	    (rels = calloc(rs->nfields, sizeof(*rels))) != NULL &&
	    usecase_write_base(app, rs, id, &cur) == PC_OK) {
		for (i = 0; i < rs->nfields; i++)
			if (rs->fields[i].type != FT_IMAGE ||
			    storage_relpath(&app->cfg,
			        json_string_value(json_object_get(cur.row,
			            rs->fields[i].name)),
			        rels[i]) != PC_OK)
				rels[i][0] = '\0';
		json_decref(cur.row);
		json_decref(cur.versions);
	}
	if ((args = resource_delete_args(rs, id)) == NULL)
		goto out;
	r = origin_rpc(app->origin, resource_delete_fn(rs), args, strlen(args),
	    &resp, &len, err);
	free(args);
	if (r != PC_OK) {
		log_warn("delete_failed", "resource=%s id=%s error=\"%s\"",
		    rs->name, id, err);
		out = r == PC_UNAVAILABLE ? DELETE_UNAVAILABLE : DELETE_ERROR;
		goto out;
	}
	doc = json_loadb(resp, len, 0, &jerr);
	status = json_string_value(json_object_get(doc, "status"));
	if (status == NULL) {
		log_error("delete_unexpected", "id=%s", id);
		goto out;
	}
	/* The database has its tombstone; from here on the delete stands. */
	touch.id = id;
	touch.owner = owner;
	usecase_list_touched(app, rs, &touch, 1);
	if (usecase_cancel_pending(app, rs, id, &cancelled, err) != PC_OK)
		/* The flusher's replay will meet the tombstone and cancel them. */
		log_warn("delete_cancel_failed", "id=%s error=\"%s\"", id, err);
	(void)cache_delete(app->cache, rs->item, id);
	/* An image field is the user's to set: the flusher removes a file only
	 * once no row and no pending change refers to it. */
	for (i = 0; rels != NULL && i < rs->nfields; i++)
		if (rels[i][0] != '\0' &&
		    (app_journal(app, &j, err) != PC_OK ||
		        journal_trash_add(j, -1, rels[i], err) != PC_OK))
			log_warn("avatar_trash_failed", "file=%s error=\"%s\"",
			    rels[i], err);
	out = strcmp(status, "deleted") == 0 || cancelled > 0 ?
	    DELETE_DONE :
	    DELETE_NOT_FOUND;
out:
	free(rels);
	json_decref(doc);
	free(resp);
	return out;
}

/* The write of a resource's row: deferred (journal + cache) or, for a through field, through the database. */
#include "autoconf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "storage.h"
#include "cache.h"
#include "clock.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "origin.h"
#include "profile.h"
#include "resource.h"
#include "timefmt.h"
#include "usecase_list.h"
#include "usecase_read.h"
#include "usecase_write.h"

#define RATE_WINDOW_S 60

/* The version a write starts from. */
struct current {
	json_t *row;		/* the row object, NULL when there is none */
	json_t *versions;	/* its field versions (an object, maybe empty) */
	int64_t updated_at_us;	/* -1 when there is no row */
	uint64_t tag;		/* its ETag */
	bool have_cas;		/* a cache entry exists: update it with CAS */
	uint64_t cas;
	bool blind;		/* the database could not be read: the base is
				   unknown until the flush, nothing is cached */
};

bool
usecase_write_admit(struct app *app, const char *actor, long *retry_after)
{
	int64_t now_s = clock_now_us() / 1000000;
	char key[128];
	uint64_t count;

	*retry_after = 0;
	if (app->cfg.limits_writes_per_minute <= 0)
		return true;
	(void)snprintf(key, sizeof(key), "%s:%lld", actor,
	    (long long)(now_s / RATE_WINDOW_S));
	if (cache_count(app->cache, "writes", key, RATE_WINDOW_S, &count) != PC_OK)
		return true;
	if (count <= (uint64_t)app->cfg.limits_writes_per_minute)
		return true;
	*retry_after = RATE_WINDOW_S - now_s % RATE_WINDOW_S;
	metrics_add(MC_WRITES_RATE_LIMITED, 1);
	return false;
}

/*
 * Find the current version: the cache entry if there is one, else the
 * database row with pending changes laid over it. A cached not-found is
 * not trusted for a write: the row may have been created since.
 */
static enum pc_result
current_load(struct app *app, const struct resource *res, const char *id,
    struct current *cur)
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
if_match_ok(const struct http_if_match *m, const struct current *cur)
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

/*
 * Build the new entry from row (the profile after the write) and store it:
 * with CAS over the entry the write started from, or add when there was
 * none. When another writer got there first the entry is dropped, and the
 * next read rebuilds it from the database and the journal.
 */
static enum pc_result
entry_store(struct app *app, const struct resource *res, const char *id,
    json_t *row, json_t *versions, enum resource_sync sync,
    const struct current *cur, struct cache_entry *e, char *err)
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
	if ((vers = versions != NULL ? json_dumps(versions, JSON_COMPACT |
	    JSON_SORT_KEYS) : strdup("{}")) == NULL) {
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
	r = cur->have_cas ? cache_cas(app->cache, res->item, id, e, expire_s,
	    cur->cas) : cache_add(app->cache, res->item, id, e, expire_s);
	if (r == PC_CONFLICT || r == PC_NOTFOUND)
		(void)cache_delete(app->cache, res->item, id);
	return PC_OK;
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

/* The deferred path: journal first, then the cache. */
static void
write_behind(struct app *app, const struct write_request *w, struct current *cur,
    struct write_result *res)
{
	char err[PC_ERRLEN] = "", *patch = NULL;
	int64_t updated_at, seq;
	struct journal *j;
	json_t *row = NULL, *versions = NULL, *v;
	const char *k;
	enum pc_result r;

	res->outcome = WRITE_UNAVAILABLE;
	if ((patch = json_dumps(w->patch, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		goto out;
	if ((r = app_journal(app, &j, err)) == PC_OK)
		r = journal_append(j, w->res->item, w->id, patch, cur->updated_at_us,
		    app_version_now(), w->max_pending, &updated_at, &seq, err);
	if (r == PC_TOOBIG) {
		log_info("write_over_budget", "resource=%s id=%s error=\"%s\"",
		    w->res->name, w->id, err);
		res->outcome = WRITE_OVER_BUDGET;
		goto out;
	}
	if (r != PC_OK) {
		log_error("write_not_durable", "resource=%s id=%s error=\"%s\"",
		    w->res->name, w->id, err);
		goto out;
	}
	/* Durable from here on: whatever happens to the cache, it is acknowledged. */
	res->outcome = WRITE_PENDING;
	res->seq = seq;
	res->version_us = updated_at;
	if (cur->blind)
		goto out;	/* no row to show or cache: reads lay it over the row */
	row = cur->row != NULL ? json_deep_copy(cur->row) :
	    json_pack("{s:s,s:n}", w->res->key->name, w->id, "created_at");
	versions = cur->versions != NULL ? json_copy(cur->versions) : json_object();
	if (versions != NULL)
		json_object_foreach(w->patch, k, v)
			if (json_object_set_new(versions, k, json_integer(updated_at)) != 0)
				break;
	if (row == NULL || versions == NULL ||
	    json_object_update(row, w->patch) != 0 ||
	    set_updated_at(row, updated_at) != PC_OK ||
	    entry_store(app, w->res, w->id, row, versions, RESOURCE_PENDING, cur,
	    &res->entry, err) != PC_OK) {
		/*
		 * The journal has it, so it is acknowledged all the same (the
		 * answer then has no profile); drop the cache entry so reads
		 * rebuild it from the database and the journal.
		 */
		log_error("write_cache_update_failed", "id=%s seq=%lld error=\"%s\"",
		    w->id, (long long)seq, err);
		(void)cache_delete(app->cache, w->res->item, w->id);
		cache_entry_release(&res->entry);
	}
out:
	json_decref(row);
	json_decref(versions);
	free(patch);
}

struct pending {
	json_t *merged;		/* the pending patches merged in order */
	json_t *versions;	/* each merged field's own version */
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

	if ((o = json_loadb(patch, len, 0, &jerr)) != NULL && json_is_object(o)) {
		json_object_foreach(o, k, v) {
			/* The newest version of a field wins, not the last seq. */
			if (json_integer_value(json_object_get(p->versions, k)) > us)
				continue;
			(void)json_object_set(p->merged, k, v);
			(void)json_object_set_new(p->versions, k, json_integer(us));
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
	    (doc = json_pack("[{s:s,s:O,s:s,s:O}]", "id", id, "patch",
	    patch, "updated_at", ts, "versions", versions)) == NULL ||
	    (args = resource_apply_args(rs, doc)) == NULL)
		goto out;
	if ((r = origin_rpc(app->origin, resource_apply_fn(rs), args,
	    strlen(args), &resp, &resp_len, err)) != PC_OK)
		goto out;
	r = PC_ERROR;
	if ((out = json_loadb(resp, resp_len, 0, &jerr)) == NULL) {
		pc_err(err, "%s: the answer is not JSON", resource_apply_fn(rs));
		goto out;
	}
	*result = json_incref(json_array_get(json_object_get(out, "results"), 0));
	if (!json_is_object(*result)) {
		json_decref(*result);
		*result = NULL;
		pc_err(err, "%s: no result for the change", resource_apply_fn(rs));
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
		if (json_is_string(f) && json_object_get(patch, json_string_value(f)) != NULL)
			return true;
	return false;
}

/*
 * What the database's refusals mean to a client. Its own message names
 * constraints, columns and SQLSTATEs, which tell a client how the database
 * is built and may quote values: it goes to the log, and the client gets
 * one of these. The codes are the apply functions' (30_apply.sql, 50_resources.sql);
 * username_taken is answered on its own (409).
 */
static const struct rejection {
	const char *db_code;	/* NULL: any other */
	const char *code, *message;
} rejections[] = {
	/* Supabase's foreign key from profiles.id to auth.users. */
	{ "23503", "unknown_user", "there is no user with this profile's id" },
	/* A unique column of a declared table (profiles' username has its own). */
	{ "23505", "value_taken", "another row holds this value" },
	{ NULL, "rejected", "the database refused a value of this change" },
};

static void
write_rejected(const char *id, json_t *result, struct write_result *res)
{
	const char *db_code = json_string_value(json_object_get(result, "code"));
	const char *db_message = json_string_value(json_object_get(result, "message"));
	const struct rejection *rj;

	for (rj = rejections; rj->db_code != NULL; rj++)
		if (db_code != NULL && strcmp(db_code, rj->db_code) == 0)
			break;
	log_warn("write_through_rejected", "id=%s db_code=%s db_message=\"%s\" code=%s",
	    id, db_code != NULL ? db_code : "none",
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
write_through(struct app *app, const struct write_request *w, struct current *cur,
    struct write_result *res)
{
	struct pending p = { .newest_us = -1 };
	char err[PC_ERRLEN] = "";
	const char *status, *code, *k;
	json_t *result = NULL, *row, *v;
	struct journal *j;
	int64_t updated_at, t;
	int attempt;

	res->outcome = WRITE_UNAVAILABLE;
	if ((p.merged = json_object()) == NULL || (p.versions = json_object()) == NULL)
		goto out;
	if (app_journal(app, &j, err) != PC_OK ||
	    journal_pending(j, w->res->item, w->id, pending_merge, &p, err) != PC_OK)
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
			    json_object_set_new(p.versions, k, json_integer(updated_at)) != 0)
				goto out;
		}
		json_decref(result);
		if (apply_one(app, w->res, w->id, p.merged, p.versions, updated_at,
		    &result, err) != PC_OK) {
			log_warn("write_through_failed", "id=%s error=\"%s\"", w->id, err);
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
		if (code == NULL || timefmt_parse(code, strlen(code), &t) != PC_OK)
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
	} else if (status != NULL && strcmp(status, "applied") == 0 && json_is_object(row)) {
		if (p.newest_us >= 0 &&
		    journal_supersede(j, w->res->item, w->id, p.newest_us, err) != PC_OK)
			log_warn("journal_supersede_failed", "id=%s error=\"%s\"",
			    w->id, err);
		usecase_list_changed(app, w->res);
		res->outcome = entry_store(app, w->res, w->id, row,
		    json_object_get(row, "field_versions"), RESOURCE_SYNCED, cur,
		    &res->entry, err) == PC_OK ? WRITE_SYNCED : WRITE_ERROR;
	} else if (status != NULL && strcmp(status, "deleted") == 0) {
		res->outcome = WRITE_NOT_FOUND;
	} else if (code != NULL && strcmp(code, "username_taken") == 0) {
		res->outcome = WRITE_USERNAME_TAKEN;
	} else if (code != NULL && strcmp(code, "owner_conflict") == 0) {
		/* Another user created the id first. */
		res->outcome = w->res->owner_reads ? WRITE_NOT_FOUND : WRITE_FORBIDDEN;
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
	const char *owner = json_string_value(json_object_get(row, res->owner->name));

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
	return res->owner_reads || (res->visibility != NULL &&
	    json_is_true(json_object_get(row, res->visibility->name)));
}

void
usecase_write(struct app *app, const struct write_request *req,
    struct write_result *res)
{
	const struct resource *rs = req->res;
	struct write_request wc = *req, *w = &wc;
	bool mine = owner_field(rs) && w->actor != NULL;
	struct current cur;
	json_t *owned = NULL;
	enum pc_result r;

	memset(res, 0, sizeof(*res));
	memset(&cur, 0, sizeof(cur));
	if (rs->owner == NULL && w->actor != NULL) {
		res->outcome = WRITE_FORBIDDEN;	/* no owner: the admin's only */
		goto out;
	}
	/* A row a user creates is theirs: the owner field is in its change. */
	if (mine && w->replace && ((owned = json_copy(w->patch)) == NULL ||
	    json_object_set_new(owned, rs->owner->name, json_string(w->actor)) != 0)) {
		res->outcome = WRITE_ERROR;
		goto out;
	}
	r = current_load(app, rs, w->id, &cur);
	/*
	 * The database is away and nothing is cached: the change is journaled
	 * all the same (its fields carry their own versions, so it needs no
	 * base) and acknowledged; the flush applies it, creating the row if
	 * there was none. Not a user's write of a row with an owner field,
	 * which nothing would prove theirs, but for a new id made here.
	 */
	if (r == PC_UNAVAILABLE && !(w->if_match != NULL && w->if_match->present) &&
	    !resource_patch_names_through(rs, w->patch) && (!mine || w->new_id)) {
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
		res->outcome = r == PC_UNAVAILABLE ? WRITE_UNAVAILABLE : WRITE_ERROR;
		goto out;
	}
	/* Before anything else answers: another user's row, as they may see it. */
	if (mine && cur.row != NULL && !owned_by(rs, cur.row, w->actor)) {
		res->outcome = hidden_from(rs, cur.row) ? WRITE_NOT_FOUND : WRITE_FORBIDDEN;
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
	json_decref(owned);
	json_decref(cur.row);
	json_decref(cur.versions);
}

void
write_result_release(struct write_result *res)
{
	cache_entry_release(&res->entry);
	json_decref(res->before);
	res->before = NULL;
}

enum delete_outcome
usecase_delete(struct app *app, const struct resource *rs, const char *id,
    const char *actor)
{
	char err[PC_ERRLEN] = "", *args = NULL, *resp = NULL, rel[AVATAR_RELPATH_LEN];
	enum delete_outcome out = DELETE_ERROR;
	struct current cur;
	const char *status;
	struct journal *j;
	json_error_t jerr;
	json_t *doc = NULL;
	size_t len;
	long cancelled = 0;
	enum pc_result r;

	if (rs->owner == NULL && actor != NULL)
		return DELETE_FORBIDDEN;	/* no owner: the admin's only */
	/* Another user's row is not theirs to delete: read it first. */
	if (owner_field(rs) && actor != NULL) {
		r = current_load(app, rs, id, &cur);
		out = r != PC_OK ? (r == PC_UNAVAILABLE ? DELETE_UNAVAILABLE : DELETE_ERROR) :
		    /* Nothing seen here: no tombstone for a user, which could
		     * cancel another's create waiting in some node's journal. */
		    cur.row == NULL ? DELETE_NOT_FOUND :
		    owned_by(rs, cur.row, actor) ? DELETE_DONE :
		    hidden_from(rs, cur.row) ? DELETE_NOT_FOUND : DELETE_FORBIDDEN;
		json_decref(cur.row);
		json_decref(cur.versions);
		if (out != DELETE_DONE)
			return out;
		out = DELETE_ERROR;
	}
	/* The avatar file to remove once the row is gone (read before, from
	 * the cache or the database, as a read would see it). */
	rel[0] = '\0';
	if (rs->builtin && storage_enabled(&app->cfg) &&
	    current_load(app, rs, id, &cur) == PC_OK) {
		if (storage_relpath(&app->cfg,
		    json_string_value(json_object_get(cur.row, "avatar_url")), rel) != PC_OK)
			rel[0] = '\0';
		json_decref(cur.row);
		json_decref(cur.versions);
	}
	if ((args = resource_delete_args(rs, id)) == NULL)
		return DELETE_ERROR;
	r = origin_rpc(app->origin, resource_delete_fn(rs), args, strlen(args), &resp,
	    &len, err);
	free(args);
	if (r != PC_OK) {
		log_warn("delete_failed", "resource=%s id=%s error=\"%s\"", rs->name,
		    id, err);
		return r == PC_UNAVAILABLE ? DELETE_UNAVAILABLE : DELETE_ERROR;
	}
	doc = json_loadb(resp, len, 0, &jerr);
	status = json_string_value(json_object_get(doc, "status"));
	if (status == NULL) {
		log_error("delete_unexpected", "id=%s", id);
		goto out;
	}
	/* The database has its tombstone; from here on the delete stands. */
	usecase_list_changed(app, rs);
	if (app_journal(app, &j, err) != PC_OK ||
	    journal_cancel(j, rs->item, id, &cancelled, err) != PC_OK)
		/* The flusher's replay will meet the tombstone and cancel them. */
		log_warn("delete_cancel_failed", "id=%s error=\"%s\"", id, err);
	(void)cache_delete(app->cache, rs->item, id);
	/* avatar_url is the user's to set: the flusher removes the file only
	 * once no profile and no pending change refers to it. */
	if (rel[0] != '\0' && (app_journal(app, &j, err) != PC_OK ||
	    journal_trash_add(j, -1, rel, err) != PC_OK))
		log_warn("avatar_trash_failed", "file=%s error=\"%s\"", rel, err);
	out = strcmp(status, "deleted") == 0 || cancelled > 0 ? DELETE_DONE :
	    DELETE_NOT_FOUND;
out:
	json_decref(doc);
	free(resp);
	return out;
}

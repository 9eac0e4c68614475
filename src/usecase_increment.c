/* Increments of a counter: deferred, applied exactly once through the database's ledger. */
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
#include "resource.h"
#include "rowlock.h"
#include "timefmt.h"
#include "usecase_increment.h"
#include "usecase_read.h"
#include "usecase_write.h"

/* memcached takes an expiry above 30 days as a point in time. */
#define REPLAY_TTL_MAX (30L * 86400)
#define REPLAY_NS "idempotency"

bool
increment_key_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > INCREMENT_KEY_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= 'A' && s[i] <= 'Z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		        s[i] == '_' || s[i] == '.' || s[i] == ':'))
			return false;
	return true;
}

/* The answer: {"increment":{...},"sync":"..."[,"error":{"code","message"}]}. */
static enum pc_result
answer(struct increment_result *out, const char *key, const char *field,
    json_int_t delta, json_t *value, const char *sync, const char *code,
    const char *message)
{
	json_t *doc;

	doc = json_pack("{s:{s:s,s:s,s:I,s:O},s:s}", "increment", "key", key,
	    "field", field, "delta", delta, "value",
	    value != NULL ? value : json_null(), "sync", sync);
	if (doc != NULL && code != NULL)
		(void)json_object_set_new(doc, "error",
		    json_pack("{s:s,s:s}", "code", code, "message", message));
	out->body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	out->body_len = out->body != NULL ? strlen(out->body) : 0;
	json_decref(doc);
	return out->body != NULL ? PC_OK : PC_NOMEM;
}

/* Whether the increment an answer (or journal patch) describes is req's. */
static bool
same_increment(const struct increment_request *req, json_t *inc)
{
	const char *field = json_string_value(json_object_get(inc, "field"));
	json_t *delta = json_object_get(inc, "delta");

	return field != NULL && strcmp(field, req->field->name) == 0 &&
	    json_is_integer(delta) && json_integer_value(delta) == req->delta;
}

/*
 * The answer of an increment journaled as p ({"field","delta","key",
 * "value"}), in state (its reason: the flusher's "code: message").
 */
static enum pc_result
settled_answer(json_t *p, enum journal_state state, const char *reason,
    struct increment_result *out)
{
	const char *sync = "pending", *code = NULL, *message = NULL;
	const char *key = json_string_value(json_object_get(p, "key"));
	const char *field = json_string_value(json_object_get(p, "field"));
	char buf[PC_ERRLEN] = "";

	if (key == NULL || field == NULL)
		return PC_INVALID;
	switch (state) {
	case JOURNAL_APPLIED:
	case JOURNAL_CONFLICT:
		sync = "synced";
		break;
	case JOURNAL_DEAD:
		sync = "failed";
		(void)snprintf(buf, sizeof(buf), "%s",
		    reason != NULL ? reason : "rejected");
		buf[strcspn(buf, ":")] = '\0';
		code = buf;
		message = strcmp(code, "insufficient_balance") == 0 ?
		    "the counter would have fallen below its minimum" :
		    strcmp(code, "over_limit") == 0 ?
		    "the counter would have passed its maximum" :
		    "the database refused this increment";
		break;
	case JOURNAL_CANCELLED:
		sync = "failed";
		code = "deleted";
		message = "the row was deleted before the increment reached it";
		break;
	case JOURNAL_RETRY:
		break;
	}
	return answer(out, key, field,
	    json_integer_value(json_object_get(p, "delta")),
	    json_object_get(p, "value"), sync, code, message);
}

/* The key's journal entry answers: its first answer, with its fate since. */
static void
replay_entry(const struct increment_request *req, const struct journal_keyed *k,
    struct increment_result *out)
{
	json_error_t jerr;
	json_t *p = json_loads(k->patch, 0, &jerr);

	if (!same_increment(req, p))
		out->outcome = INCREMENT_KEY_REUSED;
	else
		out->outcome =
		    settled_answer(p, k->state, k->reason, out) == PC_OK ?
		    INCREMENT_REPEATED :
		    INCREMENT_ERROR;
	json_decref(p);
}

/* The memcached name of the key's answer, left for every node. */
static void
replay_id(const struct resource *res, const char *id, const char *key,
    char *buf, size_t size)
{
	(void)snprintf(buf, size, "%s:%s:%s", res->increments_ns, id, key);
}

/* Another node's first answer to the key, if memcached still has it. */
static bool
replay_cached(struct app *app, const struct increment_request *req,
    struct increment_result *out)
{
	char rid[256];
	struct cache_entry e;
	json_error_t jerr;
	json_t *doc;

	replay_id(req->res, req->id, req->key, rid, sizeof(rid));
	if (cache_get(app->cache, REPLAY_NS, rid, &e) != PC_OK)
		return false;
	doc = json_loadb(e.body, e.body_len, 0, &jerr);
	if (!same_increment(req, json_object_get(doc, "increment")))
		out->outcome = INCREMENT_KEY_REUSED;
	else if ((out->body = malloc(e.body_len + 1)) == NULL)
		out->outcome = INCREMENT_ERROR;
	else {
		memcpy(out->body, e.body, e.body_len);
		out->body[e.body_len] = '\0';
		out->body_len = e.body_len;
		out->outcome = INCREMENT_REPEATED;
	}
	json_decref(doc);
	cache_entry_release(&e);
	return true;
}

/* Leave the key's answer for every node (overwrite: the newest word on it). */
static void
replay_put(struct app *app, const struct resource *res, const char *id,
    const char *key, const struct increment_result *out, bool overwrite)
{
	long ttl =
	    app->cfg.flush_retention > 0 ? app->cfg.flush_retention : 86400;
	char rid[256];
	struct cache_entry e;

	if (ttl > REPLAY_TTL_MAX)
		ttl = REPLAY_TTL_MAX;
	memset(&e, 0, sizeof(e));
	replay_id(res, id, key, rid, sizeof(rid));
	if (cache_entry_build(&e, out->body, out->body_len) == PC_OK)
		(void)(overwrite ?
		        cache_put(app->cache, REPLAY_NS, rid, &e, ttl) :
		        cache_add(app->cache, REPLAY_NS, rid, &e, ttl));
	cache_entry_release(&e);
}

void
usecase_increment_settled(struct app *app, const struct resource *res,
    const char *id, struct json_t *patch, enum journal_state state,
    const char *reason)
{
	struct increment_result out = { 0 };

	if (state != JOURNAL_RETRY &&
	    settled_answer(patch, state, reason, &out) == PC_OK)
		replay_put(app, res, id,
		    json_string_value(json_object_get(patch, "key")), &out,
		    true);
	increment_result_release(&out);
}

/* The row the increment starts from: as a write's, or blind. */
static enum pc_result
base_load(struct app *app, const struct resource *res, const char *id,
    struct write_base *b)
{
	enum pc_result r;

	if ((r = usecase_write_base(app, res, id, b)) == PC_UNAVAILABLE) {
		memset(b, 0, sizeof(*b));
		b->updated_at_us = -1;
		b->blind = true;
		return PC_OK;
	}
	return r;
}

/* The increments the entry counts in that the database had not settled. */
static json_t *
base_increments(const struct write_base *b)
{
	return json_object_get(b->versions, USECASE_INCREMENTS);
}

/*
 * Count the increment into the entry b holds: the counter's value, and the
 * key (so that any node's rebuild can ask the ledger about it).
 */
static enum pc_result
base_count_in(const struct increment_request *req, struct write_base *b,
    json_int_t value, int64_t at_us)
{
	char ts[TIMEFMT_LEN];
	json_t *incs;

	if (b->row == NULL &&
	    (b->row = json_pack("{s:s,s:n}", req->res->key->name, req->id,
	         "created_at")) == NULL)
		return PC_NOMEM;
	if (b->versions == NULL && (b->versions = json_object()) == NULL)
		return PC_NOMEM;
	if (json_object_get(b->row, "updated_at") == NULL &&
	    (timefmt_format(at_us, ts) != PC_OK ||
	        json_object_set_new(b->row, "updated_at", json_string(ts)) !=
	            0))
		return PC_NOMEM;
	if ((incs = base_increments(b)) == NULL &&
	    (json_object_set_new(b->versions, USECASE_INCREMENTS,
	         json_object()) != 0 ||
	        (incs = base_increments(b)) == NULL))
		return PC_NOMEM;
	if (json_object_set_new(incs, req->key,
	        json_pack("{s:s,s:I}", "field", req->field->name, "delta",
	            (json_int_t)req->delta)) != 0 ||
	    json_object_set_new(b->row, req->field->name,
	        json_integer(value)) != 0)
		return PC_NOMEM;
	return PC_OK;
}

/*
 * Store the counted-in entry. Another writer may have changed it since it
 * was read (a fill, a flush, a write of another field; never another
 * increment, which waits for the row's lock): count into what it stored
 * and try again, so that the increments other nodes counted in stay.
 */
#define STORE_TRIES 4

static void
base_store(struct app *app, const struct increment_request *req,
    struct write_base *b, json_int_t value, int64_t at_us)
{
	char err[PC_ERRLEN] = "";
	struct cache_entry e = { 0 };
	enum pc_result r = PC_NOMEM;
	json_t *held;
	int tries;

	for (tries = 0; tries < STORE_TRIES; tries++) {
		if ((r = base_count_in(req, b, value, at_us)) != PC_OK)
			break;
		r = usecase_store(app, req->res, req->id, b->row, b->versions,
		    RESOURCE_PENDING, b->have_cas, b->cas, &e, err);
		cache_entry_release(&e);
		if (r != PC_CONFLICT)
			break;
		json_decref(b->row);
		json_decref(b->versions);
		b->row = b->versions = NULL;
		b->have_cas = false;
		if (cache_get(app->cache, req->res->item, req->id, &e) != PC_OK)
			continue; /* gone: add ours */
		b->have_cas = true;
		b->cas = e.cas;
		if (!(e.flags & CACHE_F_NOTFOUND)) {
			b->row = usecase_entry_row(req->res, &e);
			b->versions = usecase_entry_versions(&e);
		}
		cache_entry_release(&e);
		/* A rebuild that read the journal has it counted in already. */
		held = json_object_get(base_increments(b), req->key);
		value = json_integer_value(json_object_get(b->row,
		            req->field->name)) +
		    (held != NULL ? 0 : req->delta);
	}
	if (r == PC_OK)
		return;
	/* Journaled all the same: the next read counts it in again.
	 * memcached's own failures are logged by cache.c. */
	if (r != PC_UNAVAILABLE)
		log_error("increment_cache_update_failed",
		    "resource=%s id=%s "
		    "result=%s error=\"%s\"",
		    req->res->name, req->id, pc_result_str(r), err);
	(void)cache_delete(app->cache, req->res->item, req->id);
}

/* Collect the keys of this node's pending increments of a row. */
static bool
local_key(void *arg, const char *patch, size_t len, int64_t us)
{
	json_error_t jerr;
	json_t *p = json_loadb(patch, len, 0, &jerr),
	       *k = json_object_get(p, "key");

	(void)us;
	if (json_is_string(k))
		(void)json_object_set_new(arg, json_string_value(k),
		    json_true());
	json_decref(p);
	return true;
}

/*
 * The credits the entry counts in that other nodes acknowledged and have
 * not flushed: a debit must not lean on them, since their flush may come
 * after its own (this node's credits reach the database before its later
 * debits: its flusher sends a row's increments in order). *sum is what to
 * take off the provisional value to check a debit.
 */
static enum pc_result
others_credits(struct journal *j, const struct increment_request *req,
    const struct write_base *b, json_int_t *sum, char *err)
{
	json_t *mine, *inc;
	const char *k, *field;
	json_int_t delta;
	enum pc_result r;

	*sum = 0;
	if (json_object_size(base_increments(b)) == 0)
		return PC_OK;
	if ((mine = json_object()) == NULL)
		return PC_NOMEM;
	if ((r = journal_pending(j, req->res->increments_ns, req->id, local_key,
	         mine, err)) == PC_OK)
		json_object_foreach(base_increments(b), k, inc) {
			field =
			    json_string_value(json_object_get(inc, "field"));
			delta =
			    json_integer_value(json_object_get(inc, "delta"));
			if (json_object_get(mine, k) == NULL && delta > 0 &&
			    field != NULL &&
			    strcmp(field, req->field->name) == 0 &&
			    __builtin_add_overflow(*sum, delta, sum))
				*sum = INT64_MAX;
		}
	json_decref(mine);
	return r;
}

/* Whether row is the actor's to count into, as a write decides it. */
static enum increment_outcome
base_owned(const struct increment_request *req, const struct write_base *b)
{
	const struct resource *res = req->res;
	const char *owner;

	if (req->actor == NULL || res->owner == res->key)
		return INCREMENT_PENDING;
	if (res->owner == NULL)
		return INCREMENT_FORBIDDEN;
	if (b->row == NULL)
		return INCREMENT_NOT_FOUND;
	owner = json_string_value(json_object_get(b->row, res->owner->name));
	if (owner != NULL && strcmp(owner, req->actor) == 0)
		return INCREMENT_PENDING;
	return res->owner_reads ||
	        (res->visibility != NULL &&
	            json_is_true(json_object_get(b->row,
	                res->visibility->name))) ?
	    INCREMENT_NOT_FOUND :
	    INCREMENT_FORBIDDEN;
}

/* Under the row's locks (rowlock_take): check, journal, count in. */
static void
increment_locked(struct app *app, const struct increment_request *req,
    struct journal *j, struct increment_result *out)
{
	const struct field *f = req->field;
	char err[PC_ERRLEN] = "", *patch = NULL;
	struct journal_keyed found;
	json_int_t value = 0, credits;
	int64_t at_us, seq;
	struct write_base b;
	json_t *p = NULL, *v;
	enum pc_result r;

	if (replay_cached(app, req, out))
		return;
	if ((r = base_load(app, req->res, req->id, &b)) != PC_OK) {
		out->outcome = r == PC_UNAVAILABLE ?
		    INCREMENT_UNAVAILABLE :
		    INCREMENT_ERROR;
		goto out;
	}
	if (b.blind && req->actor != NULL && req->res->owner != NULL &&
	    req->res->owner != req->res->key) {
		/* Nothing proves the row theirs, as for a write. */
		out->outcome = INCREMENT_UNAVAILABLE;
		goto out;
	}
	if (b.blind && req->delta < 0 && f->has_min) {
		/* Nothing says what the counter holds: a debit cannot be checked. */
		out->outcome = INCREMENT_UNAVAILABLE;
		goto out;
	}
	if (!b.blind &&
	    (out->outcome = base_owned(req, &b)) != INCREMENT_PENDING)
		goto out;
	if (!b.blind && b.row == NULL && req->res->owner != NULL &&
	    req->res->owner != req->res->key) {
		out->outcome = INCREMENT_NOT_FOUND;
		goto out;
	}
	/* Counted in already, by another node that took the key: its answer. */
	if (!b.blind &&
	    (v = json_object_get(base_increments(&b), req->key)) != NULL) {
		if (!same_increment(req, v))
			out->outcome = INCREMENT_KEY_REUSED;
		else
			out->outcome =
			    answer(out, req->key, f->name, req->delta,
			        json_object_get(b.row, f->name), "pending",
			        NULL, NULL) == PC_OK ?
			    INCREMENT_REPEATED :
			    INCREMENT_ERROR;
		goto out;
	}
	if (!b.blind) {
		value = json_integer_value(json_object_get(b.row, f->name));
		if (__builtin_add_overflow(value, req->delta, &value)) {
			out->outcome = req->delta < 0 ?
			    INCREMENT_BELOW_MIN :
			    INCREMENT_ABOVE_MAX;
			goto out;
		}
		/* A debit leans on nothing another node may still fail to flush. */
		if (req->delta < 0 && f->has_min) {
			if ((r = others_credits(j, req, &b, &credits, err)) !=
			    PC_OK) {
				out->outcome = INCREMENT_UNAVAILABLE;
				goto out;
			}
			if ((double)value < f->min ||
			    (double)value - (double)credits < f->min) {
				out->outcome = INCREMENT_BELOW_MIN;
				goto out;
			}
		}
		if (req->delta > 0 && f->has_max && (double)value > f->max) {
			out->outcome = INCREMENT_ABOVE_MAX;
			goto out;
		}
	}
	out->outcome = INCREMENT_ERROR;
	if ((p = json_pack("{s:s,s:I,s:s,s:o}", "field", f->name, "delta",
	         (json_int_t)req->delta, "key", req->key, "value",
	         b.blind ? json_null() : json_integer(value))) == NULL ||
	    (patch = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		goto out;
	r = journal_append_keyed(j, req->res->increments_ns, req->id, req->key,
	    patch, app_version_now(), req->max_pending, &found, &at_us, &seq,
	    err);
	if (r == PC_CONFLICT) {
		/* Another process of this node took the key meanwhile. */
		replay_entry(req, &found, out);
		journal_keyed_release(&found);
		goto out;
	}
	journal_keyed_release(&found);
	if (r == PC_TOOBIG) {
		out->outcome = INCREMENT_OVER_BUDGET;
		goto out;
	}
	if (r != PC_OK) {
		log_error("increment_not_durable",
		    "resource=%s id=%s result=%s error=\"%s\"", req->res->name,
		    req->id, pc_result_str(r), err);
		out->outcome = r == PC_ERROR || r == PC_NOMEM ?
		    INCREMENT_ERROR :
		    INCREMENT_UNAVAILABLE;
		goto out;
	}
	/* Durable from here on: acknowledged whatever happens to the cache. */
	if (answer(out, req->key, f->name, req->delta,
	        json_object_get(p, "value"), "pending", NULL, NULL) != PC_OK) {
		out->outcome = INCREMENT_ERROR;
		goto out;
	}
	out->outcome = INCREMENT_PENDING;
	/* Lists show each row as a read does: their pages need no new
	 * generation until the flush changes the database's rows. */
	if (!b.blind)
		base_store(app, req, &b, value, at_us);
	replay_put(app, req->res, req->id, req->key, out, false);
out:
	json_decref(p);
	free(patch);
	write_base_release(&b);
}

void
usecase_increment(struct app *app, const struct increment_request *req,
    struct increment_result *out)
{
	const struct field *f = req->field;
	char err[PC_ERRLEN] = "";
	struct journal_keyed found;
	struct journal *j;
	enum pc_result r;
	struct rowlock lk;

	memset(out, 0, sizeof(*out));
	if (req->actor != NULL &&
	    (req->res->owner == NULL || f->user_delta == UD_NONE ||
	        (f->user_delta == UD_NEGATIVE && req->delta > 0))) {
		out->outcome = INCREMENT_FORBIDDEN;
		return;
	}
	if (app_journal(app, &j, err) != PC_OK) {
		log_error("increment_not_durable", "error=\"%s\"", err);
		out->outcome = INCREMENT_UNAVAILABLE;
		return;
	}
	/* A retry this node took first: answered without waiting for anyone. */
	r = journal_keyed(j, req->res->increments_ns, req->id, req->key, &found,
	    err);
	if (r == PC_OK)
		replay_entry(req, &found, out);
	journal_keyed_release(&found);
	if (r == PC_OK)
		return;
	if (r != PC_NOTFOUND) {
		out->outcome = INCREMENT_UNAVAILABLE;
		return;
	}
	if ((r = rowlock_take(app, req->res->rows_ns, req->id, &lk)) != PC_OK) {
		out->outcome =
		    r == PC_CONFLICT ? INCREMENT_BUSY : INCREMENT_UNAVAILABLE;
		return;
	}
	increment_locked(app, req, j, out);
	rowlock_release(app, &lk);
}

void
increment_result_release(struct increment_result *out)
{
	free(out->body);
	out->body = NULL;
}

/* The flush: replay the journal to the database in coalesced batches. */
#include "autoconf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "avatar_store.h"
#include "cache.h"
#include "clock.h"
#include "journal.h"
#include "log.h"
#include "origin.h"
#include "profile.h"
#include "timefmt.h"
#include "usecase_flush.h"
#include "usecase_profile_read.h"
#include "uuid.h"

#define NS "profile"

/* The coalesced change of one id: its entries' patches merged in seq order. */
struct change {
	char id[UUID_LEN + 1];
	json_t *patch;
	int64_t updated_at_us;	/* the newest entry's version */
	long attempts;		/* the most any of its entries has had */
	int64_t *seqs;
	size_t nseqs, seqs_size;
	/* Filled while settling a batch. */
	enum journal_state state;
	char reason[PC_ERRLEN];
	json_t *row;		/* the database's row from the result, borrowed */
};

struct batch {
	struct change *c;
	size_t n, max;
	enum pc_result r;	/* of collecting */
};

static void
change_clear(struct change *c)
{
	json_decref(c->patch);
	free(c->seqs);
	memset(c, 0, sizeof(*c));
}

static void
batch_clear(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		change_clear(&b->c[i]);
	b->n = 0;
	b->r = PC_OK;
}

/* Add one due entry to its id's change; stop when a new id would not fit. */
static bool
batch_collect(void *arg, const struct journal_entry *e)
{
	struct batch *b = arg;
	struct change *c = NULL;
	json_error_t jerr;
	int64_t *seqs;
	json_t *p;
	size_t i;

	if (strcmp(e->resource, NS) != 0 || !uuid_is_canonical(e->id, strlen(e->id)))
		return true;	/* not ours to replay; XXX other resources come later */
	for (i = 0; i < b->n; i++)
		if (strcmp(b->c[i].id, e->id) == 0)
			c = &b->c[i];
	if (c == NULL) {
		if (b->n == b->max)
			return false;
		c = &b->c[b->n++];
		memcpy(c->id, e->id, UUID_LEN + 1);
		if ((c->patch = json_object()) == NULL)
			goto nomem;
	}
	if (c->nseqs == c->seqs_size) {
		c->seqs_size = c->seqs_size ? c->seqs_size * 2 : 4;
		if ((seqs = realloc(c->seqs, c->seqs_size * sizeof(*seqs))) == NULL)
			goto nomem;
		c->seqs = seqs;
	}
	c->seqs[c->nseqs++] = e->seq;
	if ((p = json_loads(e->patch, 0, &jerr)) != NULL && json_is_object(p))
		(void)json_object_update(c->patch, p);
	else
		log_error("journal_bad_patch", "seq=%lld id=%s", (long long)e->seq, e->id);
	json_decref(p);
	if (e->updated_at_us > c->updated_at_us)
		c->updated_at_us = e->updated_at_us;
	if (e->attempts > c->attempts)
		c->attempts = e->attempts;
	return true;
nomem:
	b->r = PC_NOMEM;
	return false;
}

/* The apply_profile_changes arguments for changes [from, from + n). */
static char *
batch_args(const struct batch *b, size_t from, size_t n)
{
	char ts[TIMEFMT_LEN], *s = NULL;
	json_t *doc, *arr, *ch;
	size_t i;

	if ((arr = json_array()) == NULL)
		return NULL;
	for (i = from; i < from + n; i++) {
		if (timefmt_format(b->c[i].updated_at_us, ts) != PC_OK ||
		    (ch = json_pack("{s:s,s:O,s:s}", "id", b->c[i].id, "patch",
		    b->c[i].patch, "updated_at", ts)) == NULL ||
		    json_array_append_new(arr, ch) != 0)
			goto out;
	}
	if ((doc = json_pack("{s:O}", "changes", arr)) != NULL)
		s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
out:
	json_decref(arr);
	return s;
}

/* The retry delay after attempts failures: doubling, capped, with jitter. */
static int64_t
backoff_us(const struct config *cfg, long attempts)
{
	int64_t d = cfg->flush_backoff_base_ms * 1000;
	uint32_t r;

	while (attempts-- > 0 && d < cfg->flush_backoff_max * 1000000)
		d *= 2;
	if (d > cfg->flush_backoff_max * 1000000)
		d = cfg->flush_backoff_max * 1000000;
	/* Half to all of it, so failed nodes do not retry in lockstep. */
#ifdef HAVE_ARC4RANDOM_UNIFORM
	r = arc4random_uniform(1000);
#else
	r = (uint32_t)(random() % 1000);
#endif
	return d / 2 + d / 2 * r / 1000;
}

/*
 * The changes reached the database: a cache entry that still holds exactly
 * the applied version becomes the database's row, synced (CAS, so a newer
 * write stored meanwhile stays). One round trip finds the entries.
 */
struct synced {
	struct app *app;
	struct change *changes;
};

static void
cache_synced_one(void *arg, size_t i, struct cache_entry *old)
{
	struct synced *sy = arg;
	struct app *app = sy->app;
	struct change *c = &sy->changes[i];
	struct profile_meta meta;
	struct cache_entry e;
	char err[PC_ERRLEN], *body = NULL;
	size_t len;

	if (c->state != JOURNAL_APPLIED || !json_is_object(c->row) ||
	    old->updated_at_us != c->updated_at_us ||
	    profile_render_obj(c->row, c->id, PROFILE_SYNCED, &body, &len, &meta,
	    err) != PC_OK)
		goto out;
	memset(&e, 0, sizeof(e));
	e.flags = meta.is_private ? CACHE_F_PRIVATE : 0;
	e.sync = PROFILE_SYNCED;
	e.updated_at_us = meta.updated_at_us;
	e.fresh_until_us = clock_now_us() + app->cfg.cache_fresh_ttl * 1000000;
	if (cache_entry_build(&e, body, len) == PC_OK) {
		(void)cache_cas(app->cache, NS, c->id, &e,
		    app->cfg.cache_fresh_ttl + app->cfg.cache_stale_ttl, old->cas);
		cache_entry_release(&e);
	}
out:
	free(body);
}

static void
cache_synced(struct app *app, struct change *cs, size_t n)
{
	struct synced sy = { .app = app, .changes = cs };
	const char **ids;
	size_t i;

	if ((ids = calloc(n, sizeof(*ids))) == NULL)
		return;
	for (i = 0; i < n; i++)
		ids[i] = cs[i].id;
	(void)cache_get_many(app->cache, NS, ids, n, cache_synced_one, &sy);
	free(ids);
}

/* The database kept a newer row: cache what a read would now see. */
static void
cache_reconcile(struct app *app, const struct change *c)
{
	struct cache_entry e;
	long expire_s;

	if (usecase_profile_load(app, c->id, &e, &expire_s) != PC_OK) {
		(void)cache_delete(app->cache, NS, c->id);
		return;
	}
	if (expire_s > 0)
		(void)cache_put(app->cache, NS, c->id, &e, expire_s);
	cache_entry_release(&e);
}

/* Decide what one change's result means; nothing is written yet. */
static void
change_judge(struct change *c, json_t *res)
{
	const char *status = json_string_value(json_object_get(res, "status"));
	const char *code = json_string_value(json_object_get(res, "code"));
	const char *msg = json_string_value(json_object_get(res, "message"));
	const char *rid = json_string_value(json_object_get(res, "id"));
	const char *ts;

	c->row = json_object_get(res, "row");
	c->reason[0] = '\0';
	if (status == NULL || rid == NULL || strcmp(rid, c->id) != 0) {
		c->state = JOURNAL_RETRY;
		(void)snprintf(c->reason, sizeof(c->reason),
		    "apply_profile_changes: malformed result");
	} else if (strcmp(status, "applied") == 0) {
		c->state = JOURNAL_APPLIED;
	} else if (strcmp(status, "conflict") == 0) {
		c->state = JOURNAL_CONFLICT;
		ts = json_string_value(json_object_get(c->row, "updated_at"));
		(void)snprintf(c->reason, sizeof(c->reason),
		    "the database row is newer (%s)", ts ? ts : "?");
	} else if (strcmp(status, "deleted") == 0) {
		c->state = JOURNAL_CANCELLED;
		(void)snprintf(c->reason, sizeof(c->reason), "the profile was deleted");
	} else {
		/* rejected: the database will never take it; retrying cannot help. */
		c->state = JOURNAL_DEAD;
		(void)snprintf(c->reason, sizeof(c->reason), "%s: %s",
		    code ? code : status, msg ? msg : "rejected by the database");
	}
}

/* Judge changes [from, from + n) all alike. */
static void
batch_judge_all(struct batch *b, size_t from, size_t n, enum journal_state state,
    const char *reason)
{
	size_t i;

	for (i = from; i < from + n; i++) {
		b->c[i].state = state;
		b->c[i].row = NULL;
		(void)snprintf(b->c[i].reason, sizeof(b->c[i].reason), "%s", reason);
	}
}

/*
 * Record the judged changes [from, from + n) in the journal in one
 * transaction (one fsync per batch), then bring the cache in line and
 * count them.
 */
static enum pc_result
batch_settle(struct app *app, struct batch *b, size_t from, size_t n,
    struct flush_stats *st, char *err)
{
	struct journal_outcome *o;
	struct change *c;
	enum pc_result r;
	size_t i, dead = 0;
	int64_t now = clock_now_us();

	if ((o = calloc(n, sizeof(*o))) == NULL)
		return PC_NOMEM;
	for (i = 0; i < n; i++) {
		c = &b->c[from + i];
		o[i].seqs = c->seqs;
		o[i].nseqs = c->nseqs;
		o[i].state = c->state;
		o[i].reason = c->reason[0] != '\0' ? c->reason : NULL;
		if (c->state == JOURNAL_RETRY)
			o[i].next_attempt_us = now + backoff_us(&app->cfg, c->attempts);
	}
	r = journal_record(app->journal, o, n, app->cfg.flush_max_attempts, &dead, err);
	free(o);
	if (r != PC_OK)
		return r;
	st->dead += (long)dead;
	cache_synced(app, &b->c[from], n);
	for (i = 0; i < n; i++) {
		c = &b->c[from + i];
		st->entries += (long)c->nseqs;
		switch (c->state) {
		case JOURNAL_APPLIED:
			st->applied++;
			break;
		case JOURNAL_CONFLICT:
			st->conflicts++;
			log_warn("flush_reconciled", "id=%s entries=%zu reason=\"%s\"",
			    c->id, c->nseqs, c->reason);
			cache_reconcile(app, c);
			break;
		case JOURNAL_CANCELLED:
			st->deleted++;
			(void)cache_delete(app->cache, NS, c->id);
			break;
		case JOURNAL_DEAD:
			st->dead += (long)c->nseqs;
			log_error("flush_dead_letter", "id=%s entries=%zu reason=\"%s\"",
			    c->id, c->nseqs, c->reason);
			/* The next read goes to the database, without these changes. */
			(void)cache_delete(app->cache, NS, c->id);
			break;
		case JOURNAL_RETRY:
			if (c->attempts + 1 >= app->cfg.flush_max_attempts) {
				log_error("flush_dead_letter", "id=%s reason=\"%s\"",
				    c->id, c->reason);
				(void)cache_delete(app->cache, NS, c->id);
			} else
				st->retried += (long)c->nseqs;
			break;
		}
	}
	return PC_OK;
}

/*
 * Send changes [from, from + n) and settle them. A 4xx for the whole call
 * means one change poisons it: send them one by one. Returns PC_UNAVAILABLE
 * when the origin is down (the changes were put back), PC_OK otherwise,
 * or the journal's error.
 */
static enum pc_result
batch_send(struct app *app, struct batch *b, size_t from, size_t n,
    struct flush_stats *st, char *err)
{
	char oerr[PC_ERRLEN] = "", *args, *resp = NULL;
	enum pc_result r, sent;
	json_t *doc = NULL, *results = NULL;
	json_error_t jerr;
	size_t i, len;

	if ((args = batch_args(b, from, n)) == NULL)
		return PC_NOMEM;
	sent = origin_rpc(app->origin, "apply_profile_changes", args, strlen(args),
	    &resp, &len, oerr);
	free(args);
	st->batches++;
	if (sent == PC_INVALID && n > 1) {
		log_warn("flush_batch_refused", "changes=%zu error=\"%s\"", n, oerr);
		for (i = from, r = PC_OK; i < from + n && r == PC_OK; i++)
			r = batch_send(app, b, i, 1, st, err);
		return r;
	}
	if (sent == PC_OK) {
		doc = json_loadb(resp, len, 0, &jerr);
		results = json_object_get(doc, "results");
		if (!json_is_array(results) || json_array_size(results) != n) {
			(void)snprintf(oerr, sizeof(oerr),
			    "apply_profile_changes: %zu results for %zu changes",
			    json_array_size(results), n);
			sent = PC_ERROR;
		}
	}
	if (sent == PC_OK) {
		for (i = 0; i < n; i++)
			change_judge(&b->c[from + i], json_array_get(results, i));
	} else if (sent == PC_INVALID) {
		/* One change the database refuses outright. */
		batch_judge_all(b, from, n, JOURNAL_DEAD, oerr);
	} else {
		/* Down, timed out, 5xx or nonsense: whether it ran is unknown, and
		 * replaying is safe (the function is idempotent). */
		log_warn("flush_origin_failed", "changes=%zu error=\"%s\"", n, oerr);
		st->origin_down = true;
		batch_judge_all(b, from, n, JOURNAL_RETRY, oerr);
	}
	r = batch_settle(app, b, from, n, st, err);
	json_decref(doc);
	free(resp);
	if (r == PC_OK && st->origin_down)
		r = PC_UNAVAILABLE;
	return r;
}

/* A replaced avatar file whose change settled: remove it if it was applied. */
static bool
trash_one(void *arg, const char *relpath, bool applied)
{
	struct app *app = arg;
	char err[PC_ERRLEN];

	if (!applied || app->cfg.avatar_dir == NULL)
		return true;	/* the database still points at it: keep it */
	if (avatar_store_remove(app->cfg.avatar_dir, relpath, err) == PC_UNAVAILABLE) {
		log_warn("avatar_remove_failed", "file=%s error=\"%s\"", relpath, err);
		return false;
	}
	return true;
}

/* Record the run for profilecache-admin status. */
static void
flush_note(struct app *app, const struct flush_stats *st)
{
	char v[256], err[PC_ERRLEN];

	(void)snprintf(v, sizeof(v), "%lld", (long long)clock_now_us());
	(void)journal_meta_set(app->journal, "last_flush_at_us", v, err);
	(void)snprintf(v, sizeof(v),
	    "applied=%ld conflicts=%ld deleted=%ld dead=%ld retried=%ld batches=%ld",
	    st->applied, st->conflicts, st->deleted, st->dead, st->retried,
	    st->batches);
	(void)journal_meta_set(app->journal, "last_flush_summary", v, err);
}

enum pc_result
usecase_flush_run(struct app *app, const struct flush_opts *o,
    struct flush_stats *st, char *err)
{
	struct batch b = { 0 };
	enum pc_result r;
	int64_t deadline;
	char *args;
	struct journal *j;

	memset(st, 0, sizeof(*st));
	if ((r = app_journal(app, &j, err)) != PC_OK)
		return r;
	b.max = (size_t)o->batch;
	if ((b.c = calloc(b.max, sizeof(*b.c))) == NULL)
		return PC_NOMEM;
	deadline = clock_mono_us() + o->max_seconds * 1000000;
	for (;;) {
		batch_clear(&b);
		/* Entries of one id are few; read enough to fill a batch. */
		if ((r = journal_due(j, clock_now_us(), o->batch * 8, batch_collect, &b,
		    err)) != PC_OK)
			break;
		if ((r = b.r) != PC_OK || b.n == 0)
			break;
		if (o->dry_run) {
			if ((args = batch_args(&b, 0, b.n)) != NULL)
				printf("%s\n", args);
			free(args);
			break;
		}
		r = batch_send(app, &b, 0, b.n, st, err);
		journal_maintain(j);
		if (r == PC_UNAVAILABLE) {
			r = PC_OK;	/* reported through st->origin_down */
			break;
		}
		if (r != PC_OK || o->once || clock_mono_us() >= deadline)
			break;
	}
	batch_clear(&b);
	free(b.c);
	if (r == PC_OK && !o->dry_run) {
		if (journal_trash_settled(j, trash_one, app, err) != PC_OK)
			log_warn("avatar_trash_failed", "error=\"%s\"", err);
		if (app->cfg.flush_retention > 0)
			(void)journal_prune(j, clock_now_us() -
			    app->cfg.flush_retention * 1000000, &st->pruned, err);
		flush_note(app, st);
	}
	return r;
}

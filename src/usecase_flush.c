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

/*
 * One apply_profile_changes call's changes. index maps an id to its change:
 * open addressing, change position + 1, 0 for a free slot, twice as many
 * slots as changes at least.
 */
struct batch {
	struct change *c;
	size_t n, max;
	uint32_t *index;
	size_t mask;		/* slots - 1 */
	bool busy;		/* sent, its answer not settled yet */
};

/*
 * The batches of a run. Up to depth calls are in flight at once; a batch
 * never takes an id that one of them carries, so the changes of one id still
 * reach the database in order, one call after the other.
 */
struct pipeline {
	struct batch *b;
	size_t depth;
	size_t busy;		/* of b, sent and not settled */
	struct batch *filling;	/* what batch_collect adds to */
	enum pc_result r;	/* of collecting */
};

static void
change_clear(struct change *c)
{
	json_decref(c->patch);
	free(c->seqs);
	memset(c, 0, sizeof(*c));
}

static enum pc_result
batch_init(struct batch *b, size_t max)
{
	size_t slots = 4;

	while (slots < 2 * max)
		slots *= 2;
	b->max = max;
	b->mask = slots - 1;
	b->c = calloc(max, sizeof(*b->c));
	b->index = calloc(slots, sizeof(*b->index));
	return b->c != NULL && b->index != NULL ? PC_OK : PC_NOMEM;
}

static void
batch_clear(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		change_clear(&b->c[i]);
	b->n = 0;
	b->busy = false;
	if (b->index != NULL)
		memset(b->index, 0, (b->mask + 1) * sizeof(*b->index));
}

static void
batch_free(struct batch *b)
{
	batch_clear(b);
	free(b->c);
	free(b->index);
}

/* The index slot of id: the one holding it, or the free one it would take. */
static uint32_t *
batch_slot(const struct batch *b, const char *id)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	size_t i;

	for (i = 0; i < UUID_LEN; i++)
		h = (h ^ (unsigned char)id[i]) * 16777619u;
	for (i = h & b->mask; b->index[i] != 0; i = (i + 1) & b->mask)
		if (memcmp(b->c[b->index[i] - 1].id, id, UUID_LEN) == 0)
			break;
	return &b->index[i];
}

/*
 * Add one due entry to its id's change in the batch being filled; stop when a
 * new id would not fit. An id in flight waits for its call to settle.
 */
static bool
batch_collect(void *arg, const struct journal_entry *e)
{
	struct pipeline *p = arg;
	struct batch *b = p->filling;
	struct change *c;
	json_error_t jerr;
	uint32_t *slot;
	int64_t *seqs;
	json_t *patch;
	size_t i;

	if (strcmp(e->resource, NS) != 0 || !uuid_is_canonical(e->id, strlen(e->id)))
		return true;	/* not ours to replay; XXX other resources come later */
	for (i = 0; i < p->depth; i++)
		if (p->b[i].busy && *batch_slot(&p->b[i], e->id) != 0)
			return true;
	slot = batch_slot(b, e->id);
	if (*slot != 0)
		c = &b->c[*slot - 1];
	else {
		if (b->n == b->max)
			return false;
		c = &b->c[b->n++];
		*slot = (uint32_t)b->n;
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
	if ((patch = json_loads(e->patch, 0, &jerr)) != NULL && json_is_object(patch))
		(void)json_object_update(c->patch, patch);
	else
		log_error("journal_bad_patch", "seq=%lld id=%s", (long long)e->seq, e->id);
	json_decref(patch);
	if (e->updated_at_us > c->updated_at_us)
		c->updated_at_us = e->updated_at_us;
	if (e->attempts > c->attempts)
		c->attempts = e->attempts;
	return true;
nomem:
	p->r = PC_NOMEM;
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

static enum pc_result batch_send(struct app *, struct batch *, size_t, size_t,
    struct flush_stats *, char *);

/*
 * Judge changes [from, from + n) from the origin's answer to their call
 * (sent, and resp or oerr) and settle them. A 4xx for the whole call means
 * one change poisons it: send them one by one. Returns PC_UNAVAILABLE when
 * the origin is down (the changes were put back), PC_OK otherwise, or the
 * journal's error.
 */
static enum pc_result
batch_answer(struct app *app, struct batch *b, size_t from, size_t n,
    enum pc_result sent, const char *resp, size_t len, char *oerr,
    struct flush_stats *st, char *err)
{
	json_t *doc = NULL, *results = NULL;
	json_error_t jerr;
	enum pc_result r;
	size_t i;

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
			(void)snprintf(oerr, PC_ERRLEN,
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
	if (r == PC_OK && st->origin_down)
		r = PC_UNAVAILABLE;
	return r;
}

/* Send changes [from, from + n), wait for the answer and settle them. */
static enum pc_result
batch_send(struct app *app, struct batch *b, size_t from, size_t n,
    struct flush_stats *st, char *err)
{
	char oerr[PC_ERRLEN] = "", *args, *resp = NULL;
	enum pc_result r;
	size_t len = 0;

	if ((args = batch_args(b, from, n)) == NULL)
		return PC_NOMEM;
	r = origin_rpc(app->origin, "apply_profile_changes", args, strlen(args),
	    &resp, &len, oerr);
	free(args);
	r = batch_answer(app, b, from, n, r, resp, len, oerr, st, err);
	free(resp);
	return r;
}

/*
 * Fill a free batch of the pipeline with due changes and send it without
 * waiting. PC_NOTFOUND: nothing is due that is not already in flight.
 */
static enum pc_result
pipeline_start(struct app *app, struct journal *j, struct pipeline *p,
    const struct flush_opts *o, char *err)
{
	struct batch *b = NULL;
	enum pc_result r;
	char *args;
	size_t i;

	for (i = 0; i < p->depth && b == NULL; i++)
		if (!p->b[i].busy)
			b = &p->b[i];
	batch_clear(b);
	p->filling = b;
	p->r = PC_OK;
	/* Entries of one id are few; read enough to fill a batch past those
	 * of the batches in flight, which come first and are skipped. */
	if ((r = journal_due(j, clock_now_us(), o->batch * 8 * (long)(p->busy + 1),
	    batch_collect, p, err)) != PC_OK)
		return r;
	if (p->r != PC_OK)
		return p->r;
	if (b->n == 0)
		return PC_NOTFOUND;
	if ((args = batch_args(b, 0, b->n)) == NULL)
		return PC_NOMEM;
	if (o->dry_run) {
		printf("%s\n", args);
		free(args);
		return PC_NOTFOUND;
	}
	r = origin_rpc_start(app->origin, "apply_profile_changes", args,
	    strlen(args), b, err);
	free(args);
	if (r != PC_OK)
		return r;
	b->busy = true;
	p->busy++;
	log_debug("flush_batch_sent", "changes=%zu in_flight=%zu", b->n, p->busy);
	return PC_OK;
}

/* Wait for the first call in flight to answer and settle its batch. */
static enum pc_result
pipeline_finish(struct app *app, struct pipeline *p, struct flush_stats *st,
    char *err)
{
	char oerr[PC_ERRLEN] = "", *resp = NULL;
	struct batch *b;
	enum pc_result r;
	size_t len = 0;
	void *tag;

	r = origin_rpc_wait(app->origin, &tag, &resp, &len, oerr);
	if ((b = tag) == NULL) {
		pc_err(err, "%s", oerr);
		return PC_ERROR;
	}
	r = batch_answer(app, b, 0, b->n, r, resp, len, oerr, st, err);
	free(resp);
	p->busy--;
	log_debug("flush_batch_settled", "changes=%zu in_flight=%zu result=%s",
	    b->n, p->busy, pc_result_str(r));
	batch_clear(b);
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
	struct pipeline p = { 0 };
	struct journal *j;
	enum pc_result r, started = PC_OK;
	bool stop = false;
	int64_t deadline;
	size_t i;

	memset(st, 0, sizeof(*st));
	if ((r = app_journal(app, &j, err)) != PC_OK)
		return r;
	p.depth = o->once || o->dry_run ? 1 : (size_t)o->pipeline;
	if ((p.b = calloc(p.depth, sizeof(*p.b))) == NULL)
		return PC_NOMEM;
	for (i = 0; i < p.depth && r == PC_OK; i++)
		r = batch_init(&p.b[i], (size_t)o->batch);
	deadline = clock_mono_us() + o->max_seconds * 1000000;
	/* Keep depth calls in flight; settle each as it answers. */
	while (r == PC_OK) {
		while (!stop && p.busy < p.depth &&
		    (started = pipeline_start(app, j, &p, o, err)) == PC_OK)
			stop = o->once;
		if (started != PC_OK && started != PC_NOTFOUND) {
			r = started;	/* the calls in flight are replayed next run */
			break;
		}
		if (p.busy == 0)
			break;
		r = pipeline_finish(app, &p, st, err);
		journal_maintain(j);
		if (r == PC_UNAVAILABLE) {
			/* Reported through st->origin_down; let the rest land. */
			r = PC_OK;
			stop = true;
		}
		if (clock_mono_us() >= deadline)
			stop = true;
	}
	/* Stopped by an error with calls in flight: the next run replays them. */
	origin_rpc_abandon(app->origin);
	for (i = 0; i < p.depth; i++)
		batch_free(&p.b[i]);
	free(p.b);
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

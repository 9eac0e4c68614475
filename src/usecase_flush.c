/* The flush: replay the journal to the database in coalesced batches. */
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
#include "metrics.h"
#include "origin.h"
#include "profile.h"
#include "storage.h"
#include "timefmt.h"
#include "usecase_flush.h"
#include "usecase_increment.h"
#include "usecase_list.h"
#include "usecase_read.h"
#include "uuid.h"

/*
 * The coalesced change of one id: per field, the value of the entry with the
 * newest version, sent with that version, so that no value travels at a
 * version it was not written with.
 */
struct change {
	char id[UUID_LEN + 1];
	json_t *patch;
	json_t *versions;      /* field -> its version (µs) */
	int64_t updated_at_us; /* the newest entry's version */
	long attempts;         /* the most any of its entries has had */
	int64_t *seqs;         /* the entries, in seq order */
	json_t **patches; /* each entry's own patch (to split a rejection) */
	int64_t *uss;     /* each entry's own version */
	size_t nseqs, seqs_size;
	/* Filled while settling a batch. */
	enum journal_state state;
	bool split; /* rejected whole: its entries were settled one by one */
	size_t superseded; /* fields a newer version already held */
	char reason[PC_ERRLEN];
	json_t *row; /* the database's row from the result, borrowed */
};

/*
 * One apply_profile_changes call's changes. index maps an id to its change:
 * open addressing, change position + 1, 0 for a free slot, twice as many
 * slots as changes at least.
 */
struct batch {
	const struct resource
	    *res;        /* every change of a batch is of one resource */
	bool increments; /* and of one kind: its increments, or changes */
	size_t entries;  /* increments: how many (each is sent) */
	struct change *c;
	size_t n, max;
	uint32_t *index;
	size_t mask; /* slots - 1 */
	bool busy;   /* sent, its answer not settled yet */
};

/*
 * The bytes one increment's result takes in profilecache_increment's answer
 * (schema/postgres/60_increments.sql), all but the rarest: an id, a key of up
 * to 64 characters, a value, a status and code, and a message, which is a
 * fixed one of at most 306 bytes in all but for a data error the database
 * raises (its own message: a constraint's name, a trigger's words). An
 * answer larger still is retried, and fits once the ledger answers those.
 */
#define INCREMENT_RESULT_MAX 384
#define INCREMENT_ANSWER_ENVELOPE 64 /* {"now":...,"results":[]} */

/* How many increments' results fit in one answer: at least one. */
static size_t
increments_fit(const struct app *app)
{
	size_t max = (size_t)app->cfg.origin_max_answer;

	if (max <= INCREMENT_ANSWER_ENVELOPE + INCREMENT_RESULT_MAX)
		return 1;
	return (max - INCREMENT_ANSWER_ENVELOPE) / (INCREMENT_RESULT_MAX + 2);
}

/*
 * The batches of a run. Up to depth calls are in flight at once; a batch
 * never takes an id that one of them carries, so the changes of one id still
 * reach the database in order, one call after the other.
 */
struct pipeline {
	struct batch *b;
	size_t depth;
	size_t busy;           /* of b, sent and not settled */
	struct batch *filling; /* what batch_collect adds to */
	struct app *app;
	enum pc_result r; /* of collecting */
};

static void
change_clear(struct change *c)
{
	size_t i;

	json_decref(c->patch);
	json_decref(c->versions);
	for (i = 0; i < c->nseqs; i++)
		json_decref(c->patches[i]);
	free(c->seqs);
	free(c->patches);
	free(c->uss);
	memset(c, 0, sizeof(*c));
}

/* Make room for one more entry in c. */
static enum pc_result
change_grow(struct change *c)
{
	size_t n = c->seqs_size ? c->seqs_size * 2 : 4;
	int64_t *seqs, *uss;
	json_t **patches;

	if (c->nseqs < c->seqs_size)
		return PC_OK;
	if ((seqs = realloc(c->seqs, n * sizeof(*seqs))) == NULL)
		return PC_NOMEM;
	c->seqs = seqs;
	if ((uss = realloc(c->uss, n * sizeof(*uss))) == NULL)
		return PC_NOMEM;
	c->uss = uss;
	if ((patches = realloc(c->patches, n * sizeof(*patches))) == NULL)
		return PC_NOMEM;
	c->patches = patches;
	c->seqs_size = n;
	return PC_OK;
}

/*
 * Lay an entry's patch over the change, field by field: a field takes the
 * entry's value unless the change holds a newer version of it already (a
 * dead entry retried later has an old seq and a new version).
 */
static enum pc_result
change_merge(struct change *c, json_t *patch, int64_t us)
{
	const char *k;
	json_t *v, *have;

	json_object_foreach(patch, k, v) {
		have = json_object_get(c->versions, k);
		if (have != NULL && json_integer_value(have) > us)
			continue;
		if (json_object_set(c->patch, k, v) != 0 ||
		    json_object_set_new(c->versions, k, json_integer(us)) != 0)
			return PC_NOMEM;
	}
	return PC_OK;
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
	b->res = NULL;
	b->increments = false;
	b->entries = 0;
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
	uint32_t h = 2166136261u; /* FNV-1a */
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
	const struct resource *res;
	struct change *c;
	json_error_t jerr;
	uint32_t *slot;
	json_t *patch;
	bool incr;
	size_t i;

	/* A resource no longer declared keeps its entries for when it is again. */
	if ((res = app_resource_of_journal(p->app, e->resource, &incr)) ==
	        NULL ||
	    !uuid_is_canonical(e->id, strlen(e->id)))
		return true;
	/* One resource and kind per call: the others wait for a batch of their own. */
	if (b->res != NULL && (b->res != res || b->increments != incr))
		return true;
	for (i = 0; i < p->depth; i++)
		if (p->b[i].busy && p->b[i].res == res &&
		    *batch_slot(&p->b[i], e->id) != 0)
			return true;
	/* Increments are sent one by one: a batch holds max of them, and no
	 * more than their results can come back in one answer. */
	if (incr &&
	    (b->entries == b->max || b->entries >= increments_fit(p->app)))
		return false;
	b->res = res;
	b->increments = incr;
	slot = batch_slot(b, e->id);
	if (*slot != 0)
		c = &b->c[*slot - 1];
	else {
		if (b->n == b->max)
			return false;
		c = &b->c[b->n++];
		*slot = (uint32_t)b->n;
		memcpy(c->id, e->id, UUID_LEN + 1);
		if ((c->patch = json_object()) == NULL ||
		    (c->versions = json_object()) == NULL)
			goto nomem;
	}
	if (change_grow(c) != PC_OK)
		goto nomem;
	if ((patch = json_loads(e->patch, 0, &jerr)) == NULL ||
	    !json_is_object(patch)) {
		log_error("journal_bad_patch", "seq=%lld id=%s",
		    (long long)e->seq, e->id);
		json_decref(patch);
		patch = json_object();
	}
	c->seqs[c->nseqs] = e->seq;
	c->uss[c->nseqs] = e->updated_at_us;
	c->patches[c->nseqs++] = patch;
	b->entries++;
	/* Increments are sent one by one: each key is counted once. */
	if (patch == NULL ||
	    (!incr && change_merge(c, patch, e->updated_at_us) != PC_OK))
		goto nomem;
	if (e->updated_at_us > c->updated_at_us)
		c->updated_at_us = e->updated_at_us;
	if (e->attempts > c->attempts)
		c->attempts = e->attempts;
	return true;
nomem:
	p->r = PC_NOMEM;
	return false;
}

/* Append one change to arr; versions may be NULL (every field at us). */
static enum pc_result
args_add(json_t *arr, const char *id, json_t *patch, json_t *versions,
    int64_t us)
{
	char ts[TIMEFMT_LEN];
	json_t *ch;

	if (timefmt_format(us, ts) != PC_OK ||
	    (ch = json_pack("{s:s,s:O,s:s}", "id", id, "patch", patch,
	         "updated_at", ts)) == NULL)
		return PC_NOMEM;
	if ((versions != NULL &&
	        json_object_set(ch, "versions", versions) != 0) ||
	    json_array_append_new(arr, ch) != 0)
		return PC_NOMEM;
	return PC_OK;
}

/*
 * profilecache_increment's arguments for every entry of the batch:
 * {"resource","increments":[{"id","key","field","delta","at"}]}, the
 * entries of each id in seq order.
 */
static char *
increments_args(const struct batch *b)
{
	char ts[TIMEFMT_LEN], *s = NULL;
	const struct change *c;
	json_t *doc, *arr, *p;
	size_t i, k;

	if ((doc = json_pack("{s:s,s:[]}", "resource", b->res->item,
	         "increments")) == NULL)
		return NULL;
	arr = json_object_get(doc, "increments");
	for (i = 0; i < b->n; i++) {
		c = &b->c[i];
		for (k = 0; k < c->nseqs; k++) {
			p = c->patches[k];
			if (timefmt_format(c->uss[k], ts) != PC_OK ||
			    json_array_append_new(arr,
			        json_pack("{s:s,s:O?,s:O?,s:O?,s:s}", "id",
			            c->id, "key", json_object_get(p, "key"),
			            "field", json_object_get(p, "field"),
			            "delta", json_object_get(p, "delta"), "at",
			            ts)) != 0)
				goto out;
		}
	}
	s = json_dumps(doc, JSON_COMPACT);
out:
	json_decref(doc);
	return s;
}

/* The database function a batch goes to. */
static const char *
batch_fn(const struct batch *b)
{
	return b->increments ? "profilecache_increment" :
	                       resource_apply_fn(b->res);
}

/* The apply call's arguments for changes [from, from + n). */
static char *
batch_args(const struct batch *b, size_t from, size_t n)
{
	struct change *c;
	char *s = NULL;
	json_t *arr;
	size_t i;

	if (b->increments)
		return increments_args(b);
	if ((arr = json_array()) == NULL)
		return NULL;
	for (i = from; i < from + n; i++) {
		c = &b->c[i];
		/* One entry: every field has its version; say nothing more. */
		if (args_add(arr, c->id, c->patch,
		        c->nseqs > 1 ? c->versions : NULL, c->updated_at_us) !=
		    PC_OK)
			goto out;
	}
	s = resource_apply_args(b->res, arr);
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
 * The changes reached the database. A cache entry becomes the row after the
 * write with this node's pending changes laid over it, merged field by field
 * with what the entry held (a field it holds at a newer version stays: a
 * write of another node not flushed yet), with CAS so a write stored
 * meanwhile stays. An entry another node filled without this node's changes
 * while memcached had lost them is corrected here, at this node's next
 * flush. One round trip finds the entries.
 */
/*
 * Store row (a database row, borrowed) for id merged with old (NULL: none
 * was cached; then add it when add_missing, so that a fill that read the
 * database before the change landed cannot store after it). A CAS lost to
 * another writer is tried once more with the entry it stored, then the
 * entry is dropped: the next read rebuilds it from the database.
 */
static void
cache_merge_row(struct app *app, const struct resource *res, const char *id,
    json_t *row, struct cache_entry *old, bool add_missing)
{
	struct cache_entry e, held = { 0 };
	enum pc_result r = PC_ERROR;
	long expire_s;
	int attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		if (old == NULL && !add_missing)
			goto out;
		/* A copy: the overlay changes it, and the caller owns row. */
		if (usecase_build(app, res, id, json_deep_copy(row), old, &e,
		        &expire_s) != PC_OK ||
		    expire_s <= 0)
			goto out;
		r = old != NULL ?
		    cache_cas(app->cache, res->item, id, &e, expire_s,
		        old->cas) :
		    cache_add(app->cache, res->item, id, &e, expire_s);
		cache_entry_release(&e);
		if (r != PC_CONFLICT && r != PC_NOTFOUND)
			goto out;
		/* Merge into what the other writer stored (held is ours to free;
		 * the caller's old is the caller's). */
		cache_entry_release(&held);
		old = cache_get(app->cache, res->item, id, &held) == PC_OK ?
		    &held :
		    NULL;
		add_missing = true;
	}
	(void)cache_delete(app->cache, res->item, id);
out:
	cache_entry_release(&held);
}

/* Merge n rows of ids into their cache entries; one round trip finds them. */
static void
cache_merge_rows(struct app *app, const struct resource *res, const char **ids,
    json_t **rows, size_t n, bool add_missing)
{
	struct cache_entry *old;
	size_t i;

	/* The entries found by one mget, kept until the merges are over. */
	if (n == 0 || (old = calloc(n, sizeof(*old))) == NULL)
		return;
	if (cache_get_many(app->cache, res->item, ids, n, cache_found_take,
	        old) == PC_OK)
		for (i = 0; i < n; i++)
			if (rows[i] != NULL)
				cache_merge_row(app, res, ids[i], rows[i],
				    old[i].raw != NULL ? &old[i] : NULL,
				    add_missing);
	for (i = 0; i < n; i++)
		cache_entry_release(&old[i]);
	free(old);
}

/*
 * The changes reached the database: each cache entry becomes the row after
 * the write with this node's pending changes laid over it, merged field by
 * field with what the entry held (a field it holds at a newer version
 * stays: a write of another node not flushed yet), with CAS so a write
 * stored meanwhile stays; added when nothing is cached. An entry another
 * node filled without this node's changes while memcached had lost them is
 * corrected here, at this node's next flush.
 */
static void
cache_synced(struct app *app, const struct resource *res, struct change *cs,
    size_t n)
{
	const char **ids = calloc(n, sizeof(*ids));
	json_t **rows = calloc(n, sizeof(*rows));
	size_t i;

	if (ids != NULL && rows != NULL) {
		for (i = 0; i < n; i++) {
			ids[i] = cs[i].id;
			if ((cs[i].state == JOURNAL_APPLIED ||
			        cs[i].state == JOURNAL_CONFLICT) &&
			    !cs[i].split && json_is_object(cs[i].row))
				rows[i] = cs[i].row;
		}
		cache_merge_rows(app, res, ids, rows, n, true);
	}
	free(ids);
	free(rows);
}

/* Cache what a read would now see (the database and this node's journal). */
static void
cache_reconcile(struct app *app, const struct resource *res,
    const struct change *c)
{
	if (usecase_recache(app, res, c->id, NULL) != PC_OK)
		(void)cache_delete(app->cache, res->item, c->id);
}

/*
 * Whether every field of patch is one this node's declaration of res lets a
 * change write: then a database that answers unknown_field has a registry
 * behind the declaration (its migration is not loaded yet), and the change
 * waits for it; otherwise the entry itself is wrong.
 */
static bool
patch_declared(const struct resource *res, json_t *patch)
{
	const struct field *f;
	const char *name;
	json_t *v;

	if (!json_is_object(patch))
		return false;
	json_object_foreach(patch, name, v) {
		if ((f = resource_field(res, name)) == NULL ||
		    !resource_change_writes(res, f))
			return false;
	}
	return true;
}

/* Decide what one change (patch, of rs) a result means; nothing is written yet. */
static void
change_judge(const struct resource *rs, json_t *patch, struct change *c,
    json_t *res)
{
	const char *status = json_string_value(json_object_get(res, "status"));
	const char *code = json_string_value(json_object_get(res, "code"));
	const char *msg = json_string_value(json_object_get(res, "message"));
	const char *rid = json_string_value(json_object_get(res, "id"));

	c->row = json_object_get(res, "row");
	c->reason[0] = '\0';
	c->superseded = json_array_size(json_object_get(res, "superseded"));
	if (status == NULL || rid == NULL || strcmp(rid, c->id) != 0) {
		c->state = JOURNAL_RETRY;
		(void)snprintf(c->reason, sizeof(c->reason),
		    "the apply call's result is malformed");
	} else if (strcmp(status, "applied") == 0) {
		c->state = JOURNAL_APPLIED;
	} else if (strcmp(status, "conflict") == 0) {
		/* Every field was written later by someone else: superseded. */
		c->state = JOURNAL_CONFLICT;
		(void)snprintf(c->reason, sizeof(c->reason),
		    "every field holds a newer version");
	} else if (strcmp(status, "deleted") == 0) {
		c->state = JOURNAL_CANCELLED;
		(void)snprintf(c->reason, sizeof(c->reason),
		    "the row was deleted");
	} else if (strcmp(status, "rejected") == 0 && code != NULL &&
	    strcmp(code, "unknown_field") == 0 && patch_declared(rs, patch)) {
		c->state = JOURNAL_RETRY;
		(void)snprintf(c->reason, sizeof(c->reason),
		    "the database does not know a declared field yet (load "
		    "what profilecache-admin sql prints): %s",
		    msg ? msg : "unknown_field");
	} else if (strcmp(status, "rejected") == 0) {
		/* The database will never take it; retrying cannot help. */
		c->state = JOURNAL_DEAD;
		(void)snprintf(c->reason, sizeof(c->reason), "%s: %s",
		    code ? code : status,
		    msg ? msg : "rejected by the database");
	} else {
		c->state = JOURNAL_RETRY;
		(void)snprintf(c->reason, sizeof(c->reason),
		    "the apply call's result has an unknown status %.40s",
		    status);
	}
}

/* Judge changes [from, from + n) all alike. */
static void
batch_judge_all(struct batch *b, size_t from, size_t n,
    enum journal_state state, const char *reason)
{
	size_t i;

	for (i = from; i < from + n; i++) {
		b->c[i].state = state;
		b->c[i].row = NULL;
		(void)snprintf(b->c[i].reason, sizeof(b->c[i].reason), "%s",
		    reason);
	}
}

/*
 * The "results" of fn's answer (resp, len) to n entries (what names them in
 * a message), *doc holding them; NULL, with oerr, when there are not n.
 */
static json_t *
answer_results(const char *fn, const char *resp, size_t len, size_t n,
    const char *what, json_t **doc, char *oerr)
{
	json_error_t jerr;
	json_t *results;

	*doc = json_loadb(resp, len, 0, &jerr);
	results = json_object_get(*doc, "results");
	if (json_is_array(results) && json_array_size(results) == n)
		return results;
	(void)snprintf(oerr, PC_ERRLEN, "%s: %zu results for %zu %s", fn,
	    json_array_size(results), n, what);
	return NULL;
}

/*
 * A coalesced change was rejected: one of its entries carries what the
 * database refuses, and the others must not go down with it. Send the
 * entries again one by one, each at its own version (the database applies
 * them in order), in as few calls as their answers fit, and record each
 * entry's own outcome. When a call fails the change is retried whole.
 */
static enum pc_result
change_split(struct app *app, const struct resource *res, struct change *c,
    struct flush_stats *st, char *err)
{
	char oerr[PC_ERRLEN] = "", *args = NULL, *resp = NULL;
	struct journal_outcome *o;
	struct change one;
	json_t *arr = NULL, *doc = NULL, *results;
	enum pc_result r = PC_NOMEM;
	size_t i, len = 0, from = 0, k = c->nseqs;

	if ((o = calloc(c->nseqs, sizeof(*o))) == NULL)
		return PC_NOMEM;
	/*
	 * The id's entries in order, as many in a call as their answer fits
	 * (halved when it does not): the function takes them one after the
	 * other either way, and a call that fails is safe to repeat.
	 */
	while (from < c->nseqs) {
		k = k < c->nseqs - from ? k : c->nseqs - from;
		r = PC_NOMEM;
		json_decref(arr);
		json_decref(doc);
		free(args);
		free(resp);
		doc = NULL;
		args = resp = NULL;
		if ((arr = json_array()) == NULL)
			goto out;
		for (i = from; i < from + k; i++)
			if (args_add(arr, c->id, c->patches[i], NULL,
			        c->uss[i]) != PC_OK)
				goto out;
		if ((args = resource_apply_args(res, arr)) == NULL)
			goto out;
		r = origin_rpc(app->origin, resource_apply_fn(res), args,
		    strlen(args), &resp, &len, oerr);
		if (r == PC_TOOBIG && k > 1) {
			log_info("flush_split_halved", "id=%s changes=%zu",
			    c->id, k);
			k /= 2;
			continue;
		}
		if (r == PC_OK &&
		    (results = answer_results(resource_apply_fn(res), resp, len,
		         k, "changes", &doc, oerr)) == NULL)
			r = PC_ERROR;
		if (r != PC_OK) {
			log_warn("flush_split_failed", "id=%s error=\"%s\"",
			    c->id, oerr);
			/* As for a batch: no more calls this run. */
			if (r == PC_UNAVAILABLE)
				st->origin_down = true;
			c->state = JOURNAL_RETRY;
			(void)snprintf(c->reason, sizeof(c->reason), "%s",
			    oerr);
			r = PC_OK;
			goto out;
		}
		for (i = from; i < from + k; i++) {
			memset(&one, 0, sizeof(one));
			memcpy(one.id, c->id, sizeof(one.id));
			change_judge(res, c->patches[i], &one,
			    json_array_get(results, i - from));
			o[i].seqs = &c->seqs[i];
			o[i].nseqs = 1;
			o[i].state = one.state;
			o[i].resource = res->item;
			o[i].id = c->id;
			o[i].next_attempt_us =
			    clock_now_us() + backoff_us(&app->cfg, c->attempts);
			/* Entries live as long as the journal; each reason
			 * is copied in. */
			o[i].reason =
			    one.reason[0] != '\0' ? strdup(one.reason) : NULL;
		}
		from += k;
	}
	for (i = 0; i < c->nseqs; i++) {
		if (o[i].state != JOURNAL_DEAD)
			continue;
		st->dead++;
		log_error("flush_dead_letter", "id=%s seq=%lld reason=\"%s\"",
		    c->id, (long long)c->seqs[i],
		    o[i].reason != NULL ? o[i].reason : "");
	}
	r = journal_record(app->journal, o, c->nseqs, err);
	c->split = true;
out:
	for (i = 0; i < c->nseqs; i++)
		free((char *)o[i].reason);
	free(o);
	free(args);
	free(resp);
	json_decref(doc);
	json_decref(arr);
	return r;
}

/*
 * Record the judged changes [from, from + n) in the journal in one
 * transaction (one fsync for a whole batch), then bring the cache in line and
 * count them.
 */
static enum pc_result
batch_settle(struct app *app, struct batch *b, size_t from, size_t n,
    struct flush_stats *st, char *err)
{
	struct journal_outcome *o;
	struct change *c;
	enum pc_result r = PC_OK;
	struct list_touch *touches;
	size_t i, k = 0, k2 = 0;
	int64_t now = clock_now_us();

	for (i = 0; i < n && r == PC_OK; i++) {
		c = &b->c[from + i];
		if (c->state == JOURNAL_DEAD && c->nseqs > 1)
			r = change_split(app, b->res, c, st, err);
	}
	if (r != PC_OK || (o = calloc(n, sizeof(*o))) == NULL)
		return r != PC_OK ? r : PC_NOMEM;
	for (i = 0; i < n; i++) {
		c = &b->c[from + i];
		if (c->split)
			continue;
		o[k].seqs = c->seqs;
		o[k].nseqs = c->nseqs;
		o[k].state = c->state;
		o[k].reason = c->reason[0] != '\0' ? c->reason : NULL;
		o[k].resource = b->res->item;
		o[k].id = c->id;
		if (c->state == JOURNAL_RETRY)
			o[k].next_attempt_us =
			    now + backoff_us(&app->cfg, c->attempts);
		k++;
	}
	r = journal_record(app->journal, o, k, err);
	free(o);
	if (r != PC_OK)
		return r;
	/* The database's rows changed: cached list pages of them are old. */
	if ((touches = calloc(n, sizeof(*touches))) == NULL)
		usecase_list_changed(app, b->res);
	else {
		for (i = 0; i < n; i++) {
			c = &b->c[from + i];
			if (c->state != JOURNAL_APPLIED && !c->split)
				continue;
			touches[k2].id = c->id;
			touches[k2].row = c->split ? NULL : c->row;
			touches[k2++].patch = c->patch;
		}
		usecase_list_touched(app, b->res, touches, k2);
		free(touches);
	}
	cache_synced(app, b->res, &b->c[from], n);
	for (i = 0; i < n; i++) {
		c = &b->c[from + i];
		st->entries += (long)c->nseqs;
		if (c->split) {
			st->split++;
			cache_reconcile(app, b->res, c);
			continue;
		}
		if (c->superseded > 0) {
			/* Fields written later by someone else: not a loss. */
			st->superseded += (long)c->superseded;
			log_warn("flush_reconciled",
			    "id=%s superseded=%zu entries=%zu", c->id,
			    c->superseded, c->nseqs);
		}
		switch (c->state) {
		case JOURNAL_APPLIED:
			st->applied++;
			break;
		case JOURNAL_CONFLICT:
			st->conflicts++;
			break;
		case JOURNAL_CANCELLED:
			st->deleted++;
			(void)cache_delete(app->cache, b->res->item, c->id);
			break;
		case JOURNAL_DEAD:
			st->dead += (long)c->nseqs;
			log_error("flush_dead_letter",
			    "id=%s entries=%zu reason=\"%s\"", c->id, c->nseqs,
			    c->reason);
			/* Reads show "sync":"failed" with the refused fields. */
			cache_reconcile(app, b->res, c);
			break;
		case JOURNAL_RETRY:
			st->retried += (long)c->nseqs;
			/* Never given up; past max_attempts it is an alert. */
			if (c->attempts + 1 >= app->cfg.flush_max_attempts)
				log_error("flush_retrying",
				    "id=%s attempts=%ld reason=\"%s\"", c->id,
				    c->attempts + 1, c->reason);
			break;
		}
	}
	return PC_OK;
}

/*
 * The database's clock against this node's, from an answer's "now" and the
 * call's round trip: kept when the round trip is the shortest of the run.
 */
static void
clock_sample(struct flush_stats *st, json_t *doc, int64_t sent_us)
{
	json_t *v = json_object_get(doc, "now");
	int64_t recv_us = clock_now_us(), rtt = recv_us - sent_us;

	if (!json_is_integer(v) || sent_us <= 0 || rtt < 0)
		return;
	if (st->clock_rtt_us > 0 && rtt >= st->clock_rtt_us)
		return;
	st->clock_rtt_us = rtt > 0 ? rtt : 1;
	st->clock_offset_us =
	    (int64_t)json_integer_value(v) - (sent_us + rtt / 2);
}

/*
 * Measure the clock with a few empty calls on one connection and keep the
 * one with the shortest round trip: the first pays for the connection, and
 * a batch's answer is no sample at all (its "now" comes after the work).
 */
#define CLOCK_PROBES 3

static void
clock_measure(struct app *app, struct flush_stats *st)
{
	static const char args[] = "{\"changes\":[]}";
	char oerr[PC_ERRLEN], *resp;
	json_error_t jerr;
	json_t *doc;
	size_t len;
	int64_t sent;
	int i;

	for (i = 0; i < CLOCK_PROBES; i++) {
		resp = NULL;
		sent = clock_now_us();
		if (origin_rpc(app->origin, "apply_profile_changes", args,
		        sizeof(args) - 1, &resp, &len, oerr) != PC_OK) {
			log_warn("flush_clock_failed", "error=\"%s\"", oerr);
			return;
		}
		doc = json_loadb(resp, len, 0, &jerr);
		clock_sample(st, doc, sent);
		json_decref(doc);
		free(resp);
	}
}

/*
 * Publish the offset as soon as it is measured, not when the run ends: a
 * run that is stopped or killed later (a long replay, a deploy) must not
 * leave the responders moving their clock by an older measurement, which
 * may have been made before the node's clock was corrected.
 */
static void
clock_publish(struct app *app, const struct flush_stats *st)
{
	char v[32], err[PC_ERRLEN];

	if (st->clock_rtt_us == 0)
		return;
	/* The responders' hybrid clock reads it from the metrics file. */
	metrics_gauge_set(MG_CLOCK_OFFSET_US, st->clock_offset_us);
	metrics_gauge_set(MG_CLOCK_MEASURED_US, clock_now_us());
	(void)snprintf(v, sizeof(v), "%lld", (long long)st->clock_offset_us);
	(void)journal_meta_set(app->journal, "clock_offset_us", v, err);
	if (llabs(st->clock_offset_us) > app->cfg.flush_clock_warn_ms * 1000)
		log_error("clock_offset_large",
		    "offset_ms=%.3f rtt_ms=%.3f limit_ms=%ld",
		    (double)st->clock_offset_us / 1000,
		    (double)st->clock_rtt_us / 1000,
		    app->cfg.flush_clock_warn_ms);
}

/*
 * Entries back off while the database is away, up to backoff_max. Once it
 * answers again (one empty call, which also measures the clock), everything
 * waiting is due at once: an outage never delays a change by more than one
 * run after it ends, and per-id order is kept (the whole id is due).
 */
static void
retry_now_if_back(struct app *app, struct journal *j, struct flush_stats *st)
{
	char err[PC_ERRLEN];
	long n = 0;

	clock_measure(app, st);
	if (st->clock_rtt_us == 0)
		return; /* still away: keep backing off */
	clock_publish(app, st);
	if (journal_due_now(j, clock_now_us(), &n, err) != PC_OK)
		log_warn("flush_due_now_failed", "error=\"%s\"", err);
	else if (n > 0)
		log_info("flush_database_back", "entries=%ld", n);
}

static enum pc_result batch_send(struct app *, struct batch *, size_t, size_t,
    struct flush_stats *, char *);

/*
 * Judge changes [from, from + n) from the origin's answer to their call
 * (sent, and resp or oerr) and settle them. A data error for the whole call
 * means one change poisons it: send them one by one. Returns PC_UNAVAILABLE
 * when the origin is down or failed (the changes were put back), PC_OK
 * otherwise, or the journal's error.
 */
static enum pc_result
batch_answer(struct app *app, struct batch *b, size_t from, size_t n,
    enum pc_result sent, const char *resp, size_t len, char *oerr,
    struct flush_stats *st, char *err)
{
	json_t *doc = NULL, *results = NULL;
	enum pc_result r;
	size_t i;

	st->batches++;
	if (sent == PC_INVALID && n > 1) {
		log_warn("flush_batch_refused", "changes=%zu error=\"%s\"", n,
		    oerr);
		for (i = from, r = PC_OK; i < from + n && r == PC_OK; i++)
			r = batch_send(app, b, i, 1, st, err);
		return r;
	}
	/*
	 * The rows came back larger than an answer may be (a large batch, or
	 * large rows): the call ran, and running it again is safe, so each
	 * half is sent again on its own. Retrying the whole would fail forever.
	 */
	if (sent == PC_TOOBIG && n > 1) {
		log_info("flush_batch_halved", "changes=%zu error=\"%s\"", n,
		    oerr);
		r = batch_send(app, b, from, n / 2, st, err);
		if (r == PC_OK)
			r = batch_send(app, b, from + n / 2, n - n / 2, st,
			    err);
		return r;
	}
	if (sent == PC_OK &&
	    (results = answer_results(resource_apply_fn(b->res), resp, len, n,
	         "changes", &doc, oerr)) == NULL)
		sent = PC_ERROR;
	if (sent == PC_OK) {
		for (i = 0; i < n; i++)
			change_judge(b->res, b->c[from + i].patch,
			    &b->c[from + i], json_array_get(results, i));
	} else if (sent == PC_INVALID) {
		/* One change whose data the database refuses outright. */
		batch_judge_all(b, from, n, JOURNAL_DEAD, oerr);
	} else if (sent == PC_TOOBIG) {
		/* One row too large: the database is up, and this change
		 * waits (with its backoff) until [origin] max_answer_bytes
		 * is raised. */
		log_error("flush_answer_too_large", "id=%s error=\"%s\"",
		    b->c[from].id, oerr);
		batch_judge_all(b, from, n, JOURNAL_RETRY, oerr);
	} else {
		/* Down, timed out, 5xx, misconfigured or nonsense: whether it
		 * ran is unknown, and replaying is safe (the function is
		 * idempotent). Retried for as long as it takes. */
		log_warn("flush_origin_failed", "changes=%zu error=\"%s\"", n,
		    oerr);
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
	r = origin_rpc(app->origin, resource_apply_fn(b->res), args,
	    strlen(args), &resp, &len, oerr);
	free(args);
	r = batch_answer(app, b, from, n, r, resp, len, oerr, st, err);
	free(resp);
	return r;
}

/* Judge one increment's result: applied (or a duplicate of an applied one), rejected, deleted. */
static enum journal_state
increment_judge(json_t *res, const char *id, json_t *patch, char *reason,
    size_t size)
{
	const char *status = json_string_value(json_object_get(res, "status"));
	const char *code = json_string_value(json_object_get(res, "code"));
	const char *msg = json_string_value(json_object_get(res, "message"));
	const char *rid = json_string_value(json_object_get(res, "id"));
	const char *key = json_string_value(json_object_get(res, "key"));

	reason[0] = '\0';
	if (status == NULL || rid == NULL || strcmp(rid, id) != 0 ||
	    key == NULL ||
	    !json_equal(json_object_get(patch, "key"),
	        json_object_get(res, "key"))) {
		(void)snprintf(reason, size,
		    "the increment call's result is malformed");
		return JOURNAL_RETRY;
	}
	if (strcmp(status, "applied") == 0)
		return JOURNAL_APPLIED;
	if (strcmp(status, "deleted") == 0) {
		(void)snprintf(reason, size, "the row was deleted");
		return JOURNAL_CANCELLED;
	}
	if (strcmp(status, "rejected") == 0) {
		(void)snprintf(reason, size, "%s: %s",
		    code != NULL ? code : "rejected",
		    msg != NULL ? msg : "rejected by the database");
		return JOURNAL_DEAD;
	}
	(void)snprintf(reason, size,
	    "the increment call's result has an unknown "
	    "status %.40s",
	    status);
	return JOURNAL_RETRY;
}

/*
 * Settle a batch of increments from profilecache_increment's answer, one
 * outcome per entry: the ledger makes a replay of any of them harmless, so
 * whatever is unknown (the database away, a malformed answer) is retried.
 * Then each row's cache entry is rebuilt from the database and the ledger.
 */
static enum pc_result
increments_answer(struct app *app, struct batch *b, enum pc_result sent,
    const char *resp, size_t len, char *oerr, struct flush_stats *st, char *err)
{
	struct journal_outcome *o = NULL;
	char(*reasons)[PC_ERRLEN] = NULL;
	json_t *doc = NULL, *results = NULL;
	struct change *c;
	enum pc_result r = PC_NOMEM;
	size_t i, k, n = 0, total = 0;
	int64_t now = clock_now_us();
	bool settled = false;
	struct list_touch *touches;
	const char **ids;

	st->batches++;
	for (i = 0; i < b->n; i++)
		total += b->c[i].nseqs;
	if (sent == PC_OK &&
	    (results = answer_results("profilecache_increment", resp, len,
	         total, "increments", &doc, oerr)) == NULL)
		sent = PC_ERROR;
	if (sent != PC_OK) {
		log_warn("flush_origin_failed", "increments=%zu error=\"%s\"",
		    total, oerr);
		/* Too large an answer: the database is up, and each
		 * increment's ledger entry answers shortly next time. */
		if (sent != PC_TOOBIG)
			st->origin_down = true;
	}
	if ((o = calloc(total, sizeof(*o))) == NULL ||
	    (reasons = calloc(total, sizeof(*reasons))) == NULL)
		goto out;
	for (i = 0; i < b->n; i++) {
		c = &b->c[i];
		for (k = 0; k < c->nseqs; k++, n++) {
			o[n].seqs = &c->seqs[k];
			o[n].nseqs = 1;
			if (sent == PC_OK)
				o[n].state =
				    increment_judge(json_array_get(results, n),
				        c->id, c->patches[k], reasons[n],
				        sizeof(reasons[n]));
			else {
				o[n].state = JOURNAL_RETRY;
				(void)snprintf(reasons[n], sizeof(reasons[n]),
				    "%s", oerr);
			}
			o[n].reason = reasons[n][0] != '\0' ? reasons[n] : NULL;
			o[n].resource = b->res->increments_ns;
			o[n].id = c->id;
			o[n].next_attempt_us =
			    now + backoff_us(&app->cfg, c->attempts);
			switch (o[n].state) {
			case JOURNAL_APPLIED:
				st->applied++;
				settled = true;
				break;
			case JOURNAL_DEAD:
				st->dead++;
				settled = true;
				log_error("flush_dead_letter",
				    "id=%s seq=%lld reason=\"%s\"", c->id,
				    (long long)c->seqs[k], reasons[n]);
				break;
			case JOURNAL_CANCELLED:
				st->deleted++;
				settled = true;
				break;
			default:
				st->retried++;
				break;
			}
			st->entries++;
		}
	}
	if ((r = journal_record(app->journal, o, total, err)) != PC_OK ||
	    !settled)
		goto out;
	/* Every node answers a retried key with what became of it. */
	for (i = 0, n = 0; i < b->n; i++)
		for (k = 0; k < b->c[i].nseqs; k++, n++)
			usecase_increment_settled(app, b->res, b->c[i].id,
			    b->c[i].patches[k], o[n].state, o[n].reason);
	/* The counters as the database and the ledger now have them (one
	 * call for the batch's rows), merged with what other nodes counted
	 * in meanwhile. */
	if ((ids = calloc(b->n, sizeof(*ids))) != NULL) {
		for (i = 0; i < b->n; i++)
			ids[i] = b->c[i].id;
		usecase_recache_counted(app, b->res, ids, b->n);
		free(ids);
	}
	/* Their counters changed; the rows are not known here. */
	if ((touches = calloc(b->n, sizeof(*touches))) != NULL) {
		for (i = 0; i < b->n; i++)
			touches[i].id = b->c[i].id;
		usecase_list_touched(app, b->res, touches, b->n);
		free(touches);
	} else
		usecase_list_changed(app, b->res);
out:
	free(o);
	free(reasons);
	json_decref(doc);
	if (r == PC_OK && st->origin_down)
		r = PC_UNAVAILABLE;
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
	/* Entries of ids in flight come first and are skipped; the walk stops
	 * when the batch is full. */
	if ((r = journal_due(j, clock_now_us(), batch_collect, p, err)) !=
	    PC_OK)
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
	r = origin_rpc_start(app->origin, batch_fn(b), args, strlen(args), b,
	    err);
	free(args);
	if (r != PC_OK)
		return r;
	b->busy = true;
	p->busy++;
	log_debug("flush_batch_sent", "changes=%zu in_flight=%zu", b->n,
	    p->busy);
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
	r = b->increments ?
	    increments_answer(app, b, r, resp, len, oerr, st, err) :
	    batch_answer(app, b, 0, b->n, r, resp, len, oerr, st, err);
	free(resp);
	p->busy--;
	log_debug("flush_batch_settled", "changes=%zu in_flight=%zu result=%s",
	    b->n, p->busy, pc_result_str(r));
	batch_clear(b);
	return r;
}

/*
 * Whether anything may still refer to a stored avatar: a profile in the
 * database, or a pending or dead change in this node's journal. Files are
 * shared by content (two users, one picture), and avatar_url can be set to
 * any URL, so the file a change replaced is not necessarily unused. Another
 * node's pending change is covered by the grace period: storing a file
 * again restarts its age.
 */
static bool
avatar_referenced(struct app *app, const char *relpath)
{
	char url[STORAGE_URL_MAX], err[PC_ERRLEN] = "";
	const struct resource *res;
	bool found = true;
	size_t i, k;

	if ((size_t)snprintf(url, sizeof(url), "%s/%s",
	        app->cfg.avatar_public_url, relpath) >= sizeof(url))
		return true;
	if (journal_mentions(app->journal, relpath, &found, err) != PC_OK ||
	    found)
		return true;
	if (origin_exists(app->origin, "profiles", "avatar_url", url, &found,
	        err) != PC_OK) {
		log_warn("avatar_check_failed", "file=%s error=\"%s\"", relpath,
		    err);
		return true;
	}
	/* Every image field of every declared table may hold it too. */
	for (i = 0; !found && i < app->cfg.resources.n; i++) {
		res = &app->cfg.resources.v[i];
		for (k = 0; !found && k < res->nfields; k++)
			if (res->fields[k].type == FT_IMAGE &&
			    origin_exists(app->origin, res->table,
			        res->fields[k].name, url, &found,
			        err) != PC_OK) {
				log_warn("avatar_check_failed",
				    "file=%s table=%s error=\"%s\"", relpath,
				    res->table, err);
				return true;
			}
	}
	return found;
}

/*
 * A replaced (or deleted profile's) avatar file whose change settled:
 * remove it once it is older than the grace period and nothing refers to
 * it. Returns false to keep the note for a later run.
 */
static bool
trash_one(void *arg, const char *relpath, bool applied)
{
	struct app *app = arg;
	char err[PC_ERRLEN];
	long age;

	enum pc_result r;

	if (!applied || !storage_enabled(&app->cfg))
		return true; /* the database still points at it: keep it */
	/* With a shared bucket the age is the object's last upload, by any node. */
	if ((r = storage_age(&app->cfg, relpath, &age, err)) == PC_NOTFOUND ||
	    r == PC_INVALID)
		return true;
	if (r != PC_OK) {
		log_warn("avatar_check_failed", "file=%s error=\"%s\"", relpath,
		    err);
		return false;
	}
	if (age < app->cfg.avatar_trash_grace)
		return false; /* stored again lately, maybe by another node */
	if (avatar_referenced(app, relpath))
		return true; /* in use: not ours to remove */
	if (storage_remove(&app->cfg, relpath, err) == PC_UNAVAILABLE) {
		log_warn("avatar_remove_failed", "file=%s error=\"%s\"",
		    relpath, err);
		return false;
	}
	return true;
}

/*
 * Changes made outside profilecache (the dashboard, another service, a
 * delete cascading from auth.users) reach the cache: the rows changed and
 * the profiles deleted since the last run, from profilecache_changed_since.
 * Only entries that are cached are refreshed (merged field by field, as
 * after a flush); deleted ones are dropped. The cursor (meta pull_since) is
 * the last row's updated_at when a page was full, else the database's
 * clock minus PULL_MARGIN_S, for transactions still open when it looked.
 * A page too large is asked for again smaller, down to two rows; past that
 * the run skips ahead (pull_skip).
 */
#define PULL_PAGE 500
#define PULL_PAGES 20
#define PULL_MARGIN_S 10

/*
 * The lists that a page of pulled rows (ids[i], rows[i]) and deletes (the
 * answer doc's) may have changed: a row's fields whose version is not
 * older than since (less the margin) changed in the window, the others
 * not (a field without a version never changed: writes outside are
 * versioned by the database's trigger); a deleted row's owner is what its
 * tombstone keeps. This node's own flushes come back too.
 */
static void
pull_touched(struct app *app, const struct resource *res, const char *since,
    json_t *doc, const char *const *ids, json_t *const *rows, size_t n)
{
	json_t *del = json_object_get(doc, "deleted"), *fv, *ver, *v;
	struct list_touch *t;
	int64_t since_us;
	size_t i, k, m = 0;

	if (n + json_array_size(del) == 0)
		return;
	if ((t = calloc(n + json_array_size(del), sizeof(*t))) == NULL) {
		usecase_list_changed(app, res);
		return;
	}
	if (timefmt_parse(since, strlen(since), &since_us) != PC_OK)
		since_us = INT64_MAX; /* any field may have changed */
	else
		since_us -= PULL_MARGIN_S * INT64_C(1000000);
	for (i = 0; i < n; i++, m++) {
		t[m].id = ids[i];
		t[m].row = rows[i];
		fv = json_object_get(rows[i], "field_versions");
		if (!json_is_object(fv) || since_us == INT64_MAX ||
		    (t[m].patch = json_object()) == NULL)
			continue; /* patch NULL: any field */
		for (k = 0; k < res->nfields; k++) {
			/* No version: never changed since the row was made. */
			ver = json_object_get(fv, res->fields[k].name);
			if (res->fields[k].filter && json_is_integer(ver) &&
			    json_integer_value(ver) >= since_us)
				(void)json_object_set(t[m].patch,
				    res->fields[k].name, json_null());
		}
	}
	json_array_foreach(del, i, v) {
		if (!json_is_string(v))
			continue;
		t[m].id = json_string_value(v);
		/* The deleted row's owner, as its tombstone keeps it. */
		t[m++].owner = res->owner == res->key ?
		    json_string_value(v) :
		    json_string_value(json_object_get(json_object_get(doc,
		                                          "deleted_owners"),
		        json_string_value(v)));
	}
	usecase_list_touched(app, res, t, m);
	for (i = 0; i < n; i++)
		json_decref(t[i].patch);
	free(t);
}

/*
 * Even two rows, or the deletions since the cursor, are larger than an
 * answer may be: asking again would fail again on every run, and nothing
 * changed outside would reach the caches any more. Skip to this host's
 * clock minus PULL_MARGIN_S instead (never back): the entries of rows
 * changed in between are not refreshed, and are served until their TTL as
 * if there were no pull; lists are asked for again.
 */
static void
pull_skip(struct app *app, const struct resource *res, char *since,
    const char *err)
{
	int64_t at_us,
	    to_us = clock_now_us() - PULL_MARGIN_S * INT64_C(1000000);

	log_warn("flush_pull_skipped", "resource=%s since=%s error=\"%s\"",
	    res->name, since, err);
	if (timefmt_parse(since, strlen(since), &at_us) != PC_OK ||
	    at_us < to_us)
		(void)timefmt_format(to_us, since);
	usecase_list_changed(app, res);
}

static void
pull_outside(struct app *app, const struct resource *res,
    struct flush_stats *st)
{
	char since[TIMEFMT_LEN + 8], args[256],
	    err[PC_ERRLEN] = "", *resp = NULL;
	char key[96];
	const char *ids[PULL_PAGE], *next;
	json_t *rows[PULL_PAGE], *doc = NULL, *rs, *del, *v;
	json_error_t jerr;
	int64_t now_us;
	size_t i, n, len, page, got, max = PULL_PAGE;
	enum pc_result r;
	/* Profiles keep the key they always had. */
	(void)snprintf(key, sizeof(key),
	    res->builtin ? "pull_since" : "pull_since:%s", res->item);
	if (journal_meta_get(app->journal, key, since, sizeof(since), err) !=
	    PC_OK) {
		/* The first run starts from now: older changes are in no cache
		 * this node filled since it started. */
		if (timefmt_format(clock_now_us() -
		            PULL_MARGIN_S * INT64_C(1000000),
		        since) != PC_OK)
			return;
	}
	for (page = 0; page < PULL_PAGES; page++) {
		if (res->builtin)
			(void)snprintf(args, sizeof(args),
			    "{\"since\":\"%s\",\"max\":%zu}", since, max);
		else
			(void)snprintf(args, sizeof(args),
			    "{\"resource\":\"%s\","
			    "\"since\":\"%s\",\"max\":%zu}",
			    res->item, since, max);
		r = origin_rpc(app->origin,
		    res->builtin ? "profilecache_changed_since" :
		                   "profilecache_resource_changes",
		    args, strlen(args), &resp, &len, err);
		/*
		 * Rows larger than an answer may be: ask for fewer at a time
		 * (each try counts as a page of this run's). Not below 2: a
		 * page starts at its predecessor's last row (the cursor is a
		 * time, and several rows may share it), so a page of 1 would
		 * never move on.
		 */
		if (r == PC_TOOBIG && max > 2) {
			max /= 2;
			continue;
		}
		if (r == PC_TOOBIG) {
			pull_skip(app, res, since, err);
			break;
		}
		if (r != PC_OK) {
			log_warn("flush_pull_failed",
			    "resource=%s error=\"%s\"", res->name, err);
			return;
		}
		doc = json_loadb(resp, len, 0, &jerr);
		free(resp);
		resp = NULL;
		rs = json_object_get(doc, "rows");
		del = json_object_get(doc, "deleted");
		if (!json_is_array(rs) || !json_is_array(del) ||
		    !json_is_string(json_object_get(doc, "now"))) {
			log_warn("flush_pull_failed",
			    "error=\"unexpected answer\"");
			json_decref(doc);
			return;
		}
		n = 0;
		json_array_foreach(rs, i, v) {
			next = json_string_value(json_object_get(v,
			    res->key->name));
			if (next == NULL ||
			    !uuid_is_canonical(next, strlen(next)) || n == max)
				continue;
			ids[n] = next;
			rows[n++] = v;
		}
		cache_merge_rows(app, res, ids, rows, n, false);
		json_array_foreach(del, i, v) {
			if (json_is_string(v))
				(void)cache_delete(app->cache, res->item,
				    json_string_value(v));
		}
		pull_touched(app, res, since, doc, ids, rows, n);
		st->pulled += (long)n;
		/* Where the next look starts. */
		got = json_array_size(rs);
		if (got >= max &&
		    (next = json_string_value(json_object_get(
		         json_array_get(rs, json_array_size(rs) - 1),
		         "updated_at"))) != NULL)
			(void)snprintf(since, sizeof(since), "%s", next);
		else if (
		    timefmt_parse(json_string_value(json_object_get(doc,
		                      "now")),
		        strlen(json_string_value(json_object_get(doc, "now"))),
		        &now_us) == PC_OK)
			(void)timefmt_format(now_us -
			        PULL_MARGIN_S * INT64_C(1000000),
			    since);
		json_decref(doc);
		doc = NULL;
		if (got < max)
			break;
	}
	(void)journal_meta_set(app->journal, key, since, err);
}

/* Record the run for profilecache-admin status. */
static void
flush_note(struct app *app, const struct flush_stats *st)
{
	char v[256], err[PC_ERRLEN];

	(void)snprintf(v, sizeof(v), "%lld", (long long)clock_now_us());
	(void)journal_meta_set(app->journal, "last_flush_at_us", v, err);
	(void)snprintf(v, sizeof(v),
	    "applied=%ld conflicts=%ld superseded=%ld deleted=%ld dead=%ld retried=%ld"
	    " batches=%ld",
	    st->applied, st->conflicts, st->superseded, st->deleted, st->dead,
	    st->retried, st->batches);
	(void)journal_meta_set(app->journal, "last_flush_summary", v, err);
}

enum pc_result
usecase_flush_run(struct app *app, const struct flush_opts *o,
    struct flush_stats *st, char *err)
{
	struct pipeline p = { .app = app };
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
	if (!o->dry_run)
		retry_now_if_back(app, j, st);
	/* Keep depth calls in flight; settle each as it answers. */
	while (r == PC_OK) {
		while (!stop && p.busy < p.depth &&
		    (started = pipeline_start(app, j, &p, o, err)) == PC_OK)
			stop = o->once;
		if (started != PC_OK && started != PC_NOTFOUND) {
			r = started; /* the calls in flight are replayed next run */
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
			(void)journal_prune(j,
			    clock_now_us() - app->cfg.flush_retention * 1000000,
			    &st->pruned, err);
		if (!st->origin_down) {
			pull_outside(app, profile_resource(), st);
			for (i = 0; i < app->cfg.resources.n; i++)
				pull_outside(app, &app->cfg.resources.v[i], st);
		}
		flush_note(app, st);
	}
	return r;
}

/* The cache-first profile read: hit, stale-while-revalidate, coalesced miss. */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cache.h"
#include "clock.h"
#include "log.h"
#include "origin.h"
#include "profile.h"
#include "usecase_profile_read.h"

#define NS "profile"
#define WAIT_STEP_MIN_US 2000
#define WAIT_STEP_MAX_US 20000

/*
 * Ask the origin for id and build the cache entry for its answer, a
 * profile or a not-found. *expire_s gets how long memcached should keep it
 * (0: do not store).
 */
static enum pc_result
fill_from_origin(struct app *app, const char *id, struct cache_entry *e,
    long *expire_s)
{
	const struct config *cfg = &app->cfg;
	struct profile_meta meta;
	char err[PC_ERRLEN] = "", *row = NULL, *body = NULL;
	const char *nf;
	size_t row_len = 0, body_len = 0;
	int64_t now = clock_now_us();
	enum pc_result r;

	memset(e, 0, sizeof(*e));
	r = origin_get_row(app->origin, "profiles", id, profile_select_columns(),
	    &row, &row_len, err);
	switch (r) {
	case PC_OK:
		r = profile_render(row, row_len, id, PROFILE_SYNCED, &body,
		    &body_len, &meta, err);
		if (r != PC_OK)
			break;
		e->flags = meta.is_private ? CACHE_F_PRIVATE : 0;
		e->sync = PROFILE_SYNCED;
		e->updated_at_us = meta.updated_at_us;
		e->fresh_until_us = now + cfg->cache_fresh_ttl * 1000000;
		*expire_s = cfg->cache_fresh_ttl + cfg->cache_stale_ttl;
		r = cache_entry_build(e, body, body_len);
		break;
	case PC_NOTFOUND:
		nf = profile_not_found_body(&body_len);
		e->flags = CACHE_F_NOTFOUND;
		e->updated_at_us = -1;
		e->fresh_until_us = now + cfg->cache_negative_ttl * 1000000;
		*expire_s = cfg->cache_negative_ttl;
		r = cache_entry_build(e, nf, body_len);
		break;
	default:
		break;
	}
	if (r != PC_OK && r != PC_NOMEM)
		log_warn("origin_read_failed", "id=%s result=%s error=\"%s\"", id,
		    pc_result_str(r), err);
	free(row);
	free(body);
	return r;
}

/* Fill from the origin and, when expire_s allows, store the entry. */
static enum pc_result
fill_and_store(struct app *app, const char *id, struct cache_entry *e, bool store)
{
	enum pc_result r;
	long expire_s = 0;

	if ((r = fill_from_origin(app, id, e, &expire_s)) != PC_OK)
		return r;
	if (store && expire_s > 0)
		(void)cache_put(app->cache, NS, id, e, expire_s);
	return PC_OK;
}

/*
 * A miss: fill through the origin, letting only one process per id do so
 * while the others wait for its entry (no dogpile).
 */
static void
read_miss(struct app *app, const char *id, struct profile_read *out)
{
	int64_t deadline, step = WAIT_STEP_MIN_US;
	enum pc_result r;

	out->source = READ_MISS;
	deadline = clock_mono_us() + app->cfg.cache_lock_wait_ms * 1000;
	for (;;) {
		r = cache_lock(app->cache, NS, id, app->cfg.cache_lock_ttl);
		if (r == PC_OK) {
			out->result = fill_and_store(app, id, &out->entry, true);
			cache_unlock(app->cache, NS, id);
			return;
		}
		if (r != PC_CONFLICT || clock_mono_us() >= deadline)
			break;
		clock_sleep_us(step);
		step = step * 2 > WAIT_STEP_MAX_US ? WAIT_STEP_MAX_US : step * 2;
		r = cache_get(app->cache, NS, id, &out->entry);
		if (r == PC_OK) {
			out->source = READ_HIT;
			out->result = PC_OK;
			return;
		}
		if (r != PC_NOTFOUND)
			break;
	}
	/* memcached is down, or the lock holder is taking too long. */
	out->result = fill_and_store(app, id, &out->entry, r != PC_UNAVAILABLE);
}

void
usecase_profile_read(struct app *app, const char *id, struct profile_read *out)
{
	enum pc_result r;

	memset(out, 0, sizeof(*out));
	r = cache_get(app->cache, NS, id, &out->entry);
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
		out->result = fill_and_store(app, id, &out->entry, false);
		return;
	}
	read_miss(app, id, out);
}

void
profile_read_release(struct profile_read *rd)
{
	cache_entry_release(&rd->entry);
}

void
usecase_profile_refresh(struct app *app, const char *id)
{
	const struct config *cfg = &app->cfg;
	struct cache_entry e, old;
	int64_t now;

	if (cache_lock(app->cache, NS, id, cfg->cache_lock_ttl) != PC_OK)
		return;
	if (fill_and_store(app, id, &e, true) == PC_OK) {
		cache_entry_release(&e);
		cache_unlock(app->cache, NS, id);
		return;
	}
	/*
	 * The origin failed: keep serving what we have. The lock stays until
	 * its TTL runs out so the next attempt waits for lock_ttl.
	 */
	if (cache_get(app->cache, NS, id, &old) != PC_OK)
		return;
	now = clock_now_us();
	if (now - old.fresh_until_us < cfg->cache_stale_if_error * 1000000 &&
	    cfg->cache_stale_ttl > 0)
		(void)cache_touch(app->cache, NS, id, cfg->cache_lock_ttl +
		    cfg->cache_stale_ttl);
	cache_entry_release(&old);
}

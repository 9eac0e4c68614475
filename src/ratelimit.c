/*
 * The per-user write limit: a fixed window of a calendar minute, counted in
 * memcached so that every node shares it. While memcached cannot count, each
 * node counts in its own journal instead: the limit then holds per node
 * rather than across them, which is still a limit.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdio.h>

#include "app.h"
#include "cache.h"
#include "clock.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"

#define RATE_WINDOW_S 60

/* This node's count of name in minute, or false when it has none either. */
static bool
ratelimit_count_here(struct app *app, const char *name, int64_t minute,
    uint64_t *count)
{
	struct journal *j;
	char err[PC_ERRLEN] = "";
	int64_t n;

	if (app_journal(app, &j, err) != PC_OK ||
	    journal_count(j, name, minute, &n, err) != PC_OK) {
		log_warn("ratelimit_unavailable", "error=\"%s\"", err);
		return false;
	}
	*count = (uint64_t)n;
	return true;
}

bool
ratelimit_admit(struct app *app, const char *actor, long *retry_after)
{
	int64_t now_s = clock_now_us() / 1000000,
	        minute = now_s / RATE_WINDOW_S;
	char key[128], name[128];
	uint64_t count;

	*retry_after = 0;
	if (app->cfg.limits_writes_per_minute <= 0)
		return true;
	(void)snprintf(key, sizeof(key), "%s:%lld", actor, (long long)minute);
	if (cache_count(app->cache, "writes", key, RATE_WINDOW_S, &count) !=
	    PC_OK) {
		(void)snprintf(name, sizeof(name), "writes:%s", actor);
		if (!ratelimit_count_here(app, name, minute, &count))
			return true;
		metrics_add(MC_WRITES_RATE_COUNTED_HERE, 1);
	}
	if (count <= (uint64_t)app->cfg.limits_writes_per_minute)
		return true;
	*retry_after = RATE_WINDOW_S - now_s % RATE_WINDOW_S;
	metrics_add(MC_WRITES_RATE_LIMITED, 1);
	return false;
}

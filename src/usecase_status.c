/* The node's own state: what /v1/healthz and /v1/metrics report. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "buf.h"
#include "cache.h"
#include "journal.h"
#include "metrics.h"
#include "origin.h"
#include "usecase_status.h"

/* The ring's servers as JSON members "host:port":"up|down". */
struct servers {
	struct buf b;
	enum pc_result r;
	unsigned n;
};

static void
server_state(void *arg, const char *host, unsigned port, bool up)
{
	struct servers *sv = arg;

	if (sv->r == PC_OK)
		sv->r = buf_printf(&sv->b, "%s\"%s:%u\":\"%s\"",
		    sv->n > 0 ? "," : "", host, port, up ? "up" : "down");
	sv->n++;
}

enum pc_result
usecase_health(struct app *app, struct health *h)
{
	struct servers sv = { .r = PC_OK };
	char err[PC_ERRLEN];
	unsigned nup;
	size_t len;

	memset(h, 0, sizeof(*h));
	buf_init(&sv.b, 64 * 1024);
	nup = cache_ping_each(app->cache, server_state, &sv);
	h->origin_up = origin_ping(app->origin, err) == PC_OK;
	if (!(h->have_offset = app_clock_offset(&h->offset_us)))
		h->clock = "unknown";
	else
		h->clock =
		    llabs(h->offset_us) <= app->cfg.flush_clock_warn_ms * 1000 ?
		    "ok" :
		    "skewed";
	h->cache = nup == 0 ? "down" : nup < sv.n ? "degraded" : "up";
	/* A server of the ring down: reads of its keys go to the database. */
	h->status = !h->origin_up ?
	    "unavailable" :
	    nup == sv.n && nup > 0 && strcmp(h->clock, "skewed") != 0 ?
	    "ok" :
	    "degraded";
	if (sv.r == PC_OK && sv.b.data == NULL)
		h->servers = strdup("");
	else if (sv.r == PC_OK)
		h->servers = buf_steal(&sv.b, &len);
	buf_free(&sv.b);
	return h->servers != NULL ? PC_OK : PC_NOMEM;
}

void
health_release(struct health *h)
{
	free(h->servers);
	h->servers = NULL;
}

enum pc_result
usecase_metrics(struct app *app, char **body, size_t *len)
{
	char extra[2048], err[PC_ERRLEN];
	struct journal_depth d;
	struct journal *j;
	uint64_t commits, syncs;
	size_t used;

	extra[0] = '\0';
	if (app_journal(app, &j, err) != PC_OK)
		j = NULL;
	if (j != NULL && journal_depth(j, &d, err) == PC_OK)
		(void)snprintf(extra, sizeof(extra),
		    "# HELP profilecache_journal_entries Journal entries by state.\n"
		    "# TYPE profilecache_journal_entries gauge\n"
		    "profilecache_journal_entries{state=\"pending\"} %ld\n"
		    "profilecache_journal_entries{state=\"applied\"} %ld\n"
		    "profilecache_journal_entries{state=\"conflict\"} %ld\n"
		    "profilecache_journal_entries{state=\"dead\"} %ld\n"
		    "profilecache_journal_entries{state=\"cancelled\"} %ld\n",
		    d.pending, d.applied, d.conflict, d.dead, d.cancelled);
	used = strlen(extra);
	if (journal_group_counts(j, &commits, &syncs))
		(void)snprintf(extra + used, sizeof(extra) - used,
		    "# HELP profilecache_journal_commits_total Journal transactions "
		    "this node's processes ended (since boot).\n"
		    "# TYPE profilecache_journal_commits_total counter\n"
		    "profilecache_journal_commits_total %llu\n"
		    "# HELP profilecache_journal_fsyncs_total Fsyncs of the journal's "
		    "WAL that took (since boot).\n"
		    "# TYPE profilecache_journal_fsyncs_total counter\n"
		    "profilecache_journal_fsyncs_total %llu\n",
		    (unsigned long long)commits, (unsigned long long)syncs);
	return metrics_render(extra, body, len);
}

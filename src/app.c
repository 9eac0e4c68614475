/* The per-process application context: configuration and store handles. */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cache.h"
#include "clock.h"
#include "journal.h"
#include "jwks.h"
#include "jwt.h"
#include "log.h"
#include "metrics.h"
#include "origin.h"
#include "profile.h"
#include "resource.h"

enum pc_result
app_open(struct app *app, struct config *cfg, char *err)
{
	const char **names;
	enum pc_result r;
	size_t i;

	memset(app, 0, sizeof(*app));
	app->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	/* Counting is best effort: a broken metrics file never stops serving. */
	if ((names = calloc(app->cfg.resources.n + 1, sizeof(*names))) !=
	    NULL) {
		for (i = 0; i < app->cfg.resources.n; i++)
			names[i] = app->cfg.resources.v[i].name;
		if (metrics_open(app->cfg.metrics_file, names,
		        app->cfg.resources.n, err) != PC_OK)
			log_warn("metrics_unavailable", "error=\"%s\"", err);
		free(names);
	}
	err[0] = '\0';
	if ((r = cache_open(&app->cfg, &app->cache, err)) != PC_OK ||
	    (r = origin_open(&app->cfg, &app->origin, err)) != PC_OK)
		goto fail;
	if (app->cfg.auth_jwks_url != NULL) {
		if ((r = jwks_open(&app->cfg, &app->jwks, err)) != PC_OK)
			goto fail;
	} else if (app->cfg.auth_jwt_secret_file != NULL ||
	    app->cfg.auth_jwks_file != NULL) {
		if ((r = jwt_keys_load(app->cfg.auth_jwt_secret_file,
		         app->cfg.auth_jwks_file, &app->keys, err)) != PC_OK)
			goto fail;
	} else
		log_warn("auth_not_configured",
		    "detail=\"no [auth] key file: %s\"",
		    app->cfg.auth_secret_key != NULL ?
		        "only the secret key may write" :
		        "every write will be refused");
	return PC_OK;
fail:
	app_close(app);
	return r;
}

void
app_close(struct app *app)
{
	cache_close(app->cache);
	origin_close(app->origin);
	journal_close(app->journal);
	jwt_keys_free(app->keys);
	jwks_close(app->jwks);
	config_free(&app->cfg);
	memset(app, 0, sizeof(*app));
}

enum pc_result
app_journal(struct app *app, struct journal **out, char *err)
{
	struct journal_opts opts = {
		.path = app->cfg.journal_path,
		.sync_full = strcmp(app->cfg.journal_synchronous, "full") == 0,
		.busy_timeout_ms = app->cfg.journal_busy_timeout_ms,
		.queue_poll = app->cfg.http_threads > 1,
	};
	enum pc_result r = PC_OK;

	if (app->journal == NULL)
		r = journal_open(&opts, &app->journal, err);
	*out = app->journal;
	return r;
}

/* An offset older than this is not trusted: the flusher may have stopped. */
#define CLOCK_OFFSET_VALID_US (3600 * INT64_C(1000000))

bool
app_clock_offset(int64_t *us)
{
	int64_t at = metrics_gauge(MG_CLOCK_MEASURED_US);

	*us = 0;
	if (at == 0 || clock_now_us() - at > CLOCK_OFFSET_VALID_US)
		return false;
	*us = metrics_gauge(MG_CLOCK_OFFSET_US);
	return true;
}

int64_t
app_version_now(void)
{
	int64_t off;

	return clock_now_us() + (app_clock_offset(&off) && off > 0 ? off : 0);
}

const struct resource *
app_resource(const struct app *app, const char *name, size_t len)
{
	const struct resource *p = profile_resource();

	if (strlen(p->name) == len && strncmp(p->name, name, len) == 0)
		return p;
	return resources_find(&app->cfg.resources, name, len);
}

const struct resource *
app_resource_of_item(const struct app *app, const char *item)
{
	const struct resource *p = profile_resource();
	size_t i;

	if (strcmp(p->item, item) == 0)
		return p;
	for (i = 0; i < app->cfg.resources.n; i++)
		if (strcmp(app->cfg.resources.v[i].item, item) == 0)
			return &app->cfg.resources.v[i];
	return NULL;
}

const struct resource *
app_resource_of_journal(const struct app *app, const char *name,
    bool *increments)
{
	size_t i;

	*increments = false;
	for (i = 0; i < app->cfg.resources.n; i++)
		if (app->cfg.resources.v[i].increments_ns != NULL &&
		    strcmp(app->cfg.resources.v[i].increments_ns, name) == 0) {
			*increments = true;
			return &app->cfg.resources.v[i];
		}
	return app_resource_of_item(app, name);
}

struct ttls
app_ttls(const struct app *app, const struct resource *res)
{
	const struct config *cfg = &app->cfg;

	return (struct ttls){
		.fresh =
		    res->fresh_ttl >= 0 ? res->fresh_ttl : cfg->cache_fresh_ttl,
		.stale =
		    res->stale_ttl >= 0 ? res->stale_ttl : cfg->cache_stale_ttl,
		.negative = res->negative_ttl >= 0 ? res->negative_ttl :
		                                     cfg->cache_negative_ttl,
	};
}

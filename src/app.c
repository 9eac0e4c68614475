/* The per-process application context: configuration and store handles. */
#include "autoconf.h"

#include <string.h>

#include "app.h"
#include "cache.h"
#include "origin.h"

enum pc_result
app_open(struct app *app, struct config *cfg, char *err)
{
	enum pc_result r;

	memset(app, 0, sizeof(*app));
	app->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	if ((r = cache_open(&app->cfg, &app->cache, err)) != PC_OK ||
	    (r = origin_open(&app->cfg, &app->origin, err)) != PC_OK)
		app_close(app);
	return r;
}

void
app_close(struct app *app)
{
	cache_close(app->cache);
	origin_close(app->origin);
	config_free(&app->cfg);
	memset(app, 0, sizeof(*app));
}

/* The per-process application context: configuration and store handles. */
#ifndef PC_APP_H
#define PC_APP_H

#include "config.h"
#include "result.h"

struct cache;
struct origin;

struct app {
	struct config cfg;
	struct cache *cache;
	struct origin *origin;
};

/*
 * Take over cfg (the app frees it) and open the stores. Nothing connects
 * yet: a dependency that is down shows up per request, not here.
 */
enum pc_result app_open(struct app *app, struct config *cfg, char *err);
void app_close(struct app *app);

#endif

/* The per-process application context: configuration and store handles. */
#ifndef PC_APP_H
#define PC_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "result.h"

struct cache;
struct journal;
struct jwks;
struct jwt_keys;
struct origin;

struct app {
	struct config cfg;
	struct cache *cache;
	struct origin *origin;
	struct journal *journal; /* opened on first use: see app_journal() */
	struct jwt_keys *keys;   /* [auth] jwt_secret_file and jwks_file;
					   NULL: none, or jwks_url's instead */
	struct jwks *jwks;       /* [auth] jwks_url's keys (the secret
					   too); NULL without a jwks_url */
};

/*
 * Take over cfg (the app frees it), load the token keys and open the
 * stores. Nothing connects yet: a dependency that is down shows up per
 * request, not here. A bad key file is an error here, at start.
 */
enum pc_result app_open(struct app *app, struct config *cfg, char *err);
void app_close(struct app *app);

/*
 * The journal, opened on first use so that a journal that cannot be opened
 * fails the requests that need it (503) rather than the process. The
 * journal stays owned by app. PC_UNAVAILABLE with err when it cannot be
 * opened; the next call tries again.
 */
enum pc_result app_journal(struct app *app, struct journal **out, char *err);

/*
 * The physical part of the hybrid clock that versions changes: this node's
 * clock, moved forward by the offset to the database's clock that the
 * flusher last measured (within the last hour) when this node is behind, so
 * a node whose clock lags never stamps versions below what the database and
 * the other nodes already hold. A clock ahead is left alone.
 */
int64_t app_version_now(void);

/* The measured offset (database minus node) in *us; false when none is recent. */
bool app_clock_offset(int64_t *us);

/*
 * The resource named by the len bytes at name (its URL segment), or whose
 * item (journal and cache namespace) is item: profiles or one the
 * configuration declares; NULL when there is none.
 */
struct resource;
const struct resource *app_resource(const struct app *app, const char *name,
    size_t len);
const struct resource *app_resource_of_item(const struct app *app,
    const char *item);
/*
 * The resource of a journal entry's resource name: its item, or its
 * increments_ns (then *increments is true).
 */
const struct resource *app_resource_of_journal(const struct app *app,
    const char *name, bool *increments);

/* A resource's cache lifetimes in seconds: its own, else [cache]'s. */
struct ttls {
	long fresh, stale, negative;
};
struct ttls app_ttls(const struct app *app, const struct resource *res);

#endif

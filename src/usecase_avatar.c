/* An image upload (profiles' avatar, any image field): normalise, store content-addressed, then a deferred write of its URL. */
#include "autoconf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cache.h"
#include "imageproc.h"
#include "journal.h"
#include "log.h"
#include "resource.h"
#include "storage.h"
#include "usecase_avatar.h"

/* Note the old avatar file for removal once the new URL is applied. */
static void
trash_previous(struct app *app, const struct field *f,
    const struct write_result *res, const char *newrel)
{
	const char *old =
	    json_string_value(json_object_get(res->before, f->name));
	char rel[AVATAR_RELPATH_LEN], err[PC_ERRLEN];
	struct journal *j;

	if (old == NULL || storage_relpath(&app->cfg, old, rel) != PC_OK ||
	    strcmp(rel, newrel) == 0)
		return;
	if (app_journal(app, &j, err) != PC_OK ||
	    journal_trash_add(j, res->seq, rel, err) != PC_OK)
		log_warn("avatar_trash_failed", "file=%s error=\"%s\"", rel,
		    err);
}

/*
 * Take one of the actor's upload places: memcached locks "<actor>:<i>" for
 * i below the limit, held as long as a decode may take. Returns the place
 * (to give back), -1 when every one is taken, -2 when there is no limit or
 * memcached cannot tell.
 */
static int
user_place_take(struct app *app, const char *actor, char *key, size_t keylen)
{
	long i, ttl = app->cfg.avatar_timeout_ms / 1000 + 5;
	enum pc_result r;

	for (i = 0; i < app->cfg.avatar_uploads_per_user; i++) {
		(void)snprintf(key, keylen, "%s:%ld", actor, i);
		if ((r = cache_lock(app->cache, "upload", key, ttl)) == PC_OK)
			return (int)i;
		if (r != PC_CONFLICT)
			return -2;
	}
	return app->cfg.avatar_uploads_per_user > 0 ? -1 : -2;
}

enum avatar_outcome
usecase_avatar_upload(struct app *app, const struct resource *rs,
    const struct field *f, const char *id, const char *actor, const void *data,
    size_t len, const char *declared, int64_t max_pending,
    struct write_result *res)
{
	const struct config *cfg = &app->cfg;
	struct imageproc_opts opts = {
		.helper = cfg->avatar_helper,
		.size = cfg->avatar_size,
		.max_pixels = cfg->avatar_max_pixels,
		.quality = cfg->avatar_quality,
		.timeout_ms = cfg->avatar_timeout_ms,
	};
	char err[PC_ERRLEN] = "", rel[AVATAR_RELPATH_LEN], url[STORAGE_URL_MAX];
	char *webp = NULL;
	char place_key[160];
	enum avatar_outcome out = AVATAR_ERROR;
	struct write_request w = { .res = rs,
		.id = id,
		.max_pending = max_pending,
		.actor = actor };
	size_t out_len = 0;
	enum pc_result r;
	int place, slot;

	memset(res, 0, sizeof(*res));
	if (!storage_enabled(cfg))
		return AVATAR_NOT_CONFIGURED;
	/* Another user's row, or none: refused before any image is stored. */
	if ((res->outcome = usecase_write_allowed(app, &w)) != WRITE_PENDING)
		return AVATAR_WRITTEN;
	if ((place = user_place_take(app, actor != NULL ? actor : "admin",
	         place_key, sizeof(place_key))) == -1) {
		log_info("avatar_refused",
		    "id=%s reason=\"uploads of this user in progress\"", id);
		return AVATAR_USER_BUSY;
	}
	if ((slot = imageproc_slot_take(cfg->avatar_decode_slots,
	         cfg->avatar_max_decodes)) == -1) {
		log_warn("avatar_busy", "id=%s max_decodes=%ld", id,
		    cfg->avatar_max_decodes);
		out = AVATAR_NODE_BUSY;
		goto out;
	}
	r = imageproc_run(&opts, declared, data, len, &webp, &out_len, err);
	imageproc_slot_give(slot);
	if (r != PC_OK) {
		if (r == PC_ERROR)
			log_error("avatar_helper_failed", "id=%s error=\"%s\"",
			    id, err);
		else if (err[0] != '\0')
			log_info("avatar_refused", "id=%s reason=\"%s\"", id,
			    err);
		out = r == PC_TOOBIG    ? AVATAR_TOO_MANY_PIXELS :
		    r == PC_UNAVAILABLE ? AVATAR_TIMEOUT :
		    r == PC_INVALID     ? AVATAR_NOT_AN_IMAGE :
		                          AVATAR_ERROR;
		goto out;
	}
	if (storage_put(cfg, webp, out_len, rel, url, err) != PC_OK) {
		log_error("avatar_store_failed",
		    "id=%s backend=%s error=\"%s\"", id, cfg->avatar_backend,
		    err);
		out = AVATAR_STORE_FAILED;
		goto out;
	}
	if ((w.patch = json_pack("{s:s}", f->name, url)) == NULL)
		goto out;
	usecase_write(app, &w, res);
	if (res->outcome == WRITE_PENDING)
		trash_previous(app, f, res, rel);
	out = AVATAR_WRITTEN;
out:
	if (place >= 0)
		cache_unlock(app->cache, "upload", place_key);
	json_decref(w.patch);
	free(webp);
	return out;
}

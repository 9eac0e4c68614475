/* The avatar upload: normalise, store content-addressed, then a deferred write of avatar_url. */
#include "autoconf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "avatar_store.h"
#include "imageproc.h"
#include "journal.h"
#include "log.h"
#include "usecase_avatar.h"

/* Note the old avatar file for removal once the new URL is applied. */
static void
trash_previous(struct app *app, const struct profile_write_result *res,
    const char *newrel)
{
	const char *old = json_string_value(json_object_get(res->before, "avatar_url"));
	char rel[AVATAR_RELPATH_LEN], err[PC_ERRLEN];
	struct journal *j;

	if (old == NULL ||
	    avatar_store_relpath(app->cfg.avatar_public_url, old, rel) != PC_OK ||
	    strcmp(rel, newrel) == 0)
		return;
	if (app_journal(app, &j, err) != PC_OK ||
	    journal_trash_add(j, res->seq, rel, err) != PC_OK)
		log_warn("avatar_trash_failed", "file=%s error=\"%s\"", rel, err);
}

enum avatar_outcome
usecase_avatar_upload(struct app *app, const char *id, const void *data,
    size_t len, const char *declared, int64_t max_pending,
    struct profile_write_result *res)
{
	const struct config *cfg = &app->cfg;
	struct imageproc_opts opts = {
		.helper = cfg->avatar_helper,
		.size = cfg->avatar_size,
		.max_pixels = cfg->avatar_max_pixels,
		.quality = cfg->avatar_quality,
		.timeout_ms = cfg->avatar_timeout_ms,
	};
	char err[PC_ERRLEN] = "", rel[AVATAR_RELPATH_LEN], url[4096], *webp = NULL;
	enum avatar_outcome out = AVATAR_ERROR;
	struct profile_write w = { .id = id, .max_pending = max_pending };
	size_t out_len = 0;
	enum pc_result r;

	memset(res, 0, sizeof(*res));
	if (cfg->avatar_dir == NULL)
		return AVATAR_NOT_CONFIGURED;
	r = imageproc_run(&opts, declared, data, len, &webp, &out_len, err);
	if (r != PC_OK) {
		if (r == PC_ERROR)
			log_error("avatar_helper_failed", "id=%s error=\"%s\"", id, err);
		else if (err[0] != '\0')
			log_info("avatar_refused", "id=%s reason=\"%s\"", id, err);
		return r == PC_TOOBIG ? AVATAR_TOO_MANY_PIXELS :
		    r == PC_INVALID ? AVATAR_NOT_AN_IMAGE : AVATAR_ERROR;
	}
	if (avatar_store_put(cfg->avatar_dir, webp, out_len, rel, err) != PC_OK) {
		log_error("avatar_store_failed", "id=%s error=\"%s\"", id, err);
		out = AVATAR_STORE_FAILED;
		goto out;
	}
	(void)snprintf(url, sizeof(url), "%s/%s", cfg->avatar_public_url, rel);
	if ((w.patch = json_pack("{s:s}", "avatar_url", url)) == NULL)
		goto out;
	usecase_profile_write(app, &w, res);
	if (res->outcome == WRITE_PENDING)
		trash_previous(app, res, rel);
	out = AVATAR_WRITTEN;
out:
	json_decref(w.patch);
	free(webp);
	return out;
}

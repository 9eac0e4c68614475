/* An image upload (profiles' avatar, any image field): normalise, store content-addressed, then a deferred write of its URL. */
#ifndef PC_USECASE_AVATAR_H
#define PC_USECASE_AVATAR_H

#include <stddef.h>
#include <stdint.h>

#include "usecase_write.h"

struct app;

enum avatar_outcome {
	AVATAR_WRITTEN, /* see res->outcome for the write itself */
	AVATAR_NOT_AN_IMAGE, /* not JPEG/PNG/WebP/GIF, corrupt, or not what it claims */
	AVATAR_TOO_MANY_PIXELS,
	AVATAR_TIMEOUT,   /* decoding took longer than [avatar] timeout_ms */
	AVATAR_NODE_BUSY, /* every decode slot of this node is taken: 503 */
	AVATAR_USER_BUSY, /* the user's uploads in progress are at the limit: 429 */
	AVATAR_NOT_CONFIGURED,
	AVATAR_STORE_FAILED, /* the file could not be written: nothing changed */
	AVATAR_ERROR
};

/*
 * Normalise the uploaded image in a profilecache-image child process (so
 * libvips never lives in the responder), at most [avatar] max_decodes at
 * once on this node and uploads_per_user at once for actor (counted in
 * memcached; let through when it is away) so that one account's slow images
 * can never hold every responder,
 * store it under [avatar] dir named by its SHA-256, and write the new URL
 * to row id's image field f of res through the deferred path (wres, as
 * usecase_write(); actor: the user, NULL for the admin, checked against
 * the row's owner field).
 * declared is the media type the client gave ("image/png"), or NULL; a
 * declared type that differs from the bytes is AVATAR_NOT_AN_IMAGE. The
 * previous file, if it is one of ours, is noted for removal once the new
 * URL has reached the database. max_pending is the write's budget
 * (struct write_request).
 */
struct field;
struct resource;
enum avatar_outcome usecase_avatar_upload(struct app *app,
    const struct resource *res, const struct field *f, const char *id,
    const char *actor, const void *data, size_t len, const char *declared,
    int64_t max_pending, struct write_result *wres);

#endif

/* The avatar storage backends: where content-addressed avatar files live. */
#ifndef PC_STORAGE_H
#define PC_STORAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "avatar_store.h"
#include "config.h"
#include "result.h"

/*
 * [avatar] backend picks one:
 *   local     a directory (avatar_store.c) the web server serves: one node only
 *   supabase  a public bucket of Supabase Storage, through its REST API,
 *             which every node reaches
 * Files are named by their content (avatar_store_name()), so storing the
 * same bytes again is harmless and restarts the file's age.
 */

#define STORAGE_URL_MAX 4096

/* Whether avatars are configured at all ([avatar] public_url, or supabase). */
bool storage_enabled(const struct config *cfg);

/*
 * Store len bytes under their content address: relpath gets the name, url
 * the public URL it is served at (public_url + "/" + relpath).
 * PC_UNAVAILABLE with err when the backend cannot take it now (disk full,
 * Storage down or refusing), PC_ERROR for a misconfiguration.
 */
enum pc_result storage_put(const struct config *cfg, const void *data,
    size_t len, char relpath[AVATAR_RELPATH_LEN], char url[STORAGE_URL_MAX],
    char *err);

/*
 * The name of an avatar URL, when url is public_url + "/" + a name this
 * store makes; PC_INVALID for any other URL (not ours: never touched).
 */
enum pc_result storage_relpath(const struct config *cfg, const char *url,
    char relpath[AVATAR_RELPATH_LEN]);

/*
 * Seconds since the file was last stored (its last upload, with a shared
 * bucket). PC_NOTFOUND when it is gone; PC_UNAVAILABLE with err when the
 * backend cannot tell.
 */
enum pc_result storage_age(const struct config *cfg, const char *relpath,
    long *age_s, char *err);

/* Remove a stored file; a missing one is not an error. */
enum pc_result storage_remove(const struct config *cfg, const char *relpath,
    char *err);

#endif

/* The avatar store: normalised images as content-addressed files. */
#ifndef PC_AVATAR_STORE_H
#define PC_AVATAR_STORE_H

#include <stddef.h>

#include "result.h"

/* "ab/" + 64 hex digits + ".webp" + NUL */
#define AVATAR_RELPATH_LEN 73

/*
 * The content address of len bytes: ab/<sha256 hex>.webp, where ab are the
 * hash's first two digits. PC_ERROR with err when hashing fails.
 */
enum pc_result avatar_store_name(const void *data, size_t len,
    char relpath[AVATAR_RELPATH_LEN], char *err);

/*
 * Store len bytes under dir as ab/<sha256>.webp: written to a temporary
 * file in the same directory, fsync'd, renamed into place and the directory
 * fsync'd, so a reader sees the whole file or none. Storing the same bytes
 * again is a no-op. relpath gets the name relative to dir.
 * PC_UNAVAILABLE with err when the file cannot be written (disk full,
 * permissions).
 */
enum pc_result avatar_store_put(const char *dir, const void *data, size_t len,
    char relpath[AVATAR_RELPATH_LEN], char *err);

/*
 * The name under dir of an avatar URL, when url is public_url + "/" + a
 * name this store makes; PC_INVALID for any other URL (not ours: never
 * touched).
 */
enum pc_result avatar_store_relpath(const char *public_url, const char *url,
    char relpath[AVATAR_RELPATH_LEN]);

/*
 * Seconds since a stored file was last written or stored again.
 * PC_NOTFOUND when it is gone.
 */
enum pc_result avatar_store_age(const char *dir, const char *relpath,
    long *age_s);

/* Remove a stored file; a missing one is not an error. */
enum pc_result avatar_store_remove(const char *dir, const char *relpath,
    char *err);

#endif

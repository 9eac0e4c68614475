/* The image helper: profilecache-image run as a child process per upload. */
#ifndef PC_IMAGEPROC_H
#define PC_IMAGEPROC_H

#include <stddef.h>

#include "result.h"

struct imageproc_opts {
	const char *helper;	/* path of profilecache-image */
	long size;
	long max_pixels;
	long quality;
	long timeout_ms;	/* the helper is killed after this */
};

/* The largest output accepted back from the helper. */
#define IMAGEPROC_OUT_MAX (8 * 1024 * 1024)

/*
 * Normalise len bytes of an uploaded image (declared: the client's media
 * type, may be NULL) into a square WebP without metadata, in a child
 * process. PC_OK: *out (malloc()ed, owned by the caller) holds *out_len
 * bytes. PC_INVALID: not a JPEG/PNG/WebP/GIF, corrupt, or not the declared
 * type. PC_TOOBIG: too many pixels, or the helper ran past timeout_ms.
 * PC_ERROR: the helper could not run or failed (detail in err).
 */
enum pc_result imageproc_run(const struct imageproc_opts *o, const char *declared,
    const void *in, size_t len, char **out, size_t *out_len, char *err);

#endif

/* The image helper: profilecache-image run as a child process per upload. */
#ifndef PC_IMAGEPROC_H
#define PC_IMAGEPROC_H

#include <stddef.h>

#include "result.h"

struct imageproc_opts {
	const char *helper; /* path of profilecache-image */
	long size;
	long max_pixels;
	long quality;
	long timeout_ms; /* the helper is killed after this */
};

/* The largest output accepted back from the helper. */
#define IMAGEPROC_OUT_MAX (8 * 1024 * 1024)

/*
 * Normalise len bytes of an uploaded image (declared: the client's media
 * type, may be NULL) into a square WebP without metadata, in a child
 * process. PC_OK: *out (malloc()ed, owned by the caller) holds *out_len
 * bytes. PC_INVALID: not a JPEG/PNG/WebP/GIF, corrupt, or not the declared
 * type. PC_TOOBIG: too many pixels. PC_UNAVAILABLE: the helper ran past
 * timeout_ms and was killed. PC_ERROR: the helper could not run or failed
 * (detail in err).
 */
enum pc_result imageproc_run(const struct imageproc_opts *o,
    const char *declared, const void *in, size_t len, char **out,
    size_t *out_len, char *err);

/*
 * Take one of slots decode slots of this node: a byte-range lock on one of
 * the first slots bytes of the file at path, shared by every process of the
 * node and released when the process ends, however it ends. Returns the
 * descriptor to give back (imageproc_slot_give), -1 when every slot is
 * taken, -2 when there is no limit or the file cannot be used (go ahead).
 */
int imageproc_slot_take(const char *path, long slots);
void imageproc_slot_give(int fd);

#endif

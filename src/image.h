/* Decode an uploaded avatar into a square WebP without metadata. */
#ifndef PC_IMAGE_H
#define PC_IMAGE_H

#include <stddef.h>

#include "result.h"

#define IMAGE_SIZE_MAX 4096 /* the largest output side */

struct image_opts {
	int size;             /* output is size x size pixels, 1 to
				   IMAGE_SIZE_MAX (e.g. 256) */
	long long max_pixels; /* refuse inputs whose width * height is
				   above this (e.g. 40000000) */
	int quality;          /* WebP quality, 1 to 100 */
};

/*
 * Once per process, before the first image_normalize(); idempotent, not
 * thread-safe. Starts libvips and sets process-wide policy that holds for
 * every libvips user in the process: untrusted operations blocked, every
 * loader blocked except the JPEG, PNG, WebP and GIF buffer loaders, no
 * operation cache, one worker thread. libvips warnings go to log_debug()
 * instead of stderr. PC_ERROR when libvips cannot start or lacks one of those
 * loaders or the WebP saver; err says which.
 */
enum pc_result image_init(char *err);

enum image_type { IMAGE_JPEG, IMAGE_PNG, IMAGE_WEBP, IMAGE_GIF };

/*
 * Tell the type of buf[0..len) from its leading bytes (magic numbers), never
 * from a name or a declared content type. PC_OK and *type set, or PC_INVALID
 * when it is none of the four (type is then left alone).
 */
enum pc_result image_sniff(const void *buf, size_t len, enum image_type *type);

/*
 * Normalise the upload in[0..len), which is only read and may be freed once
 * this returns. In order: the type is sniffed from the bytes and must be
 * JPEG, PNG, WebP or GIF, and libvips must pick the loader for that same type;
 * only the header is read and width * height above o->max_pixels is refused
 * before any pixel is decoded; then the first frame is decoded (JPEG and WebP
 * shrink while loading), turned upright by its EXIF orientation, converted to
 * sRGB through its ICC profile if it has one, centre-cropped to a square and
 * resized to exactly o->size x o->size, keeping any alpha, and encoded as
 * lossy WebP at o->quality with no metadata at all (no EXIF, GPS, XMP or ICC:
 * the encoded chunks are checked).
 *
 * PC_OK: *out holds *out_len bytes of WebP, owned by the caller, to be
 * released with image_free(). Otherwise *out is NULL, *out_len 0, and the
 * result is PC_INVALID (not one of the four types, or truncated or corrupt:
 * any decoder error or truncation fails), PC_TOOBIG (too many pixels) or
 * PC_ERROR (bad arguments, image_init() not called, or libvips failed in a
 * way the input does not explain). err gets a one-line reason, possibly with
 * libvips's own message, made printable; never image data. One call at a
 * time: libvips's error buffer is process-wide.
 */
enum pc_result image_normalize(const void *in, size_t len,
    const struct image_opts *o, void **out, size_t *out_len, char *err);

/* Release an image_normalize() output; NULL is allowed. */
void image_free(void *out);

#endif

/* A growable byte buffer with a hard cap, for anything filled from outside. */
#ifndef PC_BUF_H
#define PC_BUF_H

#include <stddef.h>
#include <sys/stat.h>

#include "result.h"

struct buf {
	char *data; /* NUL-terminated after every successful add */
	size_t len;
	size_t size; /* allocated bytes */
	size_t max;  /* the cap on len */
};

/* Start an empty buffer that will never hold more than max bytes. */
void buf_init(struct buf *b, size_t max);
/* Release the memory and leave b empty (still usable). */
void buf_free(struct buf *b);
/* Forget the contents, keep the allocation. */
void buf_reset(struct buf *b);

/*
 * Append n bytes. PC_TOOBIG when len would pass max, PC_NOMEM when the
 * allocation fails; in both cases b is left as it was.
 */
enum pc_result buf_add(struct buf *b, const void *p, size_t n);
enum pc_result buf_adds(struct buf *b, const char *s);
enum pc_result buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Append the whole regular file at path. what names it in err ("JWKS file
 * /etc/x: ..."). PC_INVALID when it cannot be opened or read, is not a
 * regular file, or would take b past its cap ("larger than N bytes"); b may
 * then hold part of it. PC_NOMEM. When st is not NULL it gets the file's
 * fstat() of what was read, so a caller can tell later whether the file at
 * path was replaced.
 */
enum pc_result buf_read_file(struct buf *b, const char *path, const char *what,
    struct stat *st, char *err);

/*
 * Hand the contents over to the caller, who must free() them, and leave b
 * empty. Returns NULL when nothing was ever added.
 */
char *buf_steal(struct buf *b, size_t *len);

#endif

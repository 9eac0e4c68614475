/* A growable byte buffer with a hard cap. */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->size = 0;
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b, b->max);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* Make room for n more bytes plus the terminating NUL. */
static enum pc_result
buf_grow(struct buf *b, size_t n)
{
	size_t need, size;
	char *p;

	if (n > b->max || b->len > b->max - n)
		return PC_TOOBIG;
	need = b->len + n + 1;
	if (need <= b->size)
		return PC_OK;
	size = b->size ? b->size : 256;
	while (size < need)
		size = size > ((size_t)-1) / 2 ? need : size * 2;
	if ((p = realloc(b->data, size)) == NULL)
		return PC_NOMEM;
	b->data = p;
	b->size = size;
	return PC_OK;
}

enum pc_result
buf_add(struct buf *b, const void *p, size_t n)
{
	enum pc_result r;

	if ((r = buf_grow(b, n)) != PC_OK)
		return r;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return PC_OK;
}

enum pc_result
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

enum pc_result
buf_printf(struct buf *b, const char *fmt, ...)
{
	enum pc_result r;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return PC_ERROR;
	if ((r = buf_grow(b, (size_t)n)) != PC_OK)
		return r;
	va_start(ap, fmt);
	(void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return PC_OK;
}

char *
buf_steal(struct buf *b, size_t *len)
{
	char *p = b->data;

	if (len != NULL)
		*len = b->len;
	buf_init(b, b->max);
	return p;
}

enum pc_result
buf_read_file(struct buf *b, const char *path, const char *what,
    struct stat *st, char *err)
{
	enum pc_result r = PC_INVALID, added;
	char chunk[8192];
	struct stat sb;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		pc_err(err, "%s %s: cannot open: %s", what, path,
		    strerror(errno));
		return PC_INVALID;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		pc_err(err, "%s %s: not a regular file", what, path);
		goto out;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			pc_err(err, "%s %s: %s", what, path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if ((added = buf_add(b, chunk, (size_t)n)) == PC_TOOBIG) {
			pc_err(err, "%s %s is larger than %zu bytes", what,
			    path, b->max);
			goto out;
		}
		if (added != PC_OK) {
			r = added;
			pc_err(err, "out of memory");
			goto out;
		}
	}
	if (st != NULL)
		*st = sb;
	r = PC_OK;
out:
	(void)close(fd);
	return r;
}

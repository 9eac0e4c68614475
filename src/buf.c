/* A growable byte buffer with a hard cap. */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

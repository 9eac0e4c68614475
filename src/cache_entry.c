/* The cache's entries: their encoding, with no memcached in it (cache.h). */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "cache.h"

static void
put_u64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

enum pc_result
cache_entry_encode(const struct cache_entry *e, const char *body,
    size_t body_len, char **out, size_t *out_len)
{
	size_t vlen = e->versions != NULL ? e->versions_len : 0;
	unsigned char *v;

	if (vlen > CACHE_VERSIONS_MAX ||
	    body_len > SIZE_MAX - CACHE_HDR_LEN - vlen)
		return PC_TOOBIG;
	if ((v = malloc(CACHE_HDR_LEN + body_len + vlen)) == NULL)
		return PC_NOMEM;
	memset(v, 0, CACHE_HDR_LEN);
	v[0] = 'P';
	v[1] = 'C';
	v[2] = CACHE_FORMAT;
	v[3] = e->flags;
	v[4] = e->sync;
	v[5] = (unsigned char)(vlen & 0xff);
	v[6] = (unsigned char)(vlen >> 8 & 0xff);
	v[7] = (unsigned char)(vlen >> 16 & 0xff);
	put_u64(v + 8, (uint64_t)e->updated_at_us);
	put_u64(v + 16, (uint64_t)e->fresh_until_us);
	put_u64(v + 24, e->tag);
	if (body_len > 0)
		memcpy(v + CACHE_HDR_LEN, body, body_len);
	if (vlen > 0)
		memcpy(v + CACHE_HDR_LEN + body_len, e->versions, vlen);
	*out = (char *)v;
	*out_len = CACHE_HDR_LEN + body_len + vlen;
	return PC_OK;
}

enum pc_result
cache_entry_decode(const char *raw, size_t len, struct cache_entry *e)
{
	const unsigned char *v = (const unsigned char *)raw;
	size_t vlen;

	if (raw == NULL || len < CACHE_HDR_LEN || v[0] != 'P' || v[1] != 'C' ||
	    v[2] != CACHE_FORMAT)
		return PC_INVALID;
	vlen = (size_t)v[5] | (size_t)v[6] << 8 | (size_t)v[7] << 16;
	if (vlen > len - CACHE_HDR_LEN)
		return PC_INVALID;
	e->flags = v[3];
	e->sync = v[4];
	e->updated_at_us = (int64_t)get_u64(v + 8);
	e->fresh_until_us = (int64_t)get_u64(v + 16);
	e->tag = get_u64(v + 24);
	e->body = raw + CACHE_HDR_LEN;
	e->body_len = len - CACHE_HDR_LEN - vlen;
	e->versions = vlen > 0 ? e->body + e->body_len : NULL;
	e->versions_len = vlen;
	e->raw = NULL;
	e->cas = 0;
	return PC_OK;
}

static uint64_t
content_tag(const char *p, size_t len)
{
	const unsigned char *s = (const unsigned char *)p;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (len-- > 0) {
		h ^= *s++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

enum pc_result
cache_entry_build(struct cache_entry *e, const char *body, size_t body_len)
{
	enum pc_result r;
	size_t len;
	char *raw;

	e->tag = content_tag(body, body_len);
	if ((r = cache_entry_encode(e, body, body_len, &raw, &len)) != PC_OK)
		return r;
	e->raw = raw;
	e->body = raw + CACHE_HDR_LEN;
	e->body_len = body_len;
	if (e->versions != NULL && e->versions_len > 0)
		e->versions = e->body + body_len;
	else {
		e->versions = NULL;
		e->versions_len = 0;
	}
	return PC_OK;
}

void
cache_entry_release(struct cache_entry *e)
{
	free(e->raw);
	e->raw = NULL;
	e->body = NULL;
	e->body_len = 0;
	e->versions = NULL;
	e->versions_len = 0;
}

void
cache_found_take(void *arg, size_t index, struct cache_entry *e)
{
	struct cache_entry *all = arg;

	all[index] = *e;
	e->raw = NULL; /* taken over */
}

/* libFuzzer entry point: multipart parsing must not depend on chunking. */
#include "autoconf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"

/*
 * The input is a 4-byte seed for the chunk sizes, then the body. Each body
 * is parsed twice, whole and in random pieces of 1 to 64 bytes; the results
 * and what the callbacks saw (a hash of the events and of the concatenated
 * data) must be the same. Any mismatch or broken callback contract aborts.
 * The same bytes are also tried as a Content-Type value. Not part of the
 * build; by hand, from the top of the tree:
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -include autoconf.h \
 *	    -I src -I . src/multipart.c src/result.c \
 *	    tests/fuzz/fuzz_multipart.c \
 *	    -o fuzz_multipart && ./fuzz_multipart -max_total_time=60
 */

#define FUZZ_BOUNDARY "----WebKitFormBoundaryQ1"

struct trace {
	uint64_t hash;
	size_t data;
	unsigned int nbegin;
	unsigned int nend;
	bool open;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
hash_add(struct trace *t, const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++) {
		t->hash ^= c[i];
		t->hash *= UINT64_C(0x100000001b3);
	}
}

static void
check_string(const char *s, size_t size)
{
	if (memchr(s, '\0', size) == NULL)
		abort();
}

static bool
on_begin(void *arg, const struct multipart_part *p)
{
	struct trace *t = arg;

	if (t->open || t->nbegin >= MULTIPART_PARTS_MAX)
		abort();
	check_string(p->name, sizeof(p->name));
	check_string(p->filename, sizeof(p->filename));
	check_string(p->content_type, sizeof(p->content_type));
	t->open = true;
	t->nbegin++;
	hash_add(t, "B", 1);
	hash_add(t, p, sizeof(*p));
	/* Skip every third part, to exercise that path too. */
	return t->nbegin % 3 != 0;
}

static bool
on_data(void *arg, const char *data, size_t len)
{
	struct trace *t = arg;

	if (!t->open || len == 0 || t->nbegin % 3 == 0)
		abort();
	t->data += len;
	hash_add(t, data, len);
	return true;
}

static void
on_end(void *arg)
{
	struct trace *t = arg;

	if (!t->open)
		abort();
	t->open = false;
	t->nend++;
	hash_add(t, "E", 1);
}

static const struct multipart_callbacks callbacks = {
	.part_begin = on_begin,
	.part_data = on_data,
	.part_end = on_end,
};

static enum pc_result
run(const char *body, size_t len, uint32_t seed, struct trace *t)
{
	struct multipart *mp;
	enum pc_result r = PC_OK, r2;
	size_t off = 0, n;

	memset(t, 0, sizeof(*t));
	t->hash = UINT64_C(0xcbf29ce484222325);
	if ((mp = multipart_new(FUZZ_BOUNDARY, &callbacks, t)) == NULL)
		abort();
	while (off < len) {
		if (seed == 0)
			n = len;
		else {
			seed ^= seed << 13;
			seed ^= seed >> 17;
			seed ^= seed << 5;
			n = 1 + seed % 64;
		}
		if (n > len - off)
			n = len - off;
		r2 = multipart_feed(mp, body + off, n);
		if (r != PC_OK && r2 != r)
			abort(); /* errors must stick */
		r = r2;
		off += n;
	}
	r2 = multipart_finish(mp);
	if (r != PC_OK && r2 != r)
		abort();
	multipart_free(mp);
	return r2;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char boundary[MULTIPART_BOUNDARY_MAX + 1], *ct;
	struct trace whole, pieces;
	struct multipart *mp;
	uint32_t seed = 0x9e3779b9;
	enum pc_result r;

	if (size >= 4) {
		memcpy(&seed, data, 4);
		seed |= 1; /* xorshift stays at 0 from 0 */
		data += 4;
		size -= 4;
	}
	r = run((const char *)data, size, 0, &whole);
	if (run((const char *)data, size, seed, &pieces) != r ||
	    whole.hash != pieces.hash || whole.data != pieces.data ||
	    whole.nbegin != pieces.nbegin || whole.nend != pieces.nend)
		abort();
	if (r == PC_OK && (whole.open || whole.nbegin != whole.nend))
		abort();

	/* The same bytes as a Content-Type value. */
	if ((ct = malloc(size + 1)) == NULL)
		return 0;
	memcpy(ct, data, size);
	ct[size] = '\0';
	if (multipart_boundary(ct, boundary, sizeof(boundary)) == PC_OK) {
		/* What one accepts, the other must too. */
		if ((mp = multipart_new(boundary, NULL, NULL)) == NULL)
			abort();
		multipart_free(mp);
	}
	free(ct);
	return 0;
}

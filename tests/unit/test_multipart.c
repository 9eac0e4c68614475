/* Unit tests for the streaming multipart/form-data parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "multipart.h"

/* Chrome's style of boundary. */
#define WEBKIT "----WebKitFormBoundary7MA4YWxkTrZu0gW"
#define DISP(n) "Content-Disposition: form-data; name=\"" n "\"\r\n"
/* Firefox's, and the same but for its last byte. */
#define GECKO "---------------------------9051914041544843365972754266"
#define GECKO_ALMOST "---------------------------905191404154484336597275426"
/* The longest boundary RFC 2046 allows. */
#define B70 \
	"0123456789012345678901234567890123456789" \
	"012345678901234567890123456789"
#define DATA_MAX 4096

/* What the callbacks saw. */
struct got {
	const char *skip;    /* refuse the part of this name in part_begin */
	size_t refuse_after; /* refuse data past this many bytes; 0: never */
	unsigned int nbegin;
	unsigned int nend;
	bool open; /* between part_begin and part_end */
	struct multipart_part part[MULTIPART_PARTS_MAX];
	size_t len[MULTIPART_PARTS_MAX];
	char data[MULTIPART_PARTS_MAX][DATA_MAX];
};

/* A request body under construction. */
struct body {
	size_t len;
	char b[16384];
};

static bool
on_begin(void *arg, const struct multipart_part *p)
{
	struct got *g = arg;

	assert_false(g->open);
	assert_true(g->nbegin < MULTIPART_PARTS_MAX);
	g->part[g->nbegin++] = *p;
	g->open = true;
	return g->skip == NULL || strcmp(p->name, g->skip) != 0;
}

static bool
on_data(void *arg, const char *data, size_t len)
{
	struct got *g = arg;
	unsigned int i = g->nbegin - 1;

	assert_true(g->open);
	assert_true(len > 0);
	assert_true(g->skip == NULL || strcmp(g->part[i].name, g->skip) != 0);
	if (g->refuse_after != 0 && g->len[i] + len > g->refuse_after)
		return false;
	assert_true(len <= DATA_MAX - g->len[i]);
	memcpy(g->data[i] + g->len[i], data, len);
	g->len[i] += len;
	return true;
}

static void
on_end(void *arg)
{
	struct got *g = arg;

	assert_true(g->open);
	g->open = false;
	g->nend++;
}

static const struct multipart_callbacks callbacks = {
	.part_begin = on_begin,
	.part_data = on_data,
	.part_end = on_end,
};

/* A small deterministic generator, so that a failing chunking can be re-run. */
static uint32_t
next_random(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

/*
 * Parse body in pieces of chunk bytes, or of random sizes from 1 to 64 drawn
 * from seed when chunk is 0, recording into g (whose skip and refuse_after
 * the caller sets). Returns the first error of multipart_feed, else what
 * multipart_finish says.
 */
static enum pc_result
parse(const char *boundary, const char *body, size_t len, size_t chunk,
    uint32_t seed, struct got *g)
{
	struct multipart *mp;
	enum pc_result r = PC_OK;
	size_t off = 0, n;

	g->nbegin = g->nend = 0;
	g->open = false;
	memset(g->len, 0, sizeof(g->len));
	mp = multipart_new(boundary, &callbacks, g);
	assert_non_null(mp);
	while (off < len && r == PC_OK) {
		n = chunk != 0 ? chunk : 1 + next_random(&seed) % 64;
		if (n > len - off)
			n = len - off;
		r = multipart_feed(mp, body + off, n);
		off += n;
	}
	if (r == PC_OK)
		r = multipart_finish(mp);
	multipart_free(mp);
	return r;
}

/* Parse body whole, a byte and 3 bytes at a time: the results must agree. */
static enum pc_result
parse_all(const char *boundary, const char *body, size_t len, struct got *g)
{
	enum pc_result r;

	r = parse(boundary, body, len, len > 0 ? len : 1, 0, g);
	assert_int_equal(parse(boundary, body, len, 1, 0, g), r);
	assert_int_equal(parse(boundary, body, len, 3, 0, g), r);
	return r;
}

static enum pc_result
parse_str(const char *boundary, const char *body)
{
	static struct got g;

	memset(&g, 0, sizeof(g));
	return parse_all(boundary, body, strlen(body), &g);
}

static void
add(struct body *b, const void *p, size_t n)
{
	assert_true(n <= sizeof(b->b) - b->len);
	memcpy(b->b + b->len, p, n);
	b->len += n;
}

static void
adds(struct body *b, const char *s)
{
	add(b, s, strlen(s));
}

/*
 * An image whose bytes hold every value, NULs, CRLF "--" and prefixes of the
 * delimiter, and which ends in CR, just before the delimiter's own CRLF.
 */
static size_t
tricky_file(char *out, size_t outlen)
{
	static const char head[] =
	    "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0"
	    "\r\n--\r\n-\r\n------WebKitFormBound\0"
	    "\r\n--"
	    "----WebKitFormBoundary7MA4YWxkTrZu0gX"
	    "\r\n--"
	    "----WebKitFormBoundary7MA4YWxkTrZu0g\r\n"
	    "\n--" WEBKIT "\r\n"
	    "x--" WEBKIT "--"
	    "\r\r\n\r\n-\r";
	size_t n = sizeof(head) - 1, i;

	assert_true(n + 256 + 1 <= outlen);
	memcpy(out, head, n);
	for (i = 0; i < 256; i++)
		out[n++] = (char)i;
	out[n++] = '\r';
	return n;
}

/* What Chrome sends for a form with a text field and a file. */
static size_t
browser_body(struct body *b, char *file, size_t filelen)
{
	size_t n = tricky_file(file, filelen);

	b->len = 0;
	adds(b,
	    "--" WEBKIT "\r\n" DISP(
	        "display_name") "\r\n"
	                        "Ada Lovelace\r\n"
	                        "--" WEBKIT "\r\n"
	                        "Content-Disposition: form-data; name=\"avatar\"; "
	                        "filename=\"ada.png\"\r\n"
	                        "Content-Type: image/png\r\n"
	                        "\r\n");
	add(b, file, n);
	adds(b, "\r\n--" WEBKIT "--\r\n");
	return n;
}

static void
check_browser(const struct got *g, const char *file, size_t filelen)
{
	assert_int_equal(g->nbegin, 2);
	assert_int_equal(g->nend, 2);
	assert_string_equal(g->part[0].name, "display_name");
	assert_string_equal(g->part[0].filename, "");
	assert_string_equal(g->part[0].content_type, "");
	assert_int_equal(g->len[0], 12);
	assert_memory_equal(g->data[0], "Ada Lovelace", 12);
	assert_string_equal(g->part[1].name, "avatar");
	assert_string_equal(g->part[1].filename, "ada.png");
	assert_string_equal(g->part[1].content_type, "image/png");
	assert_int_equal(g->len[1], filelen);
	assert_memory_equal(g->data[1], file, filelen);
}

static const char *
boundary(const char *content_type)
{
	static char out[MULTIPART_BOUNDARY_MAX + 1];

	if (multipart_boundary(content_type, out, sizeof(out)) != PC_OK)
		return NULL;
	return out;
}

static void
test_boundary(void **state)
{
	static const char *const bad[] = {
		NULL,
		"",
		"application/json",
		"multipart/mixed; boundary=x",
		"multipart/form-datax; boundary=x",
		"text/plain; boundary=x",
		"multipart/form-data",
		"multipart/form-data;",
		"multipart/form-data; charset=utf-8",
		"multipart/form-data; boundary=",
		"multipart/form-data; boundary=\"\"",
		"multipart/form-data; boundary=\"abc",
		"multipart/form-data; boundary",
		"multipart/form-data; boundary =x",
		"multipart/form-data; boundary= x",
		"multipart/form-data; boundary=a b",
		"multipart/form-data; boundary=a@b",
		"multipart/form-data; boundary=\"a@b\"",
		"multipart/form-data; boundary=\"a\\\"b\"",
		"multipart/form-data; boundary=\"a \"",
		"multipart/form-data; boundary=\"a\tb\"",
		"multipart/form-data; boundary=\"a\rb\"",
		"multipart/form-data; boundary=\"a\x01"
		"b\"",
		"multipart/form-data; boundary=\"a\xc3\xa9\"",
		"multipart/form-data; boundary=a; boundary=a",
		"multipart/form-data; boundary=\"a\"x",
		"multipart/form-data; boundary=" B70 "0",
		"multipart/form-data; boundary=\"" B70 "0\"",
		"multipart/form-data x; boundary=a",
	};
	char small[4];
	size_t i;

	(void)state;
	assert_string_equal(boundary("multipart/form-data; boundary=" WEBKIT),
	    WEBKIT);
	assert_string_equal(boundary("Multipart/Form-Data;BOUNDARY=xyz"),
	    "xyz");
	assert_string_equal(boundary("multipart/form-data ; boundary=xyz ;"),
	    "xyz");
	assert_string_equal(boundary("multipart/form-data; charset=utf-8; "
	                             "boundary=\"a b:c=d?'()+_,-./\""),
	    "a b:c=d?'()+_,-./");
	assert_string_equal(boundary("multipart/form-data; boundary=\"a\\bc\""),
	    "abc");
	assert_string_equal(
	    boundary("multipart/form-data; x=\"; boundary=no\"; "
	             "boundary=yes"),
	    "yes");
	assert_string_equal(boundary("multipart/form-data; boundary=" B70),
	    B70);
	assert_string_equal(
	    boundary("multipart/form-data; boundary=\"" B70 "\""), B70);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (boundary(bad[i]) != NULL)
			fail_msg("accepted: %s", bad[i]);
	}
	assert_int_equal(
	    multipart_boundary("multipart/form-data; boundary=abcd", small,
	        sizeof(small)),
	    PC_TOOBIG);
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=abc",
	                     small, sizeof(small)),
	    PC_OK);
	assert_string_equal(small, "abc");
}

static void
test_new_checks_boundary(void **state)
{
	static const char *const bad[] = {
		NULL,
		"",
		"a\r\nb",
		"a\rb",
		"ab ",
		"a\"b",
		B70 "0",
	};
	struct multipart *mp;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(multipart_new(bad[i], &callbacks, NULL));
	mp = multipart_new(B70, NULL, NULL);
	assert_non_null(mp);
	multipart_free(mp);
	multipart_free(NULL);
}

static void
test_browser_whole(void **state)
{
	static struct got g;
	static struct body b;
	char file[1024];
	size_t n;

	(void)state;
	n = browser_body(&b, file, sizeof(file));
	assert_int_equal(parse(WEBKIT, b.b, b.len, b.len, 0, &g), PC_OK);
	check_browser(&g, file, n);
}

static void
test_browser_chunked(void **state)
{
	static struct got g;
	static struct body b;
	char file[1024];
	uint32_t seed;
	size_t chunk, n;

	(void)state;
	n = browser_body(&b, file, sizeof(file));
	for (chunk = 1; chunk <= 64; chunk++) {
		memset(&g, 0, sizeof(g));
		assert_int_equal(parse(WEBKIT, b.b, b.len, chunk, 0, &g),
		    PC_OK);
		check_browser(&g, file, n);
	}
	for (seed = 1; seed <= 500; seed++) {
		memset(&g, 0, sizeof(g));
		assert_int_equal(parse(WEBKIT, b.b, b.len, 0, seed, &g), PC_OK);
		check_browser(&g, file, n);
	}
}

static void
test_two_files(void **state)
{
	/* Firefox's style of boundary, and an old-fashioned preamble. */
	static const char body[] =
	    "This is a preamble.\r\n"
	    "--" GECKO "\r\n"
	    "content-disposition: FORM-DATA; NAME=file; Filename=\"a.txt\"\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "Content of a.txt.\r\n\r\n"
	    "\r\n--" GECKO "\r\n"
	    "Content-Disposition: form-data; name=\"file\"; filename=\"b.bin\"\r\n"
	    "CONTENT-TYPE:application/octet-stream  \r\n"
	    "\r\n"
	    "\0\x01\xff\r\n--" GECKO_ALMOST "\0"
	    "\r\n--" GECKO "--";
	static struct got g;
	size_t chunk;

	(void)state;
	for (chunk = 1; chunk <= sizeof(body); chunk++) {
		assert_int_equal(parse(GECKO, body, sizeof(body) - 1, chunk, 0,
		                     &g),
		    PC_OK);
		assert_int_equal(g.nbegin, 2);
		assert_int_equal(g.nend, 2);
		assert_string_equal(g.part[0].name, "file");
		assert_string_equal(g.part[0].filename, "a.txt");
		assert_string_equal(g.part[0].content_type, "text/plain");
		assert_int_equal(g.len[0], 21);
		assert_memory_equal(g.data[0], "Content of a.txt.\r\n\r\n", 21);
		assert_string_equal(g.part[1].name, "file");
		assert_string_equal(g.part[1].filename, "b.bin");
		assert_string_equal(g.part[1].content_type,
		    "application/octet-stream");
		assert_int_equal(g.len[1], 3 + 4 + strlen(GECKO_ALMOST) + 1);
		assert_memory_equal(g.data[1],
		    "\0\x01\xff\r\n--" GECKO_ALMOST "\0", g.len[1]);
	}
}

static void
test_skip_part(void **state)
{
	static struct got g;
	static struct body b;
	char file[1024];
	size_t n;

	(void)state;
	n = browser_body(&b, file, sizeof(file));
	g.skip = "display_name";
	assert_int_equal(parse_all(WEBKIT, b.b, b.len, &g), PC_OK);
	assert_int_equal(g.nbegin, 2);
	assert_int_equal(g.nend, 2);   /* skipped parts end too */
	assert_int_equal(g.len[0], 0); /* on_data also asserts */
	assert_int_equal(g.len[1], n);
	assert_memory_equal(g.data[1], file, n);

	g.skip = "avatar";
	assert_int_equal(parse_all(WEBKIT, b.b, b.len, &g), PC_OK);
	assert_int_equal(g.nend, 2);
	assert_int_equal(g.len[0], 12);
	assert_int_equal(g.len[1], 0);
}

static void
test_params(void **state)
{
	static struct got g;
	static const char body[] =
	    "--xyz\r\n"
	    "X-Unknown: whatever; name=\"evil\"\r\n"
	    "Content-Disposition:form-data ;name=\"a\\\"b; c\" ; "
	    "filename*=UTF-8''x.png; "
	    "filename=\"C:\\\\dir\\\\\xc3\xa9 \\\"1\\\".png\";\r\n"
	    "Content-Transfer-Encoding: binary\r\n"
	    "\r\n"
	    "v\r\n"
	    "--xyz\r\n"
	    "Content-Disposition: form-data; name=\"\"\r\n"
	    "\r\n"
	    "\r\n"
	    "--xyz--";

	(void)state;
	assert_int_equal(parse_all("xyz", body, sizeof(body) - 1, &g), PC_OK);
	assert_int_equal(g.nbegin, 2);
	assert_string_equal(g.part[0].name, "a\"b; c");
	assert_string_equal(g.part[0].filename, "C:\\dir\\\xc3\xa9 \"1\".png");
	assert_string_equal(g.part[0].content_type, "");
	assert_int_equal(g.len[0], 1);
	assert_string_equal(g.part[1].name, "");
	assert_int_equal(g.len[1], 0);
}

static void
test_lookalikes(void **state)
{
	/* Data shaped like the delimiter, or one without CRLF before it. */
	static const char data[] =
	    "--xyz\r\n--xy\r\n--xyZ\r\n-\r\n--\r\n\r\n--x"
	    "\n--xyz\n\r\r\n--xy\r\r\n\r\n--xy--\r\n\r";
	static struct got g;
	struct body b = { 0 };
	size_t chunk;

	(void)state;
	adds(&b, "--xyz\r\n" DISP("f") "\r\n");
	add(&b, data, sizeof(data) - 1);
	adds(&b, "\r\n--xyz--\r\n");
	for (chunk = 1; chunk <= b.len; chunk++) {
		assert_int_equal(parse("xyz", b.b, b.len, chunk, 0, &g), PC_OK);
		assert_int_equal(g.nbegin, 1);
		assert_int_equal(g.len[0], sizeof(data) - 1);
		assert_memory_equal(g.data[0], data, sizeof(data) - 1);
	}
}

static void
test_no_boundary(void **state)
{
	static const char *const bodies[] = {
		"",
		"hello world\r\n",
		"-xyz\r\n" DISP("f") "\r\nx\r\n-xyz--",
		"--xy\r\n" DISP("f") "\r\nx\r\n--xy--",
		"--XYZ\r\n" DISP("f") "\r\nx\r\n--XYZ--",
		/* A delimiter needs CRLF before it, but at the start. */
		"x--xyz\r\n" DISP("f") "\r\nx\n--xyz--",
		"\n--xyz\r\n" DISP("f") "\r\nx\n--xyz--",
	};
	static struct body b;
	static struct got g;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		if (parse_all("xyz", bodies[i], strlen(bodies[i]), &g) !=
		    PC_INVALID)
			fail_msg("accepted: %s", bodies[i]);
		assert_int_equal(g.nbegin, 0);
	}

	/* A preamble is bounded, but one of just that many bytes is fine. */
	memset(b.b, 'p', MULTIPART_PREAMBLE_MAX);
	b.len = MULTIPART_PREAMBLE_MAX;
	adds(&b, "\r\n--xyz\r\n" DISP("f") "\r\nx\r\n--xyz--");
	assert_int_equal(parse_all("xyz", b.b, b.len, &g), PC_OK);
	assert_int_equal(g.nbegin, 1);
	memset(b.b, 'p', MULTIPART_PREAMBLE_MAX + 1);
	b.len = MULTIPART_PREAMBLE_MAX + 1;
	adds(&b, "\r\n--xyz\r\n" DISP("f") "\r\nx\r\n--xyz--");
	assert_int_equal(parse_all("xyz", b.b, b.len, &g), PC_INVALID);
	assert_int_equal(g.nbegin, 0);
}

static void
test_unterminated(void **state)
{
	static const char *const bodies[] = {
		"--xyz",
		"--xyz\r",
		"--xyz\r\n",
		"--xyz\r\n" DISP("f"),
		"--xyz\r\n" DISP("f") "\r",
		"--xyz\r\n" DISP("f") "\r\n",
		"--xyz\r\n" DISP("f") "\r\nabc",
		"--xyz\r\n" DISP("f") "\r\nabc\r\n--xy",
		"--xyz\r\n" DISP("f") "\r\nabc\r\n--xyz",
		"--xyz\r\n" DISP("f") "\r\nabc\r\n--xyz\r\n",
		"--xyz\r\n" DISP("f") "\r\nabc\r\n--xyz-",
		"--xyz\r\n" DISP("f") "\r\nabc\r\n--xyz  ",
		/* Without CRLF before it, this is data. */
		"--xyz\r\n" DISP("f") "\r\nabc--xyz--",
	};
	static struct got g;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		if (parse_all("xyz", bodies[i], strlen(bodies[i]), &g) !=
		    PC_INVALID)
			fail_msg("accepted: %s", bodies[i]);
	}
}

static void
test_close_delimiter(void **state)
{
	static const char *const good[] = {
		"--xyz\r\n" DISP("f") "\r\nabc\r\n--xyz--",
		"--xyz\r\n" DISP("f") "\r\nabc\r\n--xyz--\r",
		"--xyz\r\n" DISP("f") "\r\nabc\r\n--xyz--\r\n",
		"--xyz\r\n" DISP("f") "\r\nabc\r\n--xyz-- \t \r\n",
		"--xyz\r\n" DISP(
		    "f") "\r\nabc\r\n--xyz--\r\nepilogue\r\n--xyz\r\n",
		"--xyz \t\r\n" DISP("f") "\r\nabc\r\n--xyz--",
		"preamble\r\n--xyz\r\n" DISP("f") "\r\nabc\r\n--xyz--",
		/* An empty FormData: the route decides that it wants a part. */
		"--xyz--\r\n--xyz\r\n" DISP("f") "\r\nabc\r\n--xyz--",
	};
	static struct got g;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (parse_all("xyz", good[i], strlen(good[i]), &g) != PC_OK)
			fail_msg("refused: %s", good[i]);
		/* The last one is a close delimiter straight away: no parts. */
		if (i + 1 == sizeof(good) / sizeof(good[0]))
			break;
		assert_int_equal(g.nbegin, 1);
		assert_int_equal(g.nend, 1);
		assert_int_equal(g.len[0], 3);
		assert_memory_equal(g.data[0], "abc", 3);
	}
	assert_int_equal(g.nbegin, 0);
}

static void
test_junk_after_boundary(void **state)
{
	static const char *const bodies[] = {
		"--xyzX\r\n" DISP("f") "\r\nabc\r\n--xyz--",
		"--xyz\n" DISP("f") "\r\nabc\r\n--xyz--",
		"--xyz\rX" DISP("f") "\r\nabc\r\n--xyz--",
		"--xyz " DISP("f") "\r\nabc\r\n--xyz--",
		"--xyz\r\n" DISP("f") "\r\nabc\r\n--xyzX\r\n--xyz--",
		"--xyz\r\n" DISP("f") "\r\nabc\r\n--xyz-X",
		"--xyz\r\n" DISP("f") "\r\nabc\r\n--xyz--X",
		"--xyz\r\n" DISP("f") "\r\nabc\r\n--xyz--\rX",
		"--xyz\r\n" DISP("f") "\r\nabc\r\n--xyz--\n",
		"--xyz\r\n" DISP("f") "\r\nabc\r\n--xyz-- -",
		"--xyz\r\n" DISP("f") "\r\nabc\r\n--xyz --\r\n",
	};
	static struct got g;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		if (parse_all("xyz", bodies[i], strlen(bodies[i]), &g) !=
		    PC_INVALID)
			fail_msg("accepted: %s", bodies[i]);
	}
}

static void
test_bad_headers(void **state)
{
	static const char *const headers[] = {
		"Content-Disposition form-data; name=\"f\"\r\n",
		DISP("f") "X-A: 1\r\n 2\r\n",
		DISP("f") "X-A: 1\r\n\t2\r\n",
		" " DISP("f"),
		"Content-Disposition : form-data; name=\"f\"\r\n",
		": x\r\n" DISP("f"),
		"Content-Disposition: form-data; name=\"f\"\n",
		DISP("f") "X-A: a\rb\r\n",
		DISP("f") "X-A: a\x01"
		          "b\r\n",
		DISP("f") "X-A: a\x7f"
		          "b\r\n",
		"Content-Type: text/plain\r\n",
		"Content-Disposition: attachment; name=\"f\"\r\n",
		"Content-Disposition: form-data\r\n",
		"Content-Disposition: form-data; filename=\"f\"\r\n",
		"Content-Disposition: form-dataa; name=\"f\"\r\n",
		"Content-Disposition: form-data; name=\"f\r\n",
		"Content-Disposition: form-data; name=\"f\\\r\n",
		"Content-Disposition: form-data; name=\"f\"x\r\n",
		"Content-Disposition: form-data; name=\r\n",
		"Content-Disposition: form-data; name = \"f\"\r\n",
		"Content-Disposition: form-data name=\"f\"\r\n",
		"Content-Disposition: form-data; name=\"a\"; name=\"b\"\r\n",
		"Content-Disposition: form-data; name=\"a\"; NAME=\"a\"\r\n",
		"Content-Disposition: form-data; name=\"f\"; filename=\"a\"; "
		"filename=\"b\"\r\n",
		DISP("f") DISP("g"),
		DISP("f") "Content-Type: a/b\r\nContent-Type: a/b\r\n",
		/* Just too long for struct multipart_part. */
		DISP("01234567890123456789012345678901"
		     "23456789012345678901234567890123"),
		DISP(
		    "f") "Content-Type: application/"
		         "0123456789012345678901234567890123456789012345678901234567890123"
		         "4567890123456789012345678901234567890123456789012345\r\n",
	};
	static struct body b;
	static struct got g;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		b.len = 0;
		adds(&b, "--xyz\r\n");
		adds(&b, headers[i]);
		adds(&b, "\r\nabc\r\n--xyz--\r\n");
		if (parse_all("xyz", b.b, b.len, &g) != PC_INVALID)
			fail_msg("accepted: %s", headers[i]);
	}

	/* A NUL in headers, which strlen() would not see. */
	b.len = 0;
	adds(&b, "--xyz\r\n" DISP("f") "X-A: a");
	add(&b, "\0", 1);
	adds(&b, "b\r\n\r\nabc\r\n--xyz--\r\n");
	assert_int_equal(parse_all("xyz", b.b, b.len, &g), PC_INVALID);

	/* One byte shorter, both of the long ones are fine. */
	assert_int_equal(
	    parse_str("xyz",
	        "--xyz\r\n" DISP(
	            "012345678901234567890123456789012345678901234567890123456789012") "Content-Type: application/"
	                                                                               "0123456789012345678901234567890123456789012345678901234567890123"
	                                                                               "456789012345678901234567890123456789012345678901234\r\n"
	                                                                               "\r\nabc\r\n--xyz--\r\n"),
	    PC_OK);
}

/* A part whose header block is exactly size bytes, CRLFs included. */
static void
sized_headers(struct body *b, size_t size)
{
	static const char pre[] = DISP("f") "X-Pad: ";
	size_t pad = size - (sizeof(pre) - 1) - 4;

	b->len = 0;
	adds(b, "--xyz\r\n" DISP("f") "X-Pad: ");
	assert_true(pad <= sizeof(b->b) - b->len);
	memset(b->b + b->len, 'a', pad);
	b->len += pad;
	adds(b, "\r\n\r\nabc\r\n--xyz--\r\n");
}

static void
test_header_block_bounded(void **state)
{
	static struct body b;
	static struct got g;

	(void)state;
	sized_headers(&b, MULTIPART_HEADER_MAX);
	assert_int_equal(parse_all("xyz", b.b, b.len, &g), PC_OK);
	assert_int_equal(g.len[0], 3);
	sized_headers(&b, MULTIPART_HEADER_MAX + 1);
	assert_int_equal(parse_all("xyz", b.b, b.len, &g), PC_INVALID);
	assert_int_equal(g.nbegin, 0);
}

static void
many_parts(struct body *b, unsigned int n)
{
	unsigned int i;

	b->len = 0;
	for (i = 0; i < n; i++)
		adds(b, "--xyz\r\n" DISP("f") "\r\nabc\r\n");
	adds(b, "--xyz--\r\n");
}

static void
test_too_many_parts(void **state)
{
	static struct body b;
	static struct got g;

	(void)state;
	many_parts(&b, MULTIPART_PARTS_MAX);
	assert_int_equal(parse_all("xyz", b.b, b.len, &g), PC_OK);
	assert_int_equal(g.nbegin, MULTIPART_PARTS_MAX);
	assert_int_equal(g.nend, MULTIPART_PARTS_MAX);
	many_parts(&b, MULTIPART_PARTS_MAX + 1);
	assert_int_equal(parse_all("xyz", b.b, b.len, &g), PC_INVALID);
	assert_int_equal(g.nbegin, MULTIPART_PARTS_MAX);
}

static void
test_data_refused(void **state)
{
	static const char body[] =
	    "--xyz\r\n" DISP("f") "\r\n0123456789abcdef\r\n--xyz--\r\n";
	static struct got g;
	struct multipart *mp;

	(void)state;
	g.refuse_after = 10;
	assert_int_equal(parse_all("xyz", body, sizeof(body) - 1, &g),
	    PC_TOOBIG);
	assert_true(g.len[0] <= 10);
	assert_int_equal(g.nbegin, 1);
	assert_int_equal(g.nend, 0); /* no part_end after an error */

	/* The error sticks, to feed and to finish. */
	mp = multipart_new("xyz", &callbacks, &g);
	assert_non_null(mp);
	g.nbegin = 0;
	g.len[0] = 0;
	g.open = false;
	assert_int_equal(multipart_feed(mp, body, sizeof(body) - 1), PC_TOOBIG);
	assert_int_equal(multipart_feed(mp, "x", 1), PC_TOOBIG);
	assert_int_equal(multipart_feed(mp, NULL, 0), PC_TOOBIG);
	assert_int_equal(multipart_finish(mp), PC_TOOBIG);
	multipart_free(mp);
}

static void
test_errors_stick(void **state)
{
	static const char good[] =
	    "--xyz\r\n" DISP("f") "\r\nabc\r\n--xyz--\r\n";
	static struct got g;
	struct multipart *mp;

	(void)state;
	mp = multipart_new("xyz", &callbacks, &g);
	assert_non_null(mp);
	assert_int_equal(multipart_feed(mp, "--xyzX", 6), PC_INVALID);
	assert_int_equal(multipart_feed(mp, good, sizeof(good) - 1),
	    PC_INVALID);
	assert_int_equal(multipart_finish(mp), PC_INVALID);
	multipart_free(mp);
	assert_int_equal(g.nbegin, 0);

	/* A body that never started stays refused after finish. */
	mp = multipart_new("xyz", NULL, NULL);
	assert_non_null(mp);
	assert_int_equal(multipart_finish(mp), PC_INVALID);
	assert_int_equal(multipart_feed(mp, good, sizeof(good) - 1),
	    PC_INVALID);
	multipart_free(mp);

	/* Without callbacks, a good body parses. */
	mp = multipart_new("xyz", NULL, NULL);
	assert_non_null(mp);
	assert_int_equal(multipart_feed(mp, good, sizeof(good) - 1), PC_OK);
	assert_int_equal(multipart_finish(mp), PC_OK);
	multipart_free(mp);
}

/* Counts what arrives and checks it against the pattern big_byte() makes. */
struct stream {
	size_t got;
	size_t bad;
};

static char
big_byte(size_t i)
{
	/* CR, LF and dashes in runs that keep the matcher busy. */
	static const char pat[] = "\r\n--xy\r\r\n-\r\n--xyZ\0ab\r";

	return pat[i % (sizeof(pat) - 1)];
}

static bool
count_data(void *arg, const char *data, size_t len)
{
	struct stream *s = arg;
	size_t i;

	for (i = 0; i < len; i++) {
		if (data[i] != big_byte(s->got + i))
			s->bad++;
	}
	s->got += len;
	return true;
}

static void
test_streams_in_fixed_memory(void **state)
{
	static const struct multipart_callbacks cb = {
		.part_data = count_data,
	};
	static const char head[] = "--xyz\r\n" DISP("f") "\r\n";
	static const char tail[] = "\r\n--xyz--\r\n";
	const size_t size = 1024 * 1024, dlen = 4 + 3;
	struct stream s = { 0, 0 };
	struct multipart *mp;
	char chunk[5000];
	uint32_t seed = 7;
	size_t off = 0, n, i;

	(void)state;
	mp = multipart_new("xyz", &cb, &s);
	assert_non_null(mp);
	assert_int_equal(multipart_feed(mp, head, sizeof(head) - 1), PC_OK);
	while (off < size) {
		n = 1 + next_random(&seed) % sizeof(chunk);
		if (n > size - off)
			n = size - off;
		for (i = 0; i < n; i++)
			chunk[i] = big_byte(off + i);
		assert_int_equal(multipart_feed(mp, chunk, n), PC_OK);
		off += n;
		/* Delivered as they come, but for a delimiter's worth. */
		assert_true(s.got <= off);
		assert_true(s.got + dlen - 1 >= off);
	}
	assert_int_equal(multipart_feed(mp, tail, sizeof(tail) - 1), PC_OK);
	assert_int_equal(multipart_finish(mp), PC_OK);
	multipart_free(mp);
	assert_int_equal(s.got, size);
	assert_int_equal(s.bad, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boundary),
		cmocka_unit_test(test_new_checks_boundary),
		cmocka_unit_test(test_browser_whole),
		cmocka_unit_test(test_browser_chunked),
		cmocka_unit_test(test_two_files),
		cmocka_unit_test(test_skip_part),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_lookalikes),
		cmocka_unit_test(test_no_boundary),
		cmocka_unit_test(test_unterminated),
		cmocka_unit_test(test_close_delimiter),
		cmocka_unit_test(test_junk_after_boundary),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_header_block_bounded),
		cmocka_unit_test(test_too_many_parts),
		cmocka_unit_test(test_data_refused),
		cmocka_unit_test(test_errors_stick),
		cmocka_unit_test(test_streams_in_fixed_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

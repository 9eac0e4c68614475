/* Unit tests for avatar normalisation, with images made by libvips itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <cmocka.h>

#include <vips/vips.h>

#include "image.h"
#include "log.h"

#define SIZE 256
#define MAXPIX 40000000LL
#define Q 80

static const struct image_opts opts = { SIZE, MAXPIX, Q };

static const double RED[] = { 255, 0, 0, 255 };
static const double BLUE[] = { 0, 0, 255, 255 };
static const double GREEN_CLEAR[] = { 0, 200, 0, 0 };
static const double GREEN[] = { 0, 200, 0, 255 };
static const double YELLOW[] = { 230, 220, 30 };
static const double BROWN[] = { 200, 100, 50 };

/* A w x h sRGB image of one colour, with bands 3 (RGB) or 4 (RGBA). */
static VipsImage *
solid(int w, int h, const double *colour, int bands)
{
	static const double ones[] = { 1, 1, 1, 1 };
	VipsImage *black, *lin, *cast, *out;

	assert_int_equal(vips_black(&black, w, h, "bands", bands, NULL), 0);
	assert_int_equal(vips_linear(black, &lin, ones, colour, bands, NULL),
	    0);
	assert_int_equal(vips_cast(lin, &cast, VIPS_FORMAT_UCHAR, NULL), 0);
	assert_int_equal(vips_copy(cast, &out, "interpretation",
	                     VIPS_INTERPRETATION_sRGB, NULL),
	    0);
	g_object_unref(black);
	g_object_unref(lin);
	g_object_unref(cast);
	return out;
}

/* Left half a, right half b. */
static VipsImage *
halves(int w, int h, const double *a, const double *b, int bands)
{
	VipsImage *l = solid(w / 2, h, a, bands);
	VipsImage *r = solid(w - w / 2, h, b, bands);
	VipsImage *out;

	assert_int_equal(vips_join(l, r, &out, VIPS_DIRECTION_HORIZONTAL, NULL),
	    0);
	g_object_unref(l);
	g_object_unref(r);
	return out;
}

/* Encode by suffix (".jpg[Q=90]", ".png", ...); g_free() the result. */
static void *
encode(VipsImage *img, const char *suffix, size_t *len)
{
	void *buf = NULL;

	if (vips_image_write_to_buffer(img, suffix, &buf, len, NULL) != 0)
		fail_msg("encode %s: %s", suffix, vips_error_buffer());
	return buf;
}

/* Decode fully into memory, independent of buf; NULL on failure. */
static VipsImage *
decode(const void *buf, size_t len, const char *options)
{
	VipsImage *lazy, *mem;

	if ((lazy = vips_image_new_from_buffer(buf, len, options, NULL)) ==
	    NULL) {
		vips_error_clear();
		return NULL;
	}
	mem = vips_image_copy_memory(lazy);
	g_object_unref(lazy);
	return mem;
}

/* The pixel at (x, y) is within tol of colour in its first n bands. */
static void
assert_pixel(VipsImage *img, int x, int y, const double *colour, int n,
    double tol)
{
	double *v;
	int got, i;

	assert_int_equal(vips_getpoint(img, &v, &got, x, y, NULL), 0);
	assert_true(got >= n);
	for (i = 0; i < n; i++)
		if (v[i] < colour[i] - tol || v[i] > colour[i] + tol)
			fail_msg("pixel (%d,%d) band %d is %.0f, want %.0f", x,
			    y, i, v[i], colour[i]);
	g_free(v);
}

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* err holds a reason, and nothing but printable ASCII. */
static void
assert_err_clean(const char *err)
{
	size_t i;

	assert_true(strlen(err) > 0);
	for (i = 0; err[i] != '\0'; i++)
		assert_true(err[i] >= 0x20 && err[i] < 0x7f);
}

/*
 * The shared checks on an output: RIFF WebP whose chunks carry no EXIF, XMP
 * or ICC profile, decoding to exactly SIZE x SIZE with no metadata fields and
 * with or without alpha. Returns the decoded image; the caller unrefs it.
 */
static VipsImage *
check_webp(const unsigned char *p, size_t len, int alpha)
{
	VipsImage *img;
	char **fields;
	size_t off, n;
	int i;

	assert_true(len >= 20);
	assert_memory_equal(p, "RIFF", 4);
	assert_memory_equal(p + 8, "WEBP", 4);
	assert_int_equal(le32(p + 4), len - 8);
	for (off = 12; off < len; off += 8 + n + (n & 1)) {
		assert_true(len - off >= 8);
		n = le32(p + off + 4);
		assert_true(n <= len - off - 8);
		if (memcmp(p + off, "EXIF", 4) == 0 ||
		    memcmp(p + off, "XMP ", 4) == 0 ||
		    memcmp(p + off, "ICCP", 4) == 0)
			fail_msg("output has a %.4s chunk", p + off);
	}

	assert_non_null(img = decode(p, len, ""));
	assert_int_equal(vips_image_get_width(img), SIZE);
	assert_int_equal(vips_image_get_height(img), SIZE);
	assert_int_equal(vips_image_get_typeof(img, VIPS_META_EXIF_NAME), 0);
	assert_int_equal(vips_image_get_typeof(img, VIPS_META_XMP_NAME), 0);
	assert_int_equal(vips_image_get_typeof(img, VIPS_META_ICC_NAME), 0);
	assert_int_equal(vips_image_get_typeof(img, VIPS_META_IPTC_NAME), 0);
	assert_int_equal(vips_image_get_typeof(img, VIPS_META_ORIENTATION), 0);
	fields = vips_image_get_fields(img);
	for (i = 0; fields[i] != NULL; i++)
		if (strncmp(fields[i], "exif-", 5) == 0)
			fail_msg("output has %s", fields[i]);
	g_strfreev(fields);
	assert_int_equal(vips_image_hasalpha(img), alpha);
	assert_int_equal(vips_image_get_bands(img), alpha ? 4 : 3);
	return img;
}

/* Normalise, expecting PC_OK, and run check_webp(). */
static VipsImage *
normalize_ok(const void *in, size_t len, const struct image_opts *o, int alpha)
{
	VipsImage *img;
	void *out = NULL;
	size_t out_len = 0;
	char err[PC_ERRLEN] = "";
	enum pc_result r;

	r = image_normalize(in, len, o, &out, &out_len, err);
	if (r != PC_OK)
		fail_msg("image_normalize: %s: %s", pc_result_str(r), err);
	img = check_webp(out, out_len, alpha);
	image_free(out);
	return img;
}

/* Normalise, expecting failure with want, a clean err and no output. */
static void
normalize_fails(const void *in, size_t len, const struct image_opts *o,
    enum pc_result want)
{
	void *out = (void *)1;
	size_t out_len = 1;
	char err[PC_ERRLEN] = "";
	enum pc_result r;

	r = image_normalize(in, len, o, &out, &out_len, err);
	if (r != want)
		fail_msg("want %s, got %s (%s)", pc_result_str(want),
		    pc_result_str(r), err);
	assert_null(out);
	assert_int_equal(out_len, 0);
	assert_err_clean(err);
}

static uint32_t
crc32_png(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
	}
	return c ^ 0xffffffffu;
}

static size_t
png_chunk(unsigned char *p, const char *type, const unsigned char *data,
    uint32_t n)
{
	uint32_t crc;

	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
	memcpy(p + 4, type, 4);
	if (n > 0)
		memcpy(p + 8, data, n);
	crc = crc32_png(p + 4, 4 + n);
	p[8 + n] = (unsigned char)(crc >> 24);
	p[9 + n] = (unsigned char)(crc >> 16);
	p[10 + n] = (unsigned char)(crc >> 8);
	p[11 + n] = (unsigned char)crc;
	return 12 + n;
}

/*
 * A hand-made RGB PNG claiming w x h whose IDAT holds one black pixel's row
 * (a zlib stored block of 4 zero bytes): complete for 1 x 1, a decompression
 * bomb's header for anything large. Valid CRCs throughout. Returns the length.
 */
static size_t
png_claiming(unsigned char *p, uint32_t w, uint32_t h)
{
	static const unsigned char idat[] = { 0x78, 0x01, 0x01, 0x04, 0x00,
		0xfb, 0xff, 0, 0, 0, 0, 0x00, 0x04, 0x00, 0x01 };
	unsigned char ihdr[13] = { 0 };
	size_t n = 8;

	memcpy(p, "\x89PNG\r\n\x1a\n", 8);
	ihdr[0] = (unsigned char)(w >> 24);
	ihdr[1] = (unsigned char)(w >> 16);
	ihdr[2] = (unsigned char)(w >> 8);
	ihdr[3] = (unsigned char)w;
	ihdr[4] = (unsigned char)(h >> 24);
	ihdr[5] = (unsigned char)(h >> 16);
	ihdr[6] = (unsigned char)(h >> 8);
	ihdr[7] = (unsigned char)h;
	ihdr[8] = 8; /* bit depth */
	ihdr[9] = 2; /* truecolour */
	n += png_chunk(p + n, "IHDR", ihdr, sizeof(ihdr));
	n += png_chunk(p + n, "IDAT", idat, sizeof(idat));
	n += png_chunk(p + n, "IEND", NULL, 0);
	return n;
}

static long
peak_rss_kb(void)
{
	struct rusage ru;

	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

/*
 * First in the list, so the process's peak RSS is still low and a bomb that
 * got decoded would show. 50000 x 50000 RGB is 7.5 GB of pixels.
 */
static void
test_png_bomb(void **state)
{
	unsigned char png[128];
	char err[PC_ERRLEN];
	void *out = NULL;
	size_t len, out_len;
	long before, after;
	VipsImage *img;

	(void)state;
	/* The builder makes a PNG libvips decodes... */
	len = png_claiming(png, 1, 1);
	img = normalize_ok(png, len, &opts, 0);
	assert_pixel(img, SIZE / 2, SIZE / 2, (const double[]){ 0, 0, 0 }, 3,
	    8);
	g_object_unref(img);

	/* ...so this one is refused for its size, from the header alone. */
	before = peak_rss_kb();
	len = png_claiming(png, 50000, 50000);
	assert_int_equal(image_normalize(png, len, &opts, &out, &out_len, err),
	    PC_TOOBIG);
	assert_null(out);
	assert_non_null(strstr(err, "50000 x 50000"));
	after = peak_rss_kb();
	print_message("bomb: peak RSS %ld KB before, %ld KB after\n", before,
	    after);
	assert_true(after - before < 200 * 1024);
}

/*
 * A short, very wide image passes the pixel limit, but a square crop would
 * first enlarge it to 20000 * 256 x 256 (1.3 Gpixel, about 4 GB and a
 * minute for libvips 8.14): refused from the header too.
 */
static void
test_long_and_thin(void **state)
{
	struct image_opts o = opts;
	VipsImage *img, *thin;
	void *buf;
	size_t len;
	long before;

	(void)state;
	thin = solid(20000, 1, RED, 3);
	buf = encode(thin, ".png", &len);
	g_object_unref(thin);
	before = peak_rss_kb();
	normalize_fails(buf, len, &opts, PC_TOOBIG);
	assert_true(peak_rss_kb() - before < 200 * 1024);
	g_free(buf);

	/* Wide but sane: 2000 x 100 becomes 5120 x 256 before the crop. */
	thin = solid(2000, 100, RED, 3);
	buf = encode(thin, ".png", &len);
	g_object_unref(thin);
	img = normalize_ok(buf, len, &opts, 0);
	assert_pixel(img, SIZE / 2, SIZE / 2, RED, 3, 8);
	g_object_unref(img);

	/* The same image against a budget just below and at its own need. */
	o.max_pixels = 5120LL * 256 - 1;
	normalize_fails(buf, len, &o, PC_TOOBIG);
	o.max_pixels = 5120LL * 256;
	g_object_unref(normalize_ok(buf, len, &o, 0));
	g_free(buf);
}

static void
test_max_pixels(void **state)
{
	struct image_opts o = opts;
	VipsImage *img;
	void *buf, *out;
	size_t len, out_len;

	(void)state;
	img = solid(100, 100, BLUE, 3);
	buf = encode(img, ".png", &len);
	g_object_unref(img);
	/*
	 * 100 x 100: the crop's need (256 * 256) is the larger, so lower the
	 * output size to see the pixel limit itself.
	 */
	o.size = 16;
	o.max_pixels = 9999;
	normalize_fails(buf, len, &o, PC_TOOBIG);
	o.max_pixels = 10000;
	assert_int_equal(image_normalize(buf, len, &o, &out, &out_len, NULL),
	    PC_OK);
	image_free(out);
	g_free(buf);
}

/* libvips's built-in sRGB profile, as a copy to g_free(). */
static unsigned char *
srgb_profile(size_t *len)
{
	VipsImage *img, *tagged;
	const void *data;
	unsigned char *copy;

	img = solid(4, 4, BROWN, 3);
	assert_int_equal(vips_icc_transform(img, &tagged, "srgb",
	                     "input_profile", "srgb", "embedded", FALSE, NULL),
	    0);
	assert_int_equal(vips_image_get_blob(tagged, VIPS_META_ICC_NAME, &data,
	                     len),
	    0);
	copy = g_memdup2(data, *len);
	g_object_unref(tagged);
	g_object_unref(img);
	return copy;
}

/*
 * The headline case: a 12-megapixel camera JPEG, stored sideways with EXIF
 * orientation 6, carrying GPS position, XMP and an ICC profile.
 */
static void
test_jpeg_rotated_with_gps(void **state)
{
	static const char xmp[] =
	    "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">"
	    "<rdf:RDF><rdf:Description exif:GPSLatitude=\"51,30.0N\"/>"
	    "</rdf:RDF></x:xmpmeta>";
	VipsImage *img, *in, *out;
	unsigned char *icc, *buf;
	const char *s;
	size_t len, icc_len;

	(void)state;
	/* Left half red, right half blue, as the sensor stored it. */
	img = halves(4000, 3000, RED, BLUE, 3);
	vips_image_set_int(img, VIPS_META_ORIENTATION, 6);
	vips_image_set_string(img, "exif-ifd0-Make",
	    "Acme (Acme, ASCII, "
	    "5 components, 5 bytes)");
	vips_image_set_string(img, "exif-ifd3-GPSLatitudeRef",
	    "N (N, ASCII, "
	    "2 components, 2 bytes)");
	vips_image_set_string(img, "exif-ifd3-GPSLatitude",
	    "51/1 30/1 0/1 "
	    "(51, 30, 0, Rational, 3 components, 24 bytes)");
	vips_image_set_blob_copy(img, VIPS_META_XMP_NAME, xmp, strlen(xmp));
	icc = srgb_profile(&icc_len);
	vips_image_set_blob_copy(img, VIPS_META_ICC_NAME, icc, icc_len);
	g_free(icc);
	buf = encode(img, ".jpg[Q=90]", &len);
	g_object_unref(img);

	/* The input really has all of it. */
	assert_non_null(in = vips_image_new_from_buffer(buf, len, "", NULL));
	assert_int_equal(vips_image_get_width(in), 4000);
	assert_int_equal(vips_image_get_orientation(in), 6);
	assert_int_not_equal(vips_image_get_typeof(in, VIPS_META_EXIF_NAME), 0);
	assert_int_equal(vips_image_get_string(in, "exif-ifd3-GPSLatitude", &s),
	    0);
	assert_non_null(strstr(s, "51/1 30/1"));
	assert_int_not_equal(vips_image_get_typeof(in, VIPS_META_XMP_NAME), 0);
	assert_int_not_equal(vips_image_get_typeof(in, VIPS_META_ICC_NAME), 0);
	g_object_unref(in);
	assert_non_null(memmem(buf, len, "Exif", 4));

	out = normalize_ok(buf, len, &opts, 0);
	/*
	 * Turned upright (90 degrees clockwise): the red half is now on top,
	 * across the whole width, and the blue half below.
	 */
	assert_pixel(out, SIZE / 8, SIZE / 4, RED, 3, 40);
	assert_pixel(out, SIZE * 7 / 8, SIZE / 4, RED, 3, 40);
	assert_pixel(out, SIZE / 8, SIZE * 3 / 4, BLUE, 3, 40);
	assert_pixel(out, SIZE * 7 / 8, SIZE * 3 / 4, BLUE, 3, 40);
	g_object_unref(out);
	g_free(buf);
}

static void
test_png_alpha(void **state)
{
	VipsImage *img, *in, *out;
	void *buf;
	size_t len;
	double *v;
	int n;

	(void)state;
	/*
	 * 600 x 400, transparent left, opaque right; the centre square is
	 * x 100 to 500, so its left half is transparent.
	 */
	img = halves(600, 400, GREEN_CLEAR, GREEN, 4);
	buf = encode(img, ".png", &len);
	g_object_unref(img);
	assert_non_null(in = decode(buf, len, ""));
	assert_int_equal(vips_image_get_bands(in), 4);
	g_object_unref(in);

	out = normalize_ok(buf, len, &opts, 1);
	assert_int_equal(vips_getpoint(out, &v, &n, SIZE / 8, SIZE / 2, NULL),
	    0);
	assert_int_equal(n, 4);
	assert_true(v[3] < 8); /* transparent stays transparent */
	g_free(v);
	assert_pixel(out, SIZE * 7 / 8, SIZE / 2, GREEN, 4, 12);
	g_object_unref(out);
	g_free(buf);
}

/* An animated GIF: the first frame (red) is the avatar, not the second. */
static void
test_gif_first_frame(void **state)
{
	VipsImage *red, *blue, *strip, *in, *out;
	void *buf;
	size_t len;

	(void)state;
	red = solid(100, 80, RED, 3);
	blue = solid(100, 80, BLUE, 3);
	assert_int_equal(vips_join(red, blue, &strip, VIPS_DIRECTION_VERTICAL,
	                     NULL),
	    0);
	vips_image_set_int(strip, VIPS_META_PAGE_HEIGHT, 80);
	buf = encode(strip, ".gif", &len);
	g_object_unref(red);
	g_object_unref(blue);
	g_object_unref(strip);
	assert_non_null(in =
	                    vips_image_new_from_buffer(buf, len, "n=-1", NULL));
	assert_int_equal(vips_image_get_n_pages(in), 2);
	g_object_unref(in);

	out = normalize_ok(buf, len, &opts, 0);
	assert_pixel(out, 4, 4, RED, 3, 40);
	assert_pixel(out, SIZE / 2, SIZE / 2, RED, 3, 40);
	assert_pixel(out, SIZE - 4, SIZE - 4, RED, 3, 40);
	g_object_unref(out);
	g_free(buf);
}

static void
test_webp_and_sizes(void **state)
{
	struct image_opts o = opts;
	VipsImage *img;
	void *buf, *out;
	size_t len, small, big;

	(void)state;
	img = solid(300, 200, YELLOW, 3);
	buf = encode(img, ".webp[Q=90]", &len);
	g_object_unref(img);
	img = normalize_ok(buf, len, &opts, 0);
	assert_pixel(img, SIZE / 2, SIZE / 2, YELLOW, 3, 12);
	g_object_unref(img);
	g_free(buf);

	/* Small inputs are enlarged, odd shapes come out exactly square. */
	img = solid(10, 20, YELLOW, 3);
	buf = encode(img, ".png", &len);
	g_object_unref(img);
	g_object_unref(normalize_ok(buf, len, &opts, 0));
	g_free(buf);
	img = solid(333, 777, YELLOW, 3);
	buf = encode(img, ".jpg", &len);
	g_object_unref(img);
	g_object_unref(normalize_ok(buf, len, &opts, 0));
	g_free(buf);

	/* Another output size and the quality bounds. */
	img = solid(640, 480, YELLOW, 3);
	buf = encode(img, ".jpg", &len);
	g_object_unref(img);
	o.size = 64;
	o.quality = 1;
	assert_int_equal(image_normalize(buf, len, &o, &out, &small, NULL),
	    PC_OK);
	image_free(out);
	o.quality = 100;
	assert_int_equal(image_normalize(buf, len, &o, &out, &big, NULL),
	    PC_OK);
	assert_true(big > small);
	assert_non_null(img = decode(out, big, ""));
	assert_int_equal(vips_image_get_width(img), 64);
	assert_int_equal(vips_image_get_height(img), 64);
	g_object_unref(img);
	image_free(out);
	g_free(buf);
}

/*
 * An embedded profile is applied before it is stripped. The test profile is
 * libvips's sRGB with the red and blue colorants swapped, so a pixel stored
 * as (200, 100, 50) means roughly (50, 100, 200) in sRGB. Untagged pixels
 * and sRGB-tagged ones keep their values.
 */
static void
test_icc_applied(void **state)
{
	VipsImage *img, *out;
	unsigned char *icc, *buf, *tag, *r = NULL, *b = NULL, tmp[8];
	size_t icc_len, len, i, ntags;

	(void)state;
	icc = srgb_profile(&icc_len);
	assert_true(icc_len > 132);
	tag = icc + 132;
	ntags = (size_t)icc[128] << 24 | (size_t)icc[129] << 16 |
	    (size_t)icc[130] << 8 | icc[131];
	assert_true(132 + 12 * ntags <= icc_len);
	for (i = 0; i < ntags; i++, tag += 12) {
		if (memcmp(tag, "rXYZ", 4) == 0)
			r = tag;
		else if (memcmp(tag, "bXYZ", 4) == 0)
			b = tag;
	}
	assert_non_null(r);
	assert_non_null(b);

	/*
	 * Untagged and sRGB-tagged: the values stay (an sRGB export of the
	 * untagged pixels would move them by about 5).
	 */
	img = solid(64, 64, BROWN, 3);
	buf = encode(img, ".png", &len);
	out = normalize_ok(buf, len, &opts, 0);
	assert_pixel(out, SIZE / 2, SIZE / 2, BROWN, 3, 2);
	g_object_unref(out);
	g_free(buf);
	vips_image_set_blob_copy(img, VIPS_META_ICC_NAME, icc, icc_len);
	buf = encode(img, ".png", &len);
	out = normalize_ok(buf, len, &opts, 0);
	assert_pixel(out, SIZE / 2, SIZE / 2, BROWN, 3, 6);
	g_object_unref(out);
	g_free(buf);

	/* Red and blue primaries swapped: the colour is converted. */
	memcpy(tmp, r + 4, 8);
	memcpy(r + 4, b + 4, 8);
	memcpy(b + 4, tmp, 8);
	vips_image_set_blob_copy(img, VIPS_META_ICC_NAME, icc, icc_len);
	buf = encode(img, ".png", &len);
	out = normalize_ok(buf, len, &opts, 0);
	assert_pixel(out, SIZE / 2, SIZE / 2, (const double[]){ 50, 100, 200 },
	    3, 20);
	g_object_unref(out);
	g_free(buf);
	g_object_unref(img);
	g_free(icc);
}

/* Half of a real file in each format; the whole file must pass first. */
static void
truncated(VipsImage *img, const char *suffix)
{
	void *buf;
	size_t len;

	buf = encode(img, suffix, &len);
	g_object_unref(normalize_ok(buf, len, &opts, 0));
	normalize_fails(buf, len / 2, &opts, PC_INVALID);
	normalize_fails(buf, len - 16, &opts, PC_INVALID);
	g_free(buf);
}

static void
test_refused(void **state)
{
	static const char svg[] =
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" "
	    "width=\"10\" height=\"10\"><rect width=\"10\" height=\"10\"/>"
	    "</svg>";
	static const char xml_svg[] =
	    "<?xml version=\"1.0\"?>\n<svg "
	    "xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"/>";
	static const char tiff_hdr[] = "II*\0\x08\0\0\0\0\0";
	static const char pdf[] = "%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n";
	static const char heif[] = "\0\0\0\x18"
	                           "ftypheic\0\0\0\0mif1heic";
	static const char text[] = "hello, world\n";
	static const char riff_junk[] =
	    "RIFF\x20\0\0\0WEBPVP8 \x14\0\0\0"
	    "not a vp8 bitstream!";
	VipsImage *img, *noise, *noise3;
	void *tiff;
	size_t len;

	(void)state;
	normalize_fails("", 0, &opts, PC_INVALID);
	normalize_fails(NULL, 0, &opts, PC_INVALID);
	normalize_fails(text, strlen(text), &opts, PC_INVALID);
	normalize_fails(svg, strlen(svg), &opts, PC_INVALID);
	normalize_fails(xml_svg, strlen(xml_svg), &opts, PC_INVALID);
	normalize_fails(tiff_hdr, sizeof(tiff_hdr) - 1, &opts, PC_INVALID);
	normalize_fails(pdf, strlen(pdf), &opts, PC_INVALID);
	normalize_fails(heif, sizeof(heif) - 1, &opts, PC_INVALID);
	normalize_fails(riff_junk, sizeof(riff_junk) - 1, &opts, PC_INVALID);
	normalize_fails("\xff\xd8\xff", 3, &opts, PC_INVALID);
	normalize_fails("\x89PNG\r\n\x1a\n", 8, &opts, PC_INVALID);

	/* A real TIFF, which libvips could read were its loader not blocked. */
	img = solid(32, 32, RED, 3);
	tiff = encode(img, ".tif", &len);
	normalize_fails(tiff, len, &opts, PC_INVALID);
	g_free(tiff);
	g_object_unref(img);

	/* Truncated: noise, so half the file is half the pixels. */
	assert_int_equal(vips_gaussnoise(&noise, 400, 300, "mean", 128.0,
	                     "sigma", 40.0, NULL),
	    0);
	assert_int_equal(vips_bandjoin((VipsImage *[]){ noise, noise, noise },
	                     &img, 3, NULL),
	    0);
	assert_int_equal(vips_cast(img, &noise3, VIPS_FORMAT_UCHAR, NULL), 0);
	g_object_unref(img);
	assert_int_equal(vips_copy(noise3, &img, "interpretation",
	                     VIPS_INTERPRETATION_sRGB, NULL),
	    0);
	truncated(img, ".jpg");
	truncated(img, ".png");
	truncated(img, ".gif");
	truncated(img, ".webp");
	g_object_unref(img);
	g_object_unref(noise3);
	g_object_unref(noise);
}

/*
 * Polyglots. A GIF header with HTML where the image should be has no image:
 * PC_INVALID. A whole GIF with HTML after its trailer is a GIF: it decodes,
 * and since the output is only re-encoded pixels the HTML cannot survive
 * (refusing trailing bytes would gain nothing and refuse padded real files).
 */
static void
test_polyglot(void **state)
{
	static const char html[] = "<html><script>alert(document.cookie)"
	                           "</script></html>\n";
	unsigned char fake[128], *buf;
	VipsImage *img;
	void *gif, *out = NULL;
	size_t len, n, out_len = 0;
	char err[PC_ERRLEN] = "";

	(void)state;
	/* "GIF89a", a 1 x 1 logical screen, then HTML. */
	memcpy(fake, "GIF89a\x01\0\x01\0\0\0\0", 13);
	memcpy(fake + 13, html, strlen(html));
	n = 13 + strlen(html);
	normalize_fails(fake, n, &opts, PC_INVALID);
	assert_int_equal(image_normalize(fake, n, &opts, &out, &out_len, err),
	    PC_INVALID);
	assert_null(strstr(err, "script"));

	img = solid(50, 50, RED, 3);
	gif = encode(img, ".gif", &len);
	g_object_unref(img);
	assert_non_null(buf = malloc(len + strlen(html)));
	memcpy(buf, gif, len);
	memcpy(buf + len, html, strlen(html));
	g_free(gif);
	assert_int_equal(image_normalize(buf, len + strlen(html), &opts, &out,
	                     &out_len, err),
	    PC_OK);
	assert_null(memmem(out, out_len, "<script", 7));
	assert_null(memmem(out, out_len, "html", 4));
	img = check_webp(out, out_len, 0);
	assert_pixel(img, SIZE / 2, SIZE / 2, RED, 3, 40);
	g_object_unref(img);
	image_free(out);
	free(buf);
}

/* image_init() left only the four buffer loaders reachable. */
static void
test_loaders_blocked(void **state)
{
	static const char svg[] = "<svg xmlns=\"http://www.w3.org/2000/svg\" "
	                          "width=\"10\" height=\"10\"/>";
	VipsImage *img, *t;
	const char *name;
	void *buf;
	size_t len;
	char err[PC_ERRLEN];

	(void)state;
	assert_int_equal(image_init(err), PC_OK); /* idempotent */
	img = solid(16, 16, RED, 3);

	/*
	 * libvips 8.14 still names a blocked loader when sniffing, but
	 * refuses to run it.
	 */
	buf = encode(img, ".tif", &len);
	assert_null(t = vips_image_new_from_buffer(buf, len, "", NULL));
	assert_non_null(strstr(vips_error_buffer(), "blocked"));
	vips_error_clear();
	g_free(buf);
	assert_null(t = vips_image_new_from_buffer(svg, strlen(svg), "", NULL));
	assert_non_null(strstr(vips_error_buffer(), "blocked"));
	vips_error_clear();

	buf = encode(img, ".jpg", &len);
	assert_non_null(name = vips_foreign_find_load_buffer(buf, len));
	assert_string_equal(name, "VipsForeignLoadJpegBuffer");
	g_free(buf);
	buf = encode(img, ".png", &len);
	assert_non_null(name = vips_foreign_find_load_buffer(buf, len));
	assert_string_equal(name, "VipsForeignLoadPngBuffer");
	g_free(buf);
	g_object_unref(img);
	assert_int_equal(vips_cache_get_max(), 0);
	assert_int_equal(vips_concurrency_get(), 1);
}

static void
test_sniff(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
		int type; /* -1: PC_INVALID */
	} cases[] = {
		{ "\xff\xd8\xff\xe0", 4, IMAGE_JPEG },
		{ "\xff\xd8\xff", 3, IMAGE_JPEG },
		{ "\xff\xd8", 2, -1 },
		{ "\x89PNG\r\n\x1a\n", 8, IMAGE_PNG },
		{ "\x89PNG\r\n\x1a", 7, -1 },
		{ "\x89PNG\n\n\x1a\n", 8, -1 },
		{ "GIF87a", 6, IMAGE_GIF },
		{ "GIF89a\x01\0", 8, IMAGE_GIF },
		{ "GIF88a", 6, -1 },
		{ "RIFF\0\0\0\0WEBPVP8 ", 16, IMAGE_WEBP },
		{ "RIFF\0\0\0\0WEBP", 12, IMAGE_WEBP },
		{ "RIFF\0\0\0\0WEB", 11, -1 },
		{ "RIFF\0\0\0\0WAVEfmt ", 16, -1 },
		{ "II*\0\x08\0\0\0", 8, -1 },
		{ "MM\0*\0\0\0\x08", 8, -1 },
		{ "<svg xmlns=\"http://www.w3.org/2000/svg\"/>", 41, -1 },
		{ "%PDF-1.7", 8, -1 },
		{ "\0\0\0\x18"
		  "ftypheic",
		    12, -1 },
		{ "BM", 2, -1 },
		{ "hello", 5, -1 },
		{ "", 0, -1 },
	};
	enum image_type type;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		type = (enum image_type)99;
		if (cases[i].type < 0) {
			assert_int_equal(image_sniff(cases[i].bytes,
			                     cases[i].len, &type),
			    PC_INVALID);
			assert_int_equal(type, 99);
		} else {
			assert_int_equal(image_sniff(cases[i].bytes,
			                     cases[i].len, &type),
			    PC_OK);
			assert_int_equal(type, cases[i].type);
		}
	}
	assert_int_equal(image_sniff(NULL, 0, &type), PC_INVALID);
	assert_int_equal(image_sniff(NULL, 8, &type), PC_INVALID);
}

static void
test_bad_arguments(void **state)
{
	struct image_opts o;
	VipsImage *img;
	void *buf, *out;
	size_t len, out_len;
	char err[PC_ERRLEN];

	(void)state;
	img = solid(32, 32, RED, 3);
	buf = encode(img, ".png", &len);
	g_object_unref(img);

	assert_int_equal(image_normalize(buf, len, &opts, NULL, &out_len, err),
	    PC_ERROR);
	assert_int_equal(image_normalize(buf, len, &opts, &out, NULL, err),
	    PC_ERROR);
	normalize_fails(buf, len, NULL, PC_ERROR);
	o = opts;
	o.size = 0;
	normalize_fails(buf, len, &o, PC_ERROR);
	o.size = IMAGE_SIZE_MAX + 1;
	normalize_fails(buf, len, &o, PC_ERROR);
	o = opts;
	o.quality = 0;
	normalize_fails(buf, len, &o, PC_ERROR);
	o.quality = 101;
	normalize_fails(buf, len, &o, PC_ERROR);
	o = opts;
	o.max_pixels = 0;
	normalize_fails(buf, len, &o, PC_ERROR);
	normalize_fails(NULL, 5, &opts, PC_ERROR);

	/* And the good options for the same input work. */
	out = NULL;
	assert_int_equal(image_normalize(buf, len, &opts, &out, &out_len, err),
	    PC_OK);
	image_free(out);
	image_free(NULL);
	g_free(buf);
}

static int
group_setup(void **state)
{
	char err[PC_ERRLEN];

	(void)state;
	if (image_init(err) != PC_OK) {
		fprintf(stderr, "image_init: %s\n", err);
		return -1;
	}
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_png_bomb), /* first: see there */
		cmocka_unit_test(test_long_and_thin),
		cmocka_unit_test(test_max_pixels),
		cmocka_unit_test(test_jpeg_rotated_with_gps),
		cmocka_unit_test(test_png_alpha),
		cmocka_unit_test(test_gif_first_frame),
		cmocka_unit_test(test_webp_and_sizes),
		cmocka_unit_test(test_icc_applied),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_polyglot),
		cmocka_unit_test(test_loaders_blocked),
		cmocka_unit_test(test_sniff),
		cmocka_unit_test(test_bad_arguments),
	};
	char err[PC_ERRLEN];

	/* Before any image_init(): refused, and libvips not touched. */
	if (image_normalize("GIF89a", 6, &opts, &(void *){ NULL },
	        &(size_t){ 0 }, err) != PC_ERROR) {
		fprintf(stderr, "image_normalize worked before image_init\n");
		return 1;
	}
	/* libvips warnings about the broken inputs go to log_debug(). */
	log_set_level(LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, group_setup, NULL);
}

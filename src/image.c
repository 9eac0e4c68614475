/* Avatar decoding and normalisation with libvips. */
#include "autoconf.h"

/*
 * An upload is attacker-controlled bytes handed to image decoders, so the
 * defences come in layers, each cheap and each enough on its own for a class
 * of attack:
 *
 * 1. Which decoder. image_init() blocks every libvips loader but the four
 *    buffer loaders below (blocking only the "untrusted" ones would still
 *    leave TIFF, HEIF and the rest reachable), and image_normalize() sniffs
 *    the type from the bytes and insists libvips would pick the loader for
 *    that same type, so a polyglot cannot reach one decoder while being
 *    checked as another.
 * 2. How much memory. Only the header is read first; width * height above
 *    max_pixels is refused before a pixel is decoded (a PNG can declare
 *    50000 x 50000 in 30 bytes). Cropping to a square resizes the short side
 *    to the target first, so a very long thin image would be enlarged to
 *    (long / short) * size^2 pixels before the crop: that is held to the same
 *    budget. Decoding then runs sequentially with JPEG and WebP shrinking
 *    while loading, no operation cache and one worker thread.
 * 3. What comes out. Only re-encoded pixels: WebP saved with strip, then
 *    any EXIF, XMP or ICC chunk cut out of the encoded file and the rest
 *    checked to be image data only (webp_strip()), so GPS tags cannot ride
 *    along whatever the libvips version does.
 *
 * Every decoder error and truncation fails the request (fail_on=error)
 * instead of yielding a half-grey image. libvips's error text is copied into
 * err as one printable line and its error buffer cleared; its warnings go to
 * log_debug(), made printable too, since they may quote strings from the file.
 *
 * XXX Only memory is bounded here, not time: a progressive JPEG with
 * thousands of scans decodes slowly within the pixel budget. The caller's
 * request timeout is the limit.
 * XXX GIF frames and interlaced PNGs are decoded whole before shrinking, so
 * their peak is about 4 * max_pixels bytes.
 */

#include <stdint.h>
#include <string.h>

#include <vips/vips.h>

#include "image.h"
#include "log.h"

/*
 * Any decoder error or truncation refuses the image (see above). The same
 * setting as a loader option string for vips_thumbnail_buffer(): libvips 8.14
 * ignores the thumbnail's own fail_on argument, so a truncated JPEG would
 * come out grey.
 */
#define IMAGE_FAIL_ON VIPS_FAIL_ON_ERROR
#define IMAGE_FAIL_ON_OPT "fail_on=error"

/* The WebP saver's class name, checked for in image_init(). */
#define IMAGE_SAVER "VipsForeignSaveWebpBuffer"

struct image_format {
	enum image_type type;
	const char *name;   /* for messages */
	const char *loader; /* the one libvips loader that may read it */
	const char *magic;  /* at offset 0 */
	size_t magic_len;
	const char *magic8; /* 4 more bytes at offset 8, or NULL */
};

static const struct image_format image_formats[] = {
	{ IMAGE_JPEG, "JPEG", "VipsForeignLoadJpegBuffer", "\xff\xd8\xff", 3,
	    NULL },
	{ IMAGE_PNG, "PNG", "VipsForeignLoadPngBuffer", "\x89PNG\r\n\x1a\n", 8,
	    NULL },
	{ IMAGE_WEBP, "WebP", "VipsForeignLoadWebpBuffer", "RIFF", 4, "WEBP" },
	{ IMAGE_GIF, "GIF", "VipsForeignLoadNsgifBuffer", "GIF87a", 6, NULL },
	{ IMAGE_GIF, "GIF", "VipsForeignLoadNsgifBuffer", "GIF89a", 6, NULL },
};
#define NFORMATS (sizeof(image_formats) / sizeof(image_formats[0]))

static int image_ready;

/*
 * Copy the first line of src into dst (size bytes), with anything but
 * printable ASCII, and the double quote, replaced by '?': libvips's messages
 * can quote names from the file, and they end up in logs and responses.
 */
static void
image_printable(char *dst, size_t size, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < size && src[i] != '\0' && src[i] != '\n'; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f && src[i] != '"' ?
		    src[i] :
		    '?';
	dst[i] = '\0';
}

/* Put what and libvips's first error line into err, and clear libvips's. */
static void
image_vips_err(char *err, const char *what)
{
	char msg[PC_ERRLEN];

	image_printable(msg, sizeof(msg), vips_error_buffer());
	if (msg[0] != '\0')
		pc_err(err, "%s: %s", what, msg);
	else
		pc_err(err, "%s", what);
	vips_error_clear();
}

/* GLib log handler for the VIPS domain: warnings become debug lines. */
static void
image_vips_log(const gchar *domain, GLogLevelFlags level, const gchar *message,
    gpointer data)
{
	char msg[512];

	(void)domain;
	(void)level;
	(void)data;
	image_printable(msg, sizeof(msg), message != NULL ? message : "");
	log_debug("vips_warning", "msg=\"%s\"", msg);
}

enum pc_result
image_init(char *err)
{
	enum pc_result r = PC_ERROR;
	size_t i;

	if (image_ready)
		return PC_OK;
	if (VIPS_INIT("profilecache") != 0) {
		image_vips_err(err, "cannot start libvips");
		goto out;
	}
	(void)g_log_set_handler("VIPS",
	    G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE, image_vips_log, NULL);

	/*
	 * A blocked class blocks its subclasses; unblocking a subclass then
	 * lets exactly that one through (vips_operation_block_set()).
	 */
	vips_block_untrusted_set(TRUE);
	vips_operation_block_set("VipsForeignLoad", TRUE);
	for (i = 0; i < NFORMATS; i++) {
		if (g_type_from_name(image_formats[i].loader) == 0) {
			pc_err(err, "libvips has no %s loader (%s)",
			    image_formats[i].name, image_formats[i].loader);
			goto out;
		}
		vips_operation_block_set(image_formats[i].loader, FALSE);
	}
	if (g_type_from_name(IMAGE_SAVER) == 0) {
		pc_err(err, "libvips has no WebP saver");
		goto out;
	}

	/*
	 * Uploads are never alike, so a cache would only hold on to their
	 * memory; worse, with it on, libvips 8.14 answered a later upload
	 * with work cached for an earlier one (test_icc_applied: a new ICC
	 * profile went unapplied).
	 */
	vips_cache_set_max(0);
	vips_concurrency_set(1);
	image_ready = 1;
	r = PC_OK;
out:
	return r;
}

static const struct image_format *
image_format_sniff(const void *buf, size_t len)
{
	const struct image_format *f;
	const unsigned char *p = buf;
	size_t i;

	if (buf == NULL)
		return NULL;
	for (i = 0; i < NFORMATS; i++) {
		f = &image_formats[i];
		if (len < f->magic_len ||
		    memcmp(p, f->magic, f->magic_len) != 0)
			continue;
		if (f->magic8 != NULL &&
		    (len < 12 || memcmp(p + 8, f->magic8, 4) != 0))
			continue;
		return f;
	}
	return NULL;
}

enum pc_result
image_sniff(const void *buf, size_t len, enum image_type *type)
{
	const struct image_format *f;

	if ((f = image_format_sniff(buf, len)) == NULL)
		return PC_INVALID;
	*type = f->type;
	return PC_OK;
}

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/*
 * Drop the EXIF, XMP and ICC profile chunks of an encoded WebP in place,
 * clearing their VP8X flags, and check that what is left is well formed and
 * holds nothing but image data (VP8, VP8L, VP8X, ALPH; no animation). libvips
 * 8.14's webpsave writes an EXIF chunk even with strip set: one rebuilt from
 * the image's fields, which include the upload's camera and GPS tags. 0 with
 * *len updated, or -1.
 */
static int
webp_strip(unsigned char *p, size_t *len)
{
	static const char *const meta[] = { "EXIF", "XMP ", "ICCP" };
	static const char *const image[] = { "VP8 ", "VP8L", "VP8X", "ALPH" };
	const unsigned char vp8x_meta = 0x20 | 0x08 | 0x04; /* ICC, EXIF, XMP */
	const unsigned char vp8x_anim = 0x02;
	size_t off, keep, n, step, i;
	int drop;

	if (*len < 12 || *len - 8 > UINT32_MAX || memcmp(p, "RIFF", 4) != 0 ||
	    memcmp(p + 8, "WEBP", 4) != 0 || le32(p + 4) != *len - 8)
		return -1;
	for (off = keep = 12; off < *len; off += step) {
		if (*len - off < 8)
			return -1;
		n = le32(p + off + 4);
		step = 8 + n + (n & 1); /* chunks are padded to even */
		if (n > *len - off - 8 || step > *len - off)
			return -1;
		for (drop = 0, i = 0; i < sizeof(meta) / sizeof(meta[0]); i++)
			if (memcmp(p + off, meta[i], 4) == 0)
				drop = 1;
		if (drop)
			continue;
		for (i = 0; i < sizeof(image) / sizeof(image[0]); i++)
			if (memcmp(p + off, image[i], 4) == 0)
				break;
		if (i == sizeof(image) / sizeof(image[0]))
			return -1;
		if (memcmp(p + off, "VP8X", 4) == 0) {
			if (n < 10 || (p[off + 8] & vp8x_anim) != 0)
				return -1;
			p[off + 8] &= (unsigned char)~vp8x_meta;
		}
		memmove(p + keep, p + off, step);
		keep += step;
	}
	put_le32(p + 4, (uint32_t)(keep - 8));
	*len = keep;
	return 0;
}

enum pc_result
image_normalize(const void *in, size_t len, const struct image_opts *o,
    void **out, size_t *out_len, char *err)
{
	enum pc_result r = PC_ERROR;
	const struct image_format *f;
	const char *loader;
	VipsImage *hdr = NULL, *thumb = NULL;
	void *buf = NULL;
	size_t blen = 0;
	long long w, h, lo, hi;
	int icc;

	if (out == NULL || out_len == NULL) {
		pc_err(err, "bad arguments");
		goto out;
	}
	*out = NULL;
	*out_len = 0;
	if (in == NULL && len > 0) {
		pc_err(err, "bad arguments");
		goto out;
	}
	if (o == NULL || o->size < 1 || o->size > IMAGE_SIZE_MAX ||
	    o->max_pixels < 1 || o->quality < 1 || o->quality > 100) {
		pc_err(err, "bad image options");
		goto out;
	}
	if (!image_ready) {
		pc_err(err, "image_init() was not called");
		goto out;
	}

	r = PC_INVALID;
	if ((f = image_format_sniff(in, len)) == NULL) {
		pc_err(err, "not a JPEG, PNG, WebP or GIF image");
		goto out;
	}
	/*
	 * libvips sniffs on its own (and 8.14 names blocked loaders too): it
	 * must pick the loader that goes with our type.
	 */
	if ((loader = vips_foreign_find_load_buffer(in, len)) == NULL ||
	    strcmp(loader, f->loader) != 0) {
		vips_error_clear();
		pc_err(err, "not a readable %s image", f->name);
		goto out;
	}
	if ((hdr = vips_image_new_from_buffer(in, len, "", "access",
	         VIPS_ACCESS_SEQUENTIAL, "fail_on", IMAGE_FAIL_ON, NULL)) ==
	    NULL) {
		image_vips_err(err, "bad header");
		goto out;
	}
	w = vips_image_get_width(hdr);
	h = vips_image_get_height(hdr);
	if (w < 1 || h < 1) {
		pc_err(err, "bad header: no pixels");
		goto out;
	}
	r = PC_TOOBIG;
	if (w * h > o->max_pixels) {
		pc_err(err, "%lld x %lld pixels, more than %lld", w, h,
		    o->max_pixels);
		goto out;
	}
	/* The short side is resized to size before the crop: see layer 2. */
	lo = w < h ? w : h;
	hi = w < h ? h : w;
	if ((hi * o->size + lo - 1) / lo > o->max_pixels / o->size) {
		pc_err(err, "%lld x %lld pixels: too long and thin", w, h);
		goto out;
	}

	/*
	 * An embedded profile is about to be stripped, so go through it to
	 * sRGB first (a phone's Display P3 photo would look dull otherwise).
	 * Without one the pixels are sRGB already: an sRGB export would only
	 * shift them.
	 */
	icc = vips_image_get_typeof(hdr, VIPS_META_ICC_NAME) != 0;

	/* libvips only reads in; the cast is its prototype's. */
	r = PC_INVALID;
	if (vips_thumbnail_buffer((void *)in, len, &thumb, o->size, "height",
	        o->size, "size", VIPS_SIZE_BOTH, "crop",
	        VIPS_INTERESTING_CENTRE, "option_string", IMAGE_FAIL_ON_OPT,
	        "export_profile", icc ? "srgb" : NULL, NULL) != 0) {
		image_vips_err(err, "cannot decode");
		goto out;
	}
	/* The pipeline is lazy: decoding errors surface in the save. */
	if (vips_webpsave_buffer(thumb, &buf, &blen, "Q", o->quality, "strip",
	        TRUE, NULL) != 0) {
		image_vips_err(err, "cannot decode");
		goto out;
	}

	r = PC_ERROR;
	if (vips_image_get_width(thumb) != o->size ||
	    vips_image_get_height(thumb) != o->size) {
		pc_err(err, "libvips made %d x %d, not %d x %d",
		    vips_image_get_width(thumb), vips_image_get_height(thumb),
		    o->size, o->size);
		goto out;
	}
	if (webp_strip(buf, &blen) != 0) {
		pc_err(err, "libvips wrote a WebP with unexpected chunks");
		goto out;
	}
	*out = buf;
	*out_len = blen;
	buf = NULL;
	r = PC_OK;
out:
	g_free(buf);
	VIPS_UNREF(thumb);
	VIPS_UNREF(hdr);
	if (image_ready) /* libvips's lock exists only once started */
		vips_error_clear();
	return r;
}

void
image_free(void *out)
{
	g_free(out);
}

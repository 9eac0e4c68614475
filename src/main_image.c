/*
 * profilecache-image: normalise one uploaded avatar, in its own process.
 *
 * The responder runs this for each upload so that libvips and the image
 * decoders never live in the long-running FastCGI processes: they cost no
 * memory there, a decoder crash kills only this process, and a slow image
 * can be killed on a deadline.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "image.h"
#include "log.h"
#include "strnum.h"

/* The exit codes imageproc.c maps back (sysexits.h values). */
#define EXIT_NOT_AN_IMAGE 65    /* EX_DATAERR */
#define EXIT_TOO_MANY_PIXELS 66 /* EX_NOINPUT: never used by libc for this */
#define EXIT_USAGE 64

static const char *const type_names[] = {
	[IMAGE_JPEG] = "image/jpeg",
	[IMAGE_PNG] = "image/png",
	[IMAGE_WEBP] = "image/webp",
	[IMAGE_GIF] = "image/gif",
};

/* True when the client's media type agrees with what the bytes are. */
static bool
declared_matches(const char *declared, enum image_type t)
{
	if (declared == NULL || *declared == '\0' ||
	    strcasecmp(declared, "application/octet-stream") == 0)
		return true; /* nothing claimed: the bytes decide */
	if (strcasecmp(declared, "image/jpg") == 0 ||
	    strcasecmp(declared, "image/pjpeg") == 0)
		return t == IMAGE_JPEG;
	return strcasecmp(declared, type_names[t]) == 0;
}

static int
usage(void)
{
	fprintf(stderr,
	    "usage: profilecache-image --size N --max-pixels N --quality N\n"
	    "                          --max-bytes N [--type MEDIA-TYPE]\n"
	    "Reads an image on standard input and writes it as a square WebP without\n"
	    "metadata on standard output. Exit status: 0 done, 65 not a JPEG, PNG,\n"
	    "WebP or GIF (or not the --type given), 66 too many pixels, 1 failure.\n");
	return EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	struct image_opts o = { 0 };
	long long size = 0, pixels = 0, quality = 0, max_bytes = 0;
	const char *declared = NULL;
	char err[PC_ERRLEN] = "", chunk[65536];
	enum image_type type;
	size_t out_len = 0, done;
	void *out = NULL;
	struct buf in;
	enum pc_result r;
	ssize_t n;
	int i, rc = 1;

	log_set_ident("profilecache-image");
	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--size") == 0)
			r = strnum_parse(argv[i + 1], 1, IMAGE_SIZE_MAX, &size);
		else if (strcmp(argv[i], "--max-pixels") == 0)
			r = strnum_parse(argv[i + 1], 1, 1000000000, &pixels);
		else if (strcmp(argv[i], "--quality") == 0)
			r = strnum_parse(argv[i + 1], 1, 100, &quality);
		else if (strcmp(argv[i], "--max-bytes") == 0)
			r = strnum_parse(argv[i + 1], 1, 1LL << 30, &max_bytes);
		else if (strcmp(argv[i], "--type") == 0) {
			declared = argv[i + 1];
			r = PC_OK;
		} else
			r = PC_INVALID;
		if (r != PC_OK)
			return usage();
	}
	if (i != argc || size == 0 || pixels == 0 || quality == 0 ||
	    max_bytes == 0)
		return usage();
	o.size = (int)size;
	o.max_pixels = pixels;
	o.quality = (int)quality;

	buf_init(&in, (size_t)max_bytes);
	for (;;) {
		n = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_error("image_read_failed", "error=\"%s\"",
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (buf_add(&in, chunk, (size_t)n) != PC_OK) {
			log_error("image_too_large", "max_bytes=%lld",
			    max_bytes);
			goto out;
		}
	}
	if (image_sniff(in.data, in.len, &type) != PC_OK ||
	    !declared_matches(declared, type)) {
		rc = EXIT_NOT_AN_IMAGE;
		goto out;
	}
	if (image_init(err) != PC_OK) {
		log_error("image_init_failed", "error=\"%s\"", err);
		goto out;
	}
	r = image_normalize(in.data, in.len, &o, &out, &out_len, err);
	if (r != PC_OK) {
		log_info("image_refused", "reason=\"%s\"", err);
		rc = r == PC_TOOBIG ? EXIT_TOO_MANY_PIXELS :
		    r == PC_INVALID ? EXIT_NOT_AN_IMAGE :
		                      1;
		goto out;
	}
	for (done = 0; done < out_len; done += (size_t)n) {
		n = write(STDOUT_FILENO, (char *)out + done, out_len - done);
		if (n == -1 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0)
			goto out;
	}
	rc = 0;
out:
	image_free(out);
	buf_free(&in);
	return rc;
}

/* A streaming multipart/form-data parser in fixed memory (RFC 7578). */
#ifndef PC_MULTIPART_H
#define PC_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#include "result.h"

#define MULTIPART_BOUNDARY_MAX 70   /* RFC 2046 */
#define MULTIPART_HEADER_MAX 8192   /* a part's headers, CRLFs included */
#define MULTIPART_PREAMBLE_MAX 8192 /* ignored, before the first boundary */
#define MULTIPART_PARTS_MAX 16

/*
 * Extract the boundary parameter from a Content-Type value
 * ("multipart/form-data; boundary=----WebKitFormBoundaryX", or quoted).
 * PC_INVALID when the type is not multipart/form-data (case-insensitive), the
 * boundary is missing, given twice, empty, longer than MULTIPART_BOUNDARY_MAX
 * bytes or has characters RFC 2046 forbids. out gets it NUL-terminated;
 * PC_TOOBIG when outlen is too small for it (MULTIPART_BOUNDARY_MAX + 1 is
 * always enough).
 */
enum pc_result multipart_boundary(const char *content_type, char *out,
    size_t outlen);

/* From a part's headers; values longer than these buffers are PC_INVALID. */
struct multipart_part {
	char name[64];          /* Content-Disposition: form-data; name="..." */
	char filename[256];     /* filename="..." if any, else "" */
	char content_type[128]; /* the part's Content-Type, else "" */
};

/*
 * Any callback may be NULL: a NULL part_begin accepts every part, a NULL
 * part_data discards the data. Pointers passed to them are valid only during
 * the call. Nothing a part delivered is trustworthy until multipart_finish
 * returns PC_OK: a later byte can still make the whole body malformed.
 */
struct multipart_callbacks {
	/* A part's headers are complete. Return false to skip its data. */
	bool (*part_begin)(void *arg, const struct multipart_part *p);
	/*
	 * Data of an accepted part, in pieces as they arrive (never empty);
	 * return false to abort (multipart_feed then returns PC_TOOBIG).
	 */
	bool (*part_data)(void *arg, const char *data, size_t len);
	/*
	 * The delimiter after the part's data was seen. Called once after
	 * every part_begin, accepted or skipped, unless an error or the end of
	 * the body comes first.
	 */
	void (*part_end)(void *arg);
};

struct multipart;

/*
 * Start parsing a body whose parts are separated by boundary (as from
 * multipart_boundary(); the string is copied). cb is copied too; arg is
 * passed to every callback. NULL when the boundary is not one RFC 2046
 * allows or memory runs out. The caller owns the result and frees it with
 * multipart_free(). Memory use is fixed, about MULTIPART_HEADER_MAX bytes,
 * whatever the body's size.
 */
struct multipart *multipart_new(const char *boundary,
    const struct multipart_callbacks *cb, void *arg);
/* Release mp; NULL is allowed. */
void multipart_free(struct multipart *mp);

/*
 * Feed the next len bytes of the body, in any chunking down to one byte at a
 * time; data may hold any bytes. PC_OK, PC_INVALID when malformed (a bad or
 * folded header line, a header block over MULTIPART_HEADER_MAX bytes, more
 * than MULTIPART_PARTS_MAX parts, a preamble over MULTIPART_PREAMBLE_MAX
 * bytes, no CRLF after a boundary, bytes after the close delimiter other than
 * CRLF and an epilogue, a NUL or other control character in headers, a part
 * without Content-Disposition: form-data and a name) or PC_TOOBIG when
 * part_data refused. After an error every further call returns the same
 * error.
 */
enum pc_result multipart_feed(struct multipart *mp, const char *data,
    size_t len);

/*
 * The body ended: PC_OK only when the close delimiter ("--boundary--") was
 * seen, PC_INVALID for an unterminated part or a body that never started, or
 * the error multipart_feed returned.
 */
enum pc_result multipart_finish(struct multipart *mp);

#endif

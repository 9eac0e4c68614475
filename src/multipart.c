/* A streaming multipart/form-data parser in fixed memory. */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "multipart.h"

/*
 * Finding the delimiter in a stream.
 *
 * A part's data ends at the delimiter CRLF "--" boundary. Bytes that match a
 * prefix of it are held back, not delivered, until the match either completes
 * or fails; the held bytes are by definition delim[0..matched), so they need
 * no buffer of their own and at most dlen - 1 bytes are ever withheld.
 *
 * When a match fails, Knuth-Morris-Pratt would fall back to the longest
 * proper suffix of what was held that is also a prefix of the delimiter.
 * Every prefix of the delimiter starts with CR, and RFC 2046 allows no CR in
 * a boundary, so delim[0] is the only CR in delim and no proper suffix of a
 * held prefix starts with one. The fallback is therefore always to nothing:
 * deliver everything held, then compare the failing byte with delim[0]
 * afresh. multipart_new() enforces the boundary alphabet this relies on.
 *
 * The first delimiter may come without its CRLF, at the very start of the
 * body: the parser starts in the preamble as though "\r\n" had just been
 * matched. What the preamble "delivers" is discarded.
 */

enum mp_state {
	MP_PREAMBLE,  /* before the first delimiter */
	MP_DELIM,     /* right after a delimiter */
	MP_DELIM_PAD, /* transport padding after a delimiter */
	MP_DELIM_LF,  /* the CR ending a delimiter line was seen */
	MP_HEADERS,
	MP_DATA,
	MP_CLOSE,     /* a delimiter and one '-' */
	MP_CLOSED,    /* the close delimiter; padding may follow */
	MP_CLOSED_LF, /* its CR */
	MP_EPILOGUE   /* ignored to the end */
};

struct multipart {
	struct multipart_callbacks cb;
	void *arg;
	enum pc_result result; /* sticky: once an error, always that error */
	enum mp_state state;

	char delim[4 + MULTIPART_BOUNDARY_MAX]; /* CRLF "--" boundary, no NUL */
	size_t dlen;
	size_t matched;  /* delim[0..matched) seen and held back */
	size_t preamble; /* bytes consumed before the first delimiter */
	size_t count;    /* padding or header bytes of this block */
	unsigned int nparts;

	struct multipart_part part;
	bool accepted; /* part_begin wanted this part's data */
	bool seen_disposition;
	bool seen_type;
	bool cr; /* the header line so far ended in CR */
	size_t linelen;
	char line[MULTIPART_HEADER_MAX + 1];
};

/* A wanted parameter of a header value. */
struct mp_param {
	const char *name;
	char *out;
	size_t outlen;
	bool seen;
};

/* RFC 9110 tchar, without the locale's say in it. */
static bool
mp_tchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 2046 bchars. */
static bool
mp_bchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("'()+_,-./:=? ", c) != NULL;
}

static bool
mp_boundary_ok(const char *b, size_t len)
{
	size_t i;

	if (len == 0 || len > MULTIPART_BOUNDARY_MAX || b[len - 1] == ' ')
		return false;
	for (i = 0; i < len; i++) {
		if (!mp_bchar(b[i]))
			return false;
	}
	return true;
}

static const char *
mp_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static bool
mp_name_is(const char *s, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

/*
 * Append c to out (outlen bytes, room kept for a NUL) at *n and count it.
 * With out NULL the value is only being skipped. False when it does not fit.
 */
static bool
mp_put(char *out, size_t outlen, size_t *n, char c)
{
	if (out != NULL) {
		if (*n + 1 >= outlen)
			return false;
		out[*n] = c;
	}
	(*n)++;
	return true;
}

/*
 * Read a parameter value at *pp, a token or a quoted-string (backslash quotes
 * the next byte), into out NUL-terminated, or skip it when out is NULL, and
 * advance *pp past it. PC_INVALID when malformed, empty as a token, or too
 * long for out.
 */
static enum pc_result
mp_param_value(const char **pp, char *out, size_t outlen)
{
	const char *p = *pp;
	size_t n = 0;

	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\\')
				p++;
			if (*p == '\0' || !mp_put(out, outlen, &n, *p))
				return PC_INVALID;
		}
		p++;
	} else {
		for (; mp_tchar(*p); p++) {
			if (!mp_put(out, outlen, &n, *p))
				return PC_INVALID;
		}
		if (n == 0)
			return PC_INVALID;
	}
	if (out != NULL)
		out[n] = '\0';
	*pp = p;
	return PC_OK;
}

/*
 * Parse the parameter list at p (*( OWS ";" OWS token "=" value ), an empty
 * trailing ";" allowed) and store the values of the wanted names, which are
 * compared without regard to case; others are skipped. PC_INVALID when
 * malformed or a wanted name comes twice: two differing answers to one
 * question are a way to make two parsers disagree.
 */
static enum pc_result
mp_params(const char *p, struct mp_param *want, size_t nwant)
{
	const char *name;
	size_t i, n;
	char *out;

	for (;;) {
		p = mp_ows(p);
		if (*p == '\0')
			return PC_OK;
		if (*p != ';')
			return PC_INVALID;
		p = mp_ows(p + 1);
		if (*p == '\0')
			return PC_OK;
		name = p;
		for (n = 0; mp_tchar(name[n]); n++)
			;
		if (n == 0 || name[n] != '=')
			return PC_INVALID;
		p = name + n + 1;
		out = NULL;
		for (i = 0; i < nwant; i++) {
			if (!mp_name_is(name, n, want[i].name))
				continue;
			if (want[i].seen)
				return PC_INVALID;
			want[i].seen = true;
			out = want[i].out;
			break;
		}
		if (mp_param_value(&p, out, out != NULL ? want[i].outlen : 0) !=
		    PC_OK)
			return PC_INVALID;
	}
}

/* Step over the media or disposition type at *pp if it is type, in any case. */
static bool
mp_type_is(const char **pp, const char *type)
{
	size_t n = strlen(type);

	if (strncasecmp(*pp, type, n) != 0)
		return false;
	*pp += n;
	return true;
}

enum pc_result
multipart_boundary(const char *content_type, char *out, size_t outlen)
{
	char b[MULTIPART_BOUNDARY_MAX + 1];
	struct mp_param want[] = {
		{ .name = "boundary", .out = b, .outlen = sizeof(b) },
	};
	const char *p = content_type;
	size_t n;

	if (p == NULL || !mp_type_is(&p, "multipart/form-data") ||
	    mp_params(p, want, 1) != PC_OK || !want[0].seen)
		return PC_INVALID;
	n = strlen(b);
	if (!mp_boundary_ok(b, n))
		return PC_INVALID;
	if (n >= outlen)
		return PC_TOOBIG;
	memcpy(out, b, n + 1);
	return PC_OK;
}

/* Content-Disposition: form-data; name="..."[; filename="..."] */
static enum pc_result
mp_disposition(struct multipart_part *part, const char *v)
{
	struct mp_param want[] = {
		{ .name = "name",
		    .out = part->name,
		    .outlen = sizeof(part->name) },
		{ .name = "filename",
		    .out = part->filename,
		    .outlen = sizeof(part->filename) },
	};

	if (!mp_type_is(&v, "form-data") || mp_params(v, want, 2) != PC_OK ||
	    !want[0].seen)
		return PC_INVALID;
	return PC_OK;
}

/* One complete header line, without its CRLF, in mp->line. */
static enum pc_result
mp_header_line(struct multipart *mp)
{
	char *line = mp->line, *end = mp->line + mp->linelen;
	const char *v;
	size_t n;

	*end = '\0';
	/* Obsolete line folding (a leading space) fails the tchar test too. */
	for (n = 0; mp_tchar(line[n]); n++)
		;
	if (n == 0 || line[n] != ':')
		return PC_INVALID;
	v = mp_ows(line + n + 1);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (mp_name_is(line, n, "content-disposition")) {
		if (mp->seen_disposition)
			return PC_INVALID;
		mp->seen_disposition = true;
		return mp_disposition(&mp->part, v);
	}
	if (mp_name_is(line, n, "content-type")) {
		if (mp->seen_type ||
		    (size_t)(end - v) >= sizeof(mp->part.content_type))
			return PC_INVALID;
		mp->seen_type = true;
		memcpy(mp->part.content_type, v, (size_t)(end - v) + 1);
	}
	/* Anything else (Content-Transfer-Encoding included) is ignored. */
	return PC_OK;
}

/* Hand n bytes of data to the current part, if it wants them. */
static void
mp_deliver(struct multipart *mp, const char *p, size_t n)
{
	if (n == 0 || mp->result != PC_OK || mp->state != MP_DATA ||
	    !mp->accepted || mp->cb.part_data == NULL)
		return;
	if (!mp->cb.part_data(mp->arg, p, n))
		mp->result = PC_TOOBIG;
}

/* A whole delimiter was matched. */
static void
mp_delimiter(struct multipart *mp)
{
	if (mp->state == MP_DATA && mp->cb.part_end != NULL)
		mp->cb.part_end(mp->arg);
	mp->state = MP_DELIM;
	mp->matched = 0;
	mp->count = 0;
}

/* The CRLF after a delimiter: a part's headers follow. */
static void
mp_part_start(struct multipart *mp)
{
	if (++mp->nparts > MULTIPART_PARTS_MAX) {
		mp->result = PC_INVALID;
		return;
	}
	memset(&mp->part, 0, sizeof(mp->part));
	mp->seen_disposition = false;
	mp->seen_type = false;
	mp->cr = false;
	mp->linelen = 0;
	mp->count = 0;
	mp->state = MP_HEADERS;
}

/* The blank line after a part's headers: its data follow. */
static void
mp_part_begin(struct multipart *mp)
{
	if (!mp->seen_disposition) {
		mp->result = PC_INVALID;
		return;
	}
	mp->accepted =
	    mp->cb.part_begin == NULL || mp->cb.part_begin(mp->arg, &mp->part);
	mp->state = MP_DATA;
	mp->matched = 0;
}

/*
 * Preamble or part data: look for the delimiter (see the top of the file),
 * delivering data as it goes. Returns the bytes consumed, at least one;
 * stops after a delimiter.
 */
static size_t
mp_scan(struct multipart *mp, const char *p, size_t len)
{
	bool found = false, preamble = mp->state == MP_PREAMBLE;
	size_t i = 0, run = 0; /* p[run..i) is data not yet delivered */
	const char *cr;

	while (i < len && mp->result == PC_OK) {
		if (mp->matched == 0) {
			if ((cr = memchr(p + i, '\r', len - i)) == NULL) {
				i = len;
				break;
			}
			i = (size_t)(cr - p);
		}
		if (p[i] != mp->delim[mp->matched]) {
			mp_deliver(mp, mp->delim, mp->matched);
			mp->matched = 0;
			run = i;
			continue;
		}
		if (mp->matched == 0)
			mp_deliver(mp, p + run, i - run);
		i++;
		if (++mp->matched == mp->dlen) {
			mp_delimiter(mp);
			found = true;
			break;
		}
	}
	if (!found && mp->matched == 0)
		mp_deliver(mp, p + run, i - run);
	if (preamble) {
		mp->preamble += i;
		if (mp->preamble > MULTIPART_PREAMBLE_MAX + mp->dlen)
			mp->result = PC_INVALID;
	}
	return i;
}

/* A part's header lines up to the blank line. Returns the bytes consumed. */
static size_t
mp_headers(struct multipart *mp, const char *p, size_t len)
{
	size_t i = 0;
	unsigned char c;

	while (i < len && mp->state == MP_HEADERS && mp->result == PC_OK) {
		c = (unsigned char)p[i++];
		if (++mp->count > MULTIPART_HEADER_MAX)
			mp->result = PC_INVALID;
		else if (mp->cr) {
			mp->cr = false;
			if (c != '\n')
				mp->result = PC_INVALID;
			else if (mp->linelen == 0)
				mp_part_begin(mp);
			else {
				mp->result = mp_header_line(mp);
				mp->linelen = 0;
			}
		} else if (c == '\r')
			mp->cr = true;
		else if ((c < 0x20 && c != '\t') || c == 0x7f)
			mp->result = PC_INVALID; /* NUL, bare LF, ... */
		else
			mp->line[mp->linelen++] = (char)c;
	}
	return i;
}

/* Transport padding (RFC 2046), bounded like a header block. */
static bool
mp_pad(struct multipart *mp, char c)
{
	return (c == ' ' || c == '\t') && ++mp->count <= MULTIPART_HEADER_MAX;
}

/* One byte of what follows a delimiter. */
static void
mp_tail(struct multipart *mp, char c)
{
	switch (mp->state) {
	case MP_DELIM:
	case MP_DELIM_PAD:
		if (c == '-' && mp->state == MP_DELIM)
			mp->state = MP_CLOSE;
		else if (c == '\r')
			mp->state = MP_DELIM_LF;
		else if (mp_pad(mp, c))
			mp->state = MP_DELIM_PAD;
		else
			mp->result = PC_INVALID;
		break;
	case MP_DELIM_LF:
		if (c == '\n')
			mp_part_start(mp);
		else
			mp->result = PC_INVALID;
		break;
	case MP_CLOSE:
		if (c == '-')
			mp->state = MP_CLOSED;
		else
			mp->result = PC_INVALID;
		break;
	case MP_CLOSED:
		if (c == '\r')
			mp->state = MP_CLOSED_LF;
		else if (!mp_pad(mp, c))
			mp->result = PC_INVALID;
		break;
	case MP_CLOSED_LF:
		if (c == '\n')
			mp->state = MP_EPILOGUE;
		else
			mp->result = PC_INVALID;
		break;
	default:
		/* Not reached: multipart_feed() handles the other states. */
		mp->result = PC_ERROR;
		break;
	}
}

struct multipart *
multipart_new(const char *boundary, const struct multipart_callbacks *cb,
    void *arg)
{
	struct multipart *mp;
	size_t n;

	if (boundary == NULL)
		return NULL;
	n = strnlen(boundary, MULTIPART_BOUNDARY_MAX + 1);
	if (!mp_boundary_ok(boundary, n))
		return NULL;
	if ((mp = calloc(1, sizeof(*mp))) == NULL)
		return NULL;
	if (cb != NULL)
		mp->cb = *cb;
	mp->arg = arg;
	mp->result = PC_OK;
	mp->state = MP_PREAMBLE;
	memcpy(mp->delim, "\r\n--", 4);
	memcpy(mp->delim + 4, boundary, n);
	mp->dlen = 4 + n;
	mp->matched = 2; /* the first delimiter needs no CRLF */
	return mp;
}

void
multipart_free(struct multipart *mp)
{
	free(mp);
}

enum pc_result
multipart_feed(struct multipart *mp, const char *data, size_t len)
{
	size_t i = 0;

	while (i < len && mp->result == PC_OK) {
		switch (mp->state) {
		case MP_PREAMBLE:
		case MP_DATA:
			i += mp_scan(mp, data + i, len - i);
			break;
		case MP_HEADERS:
			i += mp_headers(mp, data + i, len - i);
			break;
		case MP_EPILOGUE:
			i = len; /* RFC 2046: to be ignored */
			break;
		default:
			mp_tail(mp, data[i++]);
			break;
		}
	}
	return mp->result;
}

enum pc_result
multipart_finish(struct multipart *mp)
{
	if (mp->result != PC_OK)
		return mp->result;
	switch (mp->state) {
	case MP_CLOSED:
	case MP_CLOSED_LF:
	case MP_EPILOGUE:
		break;
	default:
		mp->result = PC_INVALID;
		break;
	}
	return mp->result;
}

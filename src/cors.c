/* Cross-origin calls from browsers (CORS): which origins may call, and how it is said. */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "cors.h"
#include "http.h"

/* Separators between the entries of a cors_origins list. */
#define LIST_SEP ", \t"

/*
 * The request headers a browser may send: the token, the admin credential
 * (apikey), conditional requests, and what Supabase's client libraries add
 * (x-client-info). Lower case, as browsers list them in
 * Access-Control-Request-Headers.
 */
static const char allow_headers[] =
    "authorization, content-type, if-match, if-none-match, idempotency-key, "
    "apikey, x-client-info";

/*
 * The response headers a script may read besides the safelisted ones
 * (Cache-Control, Content-Type, Content-Length...): the version to send back
 * in If-Match, where the answer came from, when to try again after 429 and
 * 503, and why a token was refused.
 */
static const char expose_headers[] =
    "ETag, X-Cache, Retry-After, WWW-Authenticate, Location, Idempotent-Replayed";

static bool
is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

UNITTEST bool
cors_origin_valid(const char *o, size_t len)
{
	const char *end = o + len, *p = o;
	unsigned long port = 0;
	size_t n;

	if (len == 0 || len > CORS_ORIGIN_MAX || !is_lower(*p))
		return false;
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), lower case */
	while (p < end &&
	    (is_lower(*p) || is_digit(*p) || *p == '+' || *p == '-' ||
	        *p == '.'))
		p++;
	if (end - p < 3 || memcmp(p, "://", 3) != 0)
		return false;
	p += 3;
	if (p < end && *p == '[') {
		/* An IPv6 literal, as browsers write it: [::1] */
		for (p++, n = 0; p < end &&
		     (is_digit(*p) || (*p >= 'a' && *p <= 'f') || *p == ':' ||
		         *p == '.');
		     p++)
			n++;
		if (n < 2 || p == end || *p++ != ']')
			return false;
	} else {
		/* A host name, punycoded and lower case, or an IPv4 address. */
		for (n = 0; p < end &&
		     (is_lower(*p) || is_digit(*p) || *p == '-' || *p == '.' ||
		         *p == '_');
		     p++)
			n++;
		if (n == 0)
			return false;
	}
	if (p == end)
		return true;
	if (*p++ != ':' || p == end || *p == '0')
		return false;
	for (n = 0; p < end && is_digit(*p) && n < 5; p++, n++)
		port = port * 10 + (unsigned long)(*p - '0');
	return p == end && port >= 1 && port <= 65535;
}

/*
 * The next entry of a list: *len bytes at the returned pointer, or NULL at
 * the end. *cur moves past it.
 */
static const char *
list_next(const char **cur, const char *sep, size_t *len)
{
	const char *p = *cur + strspn(*cur, sep);

	if (*p == '\0')
		return NULL;
	*len = strcspn(p, sep);
	*cur = p + *len;
	return p;
}

/* Whether token[0..len) equals s. */
static bool
token_is(const char *token, size_t len, const char *s)
{
	return strlen(s) == len && memcmp(token, s, len) == 0;
}

/* The ":port" at the end of a valid origin o[0..len), or NULL when it has none. */
static const char *
origin_port(const char *o, size_t len)
{
	const char *host = (const char *)memmem(o, len, "://", 3) + 3;
	const char *end = o + len;

	if (*host == '[')
		host = memchr(host, ']', (size_t)(end - host));
	return memchr(host, ':', (size_t)(end - host));
}

enum pc_result
cors_origins_check(const char *list, char *err)
{
	const char *cur = list, *e, *port;
	size_t len, n = 0;

	while ((e = list_next(&cur, LIST_SEP, &len)) != NULL) {
		n++;
		if (token_is(e, len, "*"))
			continue;
		if (token_is(e, len, "null")) {
			pc_err(err,
			    "\"null\" cannot be allowed: sandboxed pages, "
			    "files and redirects all send it");
			return PC_INVALID;
		}
		if (!cors_origin_valid(e, len)) {
			pc_err(err,
			    "\"%.*s\" is not an origin: scheme://host[:port] "
			    "in lower case, with no path, not even \"/\"",
			    (int)(len > 80 ? 80 : len), e);
			return PC_INVALID;
		}
		port = origin_port(e, len);
		if (port != NULL &&
		    ((len > 8 && memcmp(e, "https://", 8) == 0 &&
		         token_is(port, (size_t)(e + len - port), ":443")) ||
		        (len > 7 && memcmp(e, "http://", 7) == 0 &&
		            token_is(port, (size_t)(e + len - port), ":80")))) {
			pc_err(err,
			    "\"%.*s\" names the scheme's default port, "
			    "which browsers leave out of Origin: drop it",
			    (int)len, e);
			return PC_INVALID;
		}
	}
	if (n == 0) {
		pc_err(err, "no origin listed");
		return PC_INVALID;
	}
	return PC_OK;
}

UNITTEST enum cors_allow
cors_origin_allowed(const char *list, const char *origin)
{
	const char *cur = list, *e;
	enum cors_allow allow = CORS_DENY;
	size_t len, olen;

	if (list == NULL || origin == NULL)
		return CORS_DENY;
	olen = strlen(origin);
	if (!cors_origin_valid(origin, olen))
		return CORS_DENY;
	while ((e = list_next(&cur, LIST_SEP, &len)) != NULL) {
		if (len == olen && memcmp(e, origin, len) == 0)
			return CORS_ANY;
		if (token_is(e, len, "*"))
			allow = CORS_READ;
	}
	return allow;
}

bool
cors_is_preflight(const struct http_request *req)
{
	return req->method != NULL && strcmp(req->method, "OPTIONS") == 0 &&
	    http_request_header(req, "HTTP_ACCESS_CONTROL_REQUEST_METHOD") !=
	    NULL;
}

/* Whether method is one of the methods listed in allow ("GET, HEAD, PUT"). */
static bool
method_listed(const char *allow, const char *method)
{
	const char *cur = allow, *m;
	size_t len;

	while ((m = list_next(&cur, ", ", &len)) != NULL)
		if (token_is(m, len, method))
			return true;
	return false;
}

static bool
method_reads(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

void
cors_preflight(const struct config *cfg, const struct http_request *req,
    struct http_response *resp, const char *allow)
{
	const char *origin = http_request_header(req, "HTTP_ORIGIN");
	const char *method =
	    http_request_header(req, "HTTP_ACCESS_CONTROL_REQUEST_METHOD");
	enum cors_allow may;

	if (cfg->http_cors_origins == NULL)
		return;
	http_vary_add(resp, "Origin");
	http_vary_add(resp, "Access-Control-Request-Method");
	may = cors_origin_allowed(cfg->http_cors_origins, origin);
	if (may == CORS_DENY || method == NULL ||
	    !method_listed(allow, method) ||
	    (may == CORS_READ && !method_reads(method)))
		return;
	http_header_add(resp, "Access-Control-Allow-Origin", "%s", origin);
	/* A path that answers GET answers HEAD too (route_find()). */
	http_header_add(resp, "Access-Control-Allow-Methods", "%s",
	    may == CORS_READ ? "GET, HEAD" : allow);
	http_header_add(resp, "Access-Control-Allow-Headers", "%s",
	    allow_headers);
	http_header_add(resp, "Access-Control-Max-Age", "%ld",
	    cfg->http_cors_max_age);
}

void
cors_response(const struct config *cfg, const struct http_request *req,
    struct http_response *resp)
{
	const char *origin = http_request_header(req, "HTTP_ORIGIN");
	enum cors_allow may;

	if (cfg->http_cors_origins == NULL || cors_is_preflight(req))
		return;
	http_vary_add(resp, "Origin");
	may = cors_origin_allowed(cfg->http_cors_origins, origin);
	if (may == CORS_DENY || req->method == NULL ||
	    (may == CORS_READ && !method_reads(req->method)))
		return;
	http_header_add(resp, "Access-Control-Allow-Origin", "%s", origin);
	http_header_add(resp, "Access-Control-Expose-Headers", "%s",
	    expose_headers);
}

/* Cross-origin calls from browsers (CORS): which origins may call, and how it is said. */
#ifndef PC_CORS_H
#define PC_CORS_H

#include <stdbool.h>
#include <stddef.h>

#include "result.h"

/* A longer Origin header is never allowed, whatever the list says. */
#define CORS_ORIGIN_MAX 300

struct config;
struct http_request;
struct http_response;

/* What an origin may do. */
enum cors_allow {
	CORS_DENY, /* nothing: no Access-Control-Allow-Origin */
	CORS_READ, /* GET and HEAD only: the list's "*" */
	CORS_ANY   /* every method: listed by name */
};

#ifdef UNITTESTS
/*
 * Whether origin[0..len) is an origin as browsers serialise it:
 * scheme://host[:port], lower case, nothing after the host or port. "null",
 * control characters, a path or user information are not.
 */
bool cors_origin_valid(const char *origin, size_t len);
#endif

/*
 * Check a [http] cors_origins value: entries separated by commas or white
 * space, each "*" or an origin that cors_origin_valid() accepts, without the
 * scheme's default port (browsers leave it out, so it could never match).
 * PC_INVALID with the offending entry and the reason in err (PC_ERRLEN).
 */
enum pc_result cors_origins_check(const char *list, char *err);

#ifdef UNITTESTS
/*
 * How origin (the request's Origin header, may be NULL) may call under list
 * (a checked cors_origins value, may be NULL): CORS_ANY when listed exactly,
 * byte for byte; CORS_READ when the list holds "*" and origin is valid;
 * CORS_DENY otherwise.
 */
enum cors_allow cors_origin_allowed(const char *list, const char *origin);
#endif

/* Whether req is a CORS preflight: OPTIONS with Access-Control-Request-Method. */
bool cors_is_preflight(const struct http_request *req);

/*
 * Answer the CORS part of a preflight for a path that accepts the methods in
 * allow ("GET, HEAD, PUT"): when the origin may send the requested method
 * there, Access-Control-Allow-Origin (the origin), -Allow-Methods (what it
 * may send there), -Allow-Headers and -Max-Age. A preflight that is refused
 * gets none of them; the browser then refuses the call itself. With
 * cors_origins set the answer varies on Origin and the requested method;
 * without it nothing is added. The status and Allow are the caller's.
 */
void cors_preflight(const struct config *cfg, const struct http_request *req,
    struct http_response *resp, const char *allow);

/*
 * Add the CORS headers to any answer but a preflight's (cors_preflight()
 * answers those): Access-Control-Allow-Origin and -Expose-Headers when the
 * origin may make this request, and Vary: Origin whenever cors_origins is
 * set. Nothing without cors_origins.
 */
void cors_response(const struct config *cfg, const struct http_request *req,
    struct http_response *resp);

#endif

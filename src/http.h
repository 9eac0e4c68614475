/* HTTP requests and responses as the routes see them, independent of FastCGI. */
#ifndef PC_HTTP_H
#define PC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

#define HTTP_PATH_MAX 1024    /* longer request paths are answered 414 */
#define HTTP_HEADERS_MAX 1024 /* extra response header bytes */
#define HTTP_PARAMS_MAX 3
#define HTTP_ETAG_LEN 19 /* "0123456789abcdef" with quotes, plus NUL */
#define HTTP_VARY_MAX 96 /* the Vary header's value */

struct app;

struct http_request {
	const char *method;
	char path[HTTP_PATH_MAX]; /* the route path, e.g. /v1/profiles/{id} */
	const char *query;        /* after '?', may be NULL */
	const char *param[HTTP_PARAMS_MAX]; /* captured by the route table */
	size_t param_len[HTTP_PARAMS_MAX];
	bool head; /* HEAD: answer as GET, send no body */
	/* Request headers and CGI variables by their CGI name (HTTP_IF_NONE_MATCH). */
	const char *(*getenv)(void *ctx, const char *name);
	void *env_ctx;
	/* Read up to n body bytes; returns how many, 0 at the end, -1 on error. */
	long (*read)(void *ctx, char *buf, size_t n);
	void *read_ctx;
};

/* A parsed If-Match header. */
struct http_if_match {
	bool present;
	bool any; /* "*" */
	size_t ntags;
	uint64_t tags[8]; /* strong tags only: W/ never matches If-Match */
};

/* Work a route asks to run after the response has been sent. */
typedef void (*http_after_fn)(struct app *app, const char *arg);

struct http_response {
	int status;
	char headers[HTTP_HEADERS_MAX]; /* "Name: value\r\n" lines */
	size_t headers_len;
	bool headers_full;        /* a header did not fit: answer 500 */
	char vary[HTTP_VARY_MAX]; /* request headers the answer depends on,
					   sent as one Vary header */
	const char *content_type; /* NULL: no body */
	const char *body;
	size_t body_len;
	void *owned; /* freed by http_response_free() */
	http_after_fn after;
	char after_arg[128];
	int route;    /* enum metrics_route, for the counters */
	int resource; /* the declared resource served, by its
					   index in the configuration; -1: none */
};

void http_response_init(struct http_response *resp);
/* Free what the response owns and reset it for the next request. */
void http_response_free(struct http_response *resp);

/* Append a response header; on overflow sets headers_full. */
void http_header_add(struct http_response *resp, const char *name,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Note that the answer depends on request header name (a literal), for the
 * one Vary header sent with it; listed once however often it is added. On
 * overflow sets headers_full.
 */
void http_vary_add(struct http_response *resp, const char *name);

/*
 * Point the response at a body. owned (may be NULL) is a malloc()ed block the
 * response frees when done; body may point inside it.
 */
void http_body(struct http_response *resp, int status, const char *content_type,
    const char *body, size_t len, void *owned);

/*
 * Answer with the standard JSON error document
 * {"error":{"code":code,"message":message}}. code is snake_case.
 */
void http_error(struct http_response *resp, int status, const char *code,
    const char *message);

/*
 * The answer to a result that ends a request (docs/design.md's table): its
 * status, code (NULL: the table's; a 500 is always "internal") and message;
 * a 503 gets Retry-After retry_after seconds.
 */
int http_status_of(enum pc_result r);
void http_error_result(struct http_response *resp, enum pc_result r,
    const char *code, const char *message, long retry_after);

/*
 * The same with a "fields" member, {"field":"reason",...}, for 422, and an
 * "allowed" member, the names of the fields that may be sent, unless
 * allowed is NULL. fields and allowed are borrowed.
 */
struct json_t;
void http_error_fields(struct http_response *resp, int status, const char *code,
    const char *message, struct json_t *fields, struct json_t *allowed);

/*
 * The request's CONTENT_LENGTH: PC_NOTFOUND when absent or empty,
 * PC_INVALID when not a plain decimal number (no sign, no space).
 */
enum pc_result http_content_length(const struct http_request *req,
    unsigned long long *len);

/*
 * Read the whole request body, at most max bytes, as CONTENT_LENGTH
 * announces it. PC_OK: *body (malloc()ed, NUL-terminated, owned by the
 * caller) holds *len bytes. PC_TOOBIG: the announced length is over max;
 * nothing was read. PC_NOTFOUND: no CONTENT_LENGTH (411). PC_INVALID: a
 * malformed length, or the body ended early.
 */
enum pc_result http_read_body(const struct http_request *req, size_t max,
    char **body, size_t *len);

/*
 * Read a JSON request body of at most max bytes: false with the answer in
 * resp when it is not application/json (415), longer than max (413, not
 * read), without a Content-Length (411) or cut short (400). On true *body
 * and *len are as http_read_body() gives them.
 */
bool http_json_body(const struct http_request *req, struct http_response *resp,
    size_t max, char **body, size_t *len);

/* True when the Content-Type is media_type, ignoring case and parameters. */
bool http_content_type_is(const char *content_type, const char *media_type);

/* Parse an If-Match header value (NULL: not present). */
void http_if_match_parse(const char *value, struct http_if_match *m);

/* Request a function to run once the response is on its way. */
void http_after(struct http_response *resp, http_after_fn fn, const char *arg);

const char *http_status_text(int status);

/* The value of a request header by CGI name, or NULL. */
const char *http_request_header(const struct http_request *req,
    const char *cgi_name);

/*
 * Work out the application path from the CGI variables so the app answers
 * the same when mounted at the root (FastCGI with fix-root-scriptname) or
 * under a script (/cgi-bin/profilecache.fcgi/v1/...). REQUEST_URI is
 * preferred (it is not decoded, so %2F stays a literal); SCRIPT_NAME is
 * stripped from its front when it is there; PATH_INFO is the fallback.
 * The query string is dropped. PC_TOOBIG when longer than outlen - 1,
 * PC_INVALID when no path can be found.
 */
enum pc_result http_request_path(const char *request_uri,
    const char *script_name, const char *path_info, char *out, size_t outlen);

/* Format a strong ETag for a 64-bit tag into out. */
void http_etag_format(uint64_t tag, char out[HTTP_ETAG_LEN]);

/*
 * True when an If-None-Match header value matches etag (weak comparison, as
 * RFC 9110 asks for If-None-Match): "*", or any listed tag with or without W/.
 */
bool http_etag_match(const char *if_none_match, const char *etag);

#endif

/* HTTP requests and responses as the routes see them. */
#include "autoconf.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "metrics.h"

void
http_response_init(struct http_response *resp)
{
	resp->status = 500;
	resp->headers[0] = '\0';
	resp->headers_len = 0;
	resp->headers_full = false;
	resp->vary[0] = '\0';
	resp->content_type = NULL;
	resp->body = NULL;
	resp->body_len = 0;
	resp->owned = NULL;
	resp->after = NULL;
	resp->after_arg[0] = '\0';
	resp->route = MR_OTHER;
	resp->resource = -1;
}

void
http_response_free(struct http_response *resp)
{
	free(resp->owned);
	http_response_init(resp);
}

void
http_header_add(struct http_response *resp, const char *name, const char *fmt,
    ...)
{
	size_t room = sizeof(resp->headers) - resp->headers_len;
	char *p = resp->headers + resp->headers_len;
	va_list ap;
	int n, m;

	n = snprintf(p, room, "%s: ", name);
	if (n < 0 || (size_t)n >= room)
		goto full;
	va_start(ap, fmt);
	m = vsnprintf(p + n, room - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)(n + m + 2) >= room)
		goto full;
	memcpy(p + n + m, "\r\n", 3);
	resp->headers_len += (size_t)(n + m + 2);
	return;
full:
	resp->headers[resp->headers_len] = '\0';
	resp->headers_full = true;
}

void
http_vary_add(struct http_response *resp, const char *name)
{
	size_t used = strlen(resp->vary), n = strlen(name);
	const char *p;

	for (p = resp->vary; (p = strstr(p, name)) != NULL; p += n)
		if ((p == resp->vary || p[-1] == ' ') &&
		    (p[n] == ',' || p[n] == '\0'))
			return;
	if (used + (used ? 2 : 0) + n >= sizeof(resp->vary)) {
		resp->headers_full = true;
		return;
	}
	(void)snprintf(resp->vary + used, sizeof(resp->vary) - used, "%s%s",
	    used ? ", " : "", name);
}

void
http_body(struct http_response *resp, int status, const char *content_type,
    const char *body, size_t len, void *owned)
{
	free(resp->owned);
	resp->status = status;
	resp->content_type = content_type;
	resp->body = body;
	resp->body_len = len;
	resp->owned = owned;
}

/* The one map from a result to what a client is answered (docs/design.md). */
static const struct {
	int status;
	const char *code;
} result_answers[] = {
	[PC_OK] = { 200, NULL },
	[PC_NOTFOUND] = { 404, "not_found" },
	[PC_INVALID] = { 400, "bad_request" },
	[PC_CONFLICT] = { 409, "conflict" },
	[PC_TOOBIG] = { 413, "too_large" },
	[PC_UNAVAILABLE] = { 503, "unavailable" },
	[PC_NOMEM] = { 500, "internal" },
	[PC_ERROR] = { 500, "internal" },
};

int
http_status_of(enum pc_result r)
{
	return (size_t)r < sizeof(result_answers) / sizeof(result_answers[0]) ?
	    result_answers[r].status :
	    500;
}

void
http_error_result(struct http_response *resp, enum pc_result r,
    const char *code, const char *message, long retry_after)
{
	int status = http_status_of(r);

	if (status == 503 && retry_after > 0)
		http_header_add(resp, "Retry-After", "%ld", retry_after);
	if (code == NULL)
		code = status != 500 &&
		        (size_t)r <
		            sizeof(result_answers) / sizeof(result_answers[0]) ?
		    result_answers[r].code :
		    "internal";
	http_error(resp, status, code, message);
}

void
http_error(struct http_response *resp, int status, const char *code,
    const char *message)
{
	json_t *doc;
	char *s = NULL;

	doc = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
	    message);
	if (doc != NULL)
		s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (s == NULL) {
		static const char oom[] =
		    "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";

		http_body(resp, 500, "application/json", oom, sizeof(oom) - 1,
		    NULL);
		return;
	}
	http_body(resp, status, "application/json", s, strlen(s), s);
}

void
http_error_fields(struct http_response *resp, int status, const char *code,
    const char *message, json_t *fields, json_t *allowed)
{
	json_t *doc;
	char *s = NULL;

	doc = json_pack("{s:{s:s,s:s,s:O}}", "error", "code", code, "message",
	    message, "fields", fields);
	if (doc != NULL && allowed != NULL &&
	    json_object_set(json_object_get(doc, "error"), "allowed",
	        allowed) != 0) {
		json_decref(doc);
		doc = NULL;
	}
	if (doc != NULL)
		s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (s == NULL) {
		http_error(resp, status, code, message);
		return;
	}
	http_body(resp, status, "application/json", s, strlen(s), s);
}

enum pc_result
http_content_length(const struct http_request *req, unsigned long long *len)
{
	const char *cl = http_request_header(req, "CONTENT_LENGTH");
	char *end;

	*len = 0;
	if (cl == NULL || *cl == '\0')
		return PC_NOTFOUND;
	if (*cl < '0' || *cl > '9')
		return PC_INVALID;
	errno = 0;
	*len = strtoull(cl, &end, 10);
	if (errno != 0 || *end != '\0')
		return PC_INVALID;
	return PC_OK;
}

enum pc_result
http_read_body(const struct http_request *req, size_t max, char **body,
    size_t *len)
{
	unsigned long long want;
	enum pc_result r;
	size_t got = 0;
	char *p;
	long n;

	*body = NULL;
	*len = 0;
	if ((r = http_content_length(req, &want)) != PC_OK)
		return r;
	if (want > max)
		return PC_TOOBIG;
	if ((p = malloc((size_t)want + 1)) == NULL)
		return PC_NOMEM;
	while (got < want && req->read != NULL) {
		n = req->read(req->read_ctx, p + got, (size_t)want - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != want) {
		free(p);
		return PC_INVALID;
	}
	p[got] = '\0';
	*body = p;
	*len = got;
	return PC_OK;
}

bool
http_content_type_is(const char *ct, const char *media_type)
{
	size_t n = strlen(media_type);

	if (ct == NULL || strncasecmp(ct, media_type, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

void
http_if_match_parse(const char *v, struct http_if_match *m)
{
	unsigned long long tag;
	char hex[17];
	size_t n;

	memset(m, 0, sizeof(*m));
	if (v == NULL)
		return;
	m->present = true;
	while (*v != '\0') {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		if (*v == '\0')
			break;
		n = strcspn(v, ", \t");
		if (n == 1 && *v == '*')
			m->any = true;
		else if (n == 18 && v[0] == '"' && v[17] == '"' &&
		    m->ntags < sizeof(m->tags) / sizeof(m->tags[0]) &&
		    strspn(v + 1, "0123456789abcdef") >= 16) {
			memcpy(hex, v + 1, 16);
			hex[16] = '\0';
			tag = strtoull(hex, NULL, 16);
			m->tags[m->ntags++] = tag;
		}
		/* Weak and foreign tags can never match: skip them. */
		v += n;
	}
}

void
http_after(struct http_response *resp, http_after_fn fn, const char *arg)
{
	resp->after = fn;
	(void)snprintf(resp->after_arg, sizeof(resp->after_arg), "%s", arg);
}

const char *
http_status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Content";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	}
	return "Unknown";
}

const char *
http_request_header(const struct http_request *req, const char *cgi_name)
{
	return req->getenv != NULL ? req->getenv(req->env_ctx, cgi_name) : NULL;
}

static enum pc_result
copy_path(const char *p, size_t len, char *out, size_t outlen)
{
	if (len == 0 || p[0] != '/')
		return PC_INVALID;
	if (len >= outlen)
		return PC_TOOBIG;
	memcpy(out, p, len);
	out[len] = '\0';
	return PC_OK;
}

enum pc_result
http_request_path(const char *request_uri, const char *script_name,
    const char *path_info, char *out, size_t outlen)
{
	size_t len, slen;

	if (request_uri != NULL && request_uri[0] == '/') {
		len = strcspn(request_uri, "?#");
		slen = script_name != NULL ? strlen(script_name) : 0;
		/* Under a script: /cgi-bin/profilecache.fcgi/v1/... */
		if (slen > 0 && slen < len &&
		    strncmp(request_uri, script_name, slen) == 0 &&
		    request_uri[slen] == '/')
			return copy_path(request_uri + slen, len - slen, out,
			    outlen);
		if (slen == 0 || path_info == NULL || path_info[0] == '\0' ||
		    strncmp(request_uri, script_name, slen) != 0)
			return copy_path(request_uri, len, out, outlen);
	}
	if (path_info != NULL && path_info[0] != '\0')
		return copy_path(path_info, strlen(path_info), out, outlen);
	return PC_INVALID;
}

void
http_etag_format(uint64_t tag, char out[HTTP_ETAG_LEN])
{
	(void)snprintf(out, HTTP_ETAG_LEN, "\"%016llx\"",
	    (unsigned long long)tag);
}

bool
http_etag_match(const char *inm, const char *etag)
{
	size_t elen = strlen(etag), n;
	const char *p = inm;

	if (inm == NULL)
		return false;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		n = strcspn(p, ", \t");
		if (n == elen && memcmp(p, etag, n) == 0)
			return true;
		p += n;
	}
	return false;
}

bool
http_json_body(const struct http_request *req, struct http_response *resp,
    size_t max, char **body, size_t *len)
{
	if (!http_content_type_is(http_request_header(req, "CONTENT_TYPE"),
	        "application/json")) {
		http_error(resp, 415, "unsupported_media_type",
		    "the body must be application/json");
		return false;
	}
	switch (http_read_body(req, max, body, len)) {
	case PC_OK:
		return true;
	case PC_TOOBIG:
		http_error(resp, 413, "body_too_large",
		    "the body is too large");
		return false;
	case PC_NOTFOUND:
		http_error(resp, 411, "length_required",
		    "Content-Length is required");
		return false;
	default:
		http_error(resp, 400, "bad_body", "the body could not be read");
		return false;
	}
}

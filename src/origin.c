/* The origin store: PostgreSQL behind the PostgREST protocol, over libcurl. */
#include "autoconf.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "origin.h"

#define ORIGIN_URL_MAX 2048

struct origin {
	const struct config *cfg;
	CURL *curl;
	struct curl_slist *hdr_object;	/* auth + single-object Accept */
	struct curl_slist *hdr_array;	/* auth + JSON array Accept */
	struct curl_slist *hdr_rpc;	/* auth + JSON Accept and Content-Type */
	struct buf body;
	char curl_err[CURL_ERROR_SIZE];
};

static size_t
origin_write(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	/* Returning short makes libcurl fail with CURLE_WRITE_ERROR. */
	return buf_add(b, p, n) == PC_OK ? n : 0;
}

/* The headers of every request, plus extra (may be NULL). */
static struct curl_slist *
origin_headers(const struct config *cfg, const char *accept, const char *extra)
{
	struct curl_slist *l = NULL, *t;
	char line[4200];
	const char *names[] = { "apikey: ", "Authorization: Bearer " };
	size_t i;

	for (i = 0; i < 2; i++) {
		(void)snprintf(line, sizeof(line), "%s%s", names[i], cfg->service_key);
		if ((t = curl_slist_append(l, line)) == NULL)
			goto fail;
		l = t;
	}
	(void)snprintf(line, sizeof(line), "Accept: %s", accept);
	if ((t = curl_slist_append(l, line)) == NULL)
		goto fail;
	l = t;
	if (extra != NULL && (t = curl_slist_append(l, extra)) == NULL)
		goto fail;
	explicit_bzero(line, sizeof(line));
	return t;
fail:
	explicit_bzero(line, sizeof(line));
	curl_slist_free_all(l);
	return NULL;
}

enum pc_result
origin_open(const struct config *cfg, struct origin **out, char *err)
{
	static int global_done;
	struct origin *o;

	*out = NULL;
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			pc_err(err, "libcurl initialisation failed");
			return PC_ERROR;
		}
		global_done = 1;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return PC_NOMEM;
	o->cfg = cfg;
	buf_init(&o->body, ORIGIN_BODY_MAX);
	if ((o->curl = curl_easy_init()) == NULL ||
	    (o->hdr_object = origin_headers(cfg,
	    "application/vnd.pgrst.object+json", NULL)) == NULL ||
	    (o->hdr_array = origin_headers(cfg, "application/json", NULL)) == NULL ||
	    (o->hdr_rpc = origin_headers(cfg, "application/json",
	    "Content-Type: application/json")) == NULL ||
	    /* No "Expect: 100-continue" round trip before a batch's body. */
	    (o->hdr_rpc = curl_slist_append(o->hdr_rpc, "Expect:")) == NULL) {
		origin_close(o);
		pc_err(err, "out of memory");
		return PC_NOMEM;
	}
	(void)curl_easy_setopt(o->curl, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(o->curl, CURLOPT_CONNECTTIMEOUT_MS,
	    cfg->origin_connect_timeout_ms);
	(void)curl_easy_setopt(o->curl, CURLOPT_TIMEOUT_MS, cfg->origin_timeout_ms);
	(void)curl_easy_setopt(o->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	(void)curl_easy_setopt(o->curl, CURLOPT_FOLLOWLOCATION, 0L);
	(void)curl_easy_setopt(o->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	(void)curl_easy_setopt(o->curl, CURLOPT_ACCEPT_ENCODING, "");
	(void)curl_easy_setopt(o->curl, CURLOPT_WRITEFUNCTION, origin_write);
	(void)curl_easy_setopt(o->curl, CURLOPT_WRITEDATA, &o->body);
	(void)curl_easy_setopt(o->curl, CURLOPT_ERRORBUFFER, o->curl_err);
	(void)curl_easy_setopt(o->curl, CURLOPT_USERAGENT, "profilecache/" PACKAGE_VERSION);
	*out = o;
	return PC_OK;
}

void
origin_close(struct origin *o)
{
	if (o == NULL)
		return;
	if (o->curl != NULL)
		curl_easy_cleanup(o->curl);
	curl_slist_free_all(o->hdr_object);
	curl_slist_free_all(o->hdr_array);
	curl_slist_free_all(o->hdr_rpc);
	buf_free(&o->body);
	free(o);
}

/*
 * One request: a GET, or a POST of post_len bytes when post is not NULL.
 * Returns PC_OK with the HTTP status in *status and the body in o->body,
 * or PC_UNAVAILABLE / PC_TOOBIG when no complete answer came.
 */
static enum pc_result
origin_send(struct origin *o, const char *url, struct curl_slist *hdrs,
    const char *post, size_t post_len, long *status, char *err)
{
	CURLcode cc;

	buf_reset(&o->body);
	o->curl_err[0] = '\0';
	(void)curl_easy_setopt(o->curl, CURLOPT_URL, url);
	if (post != NULL) {
		(void)curl_easy_setopt(o->curl, CURLOPT_POST, 1L);
		(void)curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, post);
		(void)curl_easy_setopt(o->curl, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)post_len);
	} else
		(void)curl_easy_setopt(o->curl, CURLOPT_HTTPGET, 1L);
	(void)curl_easy_setopt(o->curl, CURLOPT_HTTPHEADER, hdrs);
	cc = curl_easy_perform(o->curl);
	metrics_add(MC_ORIGIN_REQUESTS, 1);
	if (cc == CURLE_WRITE_ERROR) {
		pc_err(err, "origin answer larger than %d bytes", ORIGIN_BODY_MAX);
		return PC_TOOBIG;
	}
	if (cc != CURLE_OK) {
		metrics_add(MC_ORIGIN_ERRORS, 1);
		pc_err(err, "origin: %s", o->curl_err[0] ? o->curl_err :
		    curl_easy_strerror(cc));
		return PC_UNAVAILABLE;
	}
	(void)curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, status);
	if (*status >= 500)
		metrics_add(MC_ORIGIN_ERRORS, 1);
	return PC_OK;
}

/* Map an origin HTTP status that is not a success onto the vocabulary. */
static enum pc_result
origin_status(struct origin *o, long status, char *err)
{
	pc_err(err, "origin answered HTTP %ld: %.120s", status,
	    o->body.data != NULL ? o->body.data : "");
	if (status >= 500 || status == 408 || status == 429)
		return PC_UNAVAILABLE;
	return PC_ERROR;
}

enum pc_result
origin_get_row(struct origin *o, const char *table, const char *id,
    const char *select, char **row, size_t *row_len, char *err)
{
	char url[ORIGIN_URL_MAX];
	enum pc_result r;
	long status = 0;
	int n;

	*row = NULL;
	n = snprintf(url, sizeof(url), "%s/%s?id=eq.%s&select=%s",
	    o->cfg->origin_url, table, id, select);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		pc_err(err, "origin URL too long");
		return PC_ERROR;
	}
	if ((r = origin_send(o, url, o->hdr_object, NULL, 0, &status, err)) != PC_OK)
		return r == PC_TOOBIG ? PC_ERROR : r;
	if (status == 200) {
		*row = buf_steal(&o->body, row_len);
		if (*row == NULL) {
			pc_err(err, "origin answered 200 with an empty body");
			return PC_ERROR;
		}
		return PC_OK;
	}
	/* PostgREST: an object was asked for and zero (or many) rows matched. */
	if (status == 406 && o->body.data != NULL &&
	    strstr(o->body.data, "\"PGRST116\"") != NULL)
		return PC_NOTFOUND;
	return origin_status(o, status, err);
}

enum pc_result
origin_rpc(struct origin *o, const char *fn, const char *args, size_t args_len,
    char **resp, size_t *resp_len, char *err)
{
	char url[ORIGIN_URL_MAX];
	enum pc_result r;
	long status = 0;
	int n;

	*resp = NULL;
	n = snprintf(url, sizeof(url), "%s/rpc/%s", o->cfg->origin_url, fn);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		pc_err(err, "origin URL too long");
		return PC_ERROR;
	}
	if ((r = origin_send(o, url, o->hdr_rpc, args, args_len, &status, err)) != PC_OK)
		return r == PC_TOOBIG ? PC_ERROR : r;
	if (status == 200) {
		if ((*resp = buf_steal(&o->body, resp_len)) == NULL) {
			pc_err(err, "origin answered 200 with an empty body");
			return PC_ERROR;
		}
		return PC_OK;
	}
	r = origin_status(o, status, err);
	return r == PC_ERROR && status >= 400 && status < 500 && status != 401 &&
	    status != 403 && status != 404 ? PC_INVALID : r;
}

enum pc_result
origin_ping(struct origin *o, char *err)
{
	char url[ORIGIN_URL_MAX];
	enum pc_result r;
	long status = 0;

	(void)snprintf(url, sizeof(url), "%s/profiles?select=id&limit=1",
	    o->cfg->origin_url);
	if ((r = origin_send(o, url, o->hdr_array, NULL, 0, &status, err)) != PC_OK)
		return r == PC_TOOBIG ? PC_ERROR : r;
	return status == 200 ? PC_OK : origin_status(o, status, err);
}

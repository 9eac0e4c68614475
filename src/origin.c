/* The origin store: PostgreSQL behind the PostgREST protocol, over libcurl. */
#include "autoconf.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "origin.h"

#define ORIGIN_URL_MAX 2048

/* One connection and the answer arriving on it. */
struct origin_conn {
	CURL *curl;
	struct buf body;
	char curl_err[CURL_ERROR_SIZE];
	void *tag; /* a started call's, handed back by origin_rpc_wait */
	bool busy; /* a started call is in flight on it */
};

struct origin {
	const struct config *cfg;
	struct curl_slist *hdr_object; /* auth + single-object Accept */
	struct curl_slist *hdr_array;  /* auth + JSON array Accept */
	struct curl_slist *hdr_rpc;    /* auth + JSON Accept and Content-Type */
	struct origin_conn sync; /* the calls that wait for their answer */
	CURLM *multi;            /* started calls, made on first use */
	struct origin_conn started[ORIGIN_STARTED_MAX];
	size_t nstarted; /* of those, in flight */
};

static size_t
origin_write(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	/* Returning short makes libcurl fail with CURLE_WRITE_ERROR. */
	return buf_add(b, p, n) == PC_OK ? n : 0;
}

/*
 * The headers of every request, plus extra (may be NULL): the service key
 * as apikey_headers() presents it (PostgREST reads nothing but a JWT from
 * Authorization), and Accept.
 */
static struct curl_slist *
origin_headers(const struct config *cfg, const char *accept, const char *extra)
{
	struct curl_slist *l, *t;
	char line[256];

	if ((l = apikey_headers(NULL, cfg->service_key)) == NULL)
		return NULL;
	(void)snprintf(line, sizeof(line), "Accept: %s", accept);
	if ((t = curl_slist_append(l, line)) == NULL)
		goto fail;
	l = t;
	if (extra != NULL && (t = curl_slist_append(l, extra)) == NULL)
		goto fail;
	return t;
fail:
	curl_slist_free_all(l);
	return NULL;
}

/* Make c a connection to the origin with the options every request shares. */
static enum pc_result
origin_conn_init(const struct origin *o, struct origin_conn *c)
{
	const struct config *cfg = o->cfg;

	buf_init(&c->body, (size_t)cfg->origin_max_answer);
	if ((c->curl = curl_easy_init()) == NULL)
		return PC_NOMEM;
	(void)curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
	    cfg->origin_connect_timeout_ms);
	(void)curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS,
	    cfg->origin_timeout_ms);
	(void)curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	(void)curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
	(void)curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	(void)curl_easy_setopt(c->curl, CURLOPT_ACCEPT_ENCODING, "");
	(void)curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, origin_write);
	(void)curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &c->body);
	(void)curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->curl_err);
	(void)curl_easy_setopt(c->curl, CURLOPT_PRIVATE, c);
	(void)curl_easy_setopt(c->curl, CURLOPT_USERAGENT,
	    "profilecache/" PACKAGE_VERSION);
	return PC_OK;
}

/* c must not be in flight: see origin_rpc_abandon(). */
static void
origin_conn_free(struct origin_conn *c)
{
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	buf_free(&c->body);
	memset(c, 0, sizeof(*c));
}

enum pc_result
origin_open(const struct config *cfg, struct origin **out, char *err)
{
	static int global_done;
	struct curl_slist *t;
	struct origin *o;

	*out = NULL;
	/*
	 * libcurl's one set-up for the process (Storage and the JWKS use it
	 * too): every program opens its origin before it starts a thread.
	 */
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
	if (origin_conn_init(o, &o->sync) != PC_OK ||
	    (o->hdr_object = origin_headers(cfg,
	         "application/vnd.pgrst.object+json", NULL)) == NULL ||
	    (o->hdr_array = origin_headers(cfg, "application/json", NULL)) ==
	        NULL ||
	    (o->hdr_rpc = origin_headers(cfg, "application/json",
	         "Content-Type: application/json")) == NULL ||
	    /* No "Expect: 100-continue" round trip before a batch's body. */
	    (t = curl_slist_append(o->hdr_rpc, "Expect:")) == NULL) {
		origin_close(o);
		pc_err(err, "out of memory");
		return PC_NOMEM;
	}
	o->hdr_rpc = t;
	*out = o;
	return PC_OK;
}

void
origin_close(struct origin *o)
{
	size_t i;

	if (o == NULL)
		return;
	origin_rpc_abandon(o);
	origin_conn_free(&o->sync);
	for (i = 0; i < ORIGIN_STARTED_MAX; i++)
		origin_conn_free(&o->started[i]);
	if (o->multi != NULL)
		(void)curl_multi_cleanup(o->multi);
	curl_slist_free_all(o->hdr_object);
	curl_slist_free_all(o->hdr_array);
	curl_slist_free_all(o->hdr_rpc);
	free(o);
}

/* Set c up for one request: a GET, or a POST of post_len bytes (copied). */
static void
origin_conn_request(struct origin_conn *c, const char *url,
    struct curl_slist *hdrs, const char *post, size_t post_len)
{
	buf_reset(&c->body);
	c->curl_err[0] = '\0';
	(void)curl_easy_setopt(c->curl, CURLOPT_URL, url);
	if (post != NULL) {
		(void)curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
		(void)curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)post_len);
		(void)curl_easy_setopt(c->curl, CURLOPT_COPYPOSTFIELDS, post);
	} else
		(void)curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	(void)curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
}

/* Map an origin HTTP status that is not a success onto the vocabulary. */
static enum pc_result
origin_status(const struct origin_conn *c, long status, char *err)
{
	pc_err(err, "origin answered HTTP %ld: %.120s", status,
	    c->body.data != NULL ? c->body.data : "");
	if (status >= 500 || status == 408 || status == 429)
		return PC_UNAVAILABLE;
	return PC_ERROR;
}

/*
 * How c's request ended, libcurl having said cc: PC_OK with the HTTP status
 * in *status and the body in c->body, or PC_UNAVAILABLE / PC_TOOBIG when no
 * complete answer came.
 */
static enum pc_result
origin_conn_result(struct origin_conn *c, CURLcode cc, long *status, char *err)
{
	metrics_add(MC_ORIGIN_REQUESTS, 1);
	if (cc == CURLE_WRITE_ERROR) {
		(void)curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE,
		    status);
		/* Too large for an answer: a success, or an error page. */
		if (*status >= 200 && *status < 300) {
			pc_err(err, "origin answer larger than %zu bytes",
			    c->body.max);
			return PC_TOOBIG;
		}
		metrics_add(MC_ORIGIN_ERRORS, 1);
		return origin_status(c, *status, err);
	}
	if (cc != CURLE_OK) {
		metrics_add(MC_ORIGIN_ERRORS, 1);
		pc_err(err, "origin: %s",
		    c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc));
		return PC_UNAVAILABLE;
	}
	(void)curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
	if (*status >= 500)
		metrics_add(MC_ORIGIN_ERRORS, 1);
	return PC_OK;
}

/* Move the started calls along as far as they go without waiting. */
static bool
origin_started_drive(struct origin *o, int *running)
{
	return o->multi == NULL ||
	    curl_multi_perform(o->multi, running) == CURLM_OK;
}

/* One request on the synchronous connection, waiting for its answer. */
static enum pc_result
origin_send(struct origin *o, const char *url, struct curl_slist *hdrs,
    const char *post, size_t post_len, long *status, char *err)
{
	int running;

	/*
	 * Started calls move only when driven, and libcurl checks a call's
	 * timeout before it reads an answer that has arrived: let them take
	 * what has come in before this call keeps them waiting.
	 */
	if (o->nstarted > 0)
		(void)origin_started_drive(o, &running);
	origin_conn_request(&o->sync, url, hdrs, post, post_len);
	return origin_conn_result(&o->sync, curl_easy_perform(o->sync.curl),
	    status, err);
}

enum pc_result
origin_get_row(struct origin *o, const char *table, const char *key,
    const char *id, const char *select, char **row, size_t *row_len, char *err)
{
	char url[ORIGIN_URL_MAX];
	enum pc_result r;
	long status = 0;
	int n;

	*row = NULL;
	n = snprintf(url, sizeof(url), "%s/%s?%s=eq.%s&select=%s",
	    o->cfg->origin_url, table, key, id, select);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		pc_err(err, "origin URL too long");
		return PC_ERROR;
	}
	if ((r = origin_send(o, url, o->hdr_object, NULL, 0, &status, err)) !=
	    PC_OK)
		return r == PC_TOOBIG ? PC_ERROR : r;
	if (status == 200) {
		*row = buf_steal(&o->sync.body, row_len);
		if (*row == NULL) {
			pc_err(err, "origin answered 200 with an empty body");
			return PC_ERROR;
		}
		return PC_OK;
	}
	/* PostgREST: an object was asked for and zero (or many) rows matched. */
	if (status == 406 && o->sync.body.data != NULL &&
	    strstr(o->sync.body.data, "\"PGRST116\"") != NULL)
		return PC_NOTFOUND;
	return origin_status(&o->sync, status, err);
}

static enum pc_result
origin_rpc_url(const struct origin *o, const char *fn, char *url, char *err)
{
	int n;

	n = snprintf(url, ORIGIN_URL_MAX, "%s/rpc/%s", o->cfg->origin_url, fn);
	if (n < 0 || n >= ORIGIN_URL_MAX) {
		pc_err(err, "origin URL too long");
		return PC_ERROR;
	}
	return PC_OK;
}

/*
 * Whether a PostgREST error answer is about the data: its "code" is an
 * SQLSTATE of class 22 (data exception) or 23 (integrity constraint). A
 * missing function (PGRST202), a refused key (PGRST301, 42501) or any
 * other 4xx is the configuration's fault, not the change's.
 */
static bool
origin_data_error(const struct origin_conn *c)
{
	static const char key[] = "\"code\":\"";
	const char *p;

	if (c->body.data == NULL || (p = strstr(c->body.data, key)) == NULL)
		return false;
	p += sizeof(key) - 1;
	return (p[0] == '2' && (p[1] == '2' || p[1] == '3')) && strlen(p) > 6 &&
	    p[5] == '"';
}

/* What an RPC's answer on c means; r is how the request itself ended. */
static enum pc_result
origin_rpc_answer(struct origin_conn *c, enum pc_result r, long status,
    char **resp, size_t *resp_len, char *err)
{
	if (r != PC_OK)
		return r;
	if (status == 200) {
		if ((*resp = buf_steal(&c->body, resp_len)) == NULL) {
			pc_err(err, "origin answered 200 with an empty body");
			return PC_ERROR;
		}
		return PC_OK;
	}
	r = origin_status(c, status, err);
	return r == PC_ERROR && status >= 400 && status < 500 &&
	        origin_data_error(c) ?
	    PC_INVALID :
	    r;
}

enum pc_result
origin_rpc(struct origin *o, const char *fn, const char *args, size_t args_len,
    char **resp, size_t *resp_len, char *err)
{
	char url[ORIGIN_URL_MAX];
	enum pc_result r;
	long status = 0;

	*resp = NULL;
	if ((r = origin_rpc_url(o, fn, url, err)) != PC_OK)
		return r;
	r = origin_send(o, url, o->hdr_rpc, args, args_len, &status, err);
	return origin_rpc_answer(&o->sync, r, status, resp, resp_len, err);
}

enum pc_result
origin_rpc_start(struct origin *o, const char *fn, const char *args,
    size_t args_len, void *tag, char *err)
{
	char url[ORIGIN_URL_MAX];
	struct origin_conn *c = NULL;
	enum pc_result r;
	size_t i;

	if ((r = origin_rpc_url(o, fn, url, err)) != PC_OK)
		return r;
	for (i = 0; i < ORIGIN_STARTED_MAX && c == NULL; i++)
		if (!o->started[i].busy)
			c = &o->started[i];
	if (c == NULL) {
		pc_err(err, "more than %d origin calls at once",
		    ORIGIN_STARTED_MAX);
		return PC_ERROR;
	}
	if ((o->multi == NULL && (o->multi = curl_multi_init()) == NULL) ||
	    (c->curl == NULL && origin_conn_init(o, c) != PC_OK)) {
		pc_err(err, "out of memory");
		return PC_NOMEM;
	}
	origin_conn_request(c, url, o->hdr_rpc, args, args_len);
	if (curl_multi_add_handle(o->multi, c->curl) != CURLM_OK) {
		pc_err(err, "libcurl refused a call");
		return PC_ERROR;
	}
	c->tag = tag;
	c->busy = true;
	o->nstarted++;
	/* Send what can be sent now, so the origin starts working. */
	(void)origin_started_drive(o, &(int){ 0 });
	return PC_OK;
}

enum pc_result
origin_rpc_wait(struct origin *o, void **tag, char **resp, size_t *resp_len,
    char *err)
{
	struct origin_conn *c;
	enum pc_result r;
	CURLMsg *m;
	long status = 0;
	int running = 0, queued;

	*tag = NULL;
	*resp = NULL;
	if (o->nstarted == 0) {
		pc_err(err, "no origin call in flight");
		return PC_ERROR;
	}
	/* Each call has its own timeout: this ends. */
	for (;;) {
		if (!origin_started_drive(o, &running))
			break;
		while ((m = curl_multi_info_read(o->multi, &queued)) != NULL) {
			if (m->msg != CURLMSG_DONE)
				continue;
			(void)curl_easy_getinfo(m->easy_handle,
			    CURLINFO_PRIVATE, &c);
			r = origin_conn_result(c, m->data.result, &status, err);
			(void)curl_multi_remove_handle(o->multi, c->curl);
			c->busy = false;
			o->nstarted--;
			*tag = c->tag;
			return origin_rpc_answer(c, r, status, resp, resp_len,
			    err);
		}
		if (running == 0 ||
		    curl_multi_poll(o->multi, NULL, 0, 1000, NULL) != CURLM_OK)
			break; /* nothing runs and nothing ended: libcurl lost it */
	}
	pc_err(err, "libcurl failed waiting for the origin");
	return PC_ERROR;
}

void
origin_rpc_abandon(struct origin *o)
{
	size_t i;

	for (i = 0; i < ORIGIN_STARTED_MAX; i++) {
		if (!o->started[i].busy)
			continue;
		(void)curl_multi_remove_handle(o->multi, o->started[i].curl);
		o->started[i].busy = false;
		o->started[i].tag = NULL;
	}
	o->nstarted = 0;
}

enum pc_result
origin_ping(struct origin *o, char *err)
{
	char url[ORIGIN_URL_MAX];
	enum pc_result r;
	long status = 0;

	(void)snprintf(url, sizeof(url), "%s/profiles?select=id&limit=1",
	    o->cfg->origin_url);
	if ((r = origin_send(o, url, o->hdr_array, NULL, 0, &status, err)) !=
	    PC_OK)
		return r == PC_TOOBIG ? PC_ERROR : r;
	return status == 200 ? PC_OK : origin_status(&o->sync, status, err);
}

enum pc_result
origin_get_rows(struct origin *o, const char *table, const char *query,
    char **rows, size_t *rows_len, char *err)
{
	char url[ORIGIN_URL_MAX];
	enum pc_result r;
	long status = 0;
	int n;

	*rows = NULL;
	n = snprintf(url, sizeof(url), "%s/%s?%s", o->cfg->origin_url, table,
	    query);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		pc_err(err, "origin URL too long");
		return PC_ERROR;
	}
	if ((r = origin_send(o, url, o->hdr_array, NULL, 0, &status, err)) !=
	    PC_OK)
		return r == PC_TOOBIG ? PC_ERROR : r;
	if (status != 200)
		return origin_status(&o->sync, status, err);
	if ((*rows = buf_steal(&o->sync.body, rows_len)) == NULL) {
		pc_err(err, "origin answered 200 with an empty body");
		return PC_ERROR;
	}
	return PC_OK;
}

enum pc_result
origin_exists(struct origin *o, const char *table, const char *column,
    const char *value, bool *exists, char *err)
{
	char query[ORIGIN_URL_MAX], *esc, *rows = NULL;
	enum pc_result r;
	size_t len;
	int n;

	*exists = true; /* when in doubt, something refers to it */
	if ((esc = curl_easy_escape(o->sync.curl, value, 0)) == NULL)
		return PC_NOMEM;
	n = snprintf(query, sizeof(query), "%s=eq.%s&select=id&limit=1", column,
	    esc);
	curl_free(esc);
	if (n < 0 || (size_t)n >= sizeof(query)) {
		pc_err(err, "origin URL too long");
		return PC_ERROR;
	}
	if ((r = origin_get_rows(o, table, query, &rows, &len, err)) != PC_OK)
		return r;
	/* An empty result is exactly "[]". */
	*exists = strcmp(rows, "[]") != 0;
	free(rows);
	return PC_OK;
}

enum pc_result
origin_probe(struct origin *o, const char *path, const char *body, long *status,
    char **resp, size_t *resp_len, char *err)
{
	char url[ORIGIN_URL_MAX];
	enum pc_result r;
	int n;

	*status = 0;
	*resp = NULL;
	*resp_len = 0;
	n = snprintf(url, sizeof(url), "%s%s", o->cfg->origin_url, path);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		pc_err(err, "origin URL too long");
		return PC_ERROR;
	}
	r = origin_send(o, url, body != NULL ? o->hdr_rpc : o->hdr_array, body,
	    body != NULL ? strlen(body) : 0, status, err);
	if (r != PC_OK)
		return r == PC_TOOBIG ? PC_ERROR : r;
	*resp = buf_steal(&o->sync.body, resp_len);
	return PC_OK;
}

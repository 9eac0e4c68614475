/* The avatar storage backends: a local directory or Supabase Storage. */
#include "autoconf.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "apikey.h"
#include "storage.h"

#define STORAGE_REPLY_MAX 1024 /* of an answer's body kept for the log */

/* One backend: every entry point but naming, which all share. */
struct storage_backend {
	const char *name;
	enum pc_result (*put)(const struct config *, const void *, size_t,
	    const char *, char *);
	enum pc_result (*age)(const struct config *, const char *, long *,
	    char *);
	enum pc_result (*remove)(const struct config *, const char *, char *);
};

/* --- local: a directory the web server serves ---------------------------- */

static enum pc_result
local_put(const struct config *cfg, const void *data, size_t len,
    const char *relpath, char *err)
{
	char rel[AVATAR_RELPATH_LEN];

	(void)relpath;
	return avatar_store_put(cfg->avatar_dir, data, len, rel, err);
}

static enum pc_result
local_age(const struct config *cfg, const char *relpath, long *age_s, char *err)
{
	enum pc_result r = avatar_store_age(cfg->avatar_dir, relpath, age_s);

	if (r != PC_OK && r != PC_NOTFOUND)
		pc_err(err, "avatar store: cannot stat %s", relpath);
	return r;
}

static enum pc_result
local_remove(const struct config *cfg, const char *relpath, char *err)
{
	return avatar_store_remove(cfg->avatar_dir, relpath, err);
}

/* --- supabase: Supabase Storage's REST API ------------------------------- */

/*
 * The requests, as Supabase Storage serves them (github.com/supabase/storage,
 * src/http/routes/object/): createObject.ts POST /object/{bucket}/{path}
 * (x-upsert: true overwrites; the raw body's Content-Type is the object's
 * mimetype and the cache-control header its cacheControl, uploader.ts),
 * getObjectInfo.ts HEAD /object/{bucket}/{path} (Last-Modified: the last
 * upload), deleteObjects.ts DELETE /object/{bucket} {"prefixes":[path]}.
 * Errors are JSON {"statusCode","code","error","message"}, most with HTTP
 * 400 whatever statusCode says (src/http/error-handler.ts).
 */

/* An answer's body, kept up to STORAGE_REPLY_MAX bytes; the rest dropped. */
struct reply {
	char body[STORAGE_REPLY_MAX + 1];
	size_t len;
};

static size_t
reply_write(char *p, size_t size, size_t n, void *arg)
{
	struct reply *rp = arg;
	size_t take = n;

	(void)size; /* always 1 */
	if (take > STORAGE_REPLY_MAX - rp->len)
		take = STORAGE_REPLY_MAX - rp->len;
	memcpy(rp->body + rp->len, p, take);
	rp->len += take;
	rp->body[rp->len] = '\0';
	return n;
}

/*
 * One request to Storage: method at storage_url + path, with the service
 * key, the extra header lines (NULL-terminated) and body (may be NULL).
 * *status gets the HTTP status, *filetime the Last-Modified time (or -1).
 * PC_OK for a 2xx, PC_NOTFOUND for a 4xx (details in err), PC_UNAVAILABLE
 * when Storage cannot be reached or answers 5xx.
 */
static enum pc_result
supabase_call(const struct config *cfg, const char *method, const char *path,
    const char *const *extra, const void *body, size_t len, long *status,
    time_t *filetime, char *err)
{
	char url[STORAGE_URL_MAX], cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL, *t;
	struct reply rp = { .len = 0 };
	enum pc_result r = PC_UNAVAILABLE;
	curl_off_t ft = -1;
	CURLcode cc;
	CURL *c = NULL;

	*status = 0;
	if (filetime != NULL)
		*filetime = -1;
	rp.body[0] = '\0';
	if ((size_t)snprintf(url, sizeof(url), "%s%s", cfg->avatar_storage_url,
	        path) >= sizeof(url)) {
		pc_err(err, "storage: URL too long");
		return PC_ERROR;
	}
	/* libcurl was set up with the origin, before any thread ran. */
	if ((c = curl_easy_init()) == NULL ||
	    (hdrs = apikey_headers(NULL, cfg->service_key)) == NULL) {
		pc_err(err, "storage: out of memory");
		r = PC_NOMEM;
		goto out;
	}
	for (; extra != NULL && *extra != NULL; extra++) {
		if ((t = curl_slist_append(hdrs, *extra)) == NULL) {
			pc_err(err, "storage: out of memory");
			r = PC_NOMEM;
			goto out;
		}
		hdrs = t;
	}
	(void)curl_easy_setopt(c, CURLOPT_URL, url);
	(void)curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    cfg->origin_connect_timeout_ms);
	(void)curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, cfg->origin_timeout_ms);
	(void)curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	(void)curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	(void)curl_easy_setopt(c, CURLOPT_USERAGENT,
	    "profilecache/" PACKAGE_VERSION);
	(void)curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	(void)curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, reply_write);
	(void)curl_easy_setopt(c, CURLOPT_WRITEDATA, &rp);
	(void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (strcmp(method, "HEAD") == 0) {
		(void)curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		(void)curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
	} else {
		(void)curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		(void)curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)len);
		(void)curl_easy_setopt(c, CURLOPT_POSTFIELDS,
		    body != NULL ? body : "");
	}
	if ((cc = curl_easy_perform(c)) != CURLE_OK) {
		pc_err(err, "storage: %s %s: %s", method, path,
		    cerr[0] != '\0' ? cerr : curl_easy_strerror(cc));
		goto out;
	}
	(void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (filetime != NULL &&
	    curl_easy_getinfo(c, CURLINFO_FILETIME_T, &ft) == CURLE_OK)
		*filetime = (time_t)ft;
	if (*status >= 200 && *status < 300)
		r = PC_OK;
	else {
		r = *status >= 400 && *status < 500 ?
		    PC_NOTFOUND :
		    PC_UNAVAILABLE;
		pc_err(err, "storage: %s %s: HTTP %ld %.160s", method, path,
		    *status, rp.body);
	}
out:
	curl_slist_free_all(hdrs);
	if (c != NULL)
		curl_easy_cleanup(c);
	return r;
}

static enum pc_result
supabase_put(const struct config *cfg, const void *data, size_t len,
    const char *relpath, char *err)
{
	/* Content-addressed: a URL's bytes never change, so caches may keep them. */
	static const char *const extra[] = { "Content-Type: image/webp",
		"x-upsert: true",
		"Cache-Control: public, max-age=31536000, immutable", NULL };
	char path[STORAGE_URL_MAX];
	enum pc_result r;
	long status;

	(void)snprintf(path, sizeof(path), "/object/%s/%s", cfg->avatar_bucket,
	    relpath);
	r = supabase_call(cfg, "POST", path, extra, data, len, &status, NULL,
	    err);
	/* Refused (a bad key, no such bucket): nothing to retry, but the
	 * upload fails all the same. */
	return r == PC_NOTFOUND ? PC_UNAVAILABLE : r;
}

static enum pc_result
supabase_age(const struct config *cfg, const char *relpath, long *age_s,
    char *err)
{
	char path[STORAGE_URL_MAX];
	enum pc_result r;
	time_t ft;
	long status;

	*age_s = 0;
	(void)snprintf(path, sizeof(path), "/object/%s/%s", cfg->avatar_bucket,
	    relpath);
	/* A missing object is 400 (statusCode "404" in a body HEAD drops); a
	 * refused key (401, 403) is no proof that it is gone. */
	r = supabase_call(cfg, "HEAD", path, NULL, NULL, 0, &status, &ft, err);
	if (r == PC_NOTFOUND && status != 400 && status != 404)
		r = PC_UNAVAILABLE;
	if (r != PC_OK)
		return r;
	if (ft == -1) {
		pc_err(err, "storage: HEAD %s: no Last-Modified", path);
		return PC_UNAVAILABLE;
	}
	*age_s = (long)(time(NULL) - ft);
	return PC_OK;
}

static enum pc_result
supabase_remove(const struct config *cfg, const char *relpath, char *err)
{
	static const char *const extra[] = { "Content-Type: application/json",
		NULL };
	char path[STORAGE_URL_MAX], body[256];
	enum pc_result r;
	long status;

	(void)snprintf(path, sizeof(path), "/object/%s", cfg->avatar_bucket);
	/* relpath is a checked name: hex, '/' and ".webp", nothing to escape. */
	(void)snprintf(body, sizeof(body), "{\"prefixes\":[\"%s\"]}", relpath);
	r = supabase_call(cfg, "DELETE", path, extra, body, strlen(body),
	    &status, NULL, err);
	return r == PC_NOTFOUND ? PC_UNAVAILABLE : r;
}

/* --- the table ----------------------------------------------------------- */

static const struct storage_backend backends[] = {
	{ .name = "local",
	    .put = local_put,
	    .age = local_age,
	    .remove = local_remove },
	{ .name = "supabase",
	    .put = supabase_put,
	    .age = supabase_age,
	    .remove = supabase_remove },
};

static const struct storage_backend *
backend_of(const struct config *cfg)
{
	size_t i;

	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backends[i].name, cfg->avatar_backend) == 0)
			return &backends[i];
	return NULL;
}

bool
storage_enabled(const struct config *cfg)
{
	return cfg->avatar_public_url != NULL && backend_of(cfg) != NULL;
}

enum pc_result
storage_put(const struct config *cfg, const void *data, size_t len,
    char relpath[AVATAR_RELPATH_LEN], char url[STORAGE_URL_MAX], char *err)
{
	const struct storage_backend *b = backend_of(cfg);
	enum pc_result r;

	if (b == NULL || cfg->avatar_public_url == NULL) {
		pc_err(err, "storage: avatars are not configured");
		return PC_ERROR;
	}
	if ((r = avatar_store_name(data, len, relpath, err)) != PC_OK)
		return r;
	if ((size_t)snprintf(url, STORAGE_URL_MAX, "%s/%s",
	        cfg->avatar_public_url, relpath) >= STORAGE_URL_MAX) {
		pc_err(err, "storage: public_url too long");
		return PC_ERROR;
	}
	return b->put(cfg, data, len, relpath, err);
}

enum pc_result
storage_relpath(const struct config *cfg, const char *url,
    char relpath[AVATAR_RELPATH_LEN])
{
	if (!storage_enabled(cfg))
		return PC_INVALID;
	return avatar_store_relpath(cfg->avatar_public_url, url, relpath);
}

enum pc_result
storage_age(const struct config *cfg, const char *relpath, long *age_s,
    char *err)
{
	const struct storage_backend *b = backend_of(cfg);
	char rel[AVATAR_RELPATH_LEN];
	char url[STORAGE_URL_MAX];

	*age_s = 0;
	/* Only a name this store makes reaches a backend. */
	if (b == NULL || !storage_enabled(cfg) ||
	    (size_t)snprintf(url, sizeof(url), "%s/%s", cfg->avatar_public_url,
	        relpath) >= sizeof(url) ||
	    avatar_store_relpath(cfg->avatar_public_url, url, rel) != PC_OK)
		return PC_INVALID;
	return b->age(cfg, relpath, age_s, err);
}

enum pc_result
storage_remove(const struct config *cfg, const char *relpath, char *err)
{
	const struct storage_backend *b = backend_of(cfg);
	char rel[AVATAR_RELPATH_LEN];
	char url[STORAGE_URL_MAX];

	if (b == NULL || !storage_enabled(cfg) ||
	    (size_t)snprintf(url, sizeof(url), "%s/%s", cfg->avatar_public_url,
	        relpath) >= sizeof(url) ||
	    avatar_store_relpath(cfg->avatar_public_url, url, rel) != PC_OK)
		return PC_INVALID;
	return b->remove(cfg, relpath, err);
}

/* The key store of [auth] jwks_url: fetch, cache file, reload. */
#include "autoconf.h"

/*
 * Supabase publishes a project's signing keys at
 * https://<ref>.supabase.co/auth/v1/.well-known/jwks.json and rotates them:
 * a new key is published first (standby), then signs, and the old one is
 * revoked, which removes it from the set. A set read once per process would
 * refuse the new key's tokens until a restart and trust the revoked key for
 * ever, so the set is fetched again when it expires (Cache-Control max-age,
 * at most [auth] jwks_max_age) and when a token names a kid it lacks.
 *
 * The node's processes share one copy, the cache file <journal>-jwks.json:
 * the document as fetched (re-encoded by jansson) plus a member
 * "profilecache": {"url", "fetched_at", "max_age"}. RFC 7517 section 5 has
 * readers ignore members they do not know, so the file is still a JWKS that
 * an offline node could use as [auth] jwks_file. It is replaced with
 * rename(), so a reader sees the old file or the new one whole; a process
 * stat()s it before each use of its keys and reads it again when it changed.
 *
 * Fetches are the node's, not each process's: they happen under flock() on
 * <journal>-jwks.lock, and that file's mtime is the node's last attempt. An
 * attempt writes a byte to it, so a lock file that was just created, still
 * empty, never looks like one. Failed attempts count: a URL that fails is
 * asked again once per [auth] jwks_refetch_interval, not once per request,
 * and meanwhile the last good set stays in use. However many processes find
 * the set expired or meet an unknown kid, the URL sees at most one request
 * per interval from the node.
 */

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "journal_files.h"
#include "jwks.h"
#include "log.h"
#include "strnum.h"

#define JWKS_CC_MAX 512          /* bytes of Cache-Control values kept */
#define JWKS_AGE_MAX 24          /* bytes of an Age value kept */
#define JWKS_DELTA_MAX INT32_MAX /* RFC 9111 1.2.2: larger is "2^31" */

struct jwks {
	const struct config *cfg;
	char *url;             /* [auth] jwks_url without user information:
				   for logs and the cache file */
	char *cache_path;      /* <journal>-jwks.json */
	char *lock_path;       /* <journal>-jwks.lock */
	int lock_fd;           /* -1: not open */
	bool lock_failed;      /* it cannot be: this process fetches alone */
	struct jwt_keys *base; /* the secret alone; NULL without one */
	struct jwt_keys *keys; /* the secret and the newest set; NULL: no set */
	unsigned gen;          /* changes whenever keys does */
	int64_t fetched_at; /* when that set was fetched (s since the epoch) */
	long max_age;       /* and how long it may be used (s) */
	struct stat seen;   /* the cache file last read; st_ino 0: none */
	int64_t attempted_us; /* this process's last fetch attempt; 0: none
				   (counts only when lock_fd cannot be had) */
	CURL *curl;           /* made on the first fetch, then reused */
	struct curl_slist *hdrs;
	struct buf body;
	char cc[JWKS_CC_MAX];   /* the answer's Cache-Control values, joined */
	bool cc_cut;            /* ... some did not fit: ignored */
	char age[JWKS_AGE_MAX]; /* its Age value */
	char curl_err[CURL_ERROR_SIZE];
};

/*
 * A delta-seconds value (RFC 9111 1.2.2): digits only, and one too large
 * for 31 bits is taken as JWKS_DELTA_MAX. -1 when s[0..n) is not one.
 */
static long
jwks_delta_seconds(const char *s, size_t n)
{
	char num[16];
	long long v;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	if (n >= sizeof(num))
		return JWKS_DELTA_MAX;
	memcpy(num, s, n);
	num[n] = '\0';
	if (strnum_parse(num, 0, JWKS_DELTA_MAX, &v) != PC_OK)
		return JWKS_DELTA_MAX;
	return (long)v;
}

/* Whether the directive d[0..n) is name, in any case. */
static bool
jwks_directive_is(const char *d, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(d, name, n) == 0;
}

UNITTEST long
jwks_lifetime(const char *cache_control, const char *age, long max)
{
	const char *p = cache_control, *d, *end;
	long life = -1, v;
	size_t n;

	while (p != NULL && *p != '\0') {
		n = strcspn(p, ",");
		d = p;
		end = p + n;
		p += n + (p[n] == ',');
		while (d < end && (*d == ' ' || *d == '\t'))
			d++;
		while (end > d && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		/* no-cache="field" names fields; only the bare one counts. */
		if (jwks_directive_is(d, (size_t)(end - d), "no-store") ||
		    jwks_directive_is(d, (size_t)(end - d), "no-cache")) {
			life = 0;
			continue;
		}
		if (end - d <= 8 || strncasecmp(d, "max-age=", 8) != 0)
			continue;
		d += 8;
		if (end - d >= 2 && *d == '"' && end[-1] == '"') {
			d++;
			end--;
		}
		/* Several max-ages (or headers): the shortest is safe. */
		if ((v = jwks_delta_seconds(d, (size_t)(end - d))) >= 0 &&
		    (life < 0 || v < life))
			life = v;
	}
	if (life < 0)
		return max;
	/* A shared cache on the way held the answer for age seconds. */
	if (age != NULL && (v = jwks_delta_seconds(age, strlen(age))) > 0)
		life = v >= life ? 0 : life - v;
	return life < max ? life : max;
}

/* url without the user information it may carry (a password, perhaps). */
static char *
jwks_public_url(const char *url)
{
	const char *host = strstr(url, "://"), *end, *at = NULL, *p;
	char *out;

	if (host == NULL)
		return strdup(url);
	host += 3;
	end = host + strcspn(host, "/?#");
	for (p = host; p < end; p++)
		if (*p == '@')
			at = p;
	if (at == NULL)
		return strdup(url);
	if (asprintf(&out, "%.*s%s", (int)(host - url), url, at + 1) == -1)
		return NULL;
	return out;
}

/* Whether st is the cache file that was read last. */
static bool
jwks_same_file(const struct jwks *j, const struct stat *st)
{
	return j->seen.st_ino == st->st_ino && j->seen.st_dev == st->st_dev &&
	    j->seen.st_size == st->st_size &&
	    j->seen.st_mtim.tv_sec == st->st_mtim.tv_sec &&
	    j->seen.st_mtim.tv_nsec == st->st_mtim.tv_nsec;
}

/* Make keys (j's from now on) the set in use. */
static void
jwks_use(struct jwks *j, struct jwt_keys *keys, int64_t fetched_at,
    long max_age)
{
	jwt_keys_free(j->keys);
	j->keys = keys;
	j->fetched_at = fetched_at;
	/* The limit may have been lowered since the file was written. */
	j->max_age = max_age < j->cfg->auth_jwks_max_age ?
	    max_age :
	    j->cfg->auth_jwks_max_age;
	j->gen++;
}

/*
 * Read the cache file again unless it is the one read last. A missing file
 * leaves the keys as they are (the set in use is still the newest this
 * process knows); one from another URL, or malformed, is logged and passed
 * over until it changes. True when the keys changed.
 */
static bool
jwks_reload(struct jwks *j)
{
	struct jwt_keys *keys = NULL;
	char err[PC_ERRLEN] = "";
	const json_t *meta, *url, *at, *age;
	json_t *root = NULL;
	struct stat st;
	struct buf b;
	bool changed = false;

	if (stat(j->cache_path, &st) == -1 || jwks_same_file(j, &st))
		return false;
	buf_init(&b, JWT_JWKS_MAX);
	j->seen = st;
	if (buf_read_file(&b, j->cache_path, "JWKS cache file", &j->seen,
	        err) != PC_OK)
		goto out;
	/* Not the parser's message: it would quote the file. */
	if ((root = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, NULL)) ==
	    NULL) {
		pc_err(err, "not valid JSON");
		goto out;
	}
	meta = json_object_get(root, "profilecache");
	url = json_object_get(meta, "url");
	at = json_object_get(meta, "fetched_at");
	age = json_object_get(meta, "max_age");
	if (!json_is_string(url) ||
	    strcmp(json_string_value(url), j->url) != 0) {
		pc_err(err, "not fetched from %s", j->url);
		goto out;
	}
	if (!json_is_integer(at) || !json_is_integer(age) ||
	    json_integer_value(age) < 0 ||
	    json_integer_value(age) > JWKS_DELTA_MAX) {
		pc_err(err, "bad fetched_at or max_age");
		goto out;
	}
	if (jwt_keys_with_jwks(j->base, b.data, b.len, "file", j->cache_path,
	        &keys, err) != PC_OK)
		goto out;
	jwks_use(j, keys, (int64_t)json_integer_value(at),
	    (long)json_integer_value(age));
	changed = true;
out:
	if (!changed)
		log_warn("jwks_cache_skipped", "file=%s error=\"%s\"",
		    j->cache_path, err);
	json_decref(root);
	buf_free(&b);
	return changed;
}

/*
 * The node's fetch lock, opened on first use. -1 when it cannot be opened
 * (logged once): this process then fetches on its own, still at most once
 * per interval.
 */
static int
jwks_lock_fd(struct jwks *j)
{
	if (j->lock_fd != -1 || j->lock_failed)
		return j->lock_fd;
	j->lock_fd =
	    open(j->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (j->lock_fd == -1) {
		j->lock_failed = true;
		log_warn("jwks_lock_unavailable", "file=%s error=\"%s\"",
		    j->lock_path, strerror(errno));
	}
	return j->lock_fd;
}

/*
 * Whether the node may fetch at now_us (µs since the epoch): nobody tried
 * within the interval. The node's last attempt is the lock file's mtime
 * (to the file system's clock tick); this process's own counts only without
 * a lock file.
 */
static bool
jwks_due(struct jwks *j, int64_t now_us)
{
	int64_t at = j->attempted_us;
	struct stat st;
	int fd = jwks_lock_fd(j);

	/* Empty until the first attempt wrote its byte. */
	if (fd != -1)
		at = fstat(fd, &st) == 0 && st.st_size > 0 ?
		    (int64_t)st.st_mtim.tv_sec * 1000000 +
		        st.st_mtim.tv_nsec / 1000 :
		    0;
	/* An attempt in the future: the clock was set back. */
	return at == 0 || at > now_us ||
	    now_us - at >=
	    j->cfg->auth_jwks_refetch_interval * INT64_C(1000000);
}

static bool
jwks_expired(const struct jwks *j, int64_t now_us)
{
	int64_t now = now_us / 1000000;

	return j->keys == NULL || now < j->fetched_at ||
	    now - j->fetched_at >= j->max_age;
}

static size_t
jwks_write(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	(void)size;
	/* Returning short makes libcurl fail with CURLE_WRITE_ERROR. */
	return buf_add(b, p, n) == PC_OK ? n : 0;
}

/*
 * Whether the header line p[0..n) is name's; then *v, *vlen is its value
 * without the white space around it.
 */
static bool
jwks_header_is(const char *p, size_t n, const char *name, const char **v,
    size_t *vlen)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(p, name, k) != 0 || p[k] != ':')
		return false;
	p += k + 1;
	n -= k + 1;
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && strchr(" \t\r\n", p[n - 1]) != NULL)
		n--;
	*v = p;
	*vlen = n;
	return true;
}

/* libcurl's header callback: Cache-Control and Age of the final answer. */
static size_t
jwks_header(char *p, size_t size, size_t n, void *arg)
{
	struct jwks *j = arg;
	const char *v;
	size_t vlen, have;

	(void)size;
	/* A status line starts an answer (a proxy's to CONNECT came first). */
	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		j->cc[0] = '\0';
		j->cc_cut = false;
		j->age[0] = '\0';
	} else if (jwks_header_is(p, n, "Cache-Control", &v, &vlen)) {
		have = strlen(j->cc);
		if (have + 2 + vlen >= sizeof(j->cc))
			j->cc_cut = true;
		else
			(void)snprintf(j->cc + have, sizeof(j->cc) - have,
			    "%s%.*s", have > 0 ? ", " : "", (int)vlen, v);
	} else if (jwks_header_is(p, n, "Age", &v, &vlen)) {
		/* Too long to be a number we could use: very old. */
		if (vlen >= sizeof(j->age))
			(void)snprintf(j->age, sizeof(j->age), "%ld",
			    (long)JWKS_DELTA_MAX);
		else {
			memcpy(j->age, v, vlen);
			j->age[vlen] = '\0';
		}
	}
	return n;
}

/* The libcurl handle with the options of every fetch. */
static enum pc_result
jwks_curl(struct jwks *j)
{
	const struct config *cfg = j->cfg;

	if (j->curl == NULL && (j->curl = curl_easy_init()) == NULL)
		return PC_NOMEM;
	if (j->hdrs == NULL &&
	    (j->hdrs = curl_slist_append(NULL, "Accept: application/json")) ==
	        NULL)
		return PC_NOMEM;
	(void)curl_easy_setopt(j->curl, CURLOPT_URL, cfg->auth_jwks_url);
	(void)curl_easy_setopt(j->curl, CURLOPT_HTTPGET, 1L);
	(void)curl_easy_setopt(j->curl, CURLOPT_HTTPHEADER, j->hdrs);
	(void)curl_easy_setopt(j->curl, CURLOPT_NOSIGNAL, 1L);
	/* The origin's: Supabase serves both from the project's host. */
	(void)curl_easy_setopt(j->curl, CURLOPT_CONNECTTIMEOUT_MS,
	    cfg->origin_connect_timeout_ms);
	(void)curl_easy_setopt(j->curl, CURLOPT_TIMEOUT_MS,
	    cfg->origin_timeout_ms);
	(void)curl_easy_setopt(j->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	/* A redirect could lead anywhere, http:// elsewhere included. */
	(void)curl_easy_setopt(j->curl, CURLOPT_FOLLOWLOCATION, 0L);
	(void)curl_easy_setopt(j->curl, CURLOPT_ACCEPT_ENCODING, "");
	/* Refused early when announced; the write callback caps the rest,
	 * decoded bytes included. */
	(void)curl_easy_setopt(j->curl, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)JWKS_BODY_MAX);
	(void)curl_easy_setopt(j->curl, CURLOPT_WRITEFUNCTION, jwks_write);
	(void)curl_easy_setopt(j->curl, CURLOPT_WRITEDATA, &j->body);
	(void)curl_easy_setopt(j->curl, CURLOPT_HEADERFUNCTION, jwks_header);
	(void)curl_easy_setopt(j->curl, CURLOPT_HEADERDATA, j);
	(void)curl_easy_setopt(j->curl, CURLOPT_ERRORBUFFER, j->curl_err);
	(void)curl_easy_setopt(j->curl, CURLOPT_USERAGENT,
	    "profilecache/" PACKAGE_VERSION);
	return PC_OK;
}

/*
 * Write the fetched document doc[0..len), with when and whence it came, as
 * the node's cache file: a temporary file renamed over it, so that readers
 * see the old file or the new one whole. *st gets the new file's identity.
 * It is not fsync()ed: a file torn by a crash is refused when read, and the
 * set is fetched again.
 */
static enum pc_result
jwks_write_cache(struct jwks *j, const char *doc, size_t len, int64_t now,
    long max_age, struct stat *st, char *err)
{
	enum pc_result r = PC_NOMEM;
	json_t *root = NULL;
	char *text = NULL, *tmp = NULL;
	size_t n, done = 0;
	ssize_t w;
	int fd = -1;

	if ((root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, NULL)) ==
	        NULL ||
	    json_object_set_new(root, "profilecache",
	        json_pack("{s:s,s:I,s:I}", "url", j->url, "fetched_at",
	            (json_int_t)now, "max_age", (json_int_t)max_age)) != 0 ||
	    (text = json_dumps(root, JSON_COMPACT)) == NULL ||
	    asprintf(&tmp, "%s.XXXXXX", j->cache_path) == -1) {
		tmp = NULL;
		pc_err(err, "out of memory");
		goto out;
	}
	r = PC_ERROR;
	if ((n = strlen(text)) > JWT_JWKS_MAX) {
		pc_err(err, "larger than %d bytes once written", JWT_JWKS_MAX);
		goto out;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		pc_err(err, "%s: %s", tmp, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	/* Public keys, as readable as the URL they come from. */
	if (fchmod(fd, 0644) == -1)
		goto fail;
	while (done < n) {
		w = write(fd, text + done, n - done);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		done += (size_t)w;
	}
	if (fstat(fd, st) == -1)
		goto fail;
	w = close(fd);
	fd = -1;
	if (w == -1 || rename(tmp, j->cache_path) == -1)
		goto fail;
	r = PC_OK;
	goto out;
fail:
	pc_err(err, "%s: %s", tmp, strerror(errno));
out:
	if (fd != -1)
		(void)close(fd);
	if (tmp != NULL && r != PC_OK)
		(void)unlink(tmp);
	free(tmp);
	free(text);
	json_decref(root);
	return r;
}

/*
 * Ask the URL for the set, at now. A good answer becomes the set in use and
 * the cache file; anything else is logged, and the set in use stays.
 */
static void
jwks_fetch(struct jwks *j, int64_t now)
{
	struct jwt_keys *keys = NULL;
	char err[PC_ERRLEN] = "", werr[PC_ERRLEN] = "";
	struct stat st;
	long status = 0, life;
	CURLcode cc;

	buf_reset(&j->body);
	j->curl_err[0] = '\0';
	j->cc[0] = '\0';
	j->cc_cut = false;
	j->age[0] = '\0';
	if (jwks_curl(j) != PC_OK) {
		pc_err(err, "out of memory");
		goto fail;
	}
	cc = curl_easy_perform(j->curl);
	if (cc == CURLE_WRITE_ERROR || cc == CURLE_FILESIZE_EXCEEDED) {
		pc_err(err, "answer larger than %d bytes", JWKS_BODY_MAX);
		goto fail;
	}
	if (cc != CURLE_OK) {
		pc_err(err, "%s",
		    j->curl_err[0] != '\0' ? j->curl_err :
		                             curl_easy_strerror(cc));
		goto fail;
	}
	(void)curl_easy_getinfo(j->curl, CURLINFO_RESPONSE_CODE, &status);
	/* Not the body: an error page says nothing a log needs. */
	if (status != 200) {
		pc_err(err, "HTTP %ld", status);
		goto fail;
	}
	if (jwt_keys_with_jwks(j->base, j->body.data, j->body.len, "url",
	        j->url, &keys, err) != PC_OK)
		goto fail;
	life = jwks_lifetime(j->cc_cut ? NULL : j->cc,
	    j->age[0] != '\0' ? j->age : NULL, j->cfg->auth_jwks_max_age);
	if (jwks_write_cache(j, j->body.data, j->body.len, now, life, &st,
	        werr) != PC_OK) {
		/* This process uses the set all the same. */
		log_warn("jwks_cache_unwritable", "file=%s error=\"%s\"",
		    j->cache_path, werr);
		/* ... and must not take the older file for news. */
		if (stat(j->cache_path, &st) == -1)
			memset(&st, 0, sizeof(st));
	}
	jwks_use(j, keys, now, life);
	j->seen = st;
	log_info("jwks_fetched", "url=%s keys=%zu max_age=%ld", j->url,
	    jwt_keys_count(keys), j->max_age);
	return;
fail:
	log_warn("jwks_fetch_failed", "url=%s error=\"%s\" kept=\"%s\"", j->url,
	    err, j->keys != NULL ? "the last good set" : "no set yet");
}

/*
 * Fetch the set for the node, unless a process of it tried within the
 * interval (or, when wait is not set, the set is no longer expired): under
 * the fetch lock, waiting for it when wait is set, else leaving the fetch to
 * the process that holds it.
 */
static void
jwks_update(struct jwks *j, bool wait)
{
	int fd = jwks_lock_fd(j);
	int64_t now_us;

	if (fd != -1 && flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) == -1) {
		if (errno == EWOULDBLOCK)
			return;
		log_warn("jwks_lock_failed", "file=%s error=\"%s\"",
		    j->lock_path, strerror(errno));
		fd = -1;
	}
	/* What a process that held the lock meanwhile did. */
	(void)jwks_reload(j);
	now_us = clock_now_us();
	if (jwks_due(j, now_us) && (wait || jwks_expired(j, now_us))) {
		j->attempted_us = now_us;
		if (fd != -1 && pwrite(fd, "\n", 1, 0) != 1)
			log_warn("jwks_lock_failed", "file=%s error=\"%s\"",
			    j->lock_path, strerror(errno));
		jwks_fetch(j, now_us / 1000000);
	}
	if (fd != -1)
		(void)flock(fd, LOCK_UN);
}

enum pc_result
jwks_open(const struct config *cfg, struct jwks **out, char *err)
{
	enum pc_result r = PC_NOMEM;
	struct jwks *j;

	*out = NULL;
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		pc_err(err, "out of memory");
		return PC_NOMEM;
	}
	j->cfg = cfg;
	j->lock_fd = -1;
	buf_init(&j->body, JWKS_BODY_MAX);
	if (asprintf(&j->cache_path, "%s" JOURNAL_FILE_JWKS,
	        cfg->journal_path) == -1)
		j->cache_path = NULL;
	if (asprintf(&j->lock_path, "%s" JOURNAL_FILE_JWKS_LOCK,
	        cfg->journal_path) == -1)
		j->lock_path = NULL;
	if ((j->url = jwks_public_url(cfg->auth_jwks_url)) == NULL ||
	    j->cache_path == NULL || j->lock_path == NULL) {
		pc_err(err, "out of memory");
		goto out;
	}
	if (cfg->auth_jwt_secret_file != NULL &&
	    (r = jwt_keys_load(cfg->auth_jwt_secret_file, NULL, &j->base,
	         err)) != PC_OK)
		goto out;
	(void)jwks_reload(j);
	*out = j;
	j = NULL;
	r = PC_OK;
out:
	jwks_close(j);
	return r;
}

void
jwks_close(struct jwks *j)
{
	if (j == NULL)
		return;
	if (j->curl != NULL)
		curl_easy_cleanup(j->curl);
	curl_slist_free_all(j->hdrs);
	buf_free(&j->body);
	jwt_keys_free(j->keys);
	jwt_keys_free(j->base);
	if (j->lock_fd != -1)
		(void)close(j->lock_fd);
	free(j->url);
	free(j->cache_path);
	free(j->lock_path);
	free(j);
}

const struct jwt_keys *
jwks_keys(struct jwks *j)
{
	int64_t now_us = clock_now_us();

	(void)jwks_reload(j);
	/* With no set at all there is nothing to use meanwhile: wait. */
	if (jwks_expired(j, now_us) && jwks_due(j, now_us))
		jwks_update(j, j->keys == NULL);
	return j->keys != NULL ? j->keys : j->base;
}

bool
jwks_refetch(struct jwks *j)
{
	unsigned gen = j->gen;

	(void)jwks_reload(j);
	if (j->gen == gen && jwks_due(j, clock_now_us()))
		jwks_update(j, true);
	return j->gen != gen;
}

bool
jwks_has_set(const struct jwks *j)
{
	return j->keys != NULL;
}

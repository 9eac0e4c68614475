/* The INI configuration: defaults, parsing with range checks, secrets. */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apikey.h"
#include "config.h"
#include "cors.h"
#include "journal_files.h"
#include "jwt.h"
#include "log.h"
#include "resource.h"
#include "strnum.h"

#define SECRET_MAX 4096

enum opt_type { OPT_STR, OPT_LONG, OPT_BOOL, OPT_LOGLEVEL };

struct opt {
	const char *section;
	const char *name;
	enum opt_type type;
	size_t offset;
	long min, max;
	int required;
};

#define O(f) offsetof(struct config, f)

/* Every key the file may hold; anything else is an error. */
static const struct opt opts[] = {
	{ "origin", "url", OPT_STR, O(origin_url), 0, 0, 1 },
	{ "origin", "service_key_file", OPT_STR, O(service_key_file), 0, 0, 1 },
	{ "origin", "connect_timeout_ms", OPT_LONG,
	    O(origin_connect_timeout_ms), 1, 60000, 0 },
	{ "origin", "timeout_ms", OPT_LONG, O(origin_timeout_ms), 1, 600000,
	    0 },
	{ "origin", "max_answer_bytes", OPT_LONG, O(origin_max_answer), 1024,
	    256L << 20, 0 },
	{ "origin", "retry_after", OPT_LONG, O(origin_retry_after), 1, 3600,
	    0 },
	{ "cache", "servers", OPT_STR, O(cache_servers), 0, 0, 0 },
	{ "cache", "prefix", OPT_STR, O(cache_prefix), 0, 0, 0 },
	{ "cache", "fresh_ttl", OPT_LONG, O(cache_fresh_ttl), 1, 30 * 86400,
	    0 },
	{ "cache", "stale_ttl", OPT_LONG, O(cache_stale_ttl), 0, 30 * 86400,
	    0 },
	{ "cache", "negative_ttl", OPT_LONG, O(cache_negative_ttl), 0, 86400,
	    0 },
	{ "cache", "stale_if_error", OPT_LONG, O(cache_stale_if_error), 0,
	    30 * 86400, 0 },
	{ "cache", "lock_ttl", OPT_LONG, O(cache_lock_ttl), 1, 600, 0 },
	{ "cache", "lock_wait_ms", OPT_LONG, O(cache_lock_wait_ms), 0, 60000,
	    0 },
	{ "cache", "timeout_ms", OPT_LONG, O(cache_timeout_ms), 1, 60000, 0 },
	{ "journal", "path", OPT_STR, O(journal_path), 0, 0, 0 },
	{ "journal", "synchronous", OPT_STR, O(journal_synchronous), 0, 0, 0 },
	{ "journal", "busy_timeout_ms", OPT_LONG, O(journal_busy_timeout_ms), 1,
	    60000, 0 },
	{ "auth", "jwt_secret_file", OPT_STR, O(auth_jwt_secret_file), 0, 0,
	    0 },
	{ "auth", "jwks_file", OPT_STR, O(auth_jwks_file), 0, 0, 0 },
	{ "auth", "jwks_url", OPT_STR, O(auth_jwks_url), 0, 0, 0 },
	{ "auth", "jwks_max_age", OPT_LONG, O(auth_jwks_max_age), 1, 86400, 0 },
	{ "auth", "jwks_refetch_interval", OPT_LONG,
	    O(auth_jwks_refetch_interval), 1, 3600, 0 },
	{ "auth", "audience", OPT_STR, O(auth_audience), 0, 0, 0 },
	{ "auth", "issuer", OPT_STR, O(auth_issuer), 0, 0, 0 },
	{ "auth", "leeway", OPT_LONG, O(auth_leeway), 0, 600, 0 },
	{ "auth", "secret_key_file", OPT_STR, O(auth_secret_key_file), 0, 0,
	    0 },
	{ "auth", "allow_anonymous", OPT_BOOL, O(auth_allow_anonymous), 0, 0,
	    0 },
	{ "auth", "accept_legacy_service_role", OPT_BOOL,
	    O(auth_accept_legacy_service_role), 0, 0, 0 },
	{ "auth", "max_token_lifetime", OPT_LONG, O(auth_max_token_lifetime),
	    60, JWT_LIFETIME_MAX, 0 },
	{ "limits", "max_body", OPT_LONG, O(limits_max_body), 256,
	    16 * 1024 * 1024, 0 },
	{ "limits", "writes_per_minute", OPT_LONG, O(limits_writes_per_minute),
	    0, 1000000, 0 },
	{ "limits", "max_pending_bytes", OPT_LONG, O(limits_max_pending_bytes),
	    0, 1024L * 1024 * 1024, 0 },
	{ "avatar", "backend", OPT_STR, O(avatar_backend), 0, 0, 0 },
	{ "avatar", "dir", OPT_STR, O(avatar_dir), 0, 0, 0 },
	{ "avatar", "storage_url", OPT_STR, O(avatar_storage_url), 0, 0, 0 },
	{ "avatar", "bucket", OPT_STR, O(avatar_bucket), 0, 0, 0 },
	{ "avatar", "public_url", OPT_STR, O(avatar_public_url), 0, 0, 0 },
	{ "avatar", "max_bytes", OPT_LONG, O(avatar_max_bytes), 1024,
	    64 * 1024 * 1024, 0 },
	{ "avatar", "size", OPT_LONG, O(avatar_size), 16, 2048, 0 },
	{ "avatar", "max_pixels", OPT_LONG, O(avatar_max_pixels), 1, 1000000000,
	    0 },
	{ "avatar", "quality", OPT_LONG, O(avatar_quality), 1, 100, 0 },
	{ "avatar", "helper", OPT_STR, O(avatar_helper), 0, 0, 0 },
	{ "avatar", "timeout_ms", OPT_LONG, O(avatar_timeout_ms), 100, 600000,
	    0 },
	{ "avatar", "trash_grace", OPT_LONG, O(avatar_trash_grace), 0,
	    30 * 86400, 0 },
	{ "avatar", "max_decodes", OPT_LONG, O(avatar_max_decodes), 0, 1024,
	    0 },
	{ "avatar", "uploads_per_user", OPT_LONG, O(avatar_uploads_per_user), 0,
	    64, 0 },
	{ "flush", "batch", OPT_LONG, O(flush_batch), 1, 10000, 0 },
	{ "flush", "pipeline", OPT_LONG, O(flush_pipeline), 1,
	    CONFIG_PIPELINE_MAX, 0 },
	{ "flush", "max_attempts", OPT_LONG, O(flush_max_attempts), 1, 1000,
	    0 },
	{ "flush", "clock_warn_ms", OPT_LONG, O(flush_clock_warn_ms), 1,
	    3600000, 0 },
	{ "flush", "backoff_base_ms", OPT_LONG, O(flush_backoff_base_ms), 1,
	    3600000, 0 },
	{ "flush", "backoff_max", OPT_LONG, O(flush_backoff_max), 1, 7 * 86400,
	    0 },
	{ "flush", "max_seconds", OPT_LONG, O(flush_max_seconds), 1, 86400, 0 },
	{ "flush", "retention", OPT_LONG, O(flush_retention), 0, 365 * 86400,
	    0 },
	{ "metrics", "file", OPT_STR, O(metrics_file), 0, 0, 0 },
	{ "metrics", "token_file", OPT_STR, O(metrics_token_file), 0, 0, 0 },
	{ "http", "cors_origins", OPT_STR, O(http_cors_origins), 0, 0, 0 },
	{ "http", "cors_max_age", OPT_LONG, O(http_cors_max_age), 0, 86400, 0 },
	{ "http", "threads", OPT_LONG, O(http_threads), 1, 64, 0 },
	{ "log", "level", OPT_LOGLEVEL, O(log_level), 0, 0, 0 },
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

struct parse_state {
	struct config *cfg;
	const char *path;
	char *err;
	unsigned char seen[NOPTS];
	int failed;
};

static void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->origin_connect_timeout_ms = 1000;
	cfg->origin_timeout_ms = 3000;
	cfg->origin_max_answer = CONFIG_ORIGIN_ANSWER_MAX;
	cfg->origin_retry_after = 5;
	cfg->cache_fresh_ttl = 600;
	cfg->cache_stale_ttl = 60;
	cfg->cache_negative_ttl = 30;
	cfg->cache_stale_if_error = 3600;
	cfg->cache_lock_ttl = 10;
	cfg->cache_lock_wait_ms = 1000;
	cfg->cache_timeout_ms = 200;
	cfg->journal_busy_timeout_ms = 2000;
	cfg->auth_leeway = 30;
	cfg->auth_max_token_lifetime = 86400;
	cfg->auth_jwks_max_age = 600;
	cfg->auth_jwks_refetch_interval = 30;
	cfg->limits_max_body = 64 * 1024;
	cfg->limits_writes_per_minute = 120;
	cfg->limits_max_pending_bytes = 1024 * 1024;
	cfg->avatar_max_bytes = 5 * 1024 * 1024;
	cfg->avatar_size = 256;
	cfg->avatar_max_pixels = 40000000;
	cfg->avatar_quality = 80;
	cfg->avatar_timeout_ms = 10000;
	cfg->avatar_trash_grace = 3600;
	cfg->avatar_max_decodes = 2;
	cfg->avatar_uploads_per_user = 1;
	cfg->flush_batch = 200;
	cfg->flush_pipeline = 4;
	cfg->flush_max_attempts = 8;
	cfg->flush_clock_warn_ms = 500;
	cfg->flush_backoff_base_ms = 2000;
	cfg->flush_backoff_max = 3600;
	cfg->flush_max_seconds = 50;
	cfg->flush_retention = 7 * 86400;
	cfg->http_cors_max_age = 600;
	cfg->http_threads = 1;
	cfg->log_level = LOG_LVL_INFO;
}

/* Fill in the string defaults that were not set by the file. */
static enum pc_result
config_string_defaults(struct config *cfg)
{
	if (cfg->cache_servers == NULL &&
	    (cfg->cache_servers = strdup("127.0.0.1:11211")) == NULL)
		return PC_NOMEM;
	if (cfg->cache_prefix == NULL &&
	    (cfg->cache_prefix = strdup("pc1:")) == NULL)
		return PC_NOMEM;
	if (cfg->journal_path == NULL &&
	    (cfg->journal_path = strdup("/var/lib/profilecache/journal.db")) ==
	        NULL)
		return PC_NOMEM;
	if (cfg->avatar_helper == NULL &&
	    (cfg->avatar_helper =
	            strdup(PC_LIBEXECDIR "/profilecache-image")) == NULL)
		return PC_NOMEM;
	if (cfg->avatar_decode_slots == NULL &&
	    asprintf(&cfg->avatar_decode_slots, "%s" JOURNAL_FILE_DECODE,
	        cfg->journal_path) == -1) {
		cfg->avatar_decode_slots = NULL;
		return PC_NOMEM;
	}
	if (cfg->metrics_file == NULL &&
	    asprintf(&cfg->metrics_file, "%s" JOURNAL_FILE_METRICS,
	        cfg->journal_path) == -1) {
		cfg->metrics_file = NULL;
		return PC_NOMEM;
	}
	if (cfg->journal_synchronous == NULL &&
	    (cfg->journal_synchronous = strdup("full")) == NULL)
		return PC_NOMEM;
	if (cfg->auth_audience == NULL &&
	    (cfg->auth_audience = strdup("authenticated")) == NULL)
		return PC_NOMEM;
	if (cfg->avatar_backend == NULL &&
	    (cfg->avatar_backend = strdup("local")) == NULL)
		return PC_NOMEM;
	if (cfg->avatar_bucket == NULL &&
	    (cfg->avatar_bucket = strdup("avatars")) == NULL)
		return PC_NOMEM;
	return PC_OK;
}

static bool config_url_loopback(const char *authority);

/* Drop the trailing slashes of a URL setting. */
static void
config_url_trim(char *url)
{
	size_t n = url != NULL ? strlen(url) : 0;

	while (n > 0 && url[n - 1] == '/')
		url[--n] = '\0';
}

/*
 * [avatar] for the supabase backend: storage_url defaults to the project's
 * Storage API beside the origin (https://<ref>.supabase.co/rest/v1 ->
 * .../storage/v1), and the files are served from the bucket's public URL
 * unless public_url names another (a CDN in front of it).
 */
static enum pc_result config_check_url(struct parse_state *, const char *,
    const char *, const char *);

static enum pc_result
config_avatar_supabase(struct parse_state *st)
{
	static const char rest[] = "/rest/v1";
	struct config *cfg = st->cfg;
	const char *path = st->path;
	char *err = st->err;
	size_t n = strlen(cfg->origin_url);

	if (cfg->avatar_storage_url == NULL) {
		if (n < sizeof(rest) - 1 ||
		    strcmp(cfg->origin_url + n - (sizeof(rest) - 1), rest) !=
		        0) {
			pc_err(err,
			    "%s: [avatar] storage_url is required with backend "
			    "= supabase when [origin] url does not end in %s",
			    path, rest);
			return PC_INVALID;
		}
		if (asprintf(&cfg->avatar_storage_url, "%.*s/storage/v1",
		        (int)(n - (sizeof(rest) - 1)), cfg->origin_url) == -1) {
			cfg->avatar_storage_url = NULL;
			pc_err(err, "out of memory");
			return PC_NOMEM;
		}
	}
	config_url_trim(cfg->avatar_storage_url);
	if (config_check_url(st, "[avatar] storage_url",
	        cfg->avatar_storage_url,
	        "the service key would travel in the clear") != PC_OK)
		return PC_INVALID;
	/* One path segment: the object paths are appended after it. */
	if (cfg->avatar_bucket[0] == '\0' ||
	    strspn(cfg->avatar_bucket,
	        "abcdefghijklmnopqrstuvwxyz"
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
	        strlen(cfg->avatar_bucket)) {
		pc_err(err,
		    "%s: [avatar] bucket may hold only letters, digits, "
		    "'-', '_' and '.'",
		    path);
		return PC_INVALID;
	}
	if (cfg->avatar_public_url == NULL &&
	    asprintf(&cfg->avatar_public_url, "%s/object/public/%s",
	        cfg->avatar_storage_url, cfg->avatar_bucket) == -1) {
		cfg->avatar_public_url = NULL;
		pc_err(err, "out of memory");
		return PC_NOMEM;
	}
	return PC_OK;
}

static int
config_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct parse_state *st = user;
	const struct opt *o = NULL;
	char msg[PC_ERRLEN];
	long long num;
	char *field;
	size_t i;
	int lvl;

	switch (resources_set(&st->cfg->resources, section, name, value, msg)) {
	case PC_OK:
		return 1;
	case PC_NOTFOUND:
		break;
	default:
		pc_err(st->err, "%s: %s", st->path, msg);
		goto fail;
	}
	for (i = 0; i < NOPTS; i++) {
		if (strcmp(opts[i].section, section) == 0 &&
		    strcmp(opts[i].name, name) == 0) {
			o = &opts[i];
			break;
		}
	}
	if (o == NULL) {
		pc_err(st->err, "%s: unknown key [%s] %s", st->path, section,
		    name);
		goto fail;
	}
	if (st->seen[i]++) {
		pc_err(st->err, "%s: [%s] %s is set twice", st->path, section,
		    name);
		goto fail;
	}
	field = (char *)st->cfg + o->offset;
	switch (o->type) {
	case OPT_STR:
		if (*value == '\0') {
			pc_err(st->err, "%s: [%s] %s is empty", st->path,
			    section, name);
			goto fail;
		}
		if ((*(char **)field = strdup(value)) == NULL) {
			pc_err(st->err, "out of memory");
			goto fail;
		}
		break;
	case OPT_LONG:
		if (strnum_parse(value, o->min, o->max, &num) != PC_OK) {
			pc_err(st->err,
			    "%s: [%s] %s must be a whole number from %ld to %ld",
			    st->path, section, name, o->min, o->max);
			goto fail;
		}
		*(long *)field = (long)num;
		break;
	case OPT_BOOL:
		if (strcasecmp(value, "true") == 0 ||
		    strcasecmp(value, "yes") == 0 ||
		    strcasecmp(value, "on") == 0 || strcmp(value, "1") == 0)
			*(bool *)field = true;
		else if (strcasecmp(value, "false") == 0 ||
		    strcasecmp(value, "no") == 0 ||
		    strcasecmp(value, "off") == 0 || strcmp(value, "0") == 0)
			*(bool *)field = false;
		else {
			pc_err(st->err, "%s: [%s] %s must be true or false",
			    st->path, section, name);
			goto fail;
		}
		break;
	case OPT_LOGLEVEL:
		if ((lvl = log_level_parse(value)) < 0) {
			pc_err(st->err,
			    "%s: [%s] %s must be error, warn, info or debug",
			    st->path, section, name);
			goto fail;
		}
		*(int *)field = lvl;
		break;
	}
	return 1;
fail:
	st->failed = 1;
	return 0;
}

/*
 * Whether the authority of a URL (what follows "http://") names this machine:
 * localhost, an IPv4 address in 127.0.0.0/8 or [::1]. Only these literal
 * forms count; anything else would be resolved, and could go elsewhere.
 */
static bool
config_url_loopback(const char *authority)
{
	char host[INET6_ADDRSTRLEN + 2];
	struct in6_addr a6;
	struct in_addr a4;
	const char *end, *at, *h;
	size_t n;

	end = authority + strcspn(authority, "/?#");
	/* Credentials in the URL: the host is what follows the last '@'. */
	for (at = authority; at < end; at++)
		if (*at == '@')
			authority = at + 1;
	h = authority;
	if (*h == '[') {
		n = strcspn(h + 1, "]");
		if (h + 1 + n >= end || n >= sizeof(host))
			return false;
		memcpy(host, h + 1, n);
		host[n] = '\0';
		return inet_pton(AF_INET6, host, &a6) == 1 &&
		    IN6_IS_ADDR_LOOPBACK(&a6);
	}
	n = strcspn(h, ":/?#");
	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	if (strcasecmp(host, "localhost") == 0)
		return true;
	return inet_pton(AF_INET, host, &a4) == 1 &&
	    (ntohl(a4.s_addr) >> 24) == 127;
}

bool
config_url_is_loopback(const char *url)
{
	const char *p = strstr(url, "://");

	return p != NULL && config_url_loopback(p + 3);
}

/*
 * The issuer of a Supabase project's user tokens when url is its REST API,
 * https://<ref>.supabase.co/rest/v1: https://<ref>.supabase.co/auth/v1 in
 * *issuer (malloc()ed). Any other URL leaves *issuer alone. PC_NOMEM only.
 */
static enum pc_result
config_supabase_issuer(const char *url, char **issuer)
{
	static const char scheme[] = "https://",
	                  tail[] = ".supabase.co/rest/v1";
	const char *ref = url + sizeof(scheme) - 1;
	size_t n, len = strlen(url);

	if (strncmp(url, scheme, sizeof(scheme) - 1) != 0 ||
	    len <= sizeof(scheme) - 1 + sizeof(tail) - 1 ||
	    strcmp(url + len - (sizeof(tail) - 1), tail) != 0)
		return PC_OK;
	n = len - (sizeof(scheme) - 1) - (sizeof(tail) - 1);
	/* A project ref: lower-case letters and digits. */
	if (strspn(ref, "abcdefghijklmnopqrstuvwxyz0123456789") != n)
		return PC_OK;
	if (asprintf(issuer, "%s%.*s.supabase.co/auth/v1", scheme, (int)n,
	        ref) == -1) {
		*issuer = NULL;
		return PC_NOMEM;
	}
	return PC_OK;
}

/*
 * The admin credential: [auth] secret_key_file, which must hold a secret key,
 * or else the service key when that is one (whoever holds it can already do
 * anything at the origin, so accepting it here grants nothing more).
 */
static enum pc_result
config_secret_key(struct config *cfg, const char *path, char *err)
{
	enum pc_result r;

	if (cfg->auth_secret_key_file == NULL) {
		if (apikey_kind(cfg->service_key) != APIKEY_SECRET)
			return PC_OK;
		if ((cfg->auth_secret_key = strdup(cfg->service_key)) == NULL) {
			pc_err(err, "out of memory");
			return PC_NOMEM;
		}
		return PC_OK;
	}
	if ((r = config_read_secret(cfg->auth_secret_key_file,
	         &cfg->auth_secret_key, err)) != PC_OK)
		return r;
	if (apikey_kind(cfg->auth_secret_key) != APIKEY_SECRET) {
		pc_err(err,
		    "%s: [auth] secret_key_file must hold a secret key "
		    "(sb_secret_...)",
		    path);
		return PC_INVALID;
	}
	return PC_OK;
}

/*
 * A URL that key ("[origin] url") may hold: http:// or https:// with a host,
 * and http:// only to this machine, because of what a man in the middle
 * could do (why).
 */
static enum pc_result
config_check_url(struct parse_state *st, const char *key, const char *url,
    const char *why)
{
	const char *authority;

	if (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0) {
		pc_err(st->err, "%s: %s must start with http:// or https://",
		    st->path, key);
		return PC_INVALID;
	}
	authority = strstr(url, "://") + 3;
	if (strchr("/?#", *authority) != NULL) {
		pc_err(st->err, "%s: %s has no host", st->path, key);
		return PC_INVALID;
	}
	if (strncmp(url, "http://", 7) == 0 &&
	    !config_url_loopback(authority)) {
		pc_err(st->err,
		    "%s: %s: http:// is allowed only to a loopback "
		    "address (127.0.0.0/8, ::1, localhost), %s: use https://",
		    st->path, key, why);
		return PC_INVALID;
	}
	return PC_OK;
}

/* Check what single keys cannot: required keys and values' shapes. */
static enum pc_result
config_validate(struct parse_state *st)
{
	struct config *cfg = st->cfg;
	char msg[PC_ERRLEN];
	enum pc_result r;
	size_t i, n;

	for (i = 0; i < NOPTS; i++) {
		if (opts[i].required && !st->seen[i]) {
			pc_err(st->err, "%s: [%s] %s is required", st->path,
			    opts[i].section, opts[i].name);
			return PC_INVALID;
		}
	}
	if (config_check_url(st, "[origin] url", cfg->origin_url,
	        "the service key would travel in the clear") != PC_OK)
		return PC_INVALID;
	/* Whoever could change the key set on its way could sign any token. */
	if (cfg->auth_jwks_url != NULL &&
	    config_check_url(st, "[auth] jwks_url", cfg->auth_jwks_url,
	        "a forged key set would let anyone sign tokens") != PC_OK)
		return PC_INVALID;
	if (cfg->auth_jwks_url != NULL && cfg->auth_jwks_file != NULL) {
		pc_err(st->err,
		    "%s: [auth] jwks_url and jwks_file exclude each "
		    "other (the file is for setups that cannot reach the URL)",
		    st->path);
		return PC_INVALID;
	}
	n = strlen(cfg->origin_url);
	while (n > 0 && cfg->origin_url[n - 1] == '/')
		cfg->origin_url[--n] = '\0';
	if (cfg->auth_issuer == NULL &&
	    config_supabase_issuer(cfg->origin_url, &cfg->auth_issuer) !=
	        PC_OK) {
		pc_err(st->err, "out of memory");
		return PC_NOMEM;
	}
	if (strcmp(cfg->avatar_backend, "supabase") == 0) {
		if ((r = config_avatar_supabase(st)) != PC_OK)
			return r;
	} else if (strcmp(cfg->avatar_backend, "local") != 0) {
		pc_err(st->err,
		    "%s: [avatar] backend must be local or supabase", st->path);
		return PC_INVALID;
	} else if ((cfg->avatar_dir == NULL) !=
	    (cfg->avatar_public_url == NULL)) {
		pc_err(st->err, "%s: [avatar] dir and public_url go together",
		    st->path);
		return PC_INVALID;
	}
	config_url_trim(cfg->avatar_public_url);
	/* Else a body that max_body lets in could never be journaled. */
	if (cfg->limits_max_pending_bytes != 0 &&
	    cfg->limits_max_pending_bytes < cfg->limits_max_body) {
		pc_err(st->err,
		    "%s: [limits] max_pending_bytes must be 0 or at least "
		    "max_body (%ld)",
		    st->path, cfg->limits_max_body);
		return PC_INVALID;
	}
	if (strcmp(cfg->journal_synchronous, "full") != 0 &&
	    strcmp(cfg->journal_synchronous, "normal") != 0) {
		pc_err(st->err,
		    "%s: [journal] synchronous must be full or normal",
		    st->path);
		return PC_INVALID;
	}
	if (cfg->http_cors_origins != NULL &&
	    cors_origins_check(cfg->http_cors_origins, msg) != PC_OK) {
		pc_err(st->err, "%s: [http] cors_origins: %s", st->path, msg);
		return PC_INVALID;
	}
	/* memcached keys are at most 250 bytes: leave room for the rest. */
	if (strlen(cfg->cache_prefix) > 64) {
		pc_err(st->err, "%s: [cache] prefix is longer than 64 bytes",
		    st->path);
		return PC_INVALID;
	}
	for (i = 0; cfg->cache_prefix[i] != '\0'; i++) {
		unsigned char c = (unsigned char)cfg->cache_prefix[i];

		if (c <= ' ' || c == 0x7f) {
			pc_err(st->err,
			    "%s: [cache] prefix may not hold spaces or control characters",
			    st->path);
			return PC_INVALID;
		}
	}
	return PC_OK;
}

/*
 * The declared resources (resource.h), checked once the file is read. The
 * names the routes use themselves, and profiles, whose table and functions
 * profilecache ships (schema/postgres), cannot be declared.
 */
static enum pc_result
config_resources(struct parse_state *st)
{
	static const char *const reserved[] = { "profiles", "profile", "admin",
		"healthz", "metrics" };
	struct resources *set = &st->cfg->resources;
	char msg[PC_ERRLEN];
	size_t i, k;

	for (i = 0; i < set->n; i++)
		for (k = 0; k < sizeof(reserved) / sizeof(reserved[0]); k++)
			if (strcmp(set->v[i].name, reserved[k]) == 0 ||
			    (set->v[i].item != NULL &&
			        strcmp(set->v[i].item, reserved[k]) == 0)) {
				pc_err(st->err,
				    "%s: [resource %s]: %s is profilecache's "
				    "own name",
				    st->path, set->v[i].name, reserved[k]);
				return PC_INVALID;
			}
	if (resources_finish(set, msg) != PC_OK) {
		pc_err(st->err, "%s: %s", st->path, msg);
		return PC_INVALID;
	}
	return PC_OK;
}

enum pc_result
config_load(const char *path, struct config *cfg, char *err)
{
	struct parse_state st;
	enum pc_result r = PC_INVALID;
	int rc;

	config_defaults(cfg);
	memset(&st, 0, sizeof(st));
	st.cfg = cfg;
	st.path = path;
	st.err = err;

	rc = ini_parse(path, config_handler, &st);
	if (rc == -1) {
		pc_err(err, "%s: cannot open: %s", path, strerror(errno));
		goto out;
	}
	if (rc == -2) {
		pc_err(err, "%s: out of memory", path);
		r = PC_NOMEM;
		goto out;
	}
	if (st.failed)
		goto out;
	if (rc > 0) {
		pc_err(err, "%s:%d: syntax error", path, rc);
		goto out;
	}
	if ((r = config_string_defaults(cfg)) != PC_OK) {
		pc_err(err, "out of memory");
		goto out;
	}
	if ((r = config_validate(&st)) != PC_OK ||
	    (r = config_resources(&st)) != PC_OK)
		goto out;
	r = config_read_secret(cfg->service_key_file, &cfg->service_key, err);
	if (r == PC_OK)
		r = config_secret_key(cfg, path, err);
	if (r == PC_OK && cfg->metrics_token_file != NULL)
		r = config_read_secret(cfg->metrics_token_file,
		    &cfg->metrics_token, err);
out:
	if (r != PC_OK)
		config_free(cfg);
	return r;
}

void
config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < NOPTS; i++)
		if (opts[i].type == OPT_STR)
			free(*(char **)((char *)cfg + opts[i].offset));
	free(cfg->avatar_decode_slots);
	resources_free(&cfg->resources);
	if (cfg->service_key != NULL) {
		explicit_bzero(cfg->service_key, strlen(cfg->service_key));
		free(cfg->service_key);
	}
	if (cfg->metrics_token != NULL) {
		explicit_bzero(cfg->metrics_token, strlen(cfg->metrics_token));
		free(cfg->metrics_token);
	}
	if (cfg->auth_secret_key != NULL) {
		explicit_bzero(cfg->auth_secret_key,
		    strlen(cfg->auth_secret_key));
		free(cfg->auth_secret_key);
	}
	config_defaults(cfg);
}

enum pc_result
config_read_secret(const char *path, char **out, char *err)
{
	enum pc_result r = PC_INVALID;
	char buf[SECRET_MAX + 1];
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		pc_err(err, "secret file %s: cannot open: %s", path,
		    strerror(errno));
		return PC_INVALID;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		pc_err(err, "secret file %s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & S_IROTH) {
		pc_err(err, "secret file %s is world-readable: chmod o-r it",
		    path);
		goto out;
	}
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			pc_err(err, "secret file %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > SECRET_MAX) {
		pc_err(err, "secret file %s is larger than %d bytes", path,
		    SECRET_MAX);
		goto out;
	}
	while (len > 0 &&
	    (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
	        buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	if (len == 0) {
		pc_err(err, "secret file %s is empty", path);
		goto out;
	}
	if (memchr(buf, '\0', len) != NULL || memchr(buf, '\n', len) != NULL) {
		pc_err(err, "secret file %s must hold one line", path);
		goto out;
	}
	if ((*out = strndup(buf, len)) == NULL) {
		r = PC_NOMEM;
		pc_err(err, "out of memory");
		goto out;
	}
	r = PC_OK;
out:
	explicit_bzero(buf, sizeof(buf));
	(void)close(fd);
	return r;
}

enum pc_result
config_load_logged(const char *path, struct config *cfg)
{
	char err[PC_ERRLEN] = "";

	if (path == NULL || *path == '\0') {
		log_error("config_missing",
		    "error=\"no --config and %s is not set\"", CONFIG_ENV);
		return PC_INVALID;
	}
	if (config_load(path, cfg, err) != PC_OK) {
		log_error("config_invalid", "error=\"%s\"", err);
		return PC_INVALID;
	}
	log_set_level((enum log_level)cfg->log_level);
	return PC_OK;
}

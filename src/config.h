/* The INI configuration: defaults, parsing with range checks, secrets. */
#ifndef PC_CONFIG_H
#define PC_CONFIG_H

#include <stdbool.h>

#include "resource.h"
#include "result.h"

/* [flush] pipeline's bound: the origin's calls in flight at once (origin.h). */
#define CONFIG_PIPELINE_MAX 8
/* [origin] max_answer_bytes by default: 1 MiB. */
#define CONFIG_ORIGIN_ANSWER_MAX (1024 * 1024)

struct config {
	/* [origin] */
	char *origin_url; /* no trailing slash */
	char *service_key_file;
	char *service_key; /* the file's contents; never logged */
	long origin_connect_timeout_ms;
	long origin_timeout_ms;
	long origin_max_answer;  /* bytes of one answer read at most */
	long origin_retry_after; /* seconds, for 503 Retry-After */

	/* [cache] */
	char *cache_servers;
	char *cache_prefix;
	long cache_fresh_ttl;
	long cache_stale_ttl;
	long cache_negative_ttl;
	long cache_stale_if_error;
	long cache_lock_ttl;
	long cache_lock_wait_ms;
	long cache_timeout_ms;

	/* [journal] */
	char *journal_path;
	char *journal_synchronous; /* "full" or "normal" */
	long journal_busy_timeout_ms;

	/* [auth] */
	char *auth_jwt_secret_file; /* HS256 (Supabase's legacy JWT secret) */
	char *auth_jwks_file;       /* public signing keys (ES256, RS256) */
	char *auth_jwks_url;        /* the same, fetched and cached per node */
	long auth_jwks_max_age;     /* seconds a fetched set is used, at most */
	long auth_jwks_refetch_interval; /* seconds between a node's fetches */
	char *auth_audience;
	char *auth_issuer; /* NULL: not checked; defaulted for a Supabase URL */
	long auth_leeway;
	char *auth_secret_key_file; /* the admin credential, sent in apikey */
	char *auth_secret_key;      /* an sb_secret_ key, from that file or the
					   service key; NULL: none; never logged */
	bool auth_allow_anonymous;  /* users with is_anonymous may write */
	bool
	    auth_accept_legacy_service_role; /* HS256 service_role tokens are admin */
	long auth_max_token_lifetime;        /* seconds a user token may live */

	/* [limits] */
	long limits_max_body;          /* bytes of a JSON request body */
	long limits_writes_per_minute; /* per user; 0 turns the limit off */
	long
	    limits_max_pending_bytes; /* journal bytes pending per user; 0: off */

	/* [avatar] */
	char *avatar_backend; /* "local" or "supabase" (storage.h) */
	char
	    *avatar_dir; /* local: content-addressed files, served statically */
	char *avatar_public_url; /* the URL prefix that serves the files, no
					   trailing slash; NULL: avatars are off */
	char *
	    avatar_storage_url; /* supabase: the Storage API, no trailing slash */
	char *avatar_bucket;    /* supabase: a public bucket */
	long avatar_max_bytes;        /* upload size cap */
	long avatar_size;             /* output is size x size pixels */
	long avatar_max_pixels;       /* inputs with more are refused (422) */
	long avatar_quality;          /* WebP quality */
	char *avatar_helper;          /* path of profilecache-image */
	long avatar_timeout_ms;       /* the helper is killed after this */
	long avatar_trash_grace;      /* seconds before an unused file may go */
	long avatar_max_decodes;      /* images decoded at once on this node */
	long avatar_uploads_per_user; /* uploads of one user at once */
	char *avatar_decode_slots;    /* the slots' lock file */

	/* [flush] */
	long flush_batch;    /* changes per apply_profile_changes call */
	long flush_pipeline; /* calls in flight at once */
	long
	    flush_max_attempts; /* then a retried entry is an alert (never dropped) */
	long flush_clock_warn_ms;   /* a clock offset past this is an alert */
	long flush_backoff_base_ms; /* first retry delay, doubled each time */
	long flush_backoff_max;     /* seconds, the longest retry delay */
	long flush_max_seconds; /* a run stops starting batches after this */
	long flush_retention;   /* seconds applied entries are kept */

	/* [metrics] */
	char *
	    metrics_file; /* the shared counters (default: beside the journal) */
	char *
	    metrics_token_file; /* a bearer token for /v1/metrics from elsewhere */
	char *metrics_token;

	/* [http] */
	char *http_cors_origins; /* origins browsers may call from, checked by
					   cors_origins_check(); NULL: no CORS */
	long http_cors_max_age;  /* seconds a browser may keep a preflight */
	long http_threads;       /* a FastCGI responder's serving threads */

	/* [log] */
	int log_level;

	/* [resource NAME] and [field NAME.FIELD]: tables besides profiles */
	struct resources resources;
};

/* The environment variable naming the config file when --config is absent. */
#define CONFIG_ENV "PROFILECACHE_CONFIG"

/*
 * Fill cfg with defaults, then read the INI file at path over them and read
 * the secret files it names. On failure returns PC_INVALID (or PC_NOMEM) with
 * a message in err naming the file, line and key, and leaves nothing
 * allocated. The caller owns cfg's strings: release them with config_free().
 */
enum pc_result config_load(const char *path, struct config *cfg, char *err);
void config_free(struct config *cfg);

/*
 * config_load() for a program's start: a missing path or a bad file is
 * logged (naming the file and key), and the log level is set from the file.
 */
enum pc_result config_load_logged(const char *path, struct config *cfg);

/*
 * Read a secret from a regular file that is not world-readable, trimming
 * trailing white space. *out is malloc()ed and owned by the caller.
 */
enum pc_result config_read_secret(const char *path, char **out, char *err);

/*
 * Whether url ("scheme://authority/...") names this machine by one of the
 * literal forms [origin] url may use over http://: localhost, an IPv4
 * address in 127.0.0.0/8 or [::1]. A name that would have to be resolved
 * is not.
 */
bool config_url_is_loopback(const char *url);

#endif

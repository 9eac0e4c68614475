/* profilecache-admin: the operators' command for the journal and the config. */
#include "autoconf.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "journal.h"
#include "journal_admin.h"
#include "journal_files.h"
#include "jwt.h"
#include "jwt_mint.h"
#include "log.h"
#include "origin.h"
#include "profile.h"
#include "resource_sql.h"
#include "strnum.h"
#include "timefmt.h"
#include "usecase_check_origin.h"
#include "uuid.h"

#define PROG "profilecache-admin"

#define EXIT_OK 0
#define EXIT_FAILED 1 /* a command failed, or status found dead entries */
#define EXIT_USAGE 2
#define EXIT_CONFIG 78 /* EX_CONFIG: the configuration is wrong */

#define LIMIT_DEFAULT 100
#define LIMIT_MAX 1000000
/* An operator can wait longer for the write lock than a web request. */
#define BUSY_TIMEOUT_MS 5000
#define TOKEN_TTL_DEFAULT 3600 /* seconds a minted token lives */

/* What a command accepts after its name. */
enum {
	ARG_JSON = 1 << 0,  /* --json */
	ARG_LIMIT = 1 << 1, /* --limit N */
	ARG_SEQS = 1 << 2,  /* SEQ... | --all */
	ARG_TOKEN = 1 << 3  /* --sub ID [--role R] [--ttl S] [--dev] */
};

struct admin {
	const char *config_path;
	struct config cfg;
	bool json;
	long limit;
	bool all;
	int64_t *seqs; /* owned */
	size_t nseqs;
	const char *sub;  /* token: the user id */
	const char *role; /* token: "authenticated", "anon", "service_role" */
	long ttl;         /* token: seconds; 0 for the default */
	bool dev;         /* token: also for an origin elsewhere */
};

struct admin_cmd {
	const char *name;
	const char *sub; /* second word ("dead list"), or NULL */
	unsigned args;
	enum journal_admin_move move; /* dead retry, dead drop */
	int (*run)(struct admin *ad, const struct admin_cmd *cmd);
};

static const char usage_text[] =
    "usage: " PROG " [--config FILE] status [--json]\n"
    "       " PROG " [--config FILE] dead list [--limit N] [--json]\n"
    "       " PROG " [--config FILE] dead retry SEQ... | --all\n"
    "       " PROG " [--config FILE] dead drop SEQ... | --all\n"
    "       " PROG " [--config FILE] init\n"
    "       " PROG " [--config FILE] check-config\n"
    "       " PROG " [--config FILE] check-origin\n"
    "       " PROG " [--config FILE] sql\n"
    "       " PROG " [--config FILE] paths\n"
    "       " PROG
    " [--config FILE] token --sub ID [--role ROLE] [--ttl SECONDS] [--dev]\n"
    "       " PROG " --help | --version\n";

static const char help_text[] =
    "\n"
    "Looks after profilecache's journal, the local SQLite queue of deferred\n"
    "writes that profilecache.fcgi appends to and profilecache-flush replays\n"
    "to the database: how deep the queue is, which changes were\n"
    "dead-lettered, and putting them back or giving up on them; and checks\n"
    "the configuration and the database behind the origin.\n"
    "\n"
    "It is safe to run while the responder and the flusher work: reads see\n"
    "one consistent snapshot through a read-only connection, and every\n"
    "change is one transaction that takes the journal's write lock\n"
    "(BEGIN IMMEDIATE), waiting up to 5 seconds for it.\n"
    "\n"
    "COMMANDS\n"
    "  status\n"
    "      Entries per state (pending, applied, conflict, dead, cancelled;\n"
    "      zeros included), pending entries due now, waiting for a retry\n"
    "      and past [flush] max_attempts, the age of the oldest pending\n"
    "      entry in seconds (or \"none\"), the time and summary of the last\n"
    "      flush and this node's clock offset to the database's as\n"
    "      profilecache-flush recorded them (or \"never\"). Exits 1 when any\n"
    "      entry is dead, an entry failed max_attempts times or more (the\n"
    "      database has been away that long; it is retried all the same), or\n"
    "      the clock is off by more than [flush] clock_warn_ms, so that it\n"
    "      serves as a monitoring check. Before the\n"
    "      first write has created the journal it prints \"no journal yet at\n"
    "      PATH\" and exits 0.\n"
    "\n"
    "  dead list\n"
    "      The dead-lettered entries in seq order: seq, resource and id,\n"
    "      attempts, creation time (RFC 3339, UTC), the last error and the\n"
    "      patch (the changed fields), then how many there are in all.\n"
    "\n"
    "  dead retry SEQ... | --all\n"
    "      Queue dead entries again: each becomes pending with 0 attempts,\n"
    "      due at once, its last error cleared; the next profilecache-flush\n"
    "      run replays it. It is stamped anew (now, or just after its old\n"
    "      version), so its fields win over what was written meanwhile.\n"
    "\n"
    "  dead drop SEQ... | --all\n"
    "      Give up on dead entries: each becomes cancelled. It is not\n"
    "      deleted: it stays, with its last error, for the record until it\n"
    "      is pruned after [flush] retention.\n"
    "\n"
    "      retry and drop print how many entries moved. A SEQ that is not in\n"
    "      the journal, or whose entry is not dead, is an error naming it,\n"
    "      and then nothing at all is changed.\n"
    "\n"
    "  init\n"
    "      Create the journal at [journal] path, or migrate it to this\n"
    "      version's format, and print its path. Run it as the user the\n"
    "      responder runs as: the responder must be able to write the\n"
    "      files it creates (the database, its -wal, -shm, -wlock and -sync).\n"
    "\n"
    "  check-config\n"
    "      Load the configuration, the secret files and the token keys it\n"
    "      names, and print \"ok\" and a summary: origin URL, cache servers,\n"
    "      journal path, auth (secret, jwks, jwks_url, secret+jwks,\n"
    "      secret+jwks_url or none; a jwks_url is not fetched) and admin\n"
    "      (who may act for the service role: the secret key in apikey,\n"
    "      legacy service_role tokens, both or none). Never prints a secret.\n"
    "\n"
    "  check-origin\n"
    "      Check, through the configured origin with the service key, that\n"
    "      the database has what profilecache needs, changing nothing:\n"
    "      public.profiles with its columns (GET /profiles?select=...\n"
    "      &limit=0; each missing one is named), their types and the\n"
    "      functions apply_profile_changes, delete_profile and\n"
    "      profilecache_changed_since (from the origin's OpenAPI\n"
    "      description, GET /, which Supabase gives the secret key), and\n"
    "      that apply_profile_changes takes an empty batch and\n"
    "      profilecache_changed_since answers. Without the description,\n"
    "      delete_profile is called with a null id, which it refuses\n"
    "      before touching anything. Prints one line per check (ok, note\n"
    "      or FAIL), then what to fix, then \"ok\" or how many problems\n"
    "      there are; exits 1 when there is one or no origin answers.\n"
    "\n"
    "  sql\n"
    "      Print the SQL that makes the database ready for the resources\n"
    "      the configuration declares ([resource NAME] and [field\n"
    "      NAME.FIELD]): each table created if missing, its declared\n"
    "      columns and field_versions added if missing, length and enum\n"
    "      checks, row-level security (the API roles read what profilecache\n"
    "      would show them and write nothing), grants to service_role; and\n"
    "      for them and for profiles (whose table is 10_profiles.sql's), the\n"
    "      row in profilecache.resources and the outside-write triggers.\n"
    "      One transaction, idempotent, to review and load (psql, or\n"
    "      Supabase's SQL editor) after schema/postgres/30_apply.sql.\n"
    "\n"
    "  paths\n"
    "      Print the files the configuration makes the programs use, one\n"
    "      NAME='VALUE' line each, VALUE a single-quoted shell word (a '\n"
    "      in it written '\\''), empty for a file not configured:\n"
    "      config, journal; beside the journal journal_wal, journal_shm,\n"
    "      journal_wlock, journal_sync, flush_lock, jwks_cache, jwks_lock;\n"
    "      metrics, decode_slots, avatar_dir, avatar_helper, and the key\n"
    "      files service_key_file, jwt_secret_file, jwks_file,\n"
    "      secret_key_file, metrics_token_file. A path holding a control\n"
    "      character (a newline) is refused, so that each line is whole.\n"
    "      For scripts: eval \"$(" PROG " paths)\" sets them.\n"
    "\n"
    "  token --sub ID [--role ROLE] [--ttl SECONDS] [--dev]\n"
    "      Print a user token for development: an HS256 JWT signed with\n"
    "      [auth] jwt_secret_file, with sub ID (a lower-case UUID, the\n"
    "      profile's id), role ROLE (authenticated, the default; anon;\n"
    "      service_role), aud [auth] audience, iss [auth] issuer when set,\n"
    "      iat now and exp SECONDS later (default 3600, or [auth]\n"
    "      max_token_lifetime when that is shorter). A --ttl over\n"
    "      max_token_lifetime is refused, since the responder would refuse\n"
    "      the token (service_role tokens are exempt, as there). Refused\n"
    "      unless [origin] url is on this machine (127.0.0.0/8, ::1,\n"
    "      localhost) or --dev is given, so that nobody mints a token for\n"
    "      production by accident, and without jwt_secret_file: the keys of\n"
    "      jwks_url and jwks_file are public halves, and only Supabase Auth\n"
    "      can sign with them.\n"
    "\n"
    "OPTIONS\n"
    "  --config FILE  the configuration file (default: $" CONFIG_ENV ")\n"
    "  --json         status and dead list: print one JSON object instead\n"
    "  --limit N      dead list: show at most N entries, 1 to 1000000\n"
    "                 (default 100)\n"
    "  --all          dead retry and dead drop: every dead entry\n"
    "  --sub ID       token: the user id (sub), a lower-case UUID\n"
    "  --role ROLE    token: authenticated (default), anon or service_role\n"
    "  --ttl SECONDS  token: how long it lives (default 3600)\n"
    "  --dev          token: mint even for an origin not on this machine\n"
    "  -h, --help     print this text\n"
    "  --version      print the version\n"
    "\n"
    "EXIT STATUS\n"
    "  0   success; for status: nothing to act on\n"
    "  1   status found dead or long-retried entries or a skewed clock,\n"
    "      check-origin found something to fix, token refused to mint (an\n"
    "      origin elsewhere without --dev, no jwt_secret_file, a --ttl over\n"
    "      max_token_lifetime), or the command failed (the reason is on\n"
    "      stderr)\n"
    "  2   usage error\n"
    "  78  the configuration or a key file it names is invalid (EX_CONFIG)\n"
    "\n"
    "ENVIRONMENT\n"
    "  " CONFIG_ENV "  the configuration file when --config is absent\n"
    "\n"
    "EXAMPLES\n"
    "  " PROG " status || page-the-operator\n"
    "  " PROG " status --json | jq .states.pending\n"
    "  " PROG " dead list --limit 20\n"
    "  " PROG " dead retry 1041 1042\n"
    "  " PROG " dead drop --all\n"
    "  " PROG " check-origin || echo 'load schema/postgres/*.sql first'\n"
    "  curl -H \"Authorization: Bearer $(" PROG " token --sub ID)\" ...\n"
    "\n"
    "SEE ALSO\n"
    "  profilecache-flush --help, sqlite3(1), schema/journal.sql,\n"
    "  schema/postgres/*.sql\n";

static void
fail(const char *what, const char *err)
{
	fprintf(stderr, PROG ": %s: %s\n", what, err);
}

/* Say what is wrong with the command line, then the synopsis; EXIT_USAGE. */
static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%sTry '" PROG " --help' for more.\n", usage_text);
	return EXIT_USAGE;
}

/*
 * Print s for a terminal: control characters (C0, DEL, and C1 as UTF-8)
 * escaped, so a stored error message cannot drive the operator's terminal.
 */
static void
put_safe(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");

	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			printf("\\u%04x", *++p);
		else
			(void)putchar(*p);
	}
}

/* RFC 3339 UTC, or the raw number when the year is out of range. */
static void
time_str(int64_t us, char out[TIMEFMT_LEN])
{
	if (timefmt_format(us, out) != PC_OK)
		(void)snprintf(out, TIMEFMT_LEN, "%lld", (long long)us);
}

/*
 * A JSON string of s (NULL: null). jansson takes only UTF-8: other bytes
 * become '?', so a mangled error message still prints. New reference.
 */
static json_t *
json_str(const char *s)
{
	json_t *v;
	char *copy, *p;

	if (s == NULL)
		return json_null();
	if ((v = json_string(s)) != NULL || (copy = strdup(s)) == NULL)
		return v;
	for (p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	v = json_string(copy);
	free(copy);
	return v;
}

/* Set o[key] = v (stolen); *ok turns false when v is NULL or it fails. */
static void
json_put(json_t *o, const char *key, json_t *v, bool *ok)
{
	if (v == NULL || json_object_set_new(o, key, v) != 0)
		*ok = false;
}

/* Print doc on one line; takes over doc. */
static int
json_print(json_t *doc, bool ok)
{
	char *s = ok && doc != NULL ? json_dumps(doc, 0) : NULL;
	int rc = EXIT_OK;

	if (s == NULL) {
		fail("json", "out of memory");
		rc = EXIT_FAILED;
	} else
		(void)puts(s);
	free(s);
	json_decref(doc);
	return rc;
}

/* --- status --------------------------------------------------------------- */

/* Whole seconds from then_us to now_us; 0 when the clock went back. */
static long long
age_s(int64_t now_us, int64_t then_us)
{
	return now_us > then_us ? (long long)((now_us - then_us) / 1000000) : 0;
}

static int
status_json(const char *path, bool exists,
    const struct journal_admin_status *st, int64_t now)
{
	json_t *doc = json_object(), *states = json_object();
	char t[TIMEFMT_LEN];
	bool ok = doc != NULL && states != NULL;
	int i;

	for (i = 0; states != NULL && i < JOURNAL_ADMIN_NSTATES; i++)
		json_put(states, journal_admin_state_name(i),
		    json_integer(st->count[i]), &ok);
	if (doc == NULL) {
		json_decref(states);
		return json_print(NULL, false);
	}
	json_put(doc, "journal", json_str(path), &ok);
	json_put(doc, "exists", json_boolean(exists), &ok);
	json_put(doc, "states", states, &ok);
	json_put(doc, "pending_due", json_integer(st->pending_due), &ok);
	json_put(doc, "pending_waiting", json_integer(st->pending_waiting),
	    &ok);
	json_put(doc, "pending_stuck", json_integer(st->pending_stuck), &ok);
	json_put(doc, "clock_offset_ms",
	    st->has_clock_offset ?
	        json_real((double)st->clock_offset_us / 1000) :
	        json_null(),
	    &ok);
	json_put(doc, "oldest_pending_age_s",
	    st->has_oldest ? json_integer(age_s(now, st->oldest_pending_us)) :
	                     json_null(),
	    &ok);
	if (st->has_last_flush)
		time_str(st->last_flush_at_us, t);
	json_put(doc, "last_flush_at",
	    st->has_last_flush ? json_str(t) : json_null(), &ok);
	json_put(doc, "last_flush_summary",
	    st->has_summary ? json_str(st->summary) : json_null(), &ok);
	return json_print(doc, ok);
}

/* The start of a "label:  value" line, values aligned. */
#define STATUS_LABEL "%-20s"

static bool
status_skewed(const struct journal_admin_status *st, long warn_ms)
{
	return st->has_clock_offset &&
	    llabs(st->clock_offset_us) > warn_ms * 1000;
}

static void
status_text(const char *path, const struct journal_admin_status *st,
    int64_t now, long warn_ms)
{
	char t[TIMEFMT_LEN], label[32];
	int i;

	printf(STATUS_LABEL "%s\n", "journal:", path);
	for (i = 0; i < JOURNAL_ADMIN_NSTATES; i++) {
		(void)snprintf(label, sizeof(label),
		    "%s:", journal_admin_state_name(i));
		printf(STATUS_LABEL "%lld\n", label, (long long)st->count[i]);
		if (i != JOURNAL_ADMIN_PENDING)
			continue;
		printf(STATUS_LABEL "%lld\n",
		    "  due now:", (long long)st->pending_due);
		printf(STATUS_LABEL "%lld\n",
		    "  waiting to retry:", (long long)st->pending_waiting);
		printf(STATUS_LABEL "%lld\n",
		    "  max_attempts hit:", (long long)st->pending_stuck);
	}
	if (st->has_oldest)
		printf(STATUS_LABEL "%lld s\n",
		    "oldest pending:", age_s(now, st->oldest_pending_us));
	else
		printf(STATUS_LABEL "none\n", "oldest pending:");
	if (st->has_last_flush) {
		time_str(st->last_flush_at_us, t);
		printf(STATUS_LABEL "%s (%lld s ago)\n", "last flush:", t,
		    age_s(now, st->last_flush_at_us));
	} else
		printf(STATUS_LABEL "never\n", "last flush:");
	printf(STATUS_LABEL, "last flush summary:");
	put_safe(st->has_summary ? st->summary : "never");
	printf("\n");
	if (st->has_clock_offset)
		printf(STATUS_LABEL "%.3f ms\n",
		    "clock offset:", (double)st->clock_offset_us / 1000);
	else
		printf(STATUS_LABEL "unknown\n", "clock offset:");
	if (st->count[JOURNAL_ADMIN_DEAD] > 0)
		printf("attention: %lld dead entries; see " PROG " dead list\n",
		    (long long)st->count[JOURNAL_ADMIN_DEAD]);
	if (st->pending_stuck > 0)
		printf(
		    "attention: %lld entries failed max_attempts times or more;"
		    " is the database reachable and the key valid?\n",
		    (long long)st->pending_stuck);
	if (status_skewed(st, warn_ms))
		printf(
		    "attention: this node's clock is %.3f ms off the database's"
		    " (limit %ld ms)\n",
		    (double)st->clock_offset_us / 1000, warn_ms);
}

static int
cmd_status(struct admin *ad, const struct admin_cmd *cmd)
{
	const char *path = ad->cfg.journal_path;
	struct journal_admin_status st;
	struct journal_admin *a = NULL;
	char err[PC_ERRLEN] = "";
	int64_t now = clock_now_us();
	enum pc_result r;
	int rc = EXIT_FAILED;

	(void)cmd;
	memset(&st, 0, sizeof(st));
	r = journal_admin_open(path, JOURNAL_ADMIN_READ, BUSY_TIMEOUT_MS, &a,
	    err);
	if (r == PC_NOTFOUND) {
		/* Nothing was ever written: a healthy state, not an error. */
		if (ad->json)
			rc = status_json(path, false, &st, now);
		else {
			printf("no journal yet at %s\n", path);
			rc = EXIT_OK;
		}
		goto out;
	}
	if (r != PC_OK ||
	    journal_admin_status(a, now, ad->cfg.flush_max_attempts, &st,
	        err) != PC_OK) {
		fail("status", err);
		goto out;
	}
	if (ad->json) {
		if (status_json(path, true, &st, now) != EXIT_OK)
			goto out;
	} else
		status_text(path, &st, now, ad->cfg.flush_clock_warn_ms);
	/* Anything an operator must act on fails the check. */
	rc = st.count[JOURNAL_ADMIN_DEAD] > 0 || st.pending_stuck > 0 ||
	        status_skewed(&st, ad->cfg.flush_clock_warn_ms) ?
	    EXIT_FAILED :
	    EXIT_OK;
out:
	journal_admin_close(a);
	return rc;
}

/* --- dead list ------------------------------------------------------------ */

struct dead_out {
	json_t *entries; /* --json: the array being filled */
	bool ok;
	long shown;
};

static bool
dead_entry(void *arg, const struct journal_admin_entry *d)
{
	struct dead_out *o = arg;
	char created[TIMEFMT_LEN], updated[TIMEFMT_LEN];
	json_t *e, *patch;

	o->shown++;
	time_str(d->created_at_us, created);
	time_str(d->e.updated_at_us, updated);
	if (o->entries == NULL) {
		printf("seq %lld  ", (long long)d->e.seq);
		put_safe(d->e.resource);
		printf(" ");
		put_safe(d->e.id);
		printf("  attempts %ld  created %s\n", d->e.attempts, created);
		printf("  last error: ");
		put_safe(d->last_error != NULL ? d->last_error : "(none)");
		printf("\n  patch:      ");
		put_safe(d->e.patch);
		printf("\n");
		return true;
	}
	/* The patch as JSON when it parses (the responder wrote it). */
	if ((patch = json_loads(d->e.patch != NULL ? d->e.patch : "", 0,
	         NULL)) == NULL)
		patch = json_str(d->e.patch);
	if ((e = json_object()) == NULL) {
		json_decref(patch);
		o->ok = false;
		return false;
	}
	json_put(e, "seq", json_integer(d->e.seq), &o->ok);
	json_put(e, "resource", json_str(d->e.resource), &o->ok);
	json_put(e, "id", json_str(d->e.id), &o->ok);
	json_put(e, "attempts", json_integer(d->e.attempts), &o->ok);
	json_put(e, "created_at", json_str(created), &o->ok);
	json_put(e, "updated_at", json_str(updated), &o->ok);
	json_put(e, "last_error", json_str(d->last_error), &o->ok);
	json_put(e, "patch", patch, &o->ok);
	if (json_array_append_new(o->entries, e) != 0)
		o->ok = false;
	return o->ok;
}

static int
cmd_dead_list(struct admin *ad, const struct admin_cmd *cmd)
{
	const char *path = ad->cfg.journal_path;
	struct dead_out o = { .entries = NULL, .ok = true, .shown = 0 };
	struct journal_admin *a = NULL;
	char err[PC_ERRLEN] = "";
	json_t *doc = NULL;
	int64_t total = 0;
	enum pc_result r;
	int rc = EXIT_FAILED;

	(void)cmd;
	if (ad->json &&
	    ((doc = json_object()) == NULL ||
	        (o.entries = json_array()) == NULL)) {
		fail("dead list", "out of memory");
		goto out;
	}
	r = journal_admin_open(path, JOURNAL_ADMIN_READ, BUSY_TIMEOUT_MS, &a,
	    err);
	if (r == PC_NOTFOUND && !ad->json) {
		printf("no journal yet at %s\n", path);
		rc = EXIT_OK;
		goto out;
	}
	if (r != PC_NOTFOUND &&
	    (r != PC_OK ||
	        journal_admin_dead_list(a, ad->limit, dead_entry, &o, &total,
	            err) != PC_OK)) {
		fail("dead list", o.ok ? err : "out of memory");
		goto out;
	}
	if (doc != NULL) {
		json_put(doc, "journal", json_str(path), &o.ok);
		json_put(doc, "total", json_integer(total), &o.ok);
		json_put(doc, "entries", o.entries, &o.ok);
		o.entries = NULL;
		rc = json_print(doc, o.ok);
		doc = NULL;
		goto out;
	}
	if (total == 0)
		printf("no dead entries\n");
	else if (o.shown < total)
		printf(
		    "%ld of %lld dead entries shown (--limit N shows more)\n",
		    o.shown, (long long)total);
	else
		printf("%lld dead %s\n", (long long)total,
		    total == 1 ? "entry" : "entries");
	rc = EXIT_OK;
out:
	json_decref(o.entries);
	json_decref(doc);
	journal_admin_close(a);
	return rc;
}

/* --- dead retry, dead drop ------------------------------------------------ */

static int
cmd_dead_move(struct admin *ad, const struct admin_cmd *cmd)
{
	const char *path = ad->cfg.journal_path;
	struct journal_admin *a = NULL;
	char err[PC_ERRLEN] = "", what[32];
	int64_t moved = 0;
	enum pc_result r;
	int rc = EXIT_FAILED;

	(void)snprintf(what, sizeof(what), "dead %s", cmd->sub);
	r = journal_admin_open(path, JOURNAL_ADMIN_WRITE, BUSY_TIMEOUT_MS, &a,
	    err);
	if (r == PC_NOTFOUND)
		pc_err(err, "no journal at %s", path);
	if (r != PC_OK ||
	    journal_admin_dead_move(a, cmd->move, ad->seqs, ad->nseqs, ad->all,
	        &moved, err) != PC_OK) {
		fail(what, err);
		goto out;
	}
	printf("%s %lld %s\n",
	    cmd->move == JOURNAL_ADMIN_RETRY ? "requeued" : "cancelled",
	    (long long)moved, moved == 1 ? "entry" : "entries");
	rc = EXIT_OK;
out:
	journal_admin_close(a);
	return rc;
}

/* --- init ----------------------------------------------------------------- */

static int
cmd_init(struct admin *ad, const struct admin_cmd *cmd)
{
	struct journal_opts opts = {
		.path = ad->cfg.journal_path,
		.sync_full = strcmp(ad->cfg.journal_synchronous, "full") == 0,
		.busy_timeout_ms = BUSY_TIMEOUT_MS,
	};
	struct journal *j = NULL;
	char err[PC_ERRLEN] = "";

	(void)cmd;
	if (journal_open(&opts, &j, err) != PC_OK) {
		fail("init", err);
		return EXIT_FAILED;
	}
	journal_close(j);
	printf("%s\n", ad->cfg.journal_path);
	return EXIT_OK;
}

/* --- check-config --------------------------------------------------------- */

/* Print url without its user information, which may hold a password. */
static void
put_url(const char *url)
{
	const char *host = strstr(url, "://"), *at, *end;

	if (host != NULL) {
		host += 3;
		end = host + strcspn(host, "/?#");
		at = memchr(host, '@', (size_t)(end - host));
		if (at != NULL) {
			printf("%.*s***@", (int)(host - url), url);
			url = at + 1;
		}
	}
	put_safe(url);
}

static int
cmd_check_config(struct admin *ad, const struct admin_cmd *cmd)
{
	const struct config *c = &ad->cfg;
	struct jwt_keys *keys = NULL;
	char err[PC_ERRLEN] = "";
	const char *auth = "none (writes are refused)";

	(void)cmd;
	/* A jwks_url is not fetched here: the responders do, when they need it. */
	if (c->auth_jwt_secret_file != NULL || c->auth_jwks_file != NULL) {
		if (jwt_keys_load(c->auth_jwt_secret_file, c->auth_jwks_file,
		        &keys, err) != PC_OK) {
			fail("config", err);
			return EXIT_CONFIG;
		}
		jwt_keys_free(keys);
	}
	if (c->auth_jwks_url != NULL)
		auth = c->auth_jwt_secret_file == NULL ?
		    "jwks_url" :
		    "secret+jwks_url";
	else if (c->auth_jwt_secret_file != NULL || c->auth_jwks_file != NULL)
		auth = c->auth_jwks_file == NULL    ? "secret" :
		    c->auth_jwt_secret_file == NULL ? "jwks" :
		                                      "secret+jwks";
	printf("ok\n%-10s%s\n%-10s", "config:", ad->config_path, "origin:");
	put_url(c->origin_url);
	printf("\n%-10s", "cache:");
	put_safe(c->cache_servers);
	printf("\n%-10s%s\n%-10s%s\n", "journal:", c->journal_path,
	    "auth:", auth);
	printf("%-10s%s\n", "admin:",
	    c->auth_secret_key != NULL ?
	        (c->auth_accept_legacy_service_role ?
	                "secret key (apikey), legacy service_role tokens" :
	                "secret key (apikey)") :
	        c->auth_accept_legacy_service_role ?
	        "legacy service_role tokens" :
	        "none");
	return EXIT_OK;
}

/* --- check-origin --------------------------------------------------------- */

static int
cmd_check_origin(struct admin *ad, const struct admin_cmd *cmd)
{
	static const char *const label[] = {
		[CHECK_OK] = "ok",
		[CHECK_NOTE] = "note",
		[CHECK_FAIL] = "FAIL",
	};
	struct check_report *rep;
	struct origin *o = NULL;
	char err[PC_ERRLEN] = "";
	int rc = EXIT_FAILED;
	size_t i;

	(void)cmd;
	if ((rep = calloc(1, sizeof(*rep))) == NULL) {
		fail("check-origin", "out of memory");
		return EXIT_FAILED;
	}
	if (origin_open(&ad->cfg, &o, err) != PC_OK ||
	    check_origin_run(o, rep, err) != PC_OK) {
		fail("check-origin", err);
		goto out;
	}
	printf("%-8s", "origin:");
	put_url(ad->cfg.origin_url);
	printf("\n");
	for (i = 0; i < rep->nlines; i++) {
		printf("%-8s", label[rep->lines[i].level]);
		put_safe(rep->lines[i].text);
		printf("\n");
	}
	for (i = 0; i < rep->nfixes; i++) {
		printf("%-8s", "fix:");
		put_safe(rep->fixes[i]);
		printf("\n");
	}
	if (rep->nfailed == 0) {
		printf("ok\n");
		rc = EXIT_OK;
	} else
		printf("%zu %s to fix\n", rep->nfailed,
		    rep->nfailed == 1 ? "problem" : "problems");
out:
	origin_close(o);
	free(rep);
	return rc;
}

/* --- token ---------------------------------------------------------------- */

static int
cmd_token(struct admin *ad, const struct admin_cmd *cmd)
{
	const struct config *c = &ad->cfg;
	struct jwt_mint m = { .sub = ad->sub,
		.role = ad->role,
		.audience = c->auth_audience,
		.issuer = c->auth_issuer };
	char err[PC_ERRLEN] = "", *secret = NULL, *token = NULL;
	long ttl = ad->ttl, max;
	int rc = EXIT_FAILED;

	(void)cmd;
	if (!config_url_is_loopback(c->origin_url)) {
		if (!ad->dev) {
			fail("token",
			    "[origin] url is not on this machine "
			    "(127.0.0.0/8, ::1, localhost): this may be "
			    "production; add --dev to mint a token all the same");
			goto out;
		}
		fprintf(stderr,
		    PROG ": token: --dev: minting for an origin "
		         "that is not on this machine\n");
	}
	if (c->auth_jwt_secret_file == NULL) {
		fail("token",
		    "no [auth] jwt_secret_file: only HS256 tokens "
		    "can be minted, with the project's JWT secret; the keys of "
		    "jwks_url and jwks_file are public, and only Supabase Auth "
		    "can sign with them (sign a user in for such a token)");
		goto out;
	}
	/* As jwt_verify() judges it: service_role tokens are exempt. */
	max = strcmp(ad->role, "service_role") == 0 ?
	    0 :
	    c->auth_max_token_lifetime;
	if (ttl == 0)
		ttl = max > 0 && max < TOKEN_TTL_DEFAULT ?
		    max :
		    TOKEN_TTL_DEFAULT;
	else if (max > 0 && ttl > max) {
		fprintf(stderr,
		    PROG
		    ": token: --ttl %ld is over [auth] "
		    "max_token_lifetime (%ld): the responder would refuse the "
		    "token (token_lifetime_too_long)\n",
		    ttl, max);
		goto out;
	}
	if (config_read_secret(c->auth_jwt_secret_file, &secret, err) !=
	    PC_OK) {
		fail("config", err);
		rc = EXIT_CONFIG;
		goto out;
	}
	if (strlen(secret) < JWT_SECRET_MIN) {
		fprintf(stderr,
		    PROG ": config: %s: an HS256 secret needs at "
		         "least %d bytes\n",
		    c->auth_jwt_secret_file, JWT_SECRET_MIN);
		rc = EXIT_CONFIG;
		goto out;
	}
	m.iat = clock_now_us() / 1000000;
	m.exp = m.iat + ttl;
	if (jwt_mint_hs256(secret, strlen(secret), &m, &token, err) != PC_OK) {
		fail("token", err);
		goto out;
	}
	printf("%s\n", token);
	rc = EXIT_OK;
out:
	if (secret != NULL)
		explicit_bzero(secret, strlen(secret));
	free(secret);
	free(token);
	return rc;
}

/* The migration for the declared resources. */
static int
cmd_sql(struct admin *ad, const struct admin_cmd *cmd)
{
	(void)cmd;
	if (resources_sql(profile_resource(), &ad->cfg.resources, stdout) !=
	    PC_OK) {
		fail("sql", strerror(errno));
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

/* --- paths ---------------------------------------------------------------- */

/* One line of paths: value followed by suffix; a NULL value prints empty. */
struct path_line {
	const char *name;
	const char *value;
	const char *suffix;
};

static bool
path_printable(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* s as the inside of a single-quoted shell word: ' becomes '\''. */
static void
put_shell_quoted(const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '\'')
			(void)fputs("'\\''", stdout);
		else
			(void)putchar(*s);
	}
}

/*
 * The files that the responder, the flusher and this tool open for the
 * configuration, for scripts (scripts/lib.sh): the names beside the journal
 * come from journal_files.h, the others from the loaded configuration with
 * its defaults, so no script has to know either.
 */
static int
cmd_paths(struct admin *ad, const struct admin_cmd *cmd)
{
	const struct config *c = &ad->cfg;
	const struct path_line lines[] = {
		{ "config", ad->config_path, "" },
		{ "journal", c->journal_path, "" },
		{ "journal_wal", c->journal_path, JOURNAL_FILE_WAL },
		{ "journal_shm", c->journal_path, JOURNAL_FILE_SHM },
		{ "journal_wlock", c->journal_path, JOURNAL_FILE_WLOCK },
		{ "journal_sync", c->journal_path, JOURNAL_FILE_SYNC },
		{ "flush_lock", c->journal_path, JOURNAL_FILE_FLUSH_LOCK },
		{ "jwks_cache", c->journal_path, JOURNAL_FILE_JWKS },
		{ "jwks_lock", c->journal_path, JOURNAL_FILE_JWKS_LOCK },
		{ "row_lock", c->journal_path, JOURNAL_FILE_ROWLOCK },
		{ "metrics", c->metrics_file, "" },
		{ "decode_slots", c->avatar_decode_slots, "" },
		{ "avatar_dir", c->avatar_dir, "" },
		{ "avatar_helper", c->avatar_helper, "" },
		{ "service_key_file", c->service_key_file, "" },
		{ "jwt_secret_file", c->auth_jwt_secret_file, "" },
		{ "jwks_file", c->auth_jwks_file, "" },
		{ "secret_key_file", c->auth_secret_key_file, "" },
		{ "metrics_token_file", c->metrics_token_file, "" },
	};
	size_t i, n = sizeof(lines) / sizeof(lines[0]);

	(void)cmd;
	/* All or nothing: a script never reads half of the list. */
	for (i = 0; i < n; i++) {
		if (!path_printable(lines[i].value)) {
			fprintf(stderr,
			    PROG
			    ": paths: %s holds a control "
			    "character (a newline?); it cannot be printed on "
			    "one line\n",
			    lines[i].name);
			return EXIT_FAILED;
		}
	}
	for (i = 0; i < n; i++) {
		printf("%s='", lines[i].name);
		if (lines[i].value != NULL) {
			put_shell_quoted(lines[i].value);
			put_shell_quoted(lines[i].suffix);
		}
		printf("'\n");
	}
	return EXIT_OK;
}

/* --- main ----------------------------------------------------------------- */

static const struct admin_cmd cmds[] = {
	{ .name = "status", .args = ARG_JSON, .run = cmd_status },
	{ .name = "dead",
	    .sub = "list",
	    .args = ARG_JSON | ARG_LIMIT,
	    .run = cmd_dead_list },
	{ .name = "dead",
	    .sub = "retry",
	    .args = ARG_SEQS,
	    .move = JOURNAL_ADMIN_RETRY,
	    .run = cmd_dead_move },
	{ .name = "dead",
	    .sub = "drop",
	    .args = ARG_SEQS,
	    .move = JOURNAL_ADMIN_DROP,
	    .run = cmd_dead_move },
	{ .name = "init", .run = cmd_init },
	{ .name = "check-config", .run = cmd_check_config },
	{ .name = "check-origin", .run = cmd_check_origin },
	{ .name = "token", .args = ARG_TOKEN, .run = cmd_token },
	{ .name = "sql", .run = cmd_sql },
	{ .name = "paths", .run = cmd_paths },
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

/* The command at argv[*i] (one or two words); *i moves past it. */
static const struct admin_cmd *
cmd_find(int argc, char **argv, int *i)
{
	size_t k;

	for (k = 0; k < NCMDS; k++) {
		if (strcmp(argv[*i], cmds[k].name) != 0)
			continue;
		if (cmds[k].sub == NULL) {
			*i += 1;
			return &cmds[k];
		}
		if (*i + 1 < argc && strcmp(argv[*i + 1], cmds[k].sub) == 0) {
			*i += 2;
			return &cmds[k];
		}
	}
	return NULL;
}

/* The command's own arguments, argv[i..argc). */
static int
cmd_args(struct admin *ad, const struct admin_cmd *cmd, int argc, char **argv,
    int i)
{
	long long v;

	for (; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 && (cmd->args & ARG_JSON))
			ad->json = true;
		else if (strcmp(argv[i], "--limit") == 0 &&
		    (cmd->args & ARG_LIMIT)) {
			if (i + 1 >= argc ||
			    strnum_parse(argv[i + 1], 1, LIMIT_MAX, &v) !=
			        PC_OK)
				return usage_error(
				    "--limit needs a number from 1 "
				    "to %d, not '%s'",
				    LIMIT_MAX, i + 1 < argc ? argv[i + 1] : "");
			ad->limit = (long)v;
			i++;
		} else if (strcmp(argv[i], "--all") == 0 &&
		    (cmd->args & ARG_SEQS))
			ad->all = true;
		else if ((cmd->args & ARG_TOKEN) && i + 1 >= argc &&
		    (strcmp(argv[i], "--sub") == 0 ||
		        strcmp(argv[i], "--role") == 0))
			return usage_error("%s needs a value", argv[i]);
		else if ((cmd->args & ARG_TOKEN) &&
		    strcmp(argv[i], "--sub") == 0) {
			ad->sub = argv[++i];
			if (!uuid_is_canonical(ad->sub, strlen(ad->sub)))
				return usage_error("--sub needs a user id, a "
				                   "lower-case UUID, not '%s'",
				    ad->sub);
		} else if ((cmd->args & ARG_TOKEN) &&
		    strcmp(argv[i], "--role") == 0) {
			ad->role = argv[++i];
			if (strcmp(ad->role, "authenticated") != 0 &&
			    strcmp(ad->role, "anon") != 0 &&
			    strcmp(ad->role, "service_role") != 0)
				return usage_error(
				    "--role is authenticated, anon "
				    "or service_role, not '%s'",
				    ad->role);
		} else if ((cmd->args & ARG_TOKEN) &&
		    strcmp(argv[i], "--ttl") == 0) {
			if (i + 1 >= argc ||
			    strnum_parse(argv[i + 1], 1, JWT_LIFETIME_MAX,
			        &v) != PC_OK)
				return usage_error(
				    "--ttl needs a number of "
				    "seconds from 1 to %ld, not '%s'",
				    JWT_LIFETIME_MAX,
				    i + 1 < argc ? argv[i + 1] : "");
			ad->ttl = (long)v;
			i++;
		} else if ((cmd->args & ARG_TOKEN) &&
		    strcmp(argv[i], "--dev") == 0)
			ad->dev = true;
		else if ((cmd->args & ARG_SEQS) && argv[i][0] != '-') {
			if (strnum_parse(argv[i], 1, INT64_MAX, &v) != PC_OK)
				return usage_error(
				    "'%s' is not a seq (a positive whole "
				    "number)",
				    argv[i]);
			ad->seqs[ad->nseqs++] = (int64_t)v;
		} else
			return usage_error("unexpected argument '%s'", argv[i]);
	}
	if (ad->json && !(cmd->args & ARG_JSON))
		return usage_error("--json does not go with %s", cmd->name);
	if ((cmd->args & ARG_TOKEN) && ad->sub == NULL)
		return usage_error("token: --sub ID is required");
	if ((cmd->args & ARG_SEQS) && ad->all == (ad->nseqs > 0))
		return usage_error("%s: give either SEQ... or --all",
		    cmd->sub != NULL ? cmd->sub : cmd->name);
	return EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct admin ad = { .config_path = getenv(CONFIG_ENV),
		.limit = LIMIT_DEFAULT,
		.role = "authenticated" };
	const struct admin_cmd *cmd;
	char err[PC_ERRLEN] = "";
	bool loaded = false;
	int i, rc = EXIT_USAGE;

	log_set_ident(PROG);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			ad.config_path = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0) {
			ad.json = true;
		} else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			printf("%s%s", usage_text, help_text);
			rc = EXIT_OK;
			goto out;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf(PROG " %s\n", PACKAGE_VERSION);
			rc = EXIT_OK;
			goto out;
		} else {
			rc = usage_error("unknown option '%s'", argv[i]);
			goto out;
		}
	}
	if (i >= argc) {
		rc = usage_error("no command given");
		goto out;
	}
	if ((cmd = cmd_find(argc, argv, &i)) == NULL) {
		rc = usage_error("unknown command '%s'", argv[i]);
		goto out;
	}
	/* Never more seqs than arguments. */
	if ((ad.seqs = calloc((size_t)argc, sizeof(*ad.seqs))) == NULL) {
		fail("startup", "out of memory");
		rc = EXIT_FAILED;
		goto out;
	}
	if ((rc = cmd_args(&ad, cmd, argc, argv, i)) != EXIT_OK)
		goto out;

	rc = EXIT_CONFIG;
	if (ad.config_path == NULL || *ad.config_path == '\0') {
		fail("config", "no --config and $" CONFIG_ENV " is not set");
		goto out;
	}
	if (config_load(ad.config_path, &ad.cfg, err) != PC_OK) {
		fail("config", err);
		goto out;
	}
	loaded = true;
	log_set_level((enum log_level)ad.cfg.log_level);
	rc = cmd->run(&ad, cmd);
out:
	/* Output that did not reach its file is a failure (a full disk). */
	if ((fflush(stdout) != 0 || ferror(stdout)) && rc == EXIT_OK) {
		fail("stdout", strerror(errno));
		rc = EXIT_FAILED;
	}
	if (loaded)
		config_free(&ad.cfg);
	free(ad.seqs);
	return rc;
}

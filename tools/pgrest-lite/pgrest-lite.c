/*
 * pgrest-lite: a small PostgREST-compatible HTTP server over PostgreSQL, for
 * development and tests only; it implements the subset profilecache uses.
 *
 * Served, with PostgREST's paths, headers, error JSON and status mapping:
 *   GET|HEAD /{table}?col=eq.value&...&select=a,b&limit=N   (schema public)
 *            "Accept: application/vnd.pgrst.object+json" asks for one object
 *   POST /rpc/{function}   body: a JSON object whose keys name the arguments
 *   GET|HEAD /             the OpenAPI description (a subset of PostgREST's),
 *                          for the service key only, as Supabase's gateway
 *                          allows; --no-openapi answers 404 PGRST126 as
 *                          PostgREST with openapi-mode = disabled does
 * Anything else is refused (400, 404 or 405), never half-served.
 *
 * Auth is what the Supabase gateway and PostgREST do together, strictly: the
 * apikey header must be the service or the anon key, and picks the role
 * (service_role or anon) unless an Authorization header comes with it. That
 * header must be "Bearer <JWT>": a publishable or secret key (sb_...) is not a
 * JWT, so Supabase refuses it there, and PostgREST answers anything that is
 * not a JWT with 401 PGRST301. A legacy JWT key sent both ways is accepted,
 * and the bearer token picks the role.
 * XXX: user JWTs (role authenticated) are refused: there is no JWT secret here.
 *
 * With --storage-dir, the subset of Supabase Storage profilecache uses is
 * served under /storage/v1/ too (see pgl_storage below).
 *
 * --log-headers adds the names (never the values) of each request's headers
 * to its log line, so tests can tell what a client sent.
 *
 * Each request is one transaction that switches to the role with
 * set_config('role', ..., true) and sets request.jwt.claims, as PostgREST does,
 * so grants and row-level security apply for real. The --db user therefore only
 * has to be allowed to switch to anon and service_role: a superuser, the
 * tables' owner, or authenticator (schema/postgres/local/supabase_compat.sql).
 *
 * Threads: libmicrohttpd's thread pool. Each worker thread owns one libpq
 * connection (a pthread key), opened on first use and dropped when it breaks;
 * a BEGIN that fails on a broken connection is retried once on a fresh one, so
 * a PostgreSQL restart costs nothing, and a database that is down gets a quick
 * 503 PGRST000.
 */

#ifdef HAVE_CONFIG_H
#include "autoconf.h"
#endif

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <microhttpd.h>

#define PGL_BODY_MAX (8L * 1024 * 1024) /* request body cap; 413 above */
#define PGL_KEY_MAX 4096                /* key file cap */
#define PGL_IDENT_MAX 63                /* NAMEDATALEN - 1 */
#define PGL_FILTERS_MAX 16
#define PGL_SQL_MAX 8192
#define PGL_DOC_MAX 8192 /* an error document */
#define PGL_ERR_MAX 512

static const char PGL_JSON[] = "application/json; charset=utf-8";
static const char PGL_OBJECT[] =
    "application/vnd.pgrst.object+json; charset=utf-8";
static const char PGL_OPENAPI[] = "application/openapi+json; charset=utf-8";

enum pgl_role { PGL_ROLE_ANON, PGL_ROLE_SERVICE };

static const char *const pgl_role_name[] = {
    [PGL_ROLE_ANON] = "anon",
    [PGL_ROLE_SERVICE] = "service_role",
};

static const char *const pgl_role_claims[] = {
    [PGL_ROLE_ANON] = "{\"role\":\"anon\"}",
    [PGL_ROLE_SERVICE] = "{\"role\":\"service_role\"}",
};

/* Settings from the command line; read-only once the server runs. */
static struct {
	struct sockaddr_in listen;
	const char *db_uri;
	char service_key[PGL_KEY_MAX];
	char anon_key[PGL_KEY_MAX]; /* empty: no anon key */
	long delay_ms;
	long threads;
	bool log_headers;
	const char *storage_dir; /* NULL: no Storage subset */
	bool no_openapi;
} pgl_cfg;

static pthread_key_t pgl_conn_key; /* the worker thread's PGconn */

/* One HTTP request: its start time and its body (capped). */
struct pgl_request {
	struct timespec start;
	char *body; /* NUL-terminated once non-NULL; owned */
	size_t body_len;
	size_t body_cap;
	bool too_big;
	bool no_memory;
	bool replied; /* refused early: the rest of the body is discarded */
	bool delayed; /* --delay-ms already served */
};

/* The answer to one request. body is owned (malloc) until handed to MHD. */
struct pgl_reply {
	unsigned status;
	const char *content_type;
	char *body;
	size_t body_len;
	char content_range[48];
	char last_modified[40]; /* the Storage subset's headers; "" for none */
	char cache_control[128];
	char ctype_mem[208]; /* content_type's storage when it is not static */
};

/* What a route handler gets. */
struct pgl_call {
	struct MHD_Connection *conn;
	const char *method;
	const char *path; /* URL path, without the query string */
	const char *name; /* the table or function the path names */
	enum pgl_role role;
	const struct pgl_request *rq;
};

/* A bounded string: what does not fit is dropped and flagged. */
struct sbuf {
	char *p;
	size_t len;
	size_t cap;
	bool overflow;
};

static void
sb_init(struct sbuf *sb, char *mem, size_t cap)
{
	sb->p = mem;
	sb->len = 0;
	sb->cap = cap;
	sb->overflow = false;
	mem[0] = '\0';
}

static void
sb_putn(struct sbuf *sb, const char *s, size_t n)
{
	if (sb->overflow || n >= sb->cap - sb->len) {
		sb->overflow = true;
		return;
	}
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
}

static void
sb_puts(struct sbuf *sb, const char *s)
{
	sb_putn(sb, s, strlen(s));
}

/* Appends s as a JSON string, or null when s is NULL. */
static void
sb_json_str(struct sbuf *sb, const char *s)
{
	char esc[8];

	if (s == NULL) {
		sb_puts(sb, "null");
		return;
	}
	sb_puts(sb, "\"");
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			sb_putn(sb, esc, 2);
		} else if (ch == '\n') {
			sb_puts(sb, "\\n");
		} else if (ch == '\t') {
			sb_puts(sb, "\\t");
		} else if (ch < 0x20) {
			(void)snprintf(esc, sizeof esc, "\\u%04x", ch);
			sb_puts(sb, esc);
		} else {
			sb_putn(sb, s, 1);
		}
	}
	sb_puts(sb, "\"");
}

/* Appends name[0..n) as a quoted SQL identifier; false if libpq failed. */
static bool
sb_ident(struct sbuf *sb, PGconn *conn, const char *name, size_t n)
{
	char *quoted = PQescapeIdentifier(conn, name, n);

	if (quoted == NULL)
		return false;
	sb_puts(sb, quoted);
	PQfreemem(quoted);
	return true;
}

/* Whether s[0..n) matches ^[a-z_][a-z0-9_]*$ and fits PostgreSQL's names. */
static bool
pgl_is_ident(const char *s, size_t n)
{
	if (n == 0 || n > PGL_IDENT_MAX || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		        ch == '_'))
			return false;
	}
	return true;
}

/* Parses a whole decimal number within [min, max] into *out. */
static bool
pgl_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/*
 * Copies s into dst (capacity cap, truncating), printable ASCII only: client
 * text that goes into a log line or an error message can then break neither.
 */
static void
pgl_ascii_copy(char *dst, size_t cap, const char *s)
{
	size_t i = 0;

	for (; s[i] != '\0' && i + 1 < cap; i++)
		dst[i] = (s[i] > ' ' && s[i] < 0x7f) ? s[i] : '?';
	dst[i] = '\0';
}

/* Copies src into dst (capacity cap), without trailing white space. */
static void
pgl_trim_copy(char *dst, size_t cap, const char *src)
{
	size_t n;

	(void)snprintf(dst, cap, "%s", src);
	n = strlen(dst);
	while (n > 0 &&
	    (dst[n - 1] == '\n' || dst[n - 1] == ' ' || dst[n - 1] == '\t'))
		dst[--n] = '\0';
}

/* Replaces the reply with status and a copy of data; on OOM, a bare 500. */
static void
pgl_reply_set(struct pgl_reply *rep, unsigned status, const char *ctype,
    const char *data, size_t len)
{
	free(rep->body);
	rep->body = NULL;
	rep->body_len = 0;
	rep->content_range[0] = '\0';
	rep->last_modified[0] = rep->cache_control[0] = '\0';
	rep->status = status;
	rep->content_type = ctype;
	if (len == 0)
		return;
	rep->body = malloc(len);
	if (rep->body == NULL) {
		rep->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		rep->content_type = NULL;
		return;
	}
	memcpy(rep->body, data, len);
	rep->body_len = len;
}

/* Replaces the reply with a PostgREST error document; NULL fields are null. */
static void
pgl_reply_error(struct pgl_reply *rep, unsigned status, const char *code,
    const char *message, const char *details, const char *hint)
{
	char mem[PGL_DOC_MAX];
	struct sbuf sb;

	/* A second pass without details and hint if they were too long. */
	for (int pass = 0; pass < 2; pass++) {
		sb_init(&sb, mem, sizeof mem);
		sb_puts(&sb, "{\"code\":");
		sb_json_str(&sb, code);
		sb_puts(&sb, ",\"details\":");
		sb_json_str(&sb, pass == 0 ? details : NULL);
		sb_puts(&sb, ",\"hint\":");
		sb_json_str(&sb, pass == 0 ? hint : NULL);
		sb_puts(&sb, ",\"message\":");
		sb_json_str(&sb, message);
		sb_puts(&sb, "}");
		if (!sb.overflow)
			break;
	}
	if (sb.overflow)
		pgl_reply_set(
		    rep, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL, 0);
	else
		pgl_reply_set(rep, status, PGL_JSON, sb.p, sb.len);
}

/*
 * PostgREST's SQLSTATE to HTTP status table (its pgErrorStatus), first match
 * wins; unlisted codes are 400, 42501 depends on the role and PTnnn is nnn.
 */
/* clang-format off */
static const struct {
	const char *prefix;
	unsigned status;
} pgl_status_map[] = {
	{"08", 503}, {"09", 500}, {"0L", 403}, {"0P", 403}, {"23503", 409},
	{"23505", 409}, {"25006", 405}, {"25", 500}, {"28", 403}, {"2D", 500},
	{"21000", 500}, {"38", 500}, {"39", 500}, {"3B", 500}, {"40", 500},
	{"53400", 500}, {"53", 503}, {"54", 500}, {"55", 500}, {"57P01", 503},
	{"57", 500}, {"58", 500}, {"F0", 500}, {"HV", 500}, {"P0001", 400},
	{"P0", 500}, {"XX", 500}, {"42883", 404}, {"42P01", 404}, {"42P17", 500},
};
/* clang-format on */

static unsigned
pgl_pg_status(const char *state, enum pgl_role role)
{
	long status;

	if (strcmp(state, "42501") == 0)
		return role == PGL_ROLE_ANON ? MHD_HTTP_UNAUTHORIZED
		                             : MHD_HTTP_FORBIDDEN;
	if (strncmp(state, "PT", 2) == 0)
		return pgl_parse_long(state + 2, 100, 599, &status)
		    ? (unsigned)status
		    : 500;
	for (size_t i = 0; i < sizeof pgl_status_map / sizeof pgl_status_map[0];
	     i++) {
		const char *prefix = pgl_status_map[i].prefix;

		if (strncmp(state, prefix, strlen(prefix)) == 0)
			return pgl_status_map[i].status;
	}
	return MHD_HTTP_BAD_REQUEST;
}

/* Replaces the reply with PostgREST's answer to a failed statement. */
static void
pgl_reply_pg_error(struct pgl_reply *rep, PGconn *conn, const PGresult *res,
    enum pgl_role role)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	char err[PGL_ERR_MAX];

	/* No SQLSTATE: the server never answered, the connection broke. */
	if (state == NULL) {
		pgl_trim_copy(err, sizeof err,
		    res != NULL ? PQresultErrorMessage(res)
		                : PQerrorMessage(conn));
		pgl_reply_error(rep, MHD_HTTP_SERVICE_UNAVAILABLE, "PGRST000",
		    "Database connection lost.", err, NULL);
		return;
	}
	pgl_reply_error(rep, pgl_pg_status(state, role), state,
	    PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY),
	    PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL),
	    PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
}

static void
pgl_conn_free(void *conn)
{
	PQfinish(conn);
}

/* Closes the thread's connection; the next request opens a new one. */
static void
pgl_conn_drop(void)
{
	PGconn *conn = pthread_getspecific(pgl_conn_key);

	if (conn != NULL) {
		PQfinish(conn);
		(void)pthread_setspecific(pgl_conn_key, NULL);
	}
}

/*
 * Returns the thread's connection, opening it if needed. The thread keeps
 * ownership. NULL, with the reason in err, when the database is unreachable.
 */
static PGconn *
pgl_conn_get(char *err, size_t errlen)
{
	/* dbname last: settings in the URI win over these defaults. */
	static const char *const keys[] = {"connect_timeout",
	    "application_name", "client_encoding", "dbname", NULL};
	const char *const values[] = {
	    "2", "pgrest-lite", "UTF8", pgl_cfg.db_uri, NULL};
	PGconn *conn = pthread_getspecific(pgl_conn_key);
	PGconn *result = NULL;
	PGresult *res = NULL;

	if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
		return conn;
	pgl_conn_drop();
	conn = PQconnectdbParams(keys, values, 1);
	if (conn == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		pgl_trim_copy(err, errlen, PQerrorMessage(conn));
		goto out;
	}
	/*
	 * to_json(timestamptz) renders in the session's TimeZone; Supabase runs
	 * in UTC, so this gives byte-identical "...+00:00" timestamps.
	 */
	res = PQexec(conn, "set timezone to 'UTC'");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		pgl_trim_copy(err, errlen, PQerrorMessage(conn));
		goto out;
	}
	if (pthread_setspecific(pgl_conn_key, conn) != 0) {
		(void)snprintf(err, errlen, "pthread_setspecific failed");
		goto out;
	}
	result = conn;
	conn = NULL;
out:
	PQclear(res);
	PQfinish(conn);
	return result;
}

/*
 * Opens the request's transaction as the call's role: BEGIN, then PostgREST's
 * per-request settings. Returns the thread's connection, or NULL with the
 * error reply set. A BEGIN that fails because the connection broke (say,
 * PostgreSQL restarted) is retried once on a fresh connection.
 */
static PGconn *
pgl_tx_begin(const struct pgl_call *call, bool read_only, struct pgl_reply *rep)
{
	const char *params[] = {pgl_role_name[call->role],
	    pgl_role_claims[call->role], call->method, call->path};
	char err[PGL_ERR_MAX];
	PGconn *conn = NULL;
	PGconn *result = NULL;
	PGresult *res = NULL;

	for (int attempt = 0;; attempt++) {
		conn = pgl_conn_get(err, sizeof err);
		if (conn == NULL) {
			pgl_reply_error(rep, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "PGRST000",
			    "Could not connect with the database due to an "
			    "incorrect db-uri or due to the PostgreSQL "
			    "service not running.",
			    err, NULL);
			goto out;
		}
		res = PQexec(conn,
		    read_only ? "begin isolation level read committed read only"
		              : "begin isolation level read committed");
		if (PQresultStatus(res) == PGRES_COMMAND_OK)
			break;
		if (PQstatus(conn) != CONNECTION_BAD || attempt == 1) {
			pgl_reply_pg_error(rep, conn, res, call->role);
			pgl_conn_drop();
			goto out;
		}
		PQclear(res);
		res = NULL;
		pgl_conn_drop();
	}
	PQclear(res);
	/*
	 * The role's own settings apply, as PostgREST applies them (Supabase
	 * gives anon, authenticated and service_role a statement_timeout with
	 * ALTER ROLE ... SET): here statement_timeout, the one that changes
	 * what a request may do, read per request rather than cached.
	 */
	res = PQexecParams(conn,
	    "select set_config('role', $1, true),"
	    " set_config('request.jwt.claims', $2, true),"
	    " set_config('request.method', $3, true),"
	    " set_config('request.path', $4, true),"
	    " set_config('statement_timeout', coalesce(("
	    "   select pg_catalog.substr(s, 19)"
	    "     from pg_catalog.pg_db_role_setting as d,"
	    "          pg_catalog.unnest(d.setconfig) as s"
	    "    where d.setrole = (select oid from pg_catalog.pg_roles where rolname = $1)"
	    "      and d.setdatabase in (0, (select oid from pg_catalog.pg_database"
	    "                                where datname = pg_catalog.current_database()))"
	    "      and s like 'statement\\_timeout=%'"
	    "    order by d.setdatabase desc limit 1),"
	    "   pg_catalog.current_setting('statement_timeout')), true)",
	    4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pgl_reply_pg_error(rep, conn, res, call->role);
		pgl_conn_drop(); /* the cheapest way back to a clean session */
		goto out;
	}
	result = conn;
out:
	PQclear(res);
	return result;
}

/*
 * Commits (or rolls back) the request's transaction. A failed commit replaces
 * the reply with the error. The connection must not be used afterwards: it is
 * dropped if it broke or was left inside a transaction.
 */
static void
pgl_tx_end(PGconn *conn, bool commit, enum pgl_role role, struct pgl_reply *rep)
{
	PGresult *res = PQexec(conn, commit ? "commit" : "rollback");

	if (commit && PQresultStatus(res) != PGRES_COMMAND_OK)
		pgl_reply_pg_error(rep, conn, res, role);
	PQclear(res);
	if (PQstatus(conn) != CONNECTION_OK ||
	    PQtransactionStatus(conn) != PQTRANS_IDLE)
		pgl_conn_drop();
}

/* The query string of a table read. */
struct pgl_query {
	const char *select;
	const char *order; /* "col[.asc|.desc][.nullsfirst|.nullslast],..." */
	long limit; /* -1: none */
	long offset;
	const char *col[PGL_FILTERS_MAX];
	const char *val[PGL_FILTERS_MAX];
	int nfilters;
	bool bad;
	char why[200]; /* when bad */
};

static enum MHD_Result
pgl_query_arg(
    void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct pgl_query *q = cls;
	char k[64], v[64];

	(void)kind;
	pgl_ascii_copy(k, sizeof k, key);
	pgl_ascii_copy(v, sizeof v, value != NULL ? value : "");
	if (strcmp(key, "select") == 0) {
		if (q->select != NULL || value == NULL) {
			(void)snprintf(q->why, sizeof q->why,
			    "select must be given once, with a value");
			goto bad;
		}
		q->select = value;
	} else if (strcmp(key, "limit") == 0) {
		if (!pgl_parse_long(value, 0, LONG_MAX, &q->limit)) {
			(void)snprintf(q->why, sizeof q->why,
			    "limit must be a number >= 0");
			goto bad;
		}
	} else if (strcmp(key, "offset") == 0) {
		if (!pgl_parse_long(value, 0, LONG_MAX, &q->offset)) {
			(void)snprintf(q->why, sizeof q->why,
			    "offset must be a number >= 0");
			goto bad;
		}
	} else if (strcmp(key, "order") == 0) {
		if (q->order != NULL || value == NULL) {
			(void)snprintf(q->why, sizeof q->why,
			    "order must be given once, with a value");
			goto bad;
		}
		q->order = value;
	} else if (!pgl_is_ident(key, strlen(key))) {
		(void)snprintf(q->why, sizeof q->why,
		    "unsupported query parameter (%s)", k);
		goto bad;
	} else if (value == NULL || strncmp(value, "eq.", 3) != 0) {
		(void)snprintf(q->why, sizeof q->why,
		    "failed to parse filter (%s=%s): pgrest-lite supports "
		    "col=eq.value only", k, v);
		goto bad;
	} else if (q->nfilters == PGL_FILTERS_MAX) {
		(void)snprintf(q->why, sizeof q->why, "more than %d filters",
		    PGL_FILTERS_MAX);
		goto bad;
	} else {
		q->col[q->nfilters] = key;
		q->val[q->nfilters] = value + 3;
		q->nfilters++;
	}
	return MHD_YES;
bad:
	q->bad = true;
	return MHD_NO;
}

/*
 * Appends a select list (NULL or "*": all); false unless plain names. Each
 * is qualified with the table's name, as PostgREST does, so a missing column
 * is 42703 "column profiles.x does not exist", as there.
 */
static bool
pgl_sql_columns(
    struct sbuf *sql, PGconn *conn, const char *table, const char *select)
{
	const char *p = select;

	if (p == NULL || strcmp(p, "*") == 0) {
		sb_puts(sql, "*");
		return true;
	}
	for (;;) {
		size_t n = strcspn(p, ",");

		if (!pgl_is_ident(p, n) ||
		    !sb_ident(sql, conn, table, strlen(table)))
			return false;
		sb_puts(sql, ".");
		if (!sb_ident(sql, conn, p, n))
			return false;
		if (p[n] == '\0')
			return true;
		sb_puts(sql, ", ");
		p += n + 1;
	}
}

/*
 * Appends " order by ..." from PostgREST's order parameter: comma-separated
 * terms col, col.asc, col.desc, each optionally .nullsfirst or .nullslast;
 * false for anything else.
 */
static bool
pgl_sql_order(struct sbuf *sql, PGconn *conn, const char *order)
{
	const char *p = order;
	size_t n, c;
	bool first = true;

	for (;;) {
		n = strcspn(p, ",");
		c = strcspn(p, ".");
		if (c > n)
			c = n;
		if (!pgl_is_ident(p, c))
			return false;
		sb_puts(sql, first ? " order by " : ", ");
		first = false;
		if (!sb_ident(sql, conn, p, c))
			return false;
		if (c < n) {
			const char *m = p + c;
			size_t mlen = n - c;

			if (mlen >= 4 && strncmp(m, ".asc", 4) == 0) {
				sb_puts(sql, " asc");
				m += 4, mlen -= 4;
			} else if (mlen >= 5 && strncmp(m, ".desc", 5) == 0) {
				sb_puts(sql, " desc");
				m += 5, mlen -= 5;
			}
			if (mlen == 11 && strncmp(m, ".nullsfirst", 11) == 0)
				sb_puts(sql, " nulls first");
			else if (mlen == 10 && strncmp(m, ".nullslast", 10) == 0)
				sb_puts(sql, " nulls last");
			else if (mlen != 0)
				return false;
		}
		if (p[n] == '\0')
			return true;
		p += n + 1;
	}
}

/*
 * GET /{table}: PostgREST's read query,
 *   select count(*), coalesce(json_agg(t), '[]')
 *   from (select cols from public.table where c = $1 ... order by ...
 *         limit N offset M) t
 * with filter values as untyped parameters, so PostgreSQL casts them to the
 * column's type (a bad uuid is 22P02, as with PostgREST).
 */
static void
pgl_table_get(const struct pgl_call *call, struct pgl_reply *rep)
{
	const char *accept = MHD_lookup_connection_value(
	    call->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	bool object = accept != NULL &&
	    strstr(accept, "application/vnd.pgrst.object+json") != NULL;
	struct pgl_query q = {.limit = -1};
	char mem[PGL_SQL_MAX], num[64], msg[PGL_ERR_MAX];
	struct sbuf sql;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	const char *state;
	bool ok = false;
	long rows;

	(void)MHD_get_connection_values(
	    call->conn, MHD_GET_ARGUMENT_KIND, pgl_query_arg, &q);
	if (q.bad) {
		pgl_reply_error(
		    rep, MHD_HTTP_BAD_REQUEST, "PGRST100", q.why, NULL, NULL);
		goto out;
	}
	conn = pgl_tx_begin(call, true, rep);
	if (conn == NULL)
		goto out;

	sb_init(&sql, mem, sizeof mem);
	sb_puts(&sql,
	    object
	        ? "select count(*), coalesce((json_agg(t) -> 0)::text, 'null')"
	        : "select count(*), coalesce(json_agg(t), '[]')::text");
	sb_puts(&sql, " from (select ");
	if (!pgl_sql_columns(&sql, conn, call->name, q.select)) {
		pgl_reply_error(rep, MHD_HTTP_BAD_REQUEST, "PGRST100",
		    "failed to parse select parameter",
		    "pgrest-lite supports plain column names only", NULL);
		goto out;
	}
	sb_puts(&sql, " from public.");
	if (!sb_ident(&sql, conn, call->name, strlen(call->name)))
		goto out;
	for (int i = 0; i < q.nfilters; i++) {
		sb_puts(&sql, i == 0 ? " where " : " and ");
		if (!sb_ident(&sql, conn, q.col[i], strlen(q.col[i])))
			goto out;
		(void)snprintf(num, sizeof num, " = $%d", i + 1);
		sb_puts(&sql, num);
	}
	if (q.order != NULL && !pgl_sql_order(&sql, conn, q.order)) {
		pgl_reply_error(rep, MHD_HTTP_BAD_REQUEST, "PGRST100",
		    "failed to parse order", "pgrest-lite supports "
		    "col[.asc|.desc][.nullsfirst|.nullslast], comma separated", NULL);
		goto out;
	}
	if (q.limit >= 0) {
		(void)snprintf(num, sizeof num, " limit %ld", q.limit);
		sb_puts(&sql, num);
	}
	if (q.offset > 0) {
		(void)snprintf(num, sizeof num, " offset %ld", q.offset);
		sb_puts(&sql, num);
	}
	sb_puts(&sql, ") t");
	if (sql.overflow) {
		pgl_reply_error(rep, MHD_HTTP_BAD_REQUEST, "PGRST100",
		    "query too long", NULL, NULL);
		goto out;
	}

	res = PQexecParams(conn, sql.p, q.nfilters, NULL, q.val, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state != NULL && strcmp(state, "42P01") == 0) {
			(void)snprintf(msg, sizeof msg,
			    "Could not find the table 'public.%s' in the "
			    "schema cache", call->name);
			pgl_reply_error(rep, MHD_HTTP_NOT_FOUND, "PGRST205",
			    msg, NULL, NULL);
		} else {
			pgl_reply_pg_error(rep, conn, res, call->role);
		}
		goto out;
	}
	ok = true;
	if (!pgl_parse_long(PQgetvalue(res, 0, 0), 0, LONG_MAX, &rows))
		rows = 0;
	if (object && rows != 1) {
		(void)snprintf(
		    msg, sizeof msg, "The result contains %ld rows", rows);
		pgl_reply_error(rep, MHD_HTTP_NOT_ACCEPTABLE, "PGRST116",
		    "JSON object requested, multiple (or no) rows returned",
		    msg, NULL);
		goto out;
	}
	pgl_reply_set(rep, MHD_HTTP_OK, object ? PGL_OBJECT : PGL_JSON,
	    PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1));
	if (rows == 0)
		(void)snprintf(
		    rep->content_range, sizeof rep->content_range, "*/0");
	else
		(void)snprintf(rep->content_range, sizeof rep->content_range,
		    "0-%ld/*", rows - 1);
out:
	if (conn != NULL)
		pgl_tx_end(conn, ok, call->role, rep);
	PQclear(res);
}

/*
 * The candidates for POST /rpc/$1 with body $2: one row per IN argument that
 * a body key names (or one row with a NULL name when none does), with the
 * function's oid, whether it returns a set, whether it returns void, and the
 * number of body keys.
 */
static const char pgl_rpc_lookup_sql[] =
    "select p.oid, p.proretset,"
    "  p.prorettype = 'pg_catalog.void'::pg_catalog.regtype,"
    "  (select count(*) from pg_catalog.json_object_keys($2::json)),"
    "  a.name, pg_catalog.format_type(a.type, null)"
    " from pg_catalog.pg_proc p"
    " join pg_catalog.pg_namespace n on n.oid = p.pronamespace"
    " left join lateral (select u.name, u.type"
    "  from rows from (pg_catalog.unnest(p.proargnames),"
    "   pg_catalog.unnest(coalesce(p.proallargtypes,"
    "    p.proargtypes::pg_catalog.oid[])),"
    "   pg_catalog.unnest(p.proargmodes)) as u(name, type, mode)"
    "  where coalesce(u.mode, 'i') in ('i', 'b')"
    "   and u.name in (select pg_catalog.json_object_keys($2::json))"
    " ) a on true"
    " where n.nspname = 'public' and p.proname = $1 and p.prokind = 'f'"
    " order by p.oid, a.name";

/*
 * Appends the matched arguments of the lookup result, either as the column
 * list of json_to_record ("name type, ...") or as the call's named arguments
 * ("name := (select name from _pgrst_args), ...").
 */
static bool
pgl_sql_rpc_args(
    struct sbuf *sql, PGconn *conn, const PGresult *found, bool decl)
{
	bool first = true;

	for (int r = 0; r < PQntuples(found); r++) {
		const char *name = PQgetvalue(found, r, 4);

		if (PQgetisnull(found, r, 4))
			continue;
		if (!first)
			sb_puts(sql, ", ");
		first = false;
		if (!sb_ident(sql, conn, name, strlen(name)))
			return false;
		if (decl) {
			sb_puts(sql, " ");
			sb_puts(sql, PQgetvalue(found, r, 5));
		} else {
			sb_puts(sql, " := (select ");
			if (!sb_ident(sql, conn, name, strlen(name)))
				return false;
			sb_puts(sql, " from _pgrst_args)");
		}
	}
	return true;
}

/*
 * POST /rpc/{function}: calls public.function with named arguments taken from
 * the body's keys (typed as declared, converted by json_to_record as PostgREST
 * does). A set is returned as an array, anything else through to_json, void
 * as 204. XXX: Accept: application/vnd.pgrst.object+json is ignored here (no
 * caller needs it); PostgREST would unwrap a one-row set.
 */
static void
pgl_rpc(const struct pgl_call *call, struct pgl_reply *rep)
{
	const char *ctype = MHD_lookup_connection_value(
	    call->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *body = call->rq->body != NULL ? call->rq->body : "{}";
	const char *lookup_params[] = {call->name, body};
	char mem[PGL_SQL_MAX], msg[PGL_ERR_MAX];
	struct sbuf sql;
	PGconn *conn = NULL;
	PGresult *found = NULL, *res = NULL;
	int nargs = 0;
	long nkeys;
	bool ok = false, setof, isvoid;

	if (ctype != NULL && strncasecmp(ctype, "application/json", 16) != 0) {
		char shown[64];

		pgl_ascii_copy(shown, sizeof shown, ctype);
		(void)snprintf(
		    msg, sizeof msg, "Content-Type not acceptable: %s", shown);
		pgl_reply_error(rep, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		    "PGRST107", msg, NULL, NULL);
		goto out;
	}
	if (call->rq->body != NULL &&
	    strlen(call->rq->body) != call->rq->body_len) {
		pgl_reply_error(rep, MHD_HTTP_BAD_REQUEST, "PGRST102",
		    "Empty or invalid json", "the body contains a NUL byte",
		    NULL);
		goto out;
	}
	conn = pgl_tx_begin(call, false, rep);
	if (conn == NULL)
		goto out;

	found = PQexecParams(
	    conn, pgl_rpc_lookup_sql, 2, NULL, lookup_params, NULL, NULL, 0);
	if (PQresultStatus(found) != PGRES_TUPLES_OK) {
		pgl_reply_pg_error(rep, conn, found, call->role);
		goto out;
	}
	for (int r = 0; r < PQntuples(found); r++) {
		const char *oid = PQgetvalue(found, r, 0);

		if (strcmp(oid, PQgetvalue(found, 0, 0)) != 0) {
			(void)snprintf(msg, sizeof msg,
			    "Could not choose the best candidate function "
			    "between the overloads of public.%s", call->name);
			pgl_reply_error(rep, MHD_HTTP_MULTIPLE_CHOICES,
			    "PGRST203", msg, NULL, NULL);
			goto out;
		}
		nargs += !PQgetisnull(found, r, 4);
	}
	if (PQntuples(found) == 0 ||
	    !pgl_parse_long(PQgetvalue(found, 0, 3), 0, INT_MAX, &nkeys) ||
	    nkeys != nargs) {
		(void)snprintf(msg, sizeof msg,
		    "Could not find the function public.%s with the given "
		    "arguments in the schema cache", call->name);
		pgl_reply_error(rep, MHD_HTTP_NOT_FOUND, "PGRST202", msg,
		    "Every key of the body must name an IN argument", NULL);
		goto out;
	}
	setof = PQgetvalue(found, 0, 1)[0] == 't';
	isvoid = PQgetvalue(found, 0, 2)[0] == 't';

	sb_init(&sql, mem, sizeof mem);
	if (nargs > 0) {
		sb_puts(&sql,
		    "with _pgrst_args as (select * from"
		    " pg_catalog.json_to_record($1::json) as _a(");
		if (!pgl_sql_rpc_args(&sql, conn, found, true))
			goto out;
		sb_puts(&sql, ")) ");
	}
	if (isvoid)
		sb_puts(&sql, "select public.");
	else if (setof)
		sb_puts(&sql, "select coalesce(pg_catalog.json_agg(_r), '[]')"
			      "::text from public.");
	else
		sb_puts(&sql, "select pg_catalog.to_json(public.");
	if (!sb_ident(&sql, conn, call->name, strlen(call->name)))
		goto out;
	sb_puts(&sql, "(");
	if (!pgl_sql_rpc_args(&sql, conn, found, false))
		goto out;
	sb_puts(&sql, isvoid ? ")" : setof ? ") _r" : "))::text");
	if (sql.overflow) {
		pgl_reply_error(rep, MHD_HTTP_BAD_REQUEST, "PGRST100",
		    "call too long", NULL, NULL);
		goto out;
	}

	res = PQexecParams(
	    conn, sql.p, nargs > 0 ? 1 : 0, NULL, &body, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pgl_reply_pg_error(rep, conn, res, call->role);
		goto out;
	}
	ok = true;
	if (isvoid)
		pgl_reply_set(rep, MHD_HTTP_NO_CONTENT, NULL, NULL, 0);
	else
		pgl_reply_set(rep, MHD_HTTP_OK, PGL_JSON, PQgetvalue(res, 0, 0),
		    (size_t)PQgetlength(res, 0, 0));
out:
	if (conn != NULL)
		pgl_tx_end(conn, ok, call->role, rep);
	PQclear(found);
	PQclear(res);
}

/* Whether a presented key is the configured one, in constant time. */
static bool
pgl_key_eq(const char *given, const char *key)
{
	size_t glen = strlen(given), klen = strlen(key);
	unsigned char diff = glen != klen;

	for (size_t i = 0; i < klen; i++)
		diff |= (unsigned char)(key[i] ^ (i < glen ? given[i] : 0));
	return klen > 0 && diff == 0;
}

static bool
pgl_key_role(const char *given, enum pgl_role *role)
{
	if (pgl_key_eq(given, pgl_cfg.service_key))
		*role = PGL_ROLE_SERVICE;
	else if (pgl_key_eq(given, pgl_cfg.anon_key))
		*role = PGL_ROLE_ANON;
	else
		return false;
	return true;
}

/* A refusal as the Supabase API gateway words it: {"message"[,"hint"]}. */
static void
pgl_reply_gateway(struct pgl_reply *rep, unsigned status, const char *message,
    const char *hint)
{
	char mem[512];
	struct sbuf sb;

	sb_init(&sb, mem, sizeof mem);
	sb_puts(&sb, "{\"message\":");
	sb_json_str(&sb, message);
	if (hint != NULL) {
		sb_puts(&sb, ",\"hint\":");
		sb_json_str(&sb, hint);
	}
	sb_puts(&sb, "}");
	pgl_reply_set(rep, status, PGL_JSON, sb.p, sb.len);
}

/* The number of parts of a JWT-shaped s (base64url, dot-separated), or 0. */
static int
pgl_jwt_parts(const char *s)
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                             "abcdefghijklmnopqrstuvwxyz0123456789-_";
	int parts = 1;

	for (; *s != '\0'; s++) {
		if (*s == '.')
			parts++;
		else if (strchr(b64url, *s) == NULL)
			return 0;
	}
	return parts;
}

/* Finds the request's role from its keys; false with a 401 reply set. */
static bool
pgl_auth(struct MHD_Connection *c, enum pgl_role *role, struct pgl_reply *rep)
{
	const char *apikey =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "apikey");
	const char *authz = MHD_lookup_connection_value(
	    c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	char msg[64];
	int parts;

	if (apikey == NULL) {
		pgl_reply_gateway(rep, MHD_HTTP_UNAUTHORIZED,
		    "No API key found in request",
		    "No `apikey` request header or url param was found.");
		return false;
	}
	if (!pgl_key_role(apikey, role)) {
		pgl_reply_gateway(rep, MHD_HTTP_UNAUTHORIZED, "Invalid API key",
		    "Double check your Supabase `anon` or `service_role` "
		    "API key.");
		return false;
	}
	if (authz == NULL)
		return true;
	if (strncasecmp(authz, "Bearer ", 7) != 0) {
		pgl_reply_error(rep, MHD_HTTP_UNAUTHORIZED, "PGRST301",
		    "No suitable key or wrong key type", NULL, NULL);
		return false;
	}
	authz += 7;
	/* What PostgREST says of a bearer token that is no JWT. */
	if ((parts = pgl_jwt_parts(authz)) != 3) {
		(void)snprintf(msg, sizeof msg,
		    "Expected 3 parts in JWT; got %d", parts > 0 ? parts : 1);
		pgl_reply_error(rep, MHD_HTTP_UNAUTHORIZED, "PGRST301", msg,
		    NULL, "An API key goes in the apikey header, never as "
		          "the bearer token.");
		return false;
	}
	if (!pgl_key_role(authz, role)) {
		pgl_reply_error(rep, MHD_HTTP_UNAUTHORIZED, "PGRST301",
		    "JWT could not be verified",
		    "pgrest-lite accepts only the configured keys as "
		    "bearer tokens", NULL);
		return false;
	}
	return true;
}

/*
 * The Supabase Storage subset (--storage-dir): what profilecache's supabase
 * avatar backend uses, with the paths, status codes and error JSON of
 * github.com/supabase/storage (src/http/routes/object/, error-handler.ts,
 * internal/errors/codes.ts). A bucket is a directory under --storage-dir
 * (made by whoever starts the server: a missing one is NoSuchBucket); an
 * object is a file below it, with its Content-Type and Cache-Control in a
 * sidecar "<name>#meta" ('#' is no character a name here may hold).
 *   POST   /storage/v1/object/{bucket}/{name}    upload (x-upsert: true
 *          overwrites); the raw body, its Content-Type, cache-control
 *   HEAD|GET /storage/v1/object/{bucket}/{name}  with the service key
 *   HEAD|GET /storage/v1/object/public/{bucket}/{name}   no key needed
 *   DELETE /storage/v1/object/{bucket}   {"prefixes":["name",...]}
 * Errors are {"statusCode":"<status>","code","error","message"} sent with
 * HTTP 400 whatever statusCode says (only 500 stays 500), as Storage's
 * error handler does; a missing or wrong apikey is the API gateway's 401.
 * The anon key is served as Storage serves a role that no policy lets
 * write: 403 AccessDenied (as HTTP 400).
 * XXX: no multipart uploads, no listing, no signed URLs, no image transforms.
 */
#define PGL_STORAGE_PREFIX "/storage/v1/object/"
#define PGL_STORAGE_NAME_MAX 1024
#define PGL_STORAGE_DELETE_MAX 1000 /* Storage's default limit */

static void
pgl_storage_error(struct pgl_reply *rep, const char *status, const char *code,
    const char *error, const char *message)
{
	char mem[PGL_DOC_MAX];
	struct sbuf sb;

	sb_init(&sb, mem, sizeof mem);
	sb_puts(&sb, "{\"statusCode\":");
	sb_json_str(&sb, status);
	sb_puts(&sb, ",\"code\":");
	sb_json_str(&sb, code);
	sb_puts(&sb, ",\"error\":");
	sb_json_str(&sb, error);
	sb_puts(&sb, ",\"message\":");
	sb_json_str(&sb, message);
	sb_puts(&sb, "}");
	pgl_reply_set(rep, strcmp(status, "500") == 0 ? 500 : 400, PGL_JSON,
	    sb.p, sb.len);
}

static void
pgl_storage_no_bucket(struct pgl_reply *rep)
{
	pgl_storage_error(
	    rep, "404", "NoSuchBucket", "Bucket not found", "Bucket not found");
}

static void
pgl_storage_no_key(struct pgl_reply *rep)
{
	pgl_storage_error(rep, "404", "NoSuchKey", "not_found", "Object not found");
}

static void
pgl_storage_internal(struct pgl_reply *rep, const char *what)
{
	char msg[PGL_ERR_MAX];

	(void)snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
	pgl_storage_error(rep, "500", "InternalError", "Internal", msg);
}

/* A bucket name: letters, digits, '-', '_', '.', not starting with '.'. */
static bool
pgl_storage_bucket_ok(const char *s, size_t n)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
	                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.";

	if (n == 0 || n > PGL_IDENT_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (strchr(ok, s[i]) == NULL || s[i] == '\0')
			return false;
	return true;
}

/*
 * An object name this server stores: non-empty '/'-separated segments of
 * letters, digits, '-', '_' and '.', none of them "." or "..". Storage
 * allows more (its isValidKey); a name outside this subset is refused as
 * Storage refuses an invalid key.
 */
static bool
pgl_storage_name_ok(const char *s)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
	                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.";
	size_t n = strlen(s), seg = 0;

	if (n == 0 || n > PGL_STORAGE_NAME_MAX)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (s[i] == '/' || s[i] == '\0') {
			if (seg == 0 || (seg == 1 && s[i - 1] == '.') ||
			    (seg == 2 && s[i - 1] == '.' && s[i - 2] == '.'))
				return false;
			seg = 0;
		} else if (strchr(ok, s[i]) == NULL) {
			return false;
		} else {
			seg++;
		}
	}
	return true;
}

/* The bucket directory of bucket[0..n); false with a reply when it is none. */
static bool
pgl_storage_bucket(const char *bucket, size_t n, char *dir, size_t cap,
    struct pgl_reply *rep)
{
	struct stat st;

	if (!pgl_storage_bucket_ok(bucket, n) ||
	    (size_t)snprintf(dir, cap, "%s/%.*s", pgl_cfg.storage_dir, (int)n,
	        bucket) >= cap ||
	    stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		pgl_storage_no_bucket(rep);
		return false;
	}
	return true;
}

/* Makes the directories of path below base (path's last segment excluded). */
static bool
pgl_storage_mkdirs(char *path, size_t base_len)
{
	for (char *p = path + base_len + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			*p = '/';
			return false;
		}
		*p = '/';
	}
	return true;
}

/* Writes len bytes to path through a temporary file and a rename. */
static bool
pgl_storage_write(const char *path, const void *data, size_t len)
{
	char tmp[PATH_MAX];
	FILE *fp;
	bool ok;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s#tmp%lu", path,
	        (unsigned long)pthread_self()) >= sizeof tmp ||
	    (fp = fopen(tmp, "wb")) == NULL)
		return false;
	ok = (len == 0 || fwrite(data, 1, len, fp) == len);
	ok = (fclose(fp) == 0) && ok;
	if (ok && rename(tmp, path) != 0)
		ok = false;
	if (!ok)
		(void)unlink(tmp);
	return ok;
}

static void
pgl_storage_upload(const struct pgl_call *call, const char *bucket, size_t blen,
    const char *name, struct pgl_reply *rep)
{
	const char *ctype = MHD_lookup_connection_value(
	    call->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *cc = MHD_lookup_connection_value(
	    call->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CACHE_CONTROL);
	const char *upsert =
	    MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, "x-upsert");
	char dir[PATH_MAX], path[PATH_MAX], meta[PATH_MAX], mdoc[512];
	char mem[PGL_ERR_MAX + 128], msg[PGL_ERR_MAX], id[40];
	unsigned char rnd[16];
	struct sbuf sb;
	struct stat st;
	FILE *ur;

	if (call->role != PGL_ROLE_SERVICE) {
		pgl_storage_error(rep, "403", "AccessDenied", "Unauthorized",
		    "new row violates row-level security policy");
		return;
	}
	if (!pgl_storage_bucket(bucket, blen, dir, sizeof dir, rep))
		return;
	if (!pgl_storage_name_ok(name)) {
		(void)snprintf(msg, sizeof msg, "Invalid key: %s", name);
		pgl_storage_error(rep, "400", "InvalidKey", "InvalidKey", msg);
		return;
	}
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >=
	        sizeof path ||
	    (size_t)snprintf(meta, sizeof meta, "%s#meta", path) >= sizeof meta) {
		pgl_storage_error(
		    rep, "400", "InvalidKey", "InvalidKey", "Invalid key");
		return;
	}
	/* Storage: the header must be exactly "true" (createObject.ts). */
	if (stat(path, &st) == 0 &&
	    (upsert == NULL || strcmp(upsert, "true") != 0)) {
		pgl_storage_error(rep, "409", "ResourceAlreadyExists",
		    "Duplicate", "The resource already exists");
		return;
	}
	/* Storage's defaults for a raw body (uploader.ts); MHD lets no
	 * newline into a header value. */
	(void)snprintf(mdoc, sizeof mdoc, "%.200s\n%.200s\n",
	    ctype != NULL ? ctype : "text/plain;charset=UTF-8",
	    cc != NULL ? cc : "no-cache");
	if (!pgl_storage_mkdirs(path, strlen(dir)) ||
	    !pgl_storage_write(meta, mdoc, strlen(mdoc)) ||
	    !pgl_storage_write(path, call->rq->body, call->rq->body_len)) {
		pgl_storage_internal(rep, "writing the object");
		return;
	}
	/* A fresh Id per upload, as a new object row has. */
	if ((ur = fopen("/dev/urandom", "rb")) == NULL ||
	    fread(rnd, 1, sizeof rnd, ur) != sizeof rnd) {
		if (ur != NULL)
			(void)fclose(ur);
		pgl_storage_internal(rep, "/dev/urandom");
		return;
	}
	(void)fclose(ur);
	rnd[6] = (unsigned char)((rnd[6] & 0x0f) | 0x40);
	rnd[8] = (unsigned char)((rnd[8] & 0x3f) | 0x80);
	(void)snprintf(id, sizeof id,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x",
	    rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7],
	    rnd[8], rnd[9], rnd[10], rnd[11], rnd[12], rnd[13], rnd[14],
	    rnd[15]);
	sb_init(&sb, mem, sizeof mem);
	sb_puts(&sb, "{\"Id\":");
	sb_json_str(&sb, id);
	sb_puts(&sb, ",\"Key\":\"");
	sb_putn(&sb, bucket, blen);
	sb_puts(&sb, "/");
	sb_puts(&sb, name);
	sb_puts(&sb, "\"}");
	pgl_reply_set(rep, MHD_HTTP_OK, PGL_JSON, sb.p, sb.len);
}

/* Reads the sidecar of path: its Content-Type and Cache-Control lines. */
static void
pgl_storage_meta(const char *path, char *ctype, size_t ccap, char *cc,
    size_t cccap)
{
	char meta[PATH_MAX], doc[512];
	FILE *fp;
	size_t n = 0;
	char *nl;

	(void)snprintf(ctype, ccap, "application/octet-stream");
	(void)snprintf(cc, cccap, "no-cache");
	if ((size_t)snprintf(meta, sizeof meta, "%s#meta", path) >= sizeof meta ||
	    (fp = fopen(meta, "rb")) == NULL)
		return;
	n = fread(doc, 1, sizeof doc - 1, fp);
	(void)fclose(fp);
	doc[n] = '\0';
	if ((nl = strchr(doc, '\n')) == NULL)
		return;
	*nl = '\0';
	/* Cut to fit, as the header it becomes would be. */
	n = strnlen(doc, ccap - 1);
	memcpy(ctype, doc, n);
	ctype[n] = '\0';
	if ((n = strcspn(nl + 1, "\n")) > 0)
		(void)snprintf(cc, cccap, "%.*s", (int)n, nl + 1);
}

static void
pgl_storage_get(const char *bucket, size_t blen, const char *name,
    struct pgl_reply *rep)
{
	char dir[PATH_MAX], path[PATH_MAX], cc[128];
	struct stat st;
	struct tm tm;
	char *data = NULL;
	FILE *fp = NULL;

	if (!pgl_storage_bucket(bucket, blen, dir, sizeof dir, rep))
		return;
	if (!pgl_storage_name_ok(name) ||
	    (size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >=
	        sizeof path ||
	    stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > PGL_BODY_MAX) {
		pgl_storage_no_key(rep);
		return;
	}
	if ((fp = fopen(path, "rb")) == NULL) {
		pgl_storage_no_key(rep); /* deleted meanwhile */
		goto out;
	}
	if ((data = malloc((size_t)st.st_size + 1)) == NULL ||
	    fread(data, 1, (size_t)st.st_size, fp) != (size_t)st.st_size) {
		pgl_storage_internal(rep, "reading the object");
		goto out;
	}
	pgl_reply_set(rep, MHD_HTTP_OK, NULL, data, (size_t)st.st_size);
	pgl_storage_meta(path, rep->ctype_mem, sizeof rep->ctype_mem, cc,
	    sizeof cc);
	rep->content_type = rep->ctype_mem;
	(void)snprintf(rep->cache_control, sizeof rep->cache_control, "%s", cc);
	if (gmtime_r(&st.st_mtime, &tm) != NULL)
		(void)strftime(rep->last_modified, sizeof rep->last_modified,
		    "%a, %d %b %Y %H:%M:%S GMT", &tm);
out:
	if (fp != NULL)
		(void)fclose(fp);
	free(data);
}

/* Skips JSON white space. */
static const char *
pgl_json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

/*
 * Reads a JSON string at p (just past its opening quote) into out (cap);
 * returns the position after the closing quote, NULL when it is malformed,
 * too long, or holds an escape other than \" \\ \/ (none of which a name
 * here needs).
 */
static const char *
pgl_json_string(const char *p, char *out, size_t cap)
{
	size_t n = 0;

	for (; *p != '"'; p++) {
		if (*p == '\0' || (unsigned char)*p < 0x20 || n + 1 >= cap)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p != '"' && *p != '\\' && *p != '/')
				return NULL;
		}
		out[n++] = *p;
	}
	out[n] = '\0';
	return p + 1;
}

static void
pgl_storage_bad_body(struct pgl_reply *rep, const char *message)
{
	pgl_storage_error(rep, "400", "InvalidRequest", "Bad Request", message);
}

static void
pgl_storage_delete(const struct pgl_call *call, const char *bucket,
    size_t blen, struct pgl_reply *rep)
{
	char dir[PATH_MAX], path[PATH_MAX], name[PGL_STORAGE_NAME_MAX + 1];
	char *mem = NULL;
	const char *p = call->rq->body;
	struct sbuf sb = {.p = NULL};
	size_t count = 0;
	bool first = true;

	if (call->role != PGL_ROLE_SERVICE) {
		pgl_storage_error(rep, "403", "AccessDenied", "Unauthorized",
		    "Access denied");
		return;
	}
	if (!pgl_storage_bucket(bucket, blen, dir, sizeof dir, rep))
		return;
	/* {"prefixes": ["name", ...]}: the first pass checks, the second
	 * deletes, so a bad body deletes nothing. */
	for (int pass = 0; pass < 2; pass++) {
		p = pgl_json_ws(call->rq->body != NULL ? call->rq->body : "");
		if (*p != '{') {
			pgl_storage_bad_body(rep, "body must be object");
			goto out;
		}
		p = pgl_json_ws(p + 1);
		if (strncmp(p, "\"prefixes\"", 10) != 0) {
			pgl_storage_bad_body(
			    rep, "body must have required property 'prefixes'");
			goto out;
		}
		p = pgl_json_ws(p + 10);
		if (*p != ':' || *(p = pgl_json_ws(p + 1)) != '[') {
			pgl_storage_bad_body(rep, "body/prefixes must be array");
			goto out;
		}
		p = pgl_json_ws(p + 1);
		if (*p == ']') {
			pgl_storage_bad_body(rep,
			    "body/prefixes must NOT have fewer than 1 items");
			goto out;
		}
		if (pass == 1) {
			if ((mem = malloc(PGL_DOC_MAX * 8)) == NULL) {
				pgl_storage_internal(rep, "memory");
				goto out;
			}
			sb_init(&sb, mem, PGL_DOC_MAX * 8);
			sb_puts(&sb, "[");
		}
		for (count = 0;; count++) {
			if (*p != '"' ||
			    (p = pgl_json_string(p + 1, name, sizeof name)) == NULL) {
				pgl_storage_bad_body(
				    rep, "body/prefixes must be array of strings");
				goto out;
			}
			if (count >= PGL_STORAGE_DELETE_MAX) {
				pgl_storage_bad_body(rep,
				    "body/prefixes must NOT have more than 1000 "
				    "items");
				goto out;
			}
			/* Storage deletes what exists and lists it. */
			if (pass == 1 && pgl_storage_name_ok(name) &&
			    (size_t)snprintf(path, sizeof path, "%s/%s", dir,
			        name) < sizeof path &&
			    unlink(path) == 0) {
				(void)strncat(path, "#meta",
				    sizeof path - strlen(path) - 1);
				(void)unlink(path);
				sb_puts(&sb, first ? "{" : ",{");
				first = false;
				sb_puts(&sb, "\"bucket_id\":\"");
				sb_putn(&sb, bucket, blen);
				sb_puts(&sb, "\",\"name\":");
				sb_json_str(&sb, name);
				sb_puts(&sb, "}");
			}
			p = pgl_json_ws(p);
			if (*p == ']')
				break;
			if (*p != ',') {
				pgl_storage_bad_body(
				    rep, "body/prefixes must be array");
				goto out;
			}
			p = pgl_json_ws(p + 1);
		}
		p = pgl_json_ws(p + 1);
		if (*p != '}' || *pgl_json_ws(p + 1) != '\0') {
			pgl_storage_bad_body(
			    rep, "body must NOT have additional properties");
			goto out;
		}
	}
	sb_puts(&sb, "]");
	if (sb.overflow)
		pgl_storage_internal(rep, "reply too long");
	else
		pgl_reply_set(rep, MHD_HTTP_OK, PGL_JSON, sb.p, sb.len);
out:
	free(mem);
}

/* Routes /storage/v1/object/...; every other /storage path is a 404. */
static void
pgl_storage(const struct pgl_call *in, struct pgl_reply *rep)
{
	/* The gateway's answer and Fastify's, for paths nothing serves. */
	static const char no_route[] =
	    "{\"message\":\"no Route matched with those values\"}";
	static const char not_found[] =
	    "{\"message\":\"Route not found\",\"error\":\"Not Found\","
	    "\"statusCode\":404}";
	struct pgl_call call = *in;
	const char *rest = call.path + strlen(PGL_STORAGE_PREFIX), *slash;
	bool get = strcmp(call.method, "GET") == 0 ||
	    strcmp(call.method, "HEAD") == 0;
	bool pub = strncmp(rest, "public/", 7) == 0;

	if (pgl_cfg.storage_dir == NULL ||
	    strncmp(call.path, PGL_STORAGE_PREFIX, strlen(PGL_STORAGE_PREFIX)) != 0) {
		pgl_reply_set(rep, MHD_HTTP_NOT_FOUND, PGL_JSON, no_route,
		    sizeof no_route - 1);
		return;
	}
	/* A public object needs no key; anything else goes through the gateway. */
	if (pub && get) {
		rest += 7;
		if ((slash = strchr(rest, '/')) == NULL) {
			pgl_storage_no_key(rep);
			return;
		}
		pgl_storage_get(rest, (size_t)(slash - rest), slash + 1, rep);
		return;
	}
	if (!pgl_auth(call.conn, &call.role, rep))
		return;
	slash = strchr(rest, '/');
	if (strcmp(call.method, "DELETE") == 0 && slash == NULL) {
		pgl_storage_delete(&call, rest, strlen(rest), rep);
		return;
	}
	if (slash != NULL && strcmp(call.method, "POST") == 0) {
		pgl_storage_upload(&call, rest, (size_t)(slash - rest), slash + 1, rep);
		return;
	}
	if (slash != NULL && get) {
		if (call.role != PGL_ROLE_SERVICE) /* no policy lets anon read */
			pgl_storage_no_key(rep);
		else
			pgl_storage_get(rest, (size_t)(slash - rest), slash + 1, rep);
		return;
	}
	pgl_reply_set(rep, MHD_HTTP_NOT_FOUND, PGL_JSON, not_found,
	    sizeof not_found - 1);
}

/*
 * GET / (the service key): PostgREST's OpenAPI 2.0 description of schema
 * public as the request's role sees it (PostgREST's default openapi-mode,
 * follow-privileges): a path per table or view it may use, with the table's
 * columns in definitions (format: the column's type; required: the NOT NULL
 * ones), and /rpc/NAME per function it may execute (post, and get unless
 * volatile; the body's properties are the IN arguments, format their type).
 * A subset of PostgREST's document, as one query; $1 is the Host header.
 */
static const char pgl_openapi_sql[] =
    "with tab as ( "
    " select c.oid, c.relname::text as name, "
    "  pg_catalog.obj_description(c.oid, 'pg_class') as descr, "
    "  pg_catalog.has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE') "
    "   as writable "
    " from pg_catalog.pg_class c "
    " where c.relnamespace = 'public'::pg_catalog.regnamespace "
    "  and c.relkind in ('r', 'v', 'm', 'f', 'p') "
    "  and (pg_catalog.has_table_privilege(c.oid, "
    "    'SELECT, INSERT, UPDATE, DELETE') "
    "   or pg_catalog.has_any_column_privilege(c.oid, "
    "    'SELECT, INSERT, UPDATE')) "
    "), col as ( "
    " select t.name, a.attnum, a.attname::text as col, a.attnotnull, "
    "  pg_catalog.format_type(a.atttypid, a.atttypmod) as type, "
    "  pg_catalog.col_description(t.oid, a.attnum) as descr, "
    "  exists (select from pg_catalog.pg_index i where i.indrelid = t.oid "
    "   and i.indisprimary and a.attnum = any (i.indkey)) as pk "
    " from tab t join pg_catalog.pg_attribute a "
    "  on a.attrelid = t.oid and a.attnum > 0 and not a.attisdropped "
    "), fn as ( "
    " select p.oid, p.proname::text as name, p.provolatile, "
    "  pg_catalog.obj_description(p.oid, 'pg_proc') as descr "
    " from pg_catalog.pg_proc p "
    " where p.pronamespace = 'public'::pg_catalog.regnamespace "
    "  and p.prokind = 'f' "
    "  and p.prorettype <> 'pg_catalog.trigger'::pg_catalog.regtype "
    "  and pg_catalog.has_function_privilege(p.oid, 'EXECUTE') "
    "), arg as ( "
    " select f.name, a.ord, a.argname::text as argname, "
    "  pg_catalog.format_type(a.argtype, null) as type, "
    "  a.ord <= p.pronargs - p.pronargdefaults as required "
    " from fn f join pg_catalog.pg_proc p on p.oid = f.oid "
    " cross join lateral rows from (pg_catalog.unnest(p.proargnames), "
    "  pg_catalog.unnest(coalesce(p.proallargtypes, "
    "   p.proargtypes::pg_catalog.oid[])), "
    "  pg_catalog.unnest(p.proargmodes)) with ordinality "
    "  as a(argname, argtype, mode, ord) "
    " where coalesce(a.mode, 'i') in ('i', 'b', 'v') and a.argname <> '' "
    "), tpath as ( "
    " select '/' || t.name as path, pg_catalog.jsonb_build_object('get', "
    "  pg_catalog.jsonb_build_object( "
    "   'tags', pg_catalog.jsonb_build_array(t.name), "
    "   'responses', pg_catalog.jsonb_build_object('200', "
    "    pg_catalog.jsonb_build_object('description', 'OK', "
    "     'schema', pg_catalog.jsonb_build_object('type', 'array', 'items', "
    "      pg_catalog.jsonb_build_object('$ref', "
    "       '#/definitions/' || t.name)))))) "
    "  || case when t.writable then pg_catalog.jsonb_build_object( "
    "   'post', pg_catalog.jsonb_build_object( "
    "    'tags', pg_catalog.jsonb_build_array(t.name), "
    "    'responses', '{\"201\": {\"description\": \"Created\"}}'::jsonb), "
    "   'patch', pg_catalog.jsonb_build_object( "
    "    'tags', pg_catalog.jsonb_build_array(t.name), "
    "    'responses', '{\"204\": {\"description\": \"No Content\"}}'::jsonb), "
    "   'delete', pg_catalog.jsonb_build_object( "
    "    'tags', pg_catalog.jsonb_build_array(t.name), "
    "    'responses', '{\"204\": {\"description\": \"No Content\"}}'::jsonb)) "
    "   else '{}' end as item "
    " from tab t "
    "), fpath as ( "
    " select '/rpc/' || f.name as path, "
    "  case when f.provolatile <> 'v' then "
    "   pg_catalog.jsonb_build_object('get', "
    "   pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object( "
    "    'tags', pg_catalog.jsonb_build_array('(rpc) ' || f.name), "
    "    'summary', f.descr, "
    "    'parameters', coalesce((select pg_catalog.jsonb_agg( "
    "      pg_catalog.jsonb_build_object('name', a.argname, 'in', 'query', "
    "       'required', a.required, 'type', 'string', 'format', a.type) "
    "      order by a.ord) from arg a where a.name = f.name), '[]'), "
    "    'responses', '{\"200\": {\"description\": \"OK\"}}'::jsonb))) "
    "   else '{}' end "
    "  || pg_catalog.jsonb_build_object('post', "
    "   pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object( "
    "    'tags', pg_catalog.jsonb_build_array('(rpc) ' || f.name), "
    "    'summary', f.descr, "
    "    'produces', pg_catalog.jsonb_build_array('application/json', "
    "     'application/vnd.pgrst.object+json'), "
    "    'parameters', pg_catalog.jsonb_build_array( "
    "     pg_catalog.jsonb_build_object( "
    "     'name', 'args', 'in', 'body', 'required', true, "
    "     'schema', pg_catalog.jsonb_build_object('type', 'object', "
    "      'properties', coalesce((select "
    "        pg_catalog.jsonb_object_agg(a.argname, "
    "        pg_catalog.jsonb_build_object('format', a.type)) "
    "       from arg a where a.name = f.name), '{}'), "
    "      'required', coalesce((select pg_catalog.jsonb_agg(a.argname "
    "        order by a.ord) from arg a where a.name = f.name and a.required), "
    "       '[]')))), "
    "    'responses', '{\"200\": {\"description\": \"OK\"}}'::jsonb))) as item "
    " from fn f "
    "), prop as ( "
    " select c.name, c.attnum, c.col, c.attnotnull, "
    "  pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object( "
    "   'format', c.type, "
    "   'type', case when c.type like '%[]' then 'array' "
    "    when c.type in ('json', 'jsonb') then null "
    "    when c.type = 'boolean' then 'boolean' "
    "    when c.type in ('smallint', 'integer', 'bigint') then 'integer' "
    "    when c.type in ('real', 'double precision') "
    "     or c.type like 'numeric%' then 'number' "
    "    else 'string' end, "
    "   'description', case when c.pk then coalesce(c.descr || E'\\n\\n', '') "
    "     || E'Note:\\nThis is a Primary Key.<pk/>' else c.descr end)) as item "
    " from col c "
    ") "
    "select pg_catalog.jsonb_build_object( "
    " 'swagger', '2.0', "
    " 'info', pg_catalog.jsonb_build_object('title', 'PostgREST API', "
    "  'version', 'pgrest-lite', 'description', coalesce( "
    "   pg_catalog.obj_description('public'::pg_catalog.regnamespace, "
    "    'pg_namespace'), 'A PostgREST-compatible API (pgrest-lite)')), "
    " 'host', $1::text, 'basePath', '/', "
    " 'schemes', pg_catalog.jsonb_build_array('http'), "
    " 'consumes', pg_catalog.jsonb_build_array('application/json', "
    "  'application/vnd.pgrst.object+json'), "
    " 'produces', pg_catalog.jsonb_build_array('application/json', "
    "  'application/vnd.pgrst.object+json'), "
    " 'paths', pg_catalog.jsonb_build_object('/', "
    "  pg_catalog.jsonb_build_object( "
    "  'get', pg_catalog.jsonb_build_object( "
    "   'tags', pg_catalog.jsonb_build_array('Introspection'), "
    "   'summary', 'OpenAPI description (this document)', "
    "   'produces', pg_catalog.jsonb_build_array('application/openapi+json', "
    "    'application/json'), "
    "   'responses', '{\"200\": {\"description\": \"OK\"}}'::jsonb))) "
    "  || coalesce((select pg_catalog.jsonb_object_agg(p.path, p.item) "
    "   from (select * from tpath union all select * from fpath) p), '{}'), "
    " 'definitions', coalesce((select pg_catalog.jsonb_object_agg(t.name, "
    "  pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object( "
    "   'description', t.descr, 'type', 'object', "
    "   'required', coalesce((select pg_catalog.jsonb_agg(p.col "
    "     order by p.attnum) "
    "    from prop p where p.name = t.name and p.attnotnull), '[]'), "
    "   'properties', coalesce((select "
    "     pg_catalog.jsonb_object_agg(p.col, p.item) "
    "    from prop p where p.name = t.name), '{}')))) "
    "  from tab t), '{}'))::text";

static void
pgl_openapi(const struct pgl_call *call, struct pgl_reply *rep)
{
	const char *host = MHD_lookup_connection_value(
	    call->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	char shown[256];
	const char *params[] = {shown};
	PGconn *conn;
	PGresult *res = NULL;
	bool ok = false;

	/*
	 * Supabase serves the description for an admin key only; its
	 * self-hosted gateway (Kong's ACL) refuses anything else so.
	 */
	if (call->role != PGL_ROLE_SERVICE) {
		pgl_reply_gateway(rep, MHD_HTTP_FORBIDDEN,
		    "You cannot consume this service", NULL);
		return;
	}
	if (pgl_cfg.no_openapi) {
		pgl_reply_error(rep, MHD_HTTP_NOT_FOUND, "PGRST126",
		    "Root endpoint metadata is disabled", NULL, NULL);
		return;
	}
	pgl_ascii_copy(shown, sizeof shown, host != NULL ? host : "localhost");
	conn = pgl_tx_begin(call, true, rep);
	if (conn == NULL)
		return;
	res = PQexecParams(conn, pgl_openapi_sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pgl_reply_pg_error(rep, conn, res, call->role);
		goto out;
	}
	ok = true;
	pgl_reply_set(rep, MHD_HTTP_OK, PGL_OPENAPI, PQgetvalue(res, 0, 0),
	    (size_t)PQgetlength(res, 0, 0));
out:
	pgl_tx_end(conn, ok, call->role, rep);
	PQclear(res);
}

static const struct pgl_route {
	const char *prefix; /* the path is prefix + identifier */
	const char *methods[2];
	void (*handler)(const struct pgl_call *, struct pgl_reply *);
} pgl_routes[] = {
    {.prefix = "/rpc/", .methods = {"POST"}, .handler = pgl_rpc},
    {.prefix = "/", .methods = {"GET", "HEAD"}, .handler = pgl_table_get},
};

static void
pgl_dispatch(struct MHD_Connection *c, const char *method, const char *path,
    const struct pgl_request *rq, struct pgl_reply *rep)
{
	struct pgl_call call = {
	    .conn = c, .method = method, .path = path, .rq = rq};
	char msg[PGL_ERR_MAX];

	if (strncmp(path, "/storage/", 9) == 0) {
		pgl_storage(&call, rep);
		return;
	}
	if (!pgl_auth(c, &call.role, rep))
		return;
	if (strcmp(path, "/") == 0) {
		if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
			pgl_openapi(&call, rep);
			return;
		}
		(void)snprintf(
		    msg, sizeof msg, "Unsupported HTTP method: %s", method);
		pgl_reply_error(rep, MHD_HTTP_METHOD_NOT_ALLOWED, "PGRST117",
		    msg, NULL, NULL);
		return;
	}
	for (size_t i = 0; i < sizeof pgl_routes / sizeof pgl_routes[0]; i++) {
		const struct pgl_route *route = &pgl_routes[i];
		size_t plen = strlen(route->prefix);

		if (strncmp(path, route->prefix, plen) != 0 ||
		    !pgl_is_ident(path + plen, strlen(path + plen)))
			continue;
		call.name = path + plen;
		for (size_t m = 0; m < 2; m++) {
			if (route->methods[m] != NULL &&
			    strcmp(method, route->methods[m]) == 0) {
				route->handler(&call, rep);
				return;
			}
		}
		(void)snprintf(
		    msg, sizeof msg, "Unsupported HTTP method: %s", method);
		pgl_reply_error(rep, MHD_HTTP_METHOD_NOT_ALLOWED, "PGRST117",
		    msg, NULL, NULL);
		return;
	}
	pgl_reply_error(rep, MHD_HTTP_NOT_FOUND, "PGRST125",
	    "Invalid path specified in request URL", NULL, NULL);
}

/* Collects header names, lower-cased and comma-separated, into an sbuf. */
static enum MHD_Result
pgl_header_name(
    void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct sbuf *sb = cls;
	char name[64];

	(void)kind;
	(void)value;
	pgl_ascii_copy(name, sizeof name, key);
	for (char *p = name; *p != '\0'; p++)
		*p = (char)(*p == ',' ? '?' : tolower((unsigned char)*p));
	if (sb->len > 0)
		sb_puts(sb, ",");
	sb_puts(sb, name);
	return MHD_YES;
}

static void
pgl_log(struct MHD_Connection *c, const char *method, const char *path,
    unsigned status, const struct timespec *start)
{
	char m[32], p[256], hmem[512];
	struct sbuf headers;
	struct timespec now;
	long long us;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	us = (long long)(now.tv_sec - start->tv_sec) * 1000000 +
	    (now.tv_nsec - start->tv_nsec) / 1000;
	pgl_ascii_copy(m, sizeof m, method);
	pgl_ascii_copy(p, sizeof p, path);
	sb_init(&headers, hmem, sizeof hmem);
	if (pgl_cfg.log_headers)
		(void)MHD_get_connection_values(
		    c, MHD_HEADER_KIND, pgl_header_name, &headers);
	fprintf(stderr,
	    "pgrest-lite method=%s path=%s status=%u us=%lld%s%s%s\n", m, p,
	    status, us, pgl_cfg.log_headers ? " headers=" : "",
	    pgl_cfg.log_headers ? headers.p : "",
	    headers.overflow ? ",..." : "");
	fflush(stderr);
}

/* Hands the reply to MHD (which takes its body), and logs the request. */
static enum MHD_Result
pgl_send(struct MHD_Connection *c, const char *method, const char *path,
    const struct pgl_request *rq, struct pgl_reply *rep)
{
	struct MHD_Response *resp;
	enum MHD_Result ret = MHD_NO;

	resp = MHD_create_response_from_buffer(
	    rep->body_len, rep->body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		goto out;
	rep->body = NULL; /* owned by resp now */
	if (rep->content_type != NULL &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	        rep->content_type) != MHD_YES)
		goto out;
	if (rep->content_range[0] != '\0' &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE,
	        rep->content_range) != MHD_YES)
		goto out;
	if (rep->last_modified[0] != '\0' &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED,
	        rep->last_modified) != MHD_YES)
		goto out;
	if (rep->cache_control[0] != '\0' &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	        rep->cache_control) != MHD_YES)
		goto out;
	ret = MHD_queue_response(c, rep->status, resp);
out:
	if (resp != NULL)
		MHD_destroy_response(resp);
	free(rep->body);
	rep->body = NULL;
	pgl_log(c, method, path, rep->status, &rq->start);
	return ret;
}

/* Appends a chunk of the body; past PGL_BODY_MAX the body is dropped. */
static void
pgl_body_append(struct pgl_request *rq, const char *data, size_t n)
{
	size_t cap;
	char *p;

	if (rq->too_big || rq->no_memory)
		return;
	if (n > (size_t)PGL_BODY_MAX - rq->body_len) {
		rq->too_big = true;
		goto drop;
	}
	if (rq->body_len + n + 1 > rq->body_cap) {
		cap = rq->body_cap != 0 ? rq->body_cap : 4096;
		while (cap < rq->body_len + n + 1)
			cap *= 2;
		p = realloc(rq->body, cap);
		if (p == NULL) {
			rq->no_memory = true;
			goto drop;
		}
		rq->body = p;
		rq->body_cap = cap;
	}
	memcpy(rq->body + rq->body_len, data, n);
	rq->body_len += n;
	rq->body[rq->body_len] = '\0';
	return;
drop:
	free(rq->body);
	rq->body = NULL;
	rq->body_len = rq->body_cap = 0;
}

static void
pgl_sleep_ms(long ms)
{
	struct timespec ts = {
	    .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * --delay-ms must not hold up the other connections of a worker thread, so a
 * delayed connection is suspended and a short-lived thread resumes it. At
 * shutdown main sets pgl_stopping and waits for pgl_delays to drop to zero
 * before MHD frees the connections; later requests sleep inline instead.
 */
static pthread_mutex_t pgl_delay_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pgl_delay_done = PTHREAD_COND_INITIALIZER;
static unsigned pgl_delays;
static bool pgl_stopping;

static void *
pgl_delay_thread(void *conn)
{
	pgl_sleep_ms(pgl_cfg.delay_ms);
	(void)pthread_mutex_lock(&pgl_delay_lock);
	MHD_resume_connection(conn);
	pgl_delays--;
	(void)pthread_cond_signal(&pgl_delay_done);
	(void)pthread_mutex_unlock(&pgl_delay_lock);
	return NULL;
}

/* Suspends c for --delay-ms; false if the caller must sleep instead. */
static bool
pgl_delay_start(struct MHD_Connection *c)
{
	pthread_attr_t attr;
	pthread_t thread;
	bool started = false;

	if (pthread_attr_init(&attr) != 0)
		return false;
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Under the lock: the thread cannot resume c before it is suspended. */
	(void)pthread_mutex_lock(&pgl_delay_lock);
	if (!pgl_stopping &&
	    pthread_create(&thread, &attr, pgl_delay_thread, c) == 0) {
		MHD_suspend_connection(c);
		pgl_delays++;
		started = true;
	}
	(void)pthread_mutex_unlock(&pgl_delay_lock);
	(void)pthread_attr_destroy(&attr);
	return started;
}

static void
pgl_reply_too_big(struct pgl_reply *rep)
{
	char details[128];

	(void)snprintf(details, sizeof details,
	    "pgrest-lite accepts bodies of up to %ld bytes", PGL_BODY_MAX);
	pgl_reply_error(rep, 413, NULL, "Payload Too Large", details, NULL);
}

static enum MHD_Result
pgl_access(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **req_cls)
{
	struct pgl_request *rq = *req_cls;
	struct pgl_reply rep = {.status = MHD_HTTP_INTERNAL_SERVER_ERROR};
	const char *clen;
	long n;

	(void)cls;
	(void)version;
	if (rq == NULL) { /* headers are in; the body, if any, comes next */
		rq = calloc(1, sizeof *rq);
		if (rq == NULL)
			return MHD_NO;
		(void)clock_gettime(CLOCK_MONOTONIC, &rq->start);
		*req_cls = rq;
		clen = MHD_lookup_connection_value(
		    c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen == NULL ||
		    !pgl_parse_long(clen, PGL_BODY_MAX + 1, LONG_MAX, &n))
			return MHD_YES;
		rq->too_big = true; /* refuse before reading the body */
		rq->replied = true;
		pgl_reply_too_big(&rep);
		return pgl_send(c, method, url, rq, &rep);
	}
	if (rq->replied) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size != 0) {
		pgl_body_append(rq, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (pgl_cfg.delay_ms > 0 && !rq->delayed) {
		rq->delayed = true;
		if (pgl_delay_start(c))
			return MHD_YES; /* called again once resumed */
		pgl_sleep_ms(pgl_cfg.delay_ms);
	}
	if (rq->too_big)
		pgl_reply_too_big(&rep);
	else if (rq->no_memory)
		pgl_reply_error(&rep, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
		    "out of memory", NULL, NULL);
	else
		pgl_dispatch(c, method, url, rq, &rep);
	return pgl_send(c, method, url, rq, &rep);
}

static void
pgl_completed(void *cls, struct MHD_Connection *c, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct pgl_request *rq = *req_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (rq != NULL) {
		free(rq->body);
		free(rq);
		*req_cls = NULL;
	}
}

/* Reads a key file into key (PGL_KEY_MAX), trimmed; false after a message. */
static bool
pgl_read_key(const char *file, const char *what, char *key)
{
	char buf[PGL_KEY_MAX + 1];
	const char *ws = " \t\r\n";
	FILE *fp = fopen(file, "r");
	size_t n, start;
	bool ok = false;

	if (fp == NULL) {
		fprintf(stderr, "pgrest-lite: cannot read %s %s: %s\n", what,
		    file, strerror(errno));
		goto out;
	}
	n = fread(buf, 1, sizeof buf, fp);
	if (ferror(fp) || n == sizeof buf) {
		fprintf(stderr, "pgrest-lite: cannot read %s %s: %s\n", what,
		    file,
		    n == sizeof buf ? "larger than 4096 bytes"
		                    : strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	while (n > 0 && strchr(ws, buf[n - 1]) != NULL)
		buf[--n] = '\0';
	start = strspn(buf, ws);
	if (start == n || strlen(buf) != n) {
		fprintf(stderr, "pgrest-lite: %s %s is empty or binary\n", what,
		    file);
		goto out;
	}
	memcpy(key, buf + start, n - start + 1);
	ok = true;
out:
	if (fp != NULL)
		(void)fclose(fp);
	return ok;
}

static bool
pgl_parse_listen(const char *s, struct sockaddr_in *sa)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	long port;

	if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof host ||
	    !pgl_parse_long(colon + 1, 1, 65535, &port))
		return false;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1;
}

/* Refuses a --db libpq cannot parse (the database itself may be down yet). */
static bool
pgl_check_db(const char *uri)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(uri, &err);

	if (opts == NULL) {
		fprintf(stderr, "pgrest-lite: bad --db: %s",
		    err != NULL ? err : "out of memory\n");
		PQfreemem(err);
		return false;
	}
	PQconninfoFree(opts);
	return true;
}

static const char pgl_usage[] =
    "usage: pgrest-lite --listen 127.0.0.1:PORT --db URI\n"
    "                   --service-key-file FILE [--anon-key-file FILE]\n"
    "                   [--delay-ms N] [--threads N] [--log-headers]\n"
    "                   [--storage-dir DIR] [--no-openapi]\n";

/* Fills pgl_cfg from argv: 0 to run, 1 after --help, -1 after an error. */
static int
pgl_parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"db", required_argument, NULL, 'd'},
	    {"service-key-file", required_argument, NULL, 's'},
	    {"anon-key-file", required_argument, NULL, 'a'},
	    {"delay-ms", required_argument, NULL, 'w'},
	    {"threads", required_argument, NULL, 't'},
	    {"log-headers", no_argument, NULL, 'H'},
	    {"storage-dir", required_argument, NULL, 'S'},
	    {"no-openapi", no_argument, NULL, 'O'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *listen_at = NULL, *service_file = NULL, *anon_file = NULL;
	int opt;

	pgl_cfg.threads = 8;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			listen_at = optarg;
			break;
		case 'd':
			pgl_cfg.db_uri = optarg;
			break;
		case 's':
			service_file = optarg;
			break;
		case 'a':
			anon_file = optarg;
			break;
		case 'w':
			if (!pgl_parse_long(
			        optarg, 0, 600000, &pgl_cfg.delay_ms)) {
				fputs("pgrest-lite: --delay-ms must be "
				      "0..600000\n", stderr);
				return -1;
			}
			break;
		case 't':
			if (!pgl_parse_long(optarg, 1, 256, &pgl_cfg.threads)) {
				fprintf(stderr,
				    "pgrest-lite: --threads must be 1..256\n");
				return -1;
			}
			break;
		case 'H':
			pgl_cfg.log_headers = true;
			break;
		case 'S':
			pgl_cfg.storage_dir = optarg;
			break;
		case 'O':
			pgl_cfg.no_openapi = true;
			break;
		case 'h':
			fputs(pgl_usage, stdout);
			return 1;
		default:
			fputs(pgl_usage, stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "pgrest-lite: unexpected argument %s\n%s",
		    argv[optind], pgl_usage);
		return -1;
	}
	if (listen_at == NULL || pgl_cfg.db_uri == NULL ||
	    service_file == NULL) {
		fprintf(stderr, "pgrest-lite: --listen, --db and "
				"--service-key-file are required\n%s",
		    pgl_usage);
		return -1;
	}
	if (!pgl_check_db(pgl_cfg.db_uri))
		return -1;
	if (!pgl_parse_listen(listen_at, &pgl_cfg.listen)) {
		fprintf(stderr,
		    "pgrest-lite: --listen wants IPV4ADDRESS:PORT, not %s\n",
		    listen_at);
		return -1;
	}
	if (!pgl_read_key(
	        service_file, "service key file", pgl_cfg.service_key))
		return -1;
	if (anon_file != NULL &&
	    !pgl_read_key(anon_file, "anon key file", pgl_cfg.anon_key))
		return -1;
	if (strcmp(pgl_cfg.anon_key, pgl_cfg.service_key) == 0) {
		fputs("pgrest-lite: the anon key must differ from the "
		      "service key\n", stderr);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct MHD_Daemon *mhd = NULL;
	sigset_t stop;
	bool have_key = false;
	int sig, status = EXIT_FAILURE;

	switch (pgl_parse_args(argc, argv)) {
	case 1:
		return EXIT_SUCCESS;
	case 0:
		break;
	default:
		return 2;
	}

	/* Blocked here and so in every MHD thread: only sigwait() sees them. */
	(void)sigemptyset(&stop);
	(void)sigaddset(&stop, SIGINT);
	(void)sigaddset(&stop, SIGTERM);
	if (pthread_sigmask(SIG_BLOCK, &stop, NULL) != 0 ||
	    signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		fprintf(stderr, "pgrest-lite: cannot set up signals\n");
		goto out;
	}
	/* Each worker thread's connection is closed when the thread ends. */
	if (pthread_key_create(&pgl_conn_key, pgl_conn_free) != 0) {
		fprintf(stderr, "pgrest-lite: pthread_key_create failed\n");
		goto out;
	}
	have_key = true;

	mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD |
	        MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME,
	    ntohs(pgl_cfg.listen.sin_port), NULL, NULL, pgl_access, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&pgl_cfg.listen,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)pgl_cfg.threads,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
	    MHD_OPTION_NOTIFY_COMPLETED, pgl_completed, NULL, MHD_OPTION_END);
	if (mhd == NULL) {
		fprintf(stderr, "pgrest-lite: cannot listen on port %u\n",
		    ntohs(pgl_cfg.listen.sin_port));
		goto out;
	}
	fprintf(stderr, "pgrest-lite: listening on port %u, %ld threads\n",
	    ntohs(pgl_cfg.listen.sin_port), pgl_cfg.threads);

	if (sigwait(&stop, &sig) != 0)
		goto out;
	status = EXIT_SUCCESS;
out:
	if (mhd != NULL) {
		(void)pthread_mutex_lock(&pgl_delay_lock);
		pgl_stopping = true;
		while (pgl_delays > 0)
			(void)pthread_cond_wait(
			    &pgl_delay_done, &pgl_delay_lock);
		(void)pthread_mutex_unlock(&pgl_delay_lock);
		MHD_stop_daemon(mhd);
	}
	if (have_key)
		(void)pthread_key_delete(pgl_conn_key);
	return status;
}

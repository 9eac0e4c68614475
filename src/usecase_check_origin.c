/* The origin's preflight: what profilecache needs of the database. */
#include "autoconf.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "origin.h"
#include "usecase_check_origin.h"

/* In table order, as schema/postgres/10_profiles.sql makes them. */
static const struct {
	const char *name;
	const char *type;
} columns[CHECK_NCOLUMNS] = {
	{ "id", "uuid" },
	{ "username", "text" },
	{ "display_name", "text" },
	{ "bio", "text" },
	{ "avatar_url", "text" },
	{ "gradient", "text" },
	{ "is_private", "boolean" },
	{ "created_at", "timestamp with time zone" },
	{ "updated_at", "timestamp with time zone" },
	{ "field_versions", "jsonb" },
};

#define FIX_SCHEMA \
	"load schema/postgres/10_profiles.sql, 20_policies.sql, 30_apply.sql and " \
	"40_changes.sql, in that order, into the database as the table's owner " \
	"(Supabase: the SQL editor or psql); 10_profiles.sql adds what an " \
	"existing table lacks, or stops naming what it cannot change"
#define FIX_RELOAD \
	"if they were loaded just now, have PostgREST reload its schema cache: " \
	"notify pgrst, 'reload schema';"
#define FIX_TYPES \
	"change the columns named above to the types profilecache needs " \
	"(10_profiles.sql never changes a column that is there)"
#define FIX_KEY \
	"check [origin] service_key_file: it must hold the project's secret key " \
	"(sb_secret_...) or its legacy service_role key, and service_role needs " \
	"its grants (20_policies.sql and 30_apply.sql give them)"
#define FIX_URL \
	"check [origin] url (https://<ref>.supabase.co/rest/v1) and that the " \
	"origin answers from this machine"

const char *
check_column_name(size_t i)
{
	return i < CHECK_NCOLUMNS ? columns[i].name : NULL;
}

const char *
check_column_type(size_t i)
{
	return i < CHECK_NCOLUMNS ? columns[i].type : NULL;
}

static void report_line(struct check_report *rep, enum check_level level,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
report_line(struct check_report *rep, enum check_level level, const char *fmt,
    ...)
{
	va_list ap;

	if (level == CHECK_FAIL)
		rep->nfailed++;
	if (rep->nlines == CHECK_LINES_MAX)
		return;
	rep->lines[rep->nlines].level = level;
	va_start(ap, fmt);
	(void)vsnprintf(rep->lines[rep->nlines].text, CHECK_TEXT_MAX, fmt, ap);
	va_end(ap);
	rep->nlines++;
}

static void
report_fix(struct check_report *rep, const char *fix)
{
	size_t i;

	for (i = 0; i < rep->nfixes; i++)
		if (strcmp(rep->fixes[i], fix) == 0)
			return;
	if (rep->nfixes < CHECK_FIXES_MAX)
		(void)snprintf(rep->fixes[rep->nfixes++], CHECK_TEXT_MAX, "%s",
		    fix);
}

/* The answer's body as JSON (new reference), or NULL. */
static json_t *
answer_json(const struct check_answer *a)
{
	return a->body != NULL ? json_loads(a->body, 0, NULL) : NULL;
}

/* The "code" of a PostgREST error answer ("" when there is none). */
static void
answer_code(const struct check_answer *a, char *code, size_t size)
{
	json_t *doc = answer_json(a), *v = json_object_get(doc, "code");

	(void)snprintf(code, size, "%s",
	    json_is_string(v) ? json_string_value(v) : "");
	json_decref(doc);
}

/* "HTTP 403: {body...}", shortened, for a line. */
static void
answer_show(const struct check_answer *a, char *out, size_t size)
{
	size_t i, n;

	n = (size_t)snprintf(out, size, "HTTP %ld: %.160s", a->status,
	    a->body != NULL ? a->body : "(no body)");
	/* One line: control characters of the body become spaces. */
	for (i = 0; i < n && i < size && out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
}

/* A column's type as profilecache needs it (text takes varchar too). */
static bool
type_fits(const char *have, const char *need)
{
	return strcmp(have, need) == 0 ||
	    (strcmp(need, "text") == 0 &&
	        strncmp(have, "character varying", 17) == 0);
}

/* The format of argument arg of POST path in the OpenAPI paths, or NULL. */
static const char *
rpc_arg_format(json_t *paths, const char *path, const char *arg, bool *listed)
{
	json_t *params, *p;
	size_t i;

	params = json_object_get(json_object_get(json_object_get(paths, path),
	                             "post"),
	    "parameters");
	*listed = json_object_get(paths, path) != NULL;
	json_array_foreach(params, i, p) {
		json_t *v = json_object_get(
		    json_object_get(json_object_get(json_object_get(p,
		                                        "schema"),
		                        "properties"),
		        arg),
		    "format");

		if (json_is_string(v))
			return json_string_value(v);
	}
	return NULL;
}

/*
 * What the OpenAPI description says of a function profilecache needs:
 * true when it is listed with its one argument of the right type.
 */
static bool
report_rpc_listed(struct check_report *rep, json_t *paths, const char *fn,
    const char *arg, const char *type)
{
	char path[64];
	const char *format;
	bool listed;

	(void)snprintf(path, sizeof(path), "/rpc/%s", fn);
	format = rpc_arg_format(paths, path, arg, &listed);
	if (!listed) {
		report_line(rep, CHECK_FAIL,
		    "rpc/%s: not in the origin's OpenAPI "
		    "description: the function is missing, or the service key may "
		    "not execute it",
		    fn);
		report_fix(rep, FIX_SCHEMA);
		report_fix(rep, FIX_RELOAD);
		return false;
	}
	if (format == NULL || strcmp(format, type) != 0) {
		report_line(rep, CHECK_FAIL,
		    "rpc/%s: takes no %s argument of type "
		    "%s (%s%s): not profilecache's function",
		    fn, arg, type,
		    format != NULL ? "found " : "no such argument",
		    format != NULL ? format : "");
		report_fix(rep, FIX_SCHEMA);
		return false;
	}
	return true;
}

/* 401 or 403: the key is refused, or service_role lacks a grant. */
static bool
answer_refused(const struct check_answer *a)
{
	return a->status == 401 || a->status == 403;
}

/*
 * A function profilecache calls, called here with arguments that make it
 * read or write nothing: listed in the description (when there is one) and
 * answering 200 with key in its JSON object.
 */
static void
report_rpc_call(struct check_report *rep, json_t *paths,
    const struct check_answer *ans, const char *fn, const char *arg,
    const char *type, const char *key, const char *what)
{
	char code[32], shown[256];
	json_t *doc;

	answer_code(ans, code, sizeof(code));
	if (paths != NULL)
		(void)report_rpc_listed(rep, paths, fn, arg, type);
	if (ans->status == 200) {
		doc = answer_json(ans);
		if (json_is_array(json_object_get(doc, key)))
			report_line(rep, CHECK_OK, "rpc/%s: %s (200)", fn,
			    what);
		else {
			report_line(rep, CHECK_FAIL,
			    "rpc/%s: answers without "
			    "\"%s\": not profilecache's function",
			    fn, key);
			report_fix(rep, FIX_SCHEMA);
		}
		json_decref(doc);
	} else if (ans->status == 404) {
		/* Listed or not, the description said so already. */
		if (paths == NULL) {
			report_line(rep, CHECK_FAIL,
			    "rpc/%s: no such function "
			    "(%s)",
			    fn, code[0] != '\0' ? code : "HTTP 404");
			report_fix(rep, FIX_SCHEMA);
			report_fix(rep, FIX_RELOAD);
		}
	} else {
		answer_show(ans, shown, sizeof(shown));
		report_line(rep, CHECK_FAIL, "rpc/%s: refused (%s)", fn, shown);
		report_fix(rep, answer_refused(ans) ? FIX_KEY : FIX_SCHEMA);
	}
}

UNITTEST void
check_origin_report(const struct check_answers *a, struct check_report *rep)
{
	json_t *doc = NULL, *props = NULL, *paths = NULL, *prop, *fmt;
	const char *have[CHECK_NCOLUMNS] = { NULL };
	char code[32], shown[256], list[CHECK_TEXT_MAX], *p;
	bool missing[CHECK_NCOLUMNS] = { false }, any_missing = false;
	bool mistyped = false, no_table = false, columns_ok = false;
	size_t i;

	memset(rep, 0, sizeof(*rep));
	if (a->unreachable != NULL) {
		report_line(rep, CHECK_FAIL,
		    "no answer from the origin (%.400s)", a->unreachable);
		report_fix(rep, FIX_URL);
		return;
	}

	/* GET /: the OpenAPI description, when the origin gives it. */
	if (a->root.status == 200 && (doc = answer_json(&a->root)) != NULL &&
	    json_is_object(paths = json_object_get(doc, "paths"))) {
		props = json_object_get(
		    json_object_get(json_object_get(doc, "definitions"),
		        "profiles"),
		    "properties");
		if (!json_is_object(props))
			no_table = true;
		for (i = 0; i < CHECK_NCOLUMNS && !no_table; i++) {
			prop = json_object_get(props, columns[i].name);
			fmt = json_object_get(prop, "format");
			if (prop == NULL)
				missing[i] = any_missing = true;
			else if (json_is_string(fmt))
				have[i] = json_string_value(fmt);
		}
	} else {
		paths = NULL;
		answer_show(&a->root, shown, sizeof(shown));
		report_line(rep, CHECK_NOTE,
		    "GET / (the OpenAPI description) gave "
		    "none (%s): column types are not checked, and delete_profile "
		    "is probed with a null id, which it refuses before touching "
		    "anything",
		    shown);
	}

	/* GET /profiles?select=...: the service key reads every column. */
	answer_code(&a->columns, code, sizeof(code));
	if (a->columns.status == 200) {
		columns_ok = true;
	} else if (a->columns.status == 400 &&
	    (strcmp(code, "42703") == 0 || strcmp(code, "PGRST204") == 0)) {
		for (i = 0; i < CHECK_NCOLUMNS; i++) {
			answer_code(&a->column[i], code, sizeof(code));
			if (a->column[i].status == 400 &&
			    (strcmp(code, "42703") == 0 ||
			        strcmp(code, "PGRST204") == 0))
				missing[i] = any_missing = true;
		}
	} else if (a->columns.status == 404 || strcmp(code, "42P01") == 0 ||
	    strcmp(code, "PGRST205") == 0) {
		no_table = true;
	} else {
		answer_show(&a->columns, shown, sizeof(shown));
		report_line(rep, CHECK_FAIL,
		    "profiles: the service key cannot read "
		    "it (%s)",
		    shown);
		report_fix(rep,
		    answer_refused(&a->columns) ? FIX_KEY : FIX_SCHEMA);
	}
	if (no_table) {
		report_line(rep, CHECK_FAIL,
		    "profiles: there is no table "
		    "public.profiles (or the Data API does not expose it)");
		report_fix(rep, FIX_SCHEMA);
	} else if (any_missing) {
		p = list;
		*p = '\0';
		for (i = 0; i < CHECK_NCOLUMNS; i++)
			if (missing[i])
				p += snprintf(p,
				    sizeof(list) - (size_t)(p - list), "%s%s",
				    p == list ? "" : ", ", columns[i].name);
		report_line(rep, CHECK_FAIL, "profiles: missing columns: %s",
		    list);
		report_fix(rep, FIX_SCHEMA);
	}
	for (i = 0; i < CHECK_NCOLUMNS && !no_table; i++) {
		if (have[i] == NULL || type_fits(have[i], columns[i].type))
			continue;
		report_line(rep, CHECK_FAIL,
		    "profiles: %s is %s, profilecache "
		    "needs %s",
		    columns[i].name, have[i], columns[i].type);
		mistyped = true;
	}
	if (mistyped)
		report_fix(rep, FIX_TYPES);
	if (columns_ok && !any_missing && !mistyped && !no_table)
		report_line(rep, CHECK_OK,
		    "profiles: the service key reads all %d "
		    "columns profilecache uses%s",
		    CHECK_NCOLUMNS,
		    paths != NULL ? ", each of the type it needs" : "");

	/* Called with arguments that read or write nothing. */
	report_rpc_call(rep, paths, &a->apply, "apply_profile_changes",
	    "changes", "jsonb", "results", "takes an empty batch");
	report_rpc_call(rep, paths, &a->changed, "profilecache_changed_since",
	    "since", "timestamp with time zone", "rows",
	    "answers for the time 'infinity'");

	/* delete_profile: listed, or refusing a null id as profilecache's does. */
	if (paths != NULL) {
		if (report_rpc_listed(rep, paths, "delete_profile", "id",
		        "uuid"))
			report_line(rep, CHECK_OK,
			    "rpc/delete_profile: in the "
			    "origin's OpenAPI description, taking id uuid");
	} else {
		answer_code(&a->del, code, sizeof(code));
		answer_show(&a->del, shown, sizeof(shown));
		if (a->del.status == 400 && strcmp(code, "22004") == 0)
			report_line(rep, CHECK_OK,
			    "rpc/delete_profile: refuses a "
			    "null id with 22004, as profilecache's does");
		else if (a->del.status == 404) {
			report_line(rep, CHECK_FAIL,
			    "rpc/delete_profile: no such "
			    "function (%s)",
			    code[0] != '\0' ? code : "HTTP 404");
			report_fix(rep, FIX_SCHEMA);
			report_fix(rep, FIX_RELOAD);
		} else if (answer_refused(&a->del)) {
			report_line(rep, CHECK_FAIL,
			    "rpc/delete_profile: refused "
			    "(%s)",
			    shown);
			report_fix(rep, FIX_KEY);
		} else {
			report_line(rep, CHECK_FAIL,
			    "rpc/delete_profile: a null id "
			    "is not refused with 22004 (%s): not profilecache's "
			    "function",
			    shown);
			report_fix(rep, FIX_SCHEMA);
		}
	}
	json_decref(doc);
}

/* One probe into *ans; its body goes to bodies[*n] to be freed. */
static enum pc_result
ask(struct origin *o, const char *path, const char *body,
    struct check_answer *ans, char **bodies, size_t *n, char *err)
{
	enum pc_result r;
	size_t len;

	r = origin_probe(o, path, body, &ans->status, &bodies[*n], &len, err);
	ans->body = bodies[*n];
	if (bodies[*n] != NULL)
		(*n)++;
	return r;
}

enum pc_result
check_origin_run(struct origin *o, struct check_report *rep, char *err)
{
	struct check_answers a;
	char *bodies[CHECK_NCOLUMNS + 5] = { NULL }, path[512], why[PC_ERRLEN];
	enum pc_result r;
	size_t i, n = 0;
	int len;

	memset(&a, 0, sizeof(a));
	len = snprintf(path, sizeof(path), "/profiles?select=");
	for (i = 0; i < CHECK_NCOLUMNS; i++)
		len += snprintf(path + len, sizeof(path) - (size_t)len, "%s%s",
		    i == 0 ? "" : ",", columns[i].name);
	(void)snprintf(path + len, sizeof(path) - (size_t)len, "&limit=0");

	r = ask(o, "/", NULL, &a.root, bodies, &n, why);
	if (r == PC_OK)
		r = ask(o, path, NULL, &a.columns, bodies, &n, why);
	if (r == PC_OK && a.columns.status == 400) {
		char code[32];

		answer_code(&a.columns, code, sizeof(code));
		for (i = 0; r == PC_OK && i < CHECK_NCOLUMNS &&
		     (strcmp(code, "42703") == 0 ||
		         strcmp(code, "PGRST204") == 0);
		     i++) {
			(void)snprintf(path, sizeof(path),
			    "/profiles?select=%s&limit=0", columns[i].name);
			r = ask(o, path, NULL, &a.column[i], bodies, &n, why);
		}
	}
	if (r == PC_OK)
		r = ask(o, "/rpc/apply_profile_changes", "{\"changes\":[]}",
		    &a.apply, bodies, &n, why);
	if (r == PC_OK)
		r = ask(o, "/rpc/profilecache_changed_since",
		    "{\"since\":\"infinity\",\"max\":1}", &a.changed, bodies,
		    &n, why);
	if (r == PC_OK && a.root.status != 200)
		r = ask(o, "/rpc/delete_profile", "{\"id\":null}", &a.del,
		    bodies, &n, why);
	if (r == PC_UNAVAILABLE)
		a.unreachable = why;
	if (r == PC_OK || r == PC_UNAVAILABLE)
		check_origin_report(&a, rep);
	else
		pc_err(err, "%s", why);
	for (i = 0; i < n; i++)
		free(bodies[i]);
	return r == PC_UNAVAILABLE ? PC_OK : r;
}

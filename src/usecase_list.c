/* Cached list queries of a declared resource: filters, order, pages. */
#include "autoconf.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cache.h"
#include "clock.h"
#include "journal.h"
#include "log.h"
#include "origin.h"
#include "resource.h"
#include "strnum.h"
#include "timefmt.h"
#include "usecase_list.h"
#include "usecase_read.h"
#include "uuid.h"

#define QUERY_MAX 2048

/* --- the query ------------------------------------------------------------------ */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode the len bytes at s (percent escapes, '+' for a space) into out
 * (size bytes). False when an escape is malformed, the result holds a
 * control character or it does not fit.
 */
static bool
decode(const char *s, size_t len, char *out, size_t size)
{
	size_t i, n = 0;
	int hi, lo;
	char c;

	for (i = 0; i < len; i++) {
		c = s[i];
		if (c == '+')
			c = ' ';
		else if (c == '%') {
			if (i + 2 >= len)
				return false;
			if ((hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return false;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if ((unsigned char)c < 0x20 || c == 0x7f || n + 1 >= size)
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	return true;
}

/* Whether value (decoded) can be compared with f's values. */
static const char *
filter_value_problem(const struct field *f, const char *v)
{
	long long num;
	int64_t us;
	size_t i;

	switch (f->type) {
	case FT_UUID:
		return uuid_is_canonical(v, strlen(v)) ?
		    NULL :
		    "is not a UUID in canonical lower-case form";
	case FT_INTEGER:
		return strnum_parse(v, INT64_MIN, INT64_MAX, &num) == PC_OK ?
		    NULL :
		    "is not a whole number";
	case FT_NUMBER:
		/* Plain decimals only: strtod's nan, inf and hex are not the
		 * database's numbers. */
		i = *v == '-' ? 1 : 0;
		if (strspn(v + i, "0123456789") == 0)
			return "is not a decimal number";
		i += strspn(v + i, "0123456789");
		if (v[i] == '.' && strspn(v + i + 1, "0123456789") > 0)
			i += 1 + strspn(v + i + 1, "0123456789");
		return v[i] == '\0' && i <= 40 ?
		    NULL :
		    "is not a decimal number";
	case FT_BOOLEAN:
		return strcmp(v, "true") == 0 || strcmp(v, "false") == 0 ?
		    NULL :
		    "is not true or false";
	case FT_TIMESTAMP:
		return timefmt_parse(v, strlen(v), &us) == PC_OK ?
		    NULL :
		    "is not an RFC 3339 time with a zone";
	case FT_ENUM:
		for (i = 0; i < f->nvalues; i++)
			if (strcmp(f->values[i], v) == 0)
				return NULL;
		return "is not one of the field's values";
	default:
		return NULL;
	}
}

/* The fields declared with flag (filter or sort), for a 400's message. */
static void
names_with(const struct resource *res, bool sort, char *buf, size_t size)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < res->nfields && n < size; i++)
		if (sort ? res->fields[i].sort : res->fields[i].filter)
			n += (size_t)snprintf(buf + n, size - n, "%s%s",
			    n ? ", " : "", res->fields[i].name);
	if (n == 0)
		(void)snprintf(buf, size, "none");
}

static enum pc_result
parse_param(const struct resource *res, const char *name, const char *value,
    struct list_query *q, char *err)
{
	const struct field *f;
	const char *why, *dot;
	long long num;
	char names[128];
	size_t i;

	if (strcmp(name, "limit") == 0 || strcmp(name, "offset") == 0) {
		bool lim = name[0] == 'l';

		if (strnum_parse(value, lim ? 1 : 0,
		        lim ? LIST_LIMIT_MAX : LIST_OFFSET_MAX, &num) !=
		    PC_OK) {
			pc_err(err, "%s must be a whole number from %d to %d",
			    name, lim ? 1 : 0,
			    lim ? LIST_LIMIT_MAX : LIST_OFFSET_MAX);
			return PC_INVALID;
		}
		*(lim ? &q->limit : &q->offset) = (long)num;
		return PC_OK;
	}
	if (strcmp(name, "order") == 0) {
		dot = strrchr(value, '.');
		if (q->order != NULL || q->desc) {
			pc_err(err, "order is given twice");
			return PC_INVALID;
		}
		q->desc = dot != NULL && strcmp(dot, ".desc") == 0;
		if (dot != NULL && !q->desc && strcmp(dot, ".asc") != 0)
			dot = NULL;
		f = NULL;
		for (i = 0; i < res->nfields; i++)
			if (strlen(res->fields[i].name) ==
			        (dot != NULL ? (size_t)(dot - value) :
			                       strlen(value)) &&
			    strncmp(res->fields[i].name, value,
			        strlen(res->fields[i].name)) == 0)
				f = &res->fields[i];
		if (f == NULL || !f->sort) {
			names_with(res, true, names, sizeof(names));
			pc_err(err,
			    "order must be FIELD, FIELD.asc or FIELD.desc, FIELD "
			    "one of: %s",
			    names);
			return PC_INVALID;
		}
		q->order = f;
		return PC_OK;
	}
	f = resource_field(res, name);
	if (f == NULL || !f->filter) {
		names_with(res, false, names, sizeof(names));
		pc_err(err,
		    "unknown query parameter %.40s; filters: %s; also order, "
		    "limit and offset",
		    name, names);
		return PC_INVALID;
	}
	if (strncmp(value, "eq.", 3) != 0) {
		pc_err(err, "%s: only eq. filters are served (%s=eq.VALUE)",
		    name, name);
		return PC_INVALID;
	}
	if ((why = filter_value_problem(f, value + 3)) != NULL) {
		pc_err(err, "%s: the value %s", name, why);
		return PC_INVALID;
	}
	for (i = 0; i < q->nfilters; i++)
		if (q->filter[i].f == f) {
			pc_err(err, "%s is filtered twice", name);
			return PC_INVALID;
		}
	if (q->nfilters == LIST_FILTERS_MAX) {
		pc_err(err, "at most %d filters", LIST_FILTERS_MAX);
		return PC_INVALID;
	}
	q->filter[q->nfilters].f = f;
	(void)snprintf(q->filter[q->nfilters].value, sizeof(q->filter[0].value),
	    "%s", value + 3);
	q->nfilters++;
	return PC_OK;
}

enum pc_result
list_query_parse(const struct resource *res, const char *qs,
    struct list_query *q, char *err)
{
	char name[64], value[LIST_VALUE_MAX + 4];
	const char *p, *amp, *eq;
	enum pc_result r;
	size_t n;

	memset(q, 0, sizeof(*q));
	q->res = res;
	q->limit = LIST_LIMIT_DEFAULT;
	if (qs == NULL)
		return PC_OK;
	if (strlen(qs) > QUERY_MAX) {
		pc_err(err, "the query string is longer than %d bytes",
		    QUERY_MAX);
		return PC_INVALID;
	}
	for (p = qs; *p != '\0'; p = *amp != '\0' ? amp + 1 : amp) {
		amp = p + strcspn(p, "&");
		if (amp == p)
			continue;
		eq = memchr(p, '=', (size_t)(amp - p));
		n = eq != NULL ? (size_t)(eq - p) : (size_t)(amp - p);
		if (!decode(p, n, name, sizeof(name))) {
			pc_err(err,
			    "a query parameter's name is malformed or too long");
			return PC_INVALID;
		}
		if (eq == NULL ||
		    !decode(eq + 1, (size_t)(amp - eq - 1), value,
		        sizeof(value))) {
			pc_err(err,
			    "%.40s: a value is missing, malformed or longer "
			    "than %d bytes",
			    name, LIST_VALUE_MAX);
			return PC_INVALID;
		}
		if ((r = parse_param(res, name, value, q, err)) != PC_OK)
			return r;
	}
	return PC_OK;
}

bool
list_query_owned_by(const struct list_query *q, const char *who)
{
	size_t i;

	if (q->res->owner == NULL || who == NULL)
		return false;
	for (i = 0; i < q->nfilters; i++)
		if (q->filter[i].f == q->res->owner &&
		    strcmp(q->filter[i].value, who) == 0)
			return true;
	return false;
}

/* --- values ---------------------------------------------------------------------- */

/* Whether row's value of f equals the filter's (decoded, checked) value. */
static bool
value_matches(const struct field *f, json_t *v, const char *want)
{
	int64_t a, b;

	if (v == NULL || json_is_null(v))
		return false;
	switch (f->type) {
	case FT_BOOLEAN:
		return json_is_boolean(v) &&
		    json_is_true(v) == (strcmp(want, "true") == 0);
	case FT_INTEGER:
		return json_is_integer(v) &&
		    json_integer_value(v) == strtoll(want, NULL, 10);
	case FT_NUMBER:
		return json_is_number(v) &&
		    json_number_value(v) == strtod(want, NULL);
	case FT_TIMESTAMP:
		return json_is_string(v) &&
		    timefmt_parse(json_string_value(v), json_string_length(v),
		        &a) == PC_OK &&
		    timefmt_parse(want, strlen(want), &b) == PC_OK && a == b;
	default:
		return json_is_string(v) &&
		    strcmp(json_string_value(v), want) == 0;
	}
}

/* --- the page ---------------------------------------------------------------------- */

struct row {
	json_t *obj; /* the row as a read shows it */
	enum resource_sync sync;
	bool hidden; /* CACHE_F_PRIVATE */
};

struct page {
	const struct list_query *q;
	struct row *rows;
	size_t n, size;
};

static bool
page_has(const struct page *pg, const char *id)
{
	const char *k;
	size_t i;

	for (i = 0; i < pg->n; i++) {
		k = json_string_value(json_object_get(pg->rows[i].obj,
		    pg->q->res->key->name));
		if (k != NULL && strcmp(k, id) == 0)
			return true;
	}
	return false;
}

/*
 * Add the row of entry e (as a read shows it) when it still matches the
 * filters and the viewer may see it. Takes nothing over.
 */
static void
page_add(struct page *pg, const struct cache_entry *e, const char *viewer,
    bool admin)
{
	const struct list_query *q = pg->q;
	const struct resource *res = q->res;
	const char *owner;
	struct row *rows;
	json_t *obj;
	size_t i;

	if (e->flags & CACHE_F_NOTFOUND ||
	    (obj = usecase_entry_row(res, e)) == NULL)
		return;
	for (i = 0; i < q->nfilters; i++)
		if (!value_matches(q->filter[i].f,
		        json_object_get(obj, q->filter[i].f->name),
		        q->filter[i].value))
			goto drop;
	if ((e->flags & CACHE_F_PRIVATE) && !admin) {
		owner = res->owner != NULL ?
		    json_string_value(json_object_get(obj, res->owner->name)) :
		    NULL;
		if (viewer == NULL || owner == NULL ||
		    strcmp(owner, viewer) != 0)
			goto drop;
	}
	if (pg->n == pg->size) {
		if ((rows = realloc(pg->rows,
		         (pg->size * 2 + 8) * sizeof(*rows))) == NULL)
			goto drop;
		pg->rows = rows;
		pg->size = pg->size * 2 + 8;
	}
	pg->rows[pg->n].obj = obj;
	pg->rows[pg->n].sync = (enum resource_sync)e->sync;
	pg->rows[pg->n].hidden = (e->flags & CACHE_F_PRIVATE) != 0;
	pg->n++;
	return;
drop:
	json_decref(obj);
}

/*
 * The PostgREST query of q. hide: the rows whose visibility field is true
 * are left out by the database, so that no count, offset or filter of a
 * page can tell anything about them.
 */
static bool
query_string(const struct list_query *q, bool hide, char *out, size_t size)
{
	const struct resource *res = q->res;
	size_t i, j, n;
	const char *v;

	n = (size_t)snprintf(out, size, "select=%s", res->select);
	if (hide && n < size)
		n += (size_t)snprintf(out + n, size - n, "&%s=eq.false",
		    res->visibility->name);
	for (i = 0; i < q->nfilters && n < size; i++) {
		n += (size_t)snprintf(out + n, size - n, "&%s=eq.",
		    q->filter[i].f->name);
		for (v = q->filter[i].value, j = 0;
		     v[j] != '\0' && n + 4 < size; j++) {
			unsigned char c = (unsigned char)v[j];

			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
			    c == '.' || c == '~')
				out[n++] = (char)c;
			else
				n += (size_t)snprintf(out + n, size - n,
				    "%%%02X", c);
		}
		out[n < size ? n : size - 1] = '\0';
	}
	/* The key breaks ties, so that pages never overlap. */
	if (n < size && q->order != NULL && q->order != res->key)
		n += (size_t)snprintf(out + n, size - n, "&order=%s.%s,%s.asc",
		    q->order->name, q->desc ? "desc" : "asc", res->key->name);
	else if (n < size)
		n += (size_t)snprintf(out + n, size - n, "&order=%s.%s",
		    res->key->name, q->desc ? "desc" : "asc");
	if (n < size)
		n += (size_t)snprintf(out + n, size - n,
		    "&limit=%ld&offset=%ld", q->limit, q->offset);
	return n < size;
}

/*
 * Append the first nbytes of the SHA-256 of s, in hex, to out, which holds
 * n characters: a key memcached takes, whatever s holds.
 */
static bool
digest_append(const char *s, unsigned int nbytes, char *out, size_t size,
    size_t n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	if (n >= size ||
	    EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL) != 1)
		return false;
	for (i = 0; i < nbytes && n + 3 <= size; i++)
		n += (size_t)snprintf(out + n, size - n, "%02x", md[i]);
	return n < size;
}

/*
 * The generations a page is cached under. Every filter field F has an
 * epoch, "<item>~F", and a generation per value, "<item>~F=<digest of the
 * value>". A page filtered on F = v (on the owner when it filters on it,
 * else on its first filter) is cached under F's epoch and v's generation: a
 * change that leaves F alone in a row it knows moves on the generation of
 * the row's value of F (the pages of other values stay); one that may have
 * changed F (or of a row it does not know) moves F's epoch on, since the
 * value it had is not known. The owner never changes. Numbers and times
 * are compared by value, not by text: their pages have the epoch only. A
 * page without a filter: the resource's generation, which every change
 * moves on.
 */
#define GEN_NS_MAX 160

/* Whether f's values name a generation of their own. */
static bool
gen_by_value(const struct field *f)
{
	return f->type != FT_NUMBER && f->type != FT_TIMESTAMP &&
	    f->type != FT_JSON;
}

static void
gen_ns_epoch(const struct resource *res, const struct field *f, char *out,
    size_t size)
{
	(void)snprintf(out, size, "%s~%s", res->item, f->name);
}

/*
 * The generation of f's value v, in the text a filter on it has: the
 * digest of it, so that any value makes a key memcached takes.
 */
static bool
gen_ns_value(const struct resource *res, const struct field *f, const char *v,
    char *out, size_t size)
{
	return digest_append(v, 12, out, size,
	    (size_t)snprintf(out, size, "%s~%s=", res->item, f->name));
}

/*
 * A row's value v of f in the text a filter on it has (buf holds it),
 * NULL when v is null or missing (no filtered page holds the row), or
 * "" when f's values have no generation of their own.
 */
static const char *
row_value(const struct field *f, json_t *v, char *buf, size_t size)
{
	if (v == NULL || json_is_null(v))
		return NULL;
	if (!gen_by_value(f))
		return "";
	if (f->type == FT_BOOLEAN)
		return json_is_true(v) ? "true" : "false";
	if (f->type == FT_INTEGER && json_is_integer(v)) {
		(void)snprintf(buf, size, "%lld",
		    (long long)json_integer_value(v));
		return buf;
	}
	/* A value of another JSON type matches no filter (value_matches). */
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The filter a page is cached by: on the owner if it has one, else its first. */
static size_t
page_filter(const struct list_query *q)
{
	size_t i;

	for (i = 0; q->res->owner != NULL && i < q->nfilters; i++)
		if (q->filter[i].f == q->res->owner)
			return i;
	return 0;
}

static bool
page_gens(struct app *app, const struct list_query *q, uint64_t gen[2])
{
	const struct field *f;
	char ns[GEN_NS_MAX], buf[32];
	const char *v;
	size_t i;

	if (q->nfilters == 0) {
		gen[1] = 0;
		return cache_gen(app->cache, q->res->item, false, &gen[0]) ==
		    PC_OK;
	}
	i = page_filter(q);
	f = q->filter[i].f;
	gen_ns_epoch(q->res, f, ns, sizeof(ns));
	if (cache_gen(app->cache, ns, false, &gen[0]) != PC_OK)
		return false;
	gen[1] = 0;
	if (!gen_by_value(f))
		return true;
	/* The filter's value as a row's would read (an integer's digits). */
	v = q->filter[i].value;
	if (f->type == FT_INTEGER) {
		(void)snprintf(buf, sizeof(buf), "%lld",
		    strtoll(q->filter[i].value, NULL, 10));
		v = buf;
	}
	return gen_ns_value(q->res, f, v, ns, sizeof(ns)) &&
	    cache_gen(app->cache, ns, false, &gen[1]) == PC_OK;
}

/* The cache's name for the page: its query's digest, under the generations. */
static bool
page_key(const char *query, const uint64_t gen[2], char *out, size_t size)
{
	return digest_append(query, 16, out, size,
	    (size_t)snprintf(out, size, "%llu.%llu-",
	        (unsigned long long)gen[0], (unsigned long long)gen[1]));
}

/* The database's rows of the page, from the cache or the database. */
static enum pc_result
page_rows(struct app *app, const struct list_query *q, bool hide, json_t **rows,
    bool *hit)
{
	const struct resource *res = q->res;
	long ttl = app_ttls(app, res).fresh;
	char query[QUERY_MAX * 2], key[96], ns[80],
	    err[PC_ERRLEN] = "", *body = NULL;
	struct cache_entry e;
	json_error_t jerr;
	enum pc_result r;
	bool cached = false;
	uint64_t gen[2];
	size_t len = 0;

	*rows = NULL;
	*hit = false;
	if (!query_string(q, hide, query, sizeof(query)))
		return PC_ERROR;
	(void)snprintf(ns, sizeof(ns), "list.%s", res->item);
	cached =
	    page_gens(app, q, gen) && page_key(query, gen, key, sizeof(key));
	if (cached && cache_get(app->cache, ns, key, &e) == PC_OK) {
		if (clock_now_us() < e.fresh_until_us &&
		    (*rows = json_loadb(e.body, e.body_len, 0, &jerr)) !=
		        NULL &&
		    json_is_array(*rows))
			*hit = true;
		cache_entry_release(&e);
		if (*hit)
			return PC_OK;
		json_decref(*rows);
		*rows = NULL;
	}
	if ((r = origin_get_rows(app->origin, res->table, query, &body, &len,
	         err)) != PC_OK) {
		log_warn("list_failed", "resource=%s result=%s error=\"%s\"",
		    res->name, pc_result_str(r), err);
		return r == PC_UNAVAILABLE ? PC_UNAVAILABLE : PC_ERROR;
	}
	if ((*rows = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	        NULL ||
	    !json_is_array(*rows)) {
		log_warn("list_failed",
		    "resource=%s error=\"not a JSON array\"", res->name);
		json_decref(*rows);
		*rows = NULL;
		free(body);
		return PC_ERROR;
	}
	memset(&e, 0, sizeof(e));
	e.updated_at_us = -1;
	e.fresh_until_us = clock_now_us() + ttl * 1000000;
	if (cached && cache_entry_build(&e, body, len) == PC_OK) {
		(void)cache_add(app->cache, ns, key, &e, ttl);
		cache_entry_release(&e);
	}
	free(body);
	return PC_OK;
}

struct found_rows {
	struct cache_entry *e;
};

static void
found_keep(void *arg, size_t i, struct cache_entry *e)
{
	struct found_rows *f = arg;

	f->e[i] = *e;
	e->raw = NULL; /* taken over */
}

/*
 * A row of the page not cached: built as a read builds it. Not cached: the
 * page may be older than a delete of the row since.
 */
static void
page_add_built(struct app *app, struct page *pg, const char *id, json_t *row,
    const char *viewer, bool admin)
{
	const struct resource *res = pg->q->res;
	struct cache_entry e;
	long expire_s;

	if (usecase_build(app, res, id, row, NULL, &e, &expire_s) != PC_OK)
		return;
	page_add(pg, &e, viewer, admin);
	cache_entry_release(&e);
}

struct creates {
	struct app *app;
	struct page *pg;
	json_t *rows; /* the database's page */
	const char *viewer;
	bool admin;
};

/* Whether the database's page holds id. */
static bool
rows_have(const struct resource *res, json_t *rows, const char *id)
{
	const char *k;
	json_t *v;
	size_t i;

	json_array_foreach(rows, i, v) {
		k = json_string_value(json_object_get(v, res->key->name));
		if (k != NULL && strcmp(k, id) == 0)
			return true;
	}
	return false;
}

/* A pending create of the viewer's, as a read shows it (cached or built). */
static bool
create_add(void *arg, const char *id)
{
	struct creates *c = arg;
	const struct resource *res = c->pg->q->res;
	struct cache_entry e;

	if (!uuid_is_canonical(id, strlen(id)) || page_has(c->pg, id) ||
	    rows_have(res, c->rows, id))
		return true;
	if (cache_get(c->app->cache, res->item, id, &e) == PC_OK) {
		page_add(c->pg, &e, c->viewer, c->admin);
		cache_entry_release(&e);
	} else
		page_add_built(c->app, c->pg, id, NULL, c->viewer, c->admin);
	return true;
}

static enum pc_result
page_render(const struct page *pg, bool more, struct list_result *out)
{
	const struct list_query *q = pg->q;
	json_t *doc, *arr, *sync;
	size_t i, n = pg->n;
	const char *id;

	if ((doc = json_object()) == NULL || (arr = json_array()) == NULL ||
	    json_object_set_new(doc, q->res->name, arr) != 0 ||
	    (sync = json_object()) == NULL ||
	    json_object_set_new(doc, "sync", sync) != 0) {
		json_decref(doc);
		return PC_NOMEM;
	}
	for (i = 0; i < n; i++) {
		(void)json_array_append(arr, pg->rows[i].obj);
		id = json_string_value(json_object_get(pg->rows[i].obj,
		    q->res->key->name));
		if (id != NULL && pg->rows[i].sync != RESOURCE_SYNCED)
			(void)json_object_set_new(sync, id,
			    json_string(resource_sync_name(pg->rows[i].sync)));
		if (pg->rows[i].hidden)
			out->personal = true;
	}
	(void)json_object_set_new(doc, "next_offset",
	    more ? json_integer(q->offset + q->limit) : json_null());
	out->body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (out->body == NULL)
		return PC_NOMEM;
	out->len = strlen(out->body);
	return PC_OK;
}

void
usecase_list(struct app *app, const struct list_query *q, const char *viewer,
    bool admin, struct list_result *out)
{
	const struct resource *res = q->res;
	struct page pg = { .q = q };
	struct found_rows f = { NULL };
	struct creates cr;
	char err[PC_ERRLEN] = "";
	const char **ids = NULL;
	struct journal *j;
	json_t *rows = NULL, *row;
	size_t i, n;
	bool hide;

	memset(out, 0, sizeof(*out));
	/* Hidden rows are asked for only by the admin, or by their owner
	 * with a filter on themselves (every row of the page is theirs). */
	hide = res->visibility != NULL && !admin &&
	    !list_query_owned_by(q, viewer);
	if ((out->result = page_rows(app, q, hide, &rows, &out->hit)) != PC_OK)
		return;
	out->result = PC_NOMEM;
	n = json_array_size(rows);
	if (n > 0 &&
	    ((ids = calloc(n, sizeof(*ids))) == NULL ||
	        (f.e = calloc(n, sizeof(*f.e))) == NULL))
		goto out;
	for (i = 0; i < n; i++) {
		ids[i] =
		    json_string_value(json_object_get(json_array_get(rows, i),
		        res->key->name));
		if (ids[i] == NULL ||
		    !uuid_is_canonical(ids[i], strlen(ids[i])))
			ids[i] = "-";
	}
	/*
	 * The viewer's own rows created here and not flushed yet come first,
	 * on the first page, besides its limit (the next page starts where
	 * the database's rows end). Then the database's rows, in its order
	 * (its collation), each as a read shows it: its entry, or built.
	 */
	if (q->offset == 0 && viewer != NULL && res->owner != NULL &&
	    res->owner != res->key && list_query_owned_by(q, viewer) &&
	    app_journal(app, &j, err) == PC_OK) {
		cr = (struct creates){ app, &pg, rows, viewer, admin };
		if (journal_pending_with(j, res->item, res->owner->name, viewer,
		        create_add, &cr, err) != PC_OK)
			log_warn("list_pending_failed",
			    "resource=%s error=\"%s\"", res->name, err);
	}
	if (n > 0)
		(void)cache_get_many(app->cache, res->item, ids, n, found_keep,
		    &f);
	for (i = 0; i < n; i++) {
		if (strcmp(ids[i], "-") == 0 || page_has(&pg, ids[i]))
			continue;
		row = json_array_get(rows, i);
		if (f.e[i].raw != NULL && !(f.e[i].flags & CACHE_F_NOTFOUND))
			page_add(&pg, &f.e[i], viewer, admin);
		else
			page_add_built(app, &pg, ids[i], json_deep_copy(row),
			    viewer, admin);
	}
	out->result = page_render(&pg, n == (size_t)q->limit, out);
out:
	for (i = 0; i < n && f.e != NULL; i++)
		cache_entry_release(&f.e[i]);
	for (i = 0; i < pg.n; i++)
		json_decref(pg.rows[i].obj);
	free(pg.rows);
	free(f.e);
	free(ids);
	json_decref(rows);
	if (out->result != PC_OK && out->result != PC_UNAVAILABLE)
		out->result = PC_ERROR;
}

void
list_result_release(struct list_result *out)
{
	free(out->body);
	out->body = NULL;
}

static void
gen_bump(struct app *app, const struct resource *res, const char *ns)
{
	uint64_t gen;

	if (cache_gen(app->cache, ns, true, &gen) != PC_OK)
		log_warn("list_generation_failed", "resource=%s generation=%s",
		    res->name, ns);
}

void
usecase_list_changed(struct app *app, const struct resource *res)
{
	char ns[GEN_NS_MAX];
	size_t i;

	if (res->builtin)
		return; /* profiles are not listed */
	gen_bump(app, res, res->item);
	for (i = 0; i < res->nfields; i++)
		if (res->fields[i].filter) {
			gen_ns_epoch(res, &res->fields[i], ns, sizeof(ns));
			gen_bump(app, res, ns);
		}
}

const char *
usecase_list_owner(const struct resource *res, const char *id, json_t *row)
{
	json_t *v;

	if (res->owner == NULL)
		return NULL;
	if (res->owner == res->key)
		return id;
	if (!json_is_object(row))
		return NULL;
	/* A row without an owner is in no page filtered on one. */
	v = json_object_get(row, res->owner->name);
	return json_is_string(v) ? json_string_value(v) : v == NULL ? NULL : "";
}

/*
 * The value of filter field f that touch t's row holds, unchanged by it,
 * in the text a filter has (buf holds it): NULL when it is not known or may
 * have changed (f's epoch moves on), "" when no page filtered on f holds
 * the row.
 */
static const char *
touch_value(const struct resource *res, const struct field *f,
    const struct list_touch *t, char *buf, size_t size)
{
	const char *v;
	json_t *row = json_is_object(t->row) ? t->row : NULL;

	/*
	 * The owner is set once: profilecache_apply refuses another. (A write
	 * outside profilecache that gives a row another owner leaves the old
	 * owner's pages as they were, up to fresh_ttl: the pull cannot tell it
	 * from the create that set the owner, which this node's own flushes
	 * bring back.)
	 */
	if (f == res->owner)
		return t->owner != NULL ? t->owner :
		                          usecase_list_owner(res, t->id, row);
	/* A field no change writes may be set by the database itself. */
	if (row == NULL || t->patch == NULL ||
	    json_object_get(t->patch, f->name) != NULL ||
	    f->policy == FP_SERVER || f->policy == FP_READONLY)
		return NULL;
	v = row_value(f, json_object_get(row, f->name), buf, size);
	if (v == NULL)
		return ""; /* null: in no page filtered on f */
	return v[0] == '\0' ? NULL : v;
}

void
usecase_list_touched(struct app *app, const struct resource *res,
    const struct list_touch *t, size_t n)
{
	char ns[GEN_NS_MAX], buf[32], (*done)[GEN_NS_MAX] = NULL;
	const struct field *f;
	const char *v;
	size_t i, k, m, ndone;

	if (res->builtin || n == 0)
		return;
	gen_bump(app, res, res->item);
	if ((done = calloc(n, sizeof(*done))) == NULL) {
		usecase_list_changed(app, res);
		return;
	}
	for (i = 0; i < res->nfields; i++) {
		f = &res->fields[i];
		if (!f->filter)
			continue;
		for (k = ndone = 0; k < n; k++) {
			v = touch_value(res, f, &t[k], buf, sizeof(buf));
			if (v != NULL && v[0] == '\0')
				continue;
			if (v == NULL || !gen_by_value(f) ||
			    !gen_ns_value(res, f, v, ns, sizeof(ns))) {
				gen_ns_epoch(res, f, ns, sizeof(ns));
				gen_bump(app, res, ns);
				break; /* every page of f is asked for again */
			}
			for (m = 0; m < ndone && strcmp(done[m], ns) != 0; m++)
				;
			if (m < ndone)
				continue; /* moved on already */
			(void)snprintf(done[ndone++], GEN_NS_MAX, "%s", ns);
			gen_bump(app, res, ns);
		}
	}
	free(done);
}

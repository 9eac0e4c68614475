/*
 * Cached list queries of a declared resource: GET /v1/{resource}?col=eq.v
 * &order=col.desc&limit=N&offset=M, in PostgREST's syntax, over the fields
 * declared filter = true and sort = true only.
 */
#ifndef PC_USECASE_LIST_H
#define PC_USECASE_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "result.h"

struct app;
struct field;
struct resource;

#define LIST_FILTERS_MAX 4
#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX 100
#define LIST_OFFSET_MAX 10000
#define LIST_VALUE_MAX 256

struct list_query {
	const struct resource *res;
	struct {
		const struct field *f;
		char value[LIST_VALUE_MAX +
		    1]; /* decoded, checked for f's type */
	} filter[LIST_FILTERS_MAX];
	size_t nfilters;
	const struct field *order; /* NULL: by the key */
	bool desc;
	long limit, offset;
};

/*
 * Parse a query string (NULL: none) into q. PC_INVALID with the reason in
 * err (a 400's message) for anything but filters on filter fields (eq. only,
 * each field once, at most LIST_FILTERS_MAX), order on a sort field, limit
 * (1 to LIST_LIMIT_MAX, default LIST_LIMIT_DEFAULT) and offset (0 to
 * LIST_OFFSET_MAX).
 */
enum pc_result list_query_parse(const struct resource *res, const char *qs,
    struct list_query *q, char *err);

/* Whether q filters res's owner field on user id who. */
bool list_query_owned_by(const struct list_query *q, const char *who);

struct list_result {
	enum pc_result result; /* PC_OK, PC_UNAVAILABLE (the database is
				   away and the page is not cached), PC_ERROR */
	bool hit;              /* the page's rows came from the cache */
	bool personal;         /* it holds rows only the viewer may see */
	char *body;            /* PC_OK: the answer, malloc()ed */
	size_t len;
};

/*
 * The page q asks for, as viewer (a user id; NULL: nobody signed in) or the
 * admin sees it: {"<resource>":[rows],"sync":{id:"pending"|"failed",...},
 * "next_offset":N|null}. The database's rows for the query are cached under
 * a generation moved on whenever the database's rows change through
 * profilecache (a flush, a write-through, a delete, a pulled outside
 * change): the generation of its filter's value (on the owner field if it
 * has one), which changes of rows holding that value move on, and the
 * filter field's epoch, which a change that may have changed the field
 * moves on; without a filter, the resource's (every change does); each
 * row is then shown as a read of it would be (its cache entry, with every
 * acknowledged change; a row a pending change moved out of the filter is
 * left out), in the database's order. With an owner filter on the viewer,
 * their rows created on this node and not flushed yet come first on the
 * first page, besides the limit. Rows hidden by the visibility field are
 * left out by the database itself (so no count or offset tells of them)
 * unless the admin asks, or their owner with a filter on themselves; a
 * read = owner resource's rows only to their owner and the admin.
 */
void usecase_list(struct app *app, const struct list_query *q,
    const char *viewer, bool admin, struct list_result *out);
void list_result_release(struct list_result *out);

/* Move res's list generations on: every cached page of it is forgotten. */
void usecase_list_changed(struct app *app, const struct resource *res);

struct json_t;

/*
 * A row of the database that a change reached: its id; its owner when
 * known (NULL: from row, or the key when it is the owner); the row as it
 * now is (NULL: not known); and the fields the change may have changed
 * (NULL: any).
 */
struct list_touch {
	const char *id;
	const char *owner;
	struct json_t *row;
	struct json_t *patch;
};

/*
 * The database's rows t[0..n) of res changed: the pages that may hold them
 * are asked for again (the generations of their values of each filter
 * field, or its epoch where a value is not known), the others stay.
 */
void usecase_list_touched(struct app *app, const struct resource *res,
    const struct list_touch *t, size_t n);

/*
 * The owner of row id of res (row may be NULL), "" when the row has none,
 * or NULL when it is not known.
 */
const char *usecase_list_owner(const struct resource *res, const char *id,
    struct json_t *row);

#endif

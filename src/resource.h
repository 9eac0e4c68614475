/*
 * Resources declared as data: a table's shape (fields with a type and a
 * write policy), its key, its owner and its visibility, read from INI text.
 * Validation of request bodies and the rendering of database rows are
 * driven by the declaration, never by code written for one table.
 *
 * The declaration, one section per resource and one per field, the fields
 * in the order answers list them:
 *
 *   [resource profiles]          the URL segment, /v1/profiles/{key}; the
 *                                section is needed only for keys below
 *   item = profile               the JSON key of one row's answer; also its
 *                                journal and cache namespace
 *   table = profiles             default: the URL segment
 *   key = id                     a uuid field
 *   owner = id                   the field holding the owner's user id
 *                                (default: the key); "none": no owner
 *   visibility = is_private      a boolean field: true hides the row from
 *                                everyone but its owner (default: none)
 *   read = public                public: anyone reads a visible row; owner:
 *                                only its owner and the admin read any row
 *   fresh_ttl, stale_ttl, negative_ttl
 *                                seconds, as in [cache] (default: [cache]'s)
 *
 *   [field profiles.bio]
 *   type = text                  text, boolean, integer, number, uuid,
 *                                timestamp, enum, json, image
 *   policy = behind              behind (write-behind), through (the
 *                                database decides: unique columns),
 *                                readonly, server (set by the database),
 *                                counter (an integer changed only by
 *                                increments, POST .../increments; the
 *                                admin may also set it outright)
 *   max_length = 1000            text: characters; image: bytes
 *   min_length = 0
 *   multiline = true             text: newline, carriage return and tab
 *   pattern = ^[a-z0-9_]*$       text: a POSIX extended regular expression
 *                                the whole value must match
 *   message = ...                the reason given when length or pattern fail
 *   min = 0 / max = 100          integer, number; a counter's bounds
 *   user_delta = negative        counter: the increments a user may send
 *                                (negative: spend only, any, none)
 *   values = open done           enum
 *   max_bytes = 4096             json (an object)
 *   filter = true                lists may filter on it (?NAME=eq.VALUE)
 *   sort = true                  lists may be ordered by it (?order=NAME.desc)
 *
 * Every resource has the server fields its key, created_at and updated_at
 * (a row's version); they are declared like the others.
 */
#ifndef PC_RESOURCE_H
#define PC_RESOURCE_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

enum field_type {
	FT_TEXT,
	FT_BOOLEAN,
	FT_INTEGER,
	FT_NUMBER,
	FT_UUID,
	FT_TIMESTAMP,
	FT_ENUM,
	FT_JSON,
	FT_IMAGE /* the URL of a stored image, or one the client gives */
};

enum field_policy { FP_BEHIND, FP_THROUGH, FP_READONLY, FP_SERVER, FP_COUNTER };

/* Which increments of a counter a user may send; the admin sends any. */
enum field_user_delta { UD_NEGATIVE = 0, UD_ANY, UD_NONE };

struct field {
	char *name;
	enum field_type type;
	enum field_policy policy;
	long min_length,
	    max_length; /* text: characters; image: bytes; -1: none */
	bool multiline;
	bool has_pattern;
	regex_t pattern;
	char *message; /* NULL: a reason made from the limits */
	bool has_min, has_max;
	double min, max; /* integer, number */
	char **values;   /* enum */
	size_t nvalues;
	long max_bytes; /* json */
	bool filter;    /* lists may filter on it: ?NAME=eq.V */
	bool sort;      /* lists may be ordered by it */
	enum field_user_delta user_delta; /* counter */
	bool has_user_delta;
};

struct resource {
	bool builtin; /* profiles: its own functions (30_apply.sql) */
	char *name;   /* URL segment */
	char *item;   /* singular: answers, journal, cache */
	char *table;
	char *key_name, *owner_name, *visibility_name; /* as declared */
	const struct field *key;
	const struct field *owner;      /* NULL: no owner */
	const struct field *visibility; /* NULL: every row is public */
	bool owner_reads; /* read = owner: every row is hidden from
					   all but its owner and the admin */
	long fresh_ttl, stale_ttl, negative_ttl; /* -1: [cache]'s */
	struct field *fields;
	size_t nfields;
	char *select;         /* the columns to read, field_versions last */
	char *unknown_reason; /* "unknown field; allowed: a, b" */
	char *not_found_body; /* the body of a 404 */
	size_t not_found_len;
	bool counters;       /* has a counter field */
	char *increments_ns; /* "<item>/increment": the journal's
					   name for its increments */
	char *rows_ns;       /* "<item>/row": its rows' writers' locks
					   (rowlock.h) */
};

struct resources {
	struct resource *v;
	size_t n;
};

enum resource_sync {
	RESOURCE_SYNCED = 0,
	RESOURCE_PENDING = 1,
	RESOURCE_FAILED = 2
};

struct resource_meta {
	int64_t updated_at_us;
	bool is_private;
};

/*
 * Add one INI key to set. section is "resource NAME" or "field NAME.FIELD";
 * any other section is PC_NOTFOUND (not ours). PC_INVALID with the reason
 * in err for a key that is unknown, set twice or out of range.
 */
enum pc_result resources_set(struct resources *set, const char *section,
    const char *name, const char *value, char *err);

/*
 * Check the declarations once every key is read and build what answers
 * need. PC_INVALID with the resource and the reason in err.
 */
enum pc_result resources_finish(struct resources *set, char *err);

/* Parse INI text holding declarations only, then resources_finish(). */
enum pc_result resources_parse(struct resources *set, const char *ini,
    char *err);

void resources_free(struct resources *set);

/* The resource whose name is the len bytes at name, or NULL. */
const struct resource *resources_find(const struct resources *set,
    const char *name, size_t len);
const struct field *resource_field(const struct resource *res,
    const char *name);

const char *resource_sync_name(enum resource_sync s);

/*
 * Build the answer {"<item>":{...},"sync":"..."} from a database row as
 * PostgREST returns it (a JSON object, not modified): every declared field
 * in order, normalised (timestamps as RFC 3339 UTC with microseconds),
 * missing ones as null. The row's key must equal expect_key and updated_at
 * must be a timestamp, otherwise PC_INVALID with the reason in err. failed
 * (may be NULL) is rendered as "failed" next to "sync". *body is malloc()ed.
 */
struct json_t;
enum pc_result resource_render(const struct resource *res, struct json_t *row,
    const char *expect_key, enum resource_sync sync, struct json_t *failed,
    char **body, size_t *body_len, struct resource_meta *meta, char *err);

/*
 * Parse a PUT (replace) or PATCH (merge) request body into a patch of the
 * fields a client may write (behind and through). PC_OK: *patch (owned by
 * the caller) holds them; for a replace every writable field, absent ones as
 * null (booleans as false). PC_INVALID with *errors NULL: not a JSON object.
 * PC_INVALID with *errors set: {"field":"reason",...} for every field that is
 * unknown, read-only or invalid.
 */
enum pc_result resource_patch_parse(const struct resource *res,
    const char *body, size_t len, bool replace, bool admin,
    struct json_t **patch, struct json_t **errors);

/* The size of a buffer for a reason a value is refused. */
#define RESOURCE_REASON_LEN 160
#ifdef UNITTESTS
/*
 * Why value v cannot be written to f, or NULL when it can. The reason may
 * be made in the caller's buffer.
 */
const char *resource_check_value(const struct field *f, struct json_t *v,
    char reason[RESOURCE_REASON_LEN]);
#endif

/*
 * Whether a change sent to the database may write f of res: what clients
 * write, counters, and the owner, set on create (the registry's columns).
 */
bool resource_change_writes(const struct resource *res, const struct field *f);

/* A new array of the writable fields' names, in order; NULL: out of memory. */
struct json_t *resource_writable_names(const struct resource *res);

/*
 * The database functions a resource's changes go through (30_apply.sql):
 * profilecache_apply {"resource","changes"} and profilecache_delete
 * {"resource","id"}, or for profiles their profile-only forms, which
 * earlier versions' databases have too (apply_profile_changes {"changes"},
 * delete_profile {"id"}). The arguments
 * are malloc()ed JSON text; NULL when out of memory. changes is borrowed.
 */
const char *resource_apply_fn(const struct resource *res);
char *resource_apply_args(const struct resource *res, struct json_t *changes);
const char *resource_delete_fn(const struct resource *res);
char *resource_delete_args(const struct resource *res, const char *id);

/* True when patch names a write-through field, whatever its value. */
bool resource_patch_names_through(const struct resource *res,
    struct json_t *patch);

/* True when patch writes a write-through field with a value row lacks. */
bool resource_patch_needs_origin(const struct resource *res,
    struct json_t *patch, struct json_t *row);

#endif

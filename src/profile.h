/* The profile resource: its declaration, and the profile API over it. */
#ifndef PC_PROFILE_H
#define PC_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

enum profile_sync {
	PROFILE_SYNCED = 0,
	PROFILE_PENDING = 1,
	PROFILE_FAILED = 2
};

struct profile_meta {
	int64_t updated_at_us;
	bool is_private;
};

/* The profiles resource, declared as data (resource.h). */
struct resource;
const struct resource *profile_resource(void);

/* The column list to ask the database for ("id,username,..."). */
const char *profile_select_columns(void);

const char *profile_sync_name(enum profile_sync s);

/*
 * Build the response body {"profile":{...},"sync":"..."} from a database row
 * as PostgREST returns it (one JSON object). Fields come out in a fixed
 * order, timestamps as RFC 3339 UTC with microseconds, missing ones as null.
 * The row's id must equal expect_id and updated_at must be a timestamp,
 * otherwise PC_INVALID with the reason in err. On success *body is
 * malloc()ed and owned by the caller.
 */
enum pc_result profile_render(const char *row, size_t row_len,
    const char *expect_id, enum profile_sync sync, char **body,
    size_t *body_len, struct profile_meta *meta, char *err);

/*
 * The same from a parsed row (a JSON object); row is not modified. failed
 * (may be NULL) is an array of the fields the database refused, rendered as
 * "failed" next to "sync".
 */
struct json_t;
enum pc_result profile_render_obj(struct json_t *row, const char *expect_id,
    enum profile_sync sync, struct json_t *failed, char **body,
    size_t *body_len, struct profile_meta *meta, char *err);

/*
 * Parse a PUT (replace) or PATCH (merge) request body into a patch of
 * editable fields. PC_OK: *patch (owned by the caller, json_decref) holds
 * the fields to write; for a replace, every editable field, absent ones as
 * null (is_private as false). PC_INVALID with *errors NULL: not a JSON
 * object (400). PC_INVALID with *errors set: {"field":"reason",...} for
 * every field that is unknown ("unknown field; allowed: username, ..."),
 * read-only ("read-only") or invalid (422).
 */
enum pc_result profile_patch_parse(const char *body, size_t len, bool replace,
    struct json_t **patch, struct json_t **errors);

/*
 * A new JSON array of the names of the fields a client may write, in the
 * order responses list them (owned by the caller); NULL when out of memory.
 */
struct json_t *profile_editable_names(void);

/* The body of a 404 for a profile: a constant, not to be freed. */
const char *profile_not_found_body(size_t *len);

#endif

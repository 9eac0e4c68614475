/* The profile model: its fields, and the response body built from a database row. */
#include "autoconf.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "timefmt.h"

enum field_kind { F_TEXT, F_BOOL, F_TIME };

struct field {
	const char *name;
	enum field_kind kind;
};

/* The public shape of a profile, in the order responses list it. */
static const struct field fields[] = {
	{ "id", F_TEXT },
	{ "username", F_TEXT },
	{ "display_name", F_TEXT },
	{ "bio", F_TEXT },
	{ "avatar_url", F_TEXT },
	{ "gradient", F_TEXT },
	{ "is_private", F_BOOL },
	{ "created_at", F_TIME },
	{ "updated_at", F_TIME },
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const char select_columns[] =
    "id,username,display_name,bio,avatar_url,gradient,is_private,created_at,updated_at";

static const char not_found_body[] =
    "{\"error\":{\"code\":\"not_found\",\"message\":\"profile not found\"}}";

const char *
profile_select_columns(void)
{
	return select_columns;
}

const char *
profile_not_found_body(size_t *len)
{
	*len = sizeof(not_found_body) - 1;
	return not_found_body;
}

const char *
profile_sync_name(enum profile_sync s)
{
	switch (s) {
	case PROFILE_SYNCED:
		return "synced";
	case PROFILE_PENDING:
		return "pending";
	case PROFILE_FAILED:
		return "failed";
	}
	return "failed";
}

/* Copy one field of the row into out, normalised; *us gets a timestamp's value. */
static enum pc_result
render_field(const struct field *f, json_t *v, json_t *out, int64_t *us, char *err)
{
	char ts[TIMEFMT_LEN];
	json_t *nv;

	*us = -1;
	if (v == NULL || json_is_null(v))
		return json_object_set_new(out, f->name, json_null()) == 0 ?
		    PC_OK : PC_NOMEM;
	switch (f->kind) {
	case F_TEXT:
		if (!json_is_string(v))
			goto bad;
		nv = json_incref(v);
		break;
	case F_BOOL:
		if (!json_is_boolean(v))
			goto bad;
		nv = json_incref(v);
		break;
	case F_TIME:
		if (!json_is_string(v) ||
		    timefmt_parse(json_string_value(v), json_string_length(v), us) != PC_OK ||
		    timefmt_format(*us, ts) != PC_OK)
			goto bad;
		nv = json_string(ts);
		break;
	default:
		goto bad;
	}
	return json_object_set_new(out, f->name, nv) == 0 ? PC_OK : PC_NOMEM;
bad:
	pc_err(err, "database row: field %s has an unexpected type or format", f->name);
	return PC_INVALID;
}

enum pc_result
profile_render(const char *row, size_t row_len, const char *expect_id,
    enum profile_sync sync, char **body, size_t *body_len,
    struct profile_meta *meta, char *err)
{
	enum pc_result r = PC_INVALID;
	json_t *in = NULL, *prof = NULL, *doc = NULL, *v;
	json_error_t jerr;
	int64_t us;
	size_t i;

	*body = NULL;
	if ((in = json_loadb(row, row_len, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
	    !json_is_object(in)) {
		pc_err(err, "database row is not a JSON object");
		goto out;
	}
	v = json_object_get(in, "id");
	if (!json_is_string(v) || strcmp(json_string_value(v), expect_id) != 0) {
		pc_err(err, "database row has another id than asked for");
		goto out;
	}
	if ((prof = json_object()) == NULL) {
		r = PC_NOMEM;
		goto out;
	}
	meta->updated_at_us = -1;
	meta->is_private = json_is_true(json_object_get(in, "is_private"));
	for (i = 0; i < NFIELDS; i++) {
		if ((r = render_field(&fields[i], json_object_get(in, fields[i].name),
		    prof, &us, err)) != PC_OK)
			goto out;
		if (strcmp(fields[i].name, "updated_at") == 0)
			meta->updated_at_us = us;
	}
	if (meta->updated_at_us < 0) {
		pc_err(err, "database row has no updated_at");
		r = PC_INVALID;
		goto out;
	}
	r = PC_NOMEM;
	if ((doc = json_pack("{s:O,s:s}", "profile", prof, "sync",
	    profile_sync_name(sync))) == NULL)
		goto out;
	if ((*body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		goto out;
	*body_len = strlen(*body);
	r = PC_OK;
out:
	json_decref(in);
	json_decref(prof);
	json_decref(doc);
	return r;
}

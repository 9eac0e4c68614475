/* The profile model: its fields, and the response body built from a database row. */
#include "autoconf.h"

#include <jansson.h>
#include <stdio.h>
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

/* field_versions is not rendered: it lets a read lay pending changes over
 * the row field by field. */
static const char select_columns[] =
    "id,username,display_name,bio,avatar_url,gradient,is_private,created_at,updated_at,"
    "field_versions";

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
	json_error_t jerr;
	enum pc_result r;
	json_t *in;

	*body = NULL;
	if ((in = json_loadb(row, row_len, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
	    !json_is_object(in)) {
		json_decref(in);
		pc_err(err, "database row is not a JSON object");
		return PC_INVALID;
	}
	r = profile_render_obj(in, expect_id, sync, NULL, body, body_len, meta, err);
	json_decref(in);
	return r;
}

enum pc_result
profile_render_obj(json_t *in, const char *expect_id, enum profile_sync sync,
    json_t *failed, char **body, size_t *body_len, struct profile_meta *meta,
    char *err)
{
	enum pc_result r = PC_INVALID;
	json_t *prof = NULL, *doc = NULL, *v;
	int64_t us;
	size_t i;

	*body = NULL;
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
	    profile_sync_name(sync))) == NULL ||
	    (failed != NULL && json_object_set(doc, "failed", failed) != 0))
		goto out;
	if ((*body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		goto out;
	*body_len = strlen(*body);
	r = PC_OK;
out:
	json_decref(prof);
	json_decref(doc);
	return r;
}

/* --- request bodies ---------------------------------------------------------- */

/* Number of code points in a valid UTF-8 string (jansson guarantees validity). */
static size_t
utf8_chars(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/*
 * Characters display text may not hold, besides the C0 and C1 controls:
 * they are invisible, or reorder the text around them, so that a name
 * shows as something it is not: after U+202E (right-to-left override)
 * "gpj.exe" reads "exe.jpg", and with U+200B (zero-width space) "al<200B>ice"
 * looks exactly like "alice". Clients show these fields as they are.
 *
 * XXX U+200C and U+200D (zero-width non-joiner and joiner) are also needed
 * in Persian and Indic text and join emoji sequences: refused all the same
 * until each field's characters can be configured.
 */
static const struct { uint32_t lo, hi; } invisible[] = {
	{ 0x200b, 0x200f },	/* zero-width space, (non-)joiner, LRM, RLM */
	{ 0x202a, 0x202e },	/* bidi embeddings and overrides */
	{ 0x2060, 0x2060 },	/* word joiner */
	{ 0x2066, 0x2069 },	/* bidi isolates */
	{ 0xfeff, 0xfeff },	/* zero-width no-break space (BOM) */
};

/*
 * The code point starting at s[*i] of a valid UTF-8 string (jansson
 * guarantees validity), advancing *i past it.
 */
static uint32_t
utf8_next(const char *s, size_t len, size_t *i)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t cp = u[(*i)++];
	int more = cp >= 0xf0 ? 3 : cp >= 0xe0 ? 2 : cp >= 0xc0 ? 1 : 0;

	if (more > 0)
		cp &= 0x3fu >> more;
	for (; more > 0 && *i < len; more--)
		cp = cp << 6 | (u[(*i)++] & 0x3f);
	return cp;
}

/*
 * Why display text s must be refused, or NULL: a C0 or C1 control
 * character or DEL (allow_nl lets newline, carriage return and tab through,
 * for multi-line text), or a bidi control or zero-width character.
 */
static const char *
check_display_text(const char *s, size_t len, bool allow_nl)
{
	size_t i = 0, k;
	uint32_t c;

	while (i < len) {
		c = utf8_next(s, len, &i);
		if ((c < 0x20 && !(allow_nl && (c == '\n' || c == '\r' || c == '\t'))) ||
		    (c >= 0x7f && c <= 0x9f))
			return "must not contain control characters";
		for (k = 0; k < sizeof(invisible) / sizeof(invisible[0]); k++)
			if (c >= invisible[k].lo && c <= invisible[k].hi)
				return "must not contain bidirectional controls or "
				    "zero-width characters";
	}
	return NULL;
}

static const char *
check_username(const char *s, size_t len)
{
	size_t i;

	if (len < 3 || len > 30)
		return "must be 3 to 30 characters of a-z, 0-9 and _";
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_'))
			return "must be 3 to 30 characters of a-z, 0-9 and _";
	return NULL;
}

static const char *
check_display_name(const char *s, size_t len)
{
	if (utf8_chars(s, len) > 100)
		return "too long (at most 100 characters)";
	return check_display_text(s, len, false);
}

static const char *
check_bio(const char *s, size_t len)
{
	if (utf8_chars(s, len) > 1000)
		return "too long (at most 1000 characters)";
	return check_display_text(s, len, true);
}

static const char *
check_avatar_url(const char *s, size_t len)
{
	size_t i;

	if (len > 2048)
		return "too long (at most 2048 bytes)";
	if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
		return "must be an http or https URL";
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return "must not contain spaces or control characters";
	return NULL;
}

static const char *
check_gradient(const char *s, size_t len)
{
	static const char msg[] =
	    "must be 1 to 4 colours like #a1b2c3, separated by commas";
	size_t i, j, colours = 0;

	for (i = 0; i < len; colours++) {
		if (colours == 4 || len - i < 7 || s[i] != '#')
			return msg;
		for (j = 1; j < 7; j++)
			if (!((s[i + j] >= '0' && s[i + j] <= '9') ||
			    (s[i + j] >= 'a' && s[i + j] <= 'f')))
				return msg;
		i += 7;
		if (i < len && (s[i] != ',' || ++i == len))
			return msg;
	}
	return colours == 0 ? msg : NULL;
}

typedef const char *(*text_check_fn)(const char *s, size_t len);

struct editable {
	const char *name;
	text_check_fn check;	/* NULL: a boolean */
};

/* The fields a client may write; everything else is read-only or unknown. */
static const struct editable editable[] = {
	{ "username", check_username },
	{ "display_name", check_display_name },
	{ "bio", check_bio },
	{ "avatar_url", check_avatar_url },
	{ "gradient", check_gradient },
	{ "is_private", NULL },
};
#define NEDITABLE (sizeof(editable) / sizeof(editable[0]))

/* The write-through fields: unique in the database, so it must decide. */
static const char *const through_fields[] = { "username" };

/*
 * The reason given for a field that is not the profile's: the editable
 * fields, so that a typo can be fixed from the answer alone.
 */
static void
unknown_reason(char *buf, size_t size)
{
	size_t i, n;

	n = (size_t)snprintf(buf, size, "unknown field; allowed:");
	for (i = 0; i < NEDITABLE && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s %s",
		    i > 0 ? "," : "", editable[i].name);
}

json_t *
profile_editable_names(void)
{
	json_t *a;
	size_t i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < NEDITABLE; i++)
		if (json_array_append_new(a, json_string(editable[i].name)) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static const char *
check_value(const struct editable *f, json_t *v)
{
	if (f->check == NULL)
		return json_is_boolean(v) ? NULL : "must be true or false";
	if (json_is_null(v))
		return NULL;
	if (!json_is_string(v))
		return "must be a string or null";
	return f->check(json_string_value(v), json_string_length(v));
}

enum pc_result
profile_patch_parse(const char *body, size_t len, bool replace, json_t **patch,
    json_t **errors)
{
	enum pc_result r = PC_INVALID;
	json_t *in = NULL, *out = NULL, *errs = NULL, *v;
	const struct editable *f;
	json_error_t jerr;
	const char *key, *why;
	char unknown[160];
	size_t i;

	*patch = NULL;
	*errors = NULL;
	unknown_reason(unknown, sizeof(unknown));
	if ((in = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
	    !json_is_object(in))
		goto out;
	r = PC_NOMEM;
	if ((out = json_object()) == NULL || (errs = json_object()) == NULL)
		goto out;
	json_object_foreach(in, key, v) {
		for (f = NULL, i = 0; i < NEDITABLE; i++)
			if (strcmp(key, editable[i].name) == 0)
				f = &editable[i];
		if (f == NULL) {
			for (why = unknown, i = 0; i < NFIELDS; i++)
				if (strcmp(key, fields[i].name) == 0)
					why = "read-only";
		} else
			why = check_value(f, v);
		if (why != NULL) {
			/* Keys are bounded by the body cap; report each once. */
			if (json_object_set_new(errs, key, json_string(why)) != 0)
				goto out;
			continue;
		}
		if (json_object_set(out, key, v) != 0)
			goto out;
	}
	if (replace) {
		for (i = 0; i < NEDITABLE; i++)
			if (json_object_get(in, editable[i].name) == NULL &&
			    json_object_set_new(out, editable[i].name,
			    editable[i].check ? json_null() : json_false()) != 0)
				goto out;
	}
	if (json_object_size(errs) == 0 && json_object_size(out) == 0 &&
	    json_object_set_new(errs, "body", json_string("no editable field given")) != 0)
		goto out;
	if (json_object_size(errs) > 0) {
		*errors = errs;
		errs = NULL;
		r = PC_INVALID;
		goto out;
	}
	*patch = out;
	out = NULL;
	r = PC_OK;
out:
	json_decref(in);
	json_decref(out);
	json_decref(errs);
	return r;
}

enum pc_result
profile_patch_apply(json_t *row, json_t *patch)
{
	return json_object_update(row, patch) == 0 ? PC_OK : PC_NOMEM;
}

bool
profile_patch_names_through(json_t *patch)
{
	size_t i;

	for (i = 0; i < sizeof(through_fields) / sizeof(through_fields[0]); i++)
		if (json_object_get(patch, through_fields[i]) != NULL)
			return true;
	return false;
}

bool
profile_patch_needs_origin(json_t *patch, json_t *row)
{
	json_t *v, *cur;
	size_t i;

	for (i = 0; i < sizeof(through_fields) / sizeof(through_fields[0]); i++) {
		if ((v = json_object_get(patch, through_fields[i])) == NULL)
			continue;
		cur = row != NULL ? json_object_get(row, through_fields[i]) : NULL;
		if (json_is_null(v) ? cur != NULL && !json_is_null(cur) :
		    cur == NULL || !json_equal(v, cur))
			return true;
	}
	return false;
}

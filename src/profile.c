/* The profile resource: its declaration, and the profile API over it. */
#include "autoconf.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "profile.h"
#include "resource.h"

/*
 * The profiles table as profilecache ships it (schema/postgres): declared
 * as data like any resource (resource.h), the order of its fields the
 * order answers list them in.
 */
static const char declaration[] =
    "[resource profiles]\n"
    "item = profile\n"
    "key = id\n"
    "owner = id\n"
    "visibility = is_private\n"
    "[field profiles.id]\n"
    "type = uuid\n"
    "policy = readonly\n"
    "[field profiles.username]\n"
    "type = text\n"
    "policy = through\n"
    "min_length = 3\n"
    "max_length = 30\n"
    "pattern = [a-z0-9_]*\n"
    "message = must be 3 to 30 characters of a-z, 0-9 and _\n"
    "[field profiles.display_name]\n"
    "type = text\n"
    "max_length = 100\n"
    "[field profiles.bio]\n"
    "type = text\n"
    "max_length = 1000\n"
    "multiline = true\n"
    "[field profiles.avatar_url]\n"
    "type = image\n"
    "max_length = 2048\n"
    "[field profiles.gradient]\n"
    "type = text\n"
    "pattern = #[0-9a-f]{6}(,#[0-9a-f]{6}){0,3}\n"
    "message = must be 1 to 4 colours like #a1b2c3, separated by commas\n"
    "[field profiles.is_private]\n"
    "type = boolean\n"
    "[field profiles.created_at]\n"
    "type = timestamp\n"
    "policy = server\n"
    "[field profiles.updated_at]\n"
    "type = timestamp\n"
    "policy = server\n";

static struct resources builtin;

static void
builtin_parse(void)
{
	char err[PC_ERRLEN];

	if (resources_parse(&builtin, declaration, err) != PC_OK) {
		/* A test parses the declaration: only memory can fail. */
		log_error("resource_declaration_failed", "reason=\"%s\"", err);
		abort();
	}
	builtin.v[0].builtin = true;
}

/*
 * Parsed on first use, once per process: a threaded responder's threads may
 * all ask at once, and none may see it half made.
 */
const struct resource *
profile_resource(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (pthread_once(&once, builtin_parse) != 0)
		abort();
	return &builtin.v[0];
}

const char *
profile_select_columns(void)
{
	return profile_resource()->select;
}

const char *
profile_not_found_body(size_t *len)
{
	*len = profile_resource()->not_found_len;
	return profile_resource()->not_found_body;
}

const char *
profile_sync_name(enum profile_sync s)
{
	return resource_sync_name((enum resource_sync)s);
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
	if ((in = json_loadb(row, row_len, JSON_REJECT_DUPLICATES, &jerr)) ==
	        NULL ||
	    !json_is_object(in)) {
		json_decref(in);
		pc_err(err, "database row is not a JSON object");
		return PC_INVALID;
	}
	r = profile_render_obj(in, expect_id, sync, NULL, body, body_len, meta,
	    err);
	json_decref(in);
	return r;
}

enum pc_result
profile_render_obj(json_t *in, const char *expect_id, enum profile_sync sync,
    json_t *failed, char **body, size_t *body_len, struct profile_meta *meta,
    char *err)
{
	struct resource_meta m = { .updated_at_us = -1 };
	enum pc_result r;

	r = resource_render(profile_resource(), in, expect_id,
	    (enum resource_sync)sync, failed, body, body_len, &m, err);
	meta->updated_at_us = m.updated_at_us;
	meta->is_private = m.is_private;
	return r;
}

enum pc_result
profile_patch_parse(const char *body, size_t len, bool replace, json_t **patch,
    json_t **errors)
{
	return resource_patch_parse(profile_resource(), body, len, replace,
	    false, patch, errors);
}

json_t *
profile_editable_names(void)
{
	return resource_writable_names(profile_resource());
}

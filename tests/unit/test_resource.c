/* Unit tests for resources declared as data: declarations, checks, answers. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "profile.h"
#include "resource.h"
#include "usecase_increment.h"

#define ID "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01"
#define UID "0c4b6a1e-8f0a-4d5e-9b2c-3d4e5f6a7b8c"

/* A table like the seeds' challenges: owned by user_id, every field type. */
static const char challenges[] =
    "[resource challenges]\n"
    "item = challenge\n"
    "owner = user_id\n"
    "read = owner\n"
    "fresh_ttl = 60\n"
    "[field challenges.id]\n"
    "type = uuid\n"
    "policy = readonly\n"
    "[field challenges.user_id]\n"
    "type = uuid\n"
    "policy = server\n"
    "[field challenges.title]\n"
    "type = text\n"
    "min_length = 1\n"
    "max_length = 5\n"
    "[field challenges.code]\n"
    "type = text\n"
    "pattern = [A-Z]{2}[0-9]\n"
    "[field challenges.status]\n"
    "type = enum\n"
    "values = open, done\n"
    "[field challenges.percent]\n"
    "type = integer\n"
    "min = 0\n"
    "max = 100\n"
    "[field challenges.score]\n"
    "type = number\n"
    "min = -1.5\n"
    "[field challenges.due_at]\n"
    "type = timestamp\n"
    "[field challenges.meta]\n"
    "type = json\n"
    "max_bytes = 20\n"
    "[field challenges.done]\n"
    "type = boolean\n"
    "[field challenges.updated_at]\n"
    "type = timestamp\n"
    "policy = server\n";

static const struct resource *
parse(struct resources *set, const char *ini)
{
	char err[PC_ERRLEN] = "";

	if (resources_parse(set, ini, err) != PC_OK)
		fail_msg("%s", err);
	return &set->v[0];
}

/* The reason a field's value is refused, or "" when it is not. */
static const char *
why(const struct resource *res, const char *field, const char *json)
{
	static char out[RESOURCE_REASON_LEN];
	char reason[RESOURCE_REASON_LEN];
	json_error_t jerr;
	const char *w;
	json_t *v;

	v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	assert_non_null(v);
	w = resource_check_value(resource_field(res, field), v, reason);
	(void)snprintf(out, sizeof(out), "%s", w != NULL ? w : "");
	json_decref(v);
	return out;
}

static void
test_declaration(void **state)
{
	struct resources set;
	const struct resource *res;

	(void)state;
	res = parse(&set, challenges);
	assert_string_equal(res->name, "challenges");
	assert_string_equal(res->item, "challenge");
	assert_string_equal(res->table, "challenges");
	assert_string_equal(res->key->name, "id");
	assert_string_equal(res->owner->name, "user_id");
	assert_null(res->visibility);
	assert_string_equal(res->select,
	    "id,user_id,title,code,status,percent,score,"
	    "due_at,meta,done,updated_at,field_versions");
	assert_string_equal(res->unknown_reason,
	    "unknown field; allowed: title, code, "
	    "status, percent, score, due_at, meta, done");
	assert_string_equal(res->not_found_body,
	    "{\"error\":{\"code\":\"not_found\",\"message\":\"challenge not found\"}}");
	assert_ptr_equal(resources_find(&set, "challenges/x", 10), res);
	assert_null(resources_find(&set, "challenge", 9));
	assert_true(res->owner_reads);
	assert_int_equal(res->fresh_ttl, 60);
	assert_int_equal(res->stale_ttl, -1);
	resources_free(&set);
}

static void
test_bad_declarations(void **state)
{
	static const struct {
		const char *ini, *says;
	} bad[] = {
		{ "[resource Profiles]\nitem = x\n", "resource name" },
		{ "[resource p]\nitem = p\n", "declares no field" },
		{ "[field p.id]\ntype = uuid\npolicy = readonly\n",
		    "updated_at" },
		{ "[field P.id]\ntype = uuid\n", "resource name" },
		{ "[resource p]\nitem = p\n[field p.id]\ntype = uuid\n"
		  "policy = readonly\n",
		    "updated_at" },
		{ "[resource p]\nitem = p\n[field p.id]\ntype = text\n",
		    "key = id" },
		{ "[resource p]\ncolour = red\n",
		    "unknown key [resource p] colour" },
		{ "[resource p]\nitem = p\n[field p.a]\ntype = string\n",
		    "type must be" },
		{ "[resource p]\nitem = p\n[field p.a]\ntype = text\ntype = text\n",
		    "set twice" },
		{ "[resource p]\nitem = p\n[field p.a]\ntype = integer\npattern = x\n",
		    "pattern does not apply to a integer field" },
		{ "[resource p]\nitem = p\n[field p.a]\ntype = text\npattern = (\n",
		    "regular expression" },
		/* Patterns regcomp would take seconds and gigabytes to compile. */
		{ "[resource p]\nitem = p\n[field p.a]\ntype = text\npattern = "
		  "\"************************************************\n",
		    "pattern repeats a repetition" },
		{ "[resource p]\nitem = p\n[field p.a]\ntype = text\npattern = "
		  "((a{1,100}){1,100}){1,100}\n",
		    "pattern is too costly" },
		{ "[resource p]\nitem = p\n[field p.a]\ntype = text\npattern = "
		  "(ab){255}(cd){255}(ef){255}\n",
		    "pattern is too costly" },
		{ "[resource p]\nitem = p\n[field p.a]\ntype = text\npattern = "
		  "a{1000}\n",
		    "more than 255 times" },
		{ "[resource p]\nitem = p\n[field p.a]\ntype = text\npattern = "
		  "a+{2}\n",
		    "repeats a repetition" },
		{ "[resource p]\nitem = p\n[field p.a]\ntype = text\npattern = "
		  "(a*)*b\\1\n",
		    "back-reference" },
		{ "[resource p]\nitem = p\n[field p.a]\ntype = text\npattern = "
		  "((((((((((((((((((a))))))))))))))))))\n",
		    "more than 16 deep" },
		{ "[resource p]\nitem = p\n[field p.a]\ntype = enum\n",
		    "needs values" },
		{ "[resource p]\nitem = p\n[field p.a]\ntype = integer\nmin = 5\nmax = 1\n",
		    "min is above max" },
		{ "[resource p]\nitem = p\n[field p.a]\npolicy = behind\n",
		    "has no type" },
		{ "[resource p]\nitem = p\n[field p.field_versions]\ntype = json\n",
		    "own column" },
		{ "[resource p]\nowner = nobody\n[field p.id]\ntype = uuid\n"
		  "policy = readonly\n[field p.updated_at]\ntype = timestamp\n"
		  "policy = server\n",
		    "owner = nobody" },
		{ "[resource p]\nvisibility = id\n[field p.id]\ntype = uuid\n"
		  "policy = readonly\n[field p.updated_at]\ntype = timestamp\n"
		  "policy = server\n",
		    "no boolean field" },
		{ "[resource p]\nitem = p\n[field p.id]\ntype = uuid\n[field p.updated_at]\n"
		  "type = timestamp\npolicy = server\n",
		    "readonly or server" },
		{ "[other]\nkey = 1\n", "not a resource" },
		{ "[resource p]\nread = all\n",
		    "read must be public or owner" },
		{ "[resource p]\nowner = u\n[field p.id]\ntype = uuid\npolicy = readonly\n"
		  "[field p.u]\ntype = uuid\n[field p.updated_at]\ntype = timestamp\n"
		  "policy = server\n",
		    "owner field u must be policy = server" },
		{ "[resource p]\nfresh_ttl = 0\n", "at least 1" },
		{ "[resource p]\nowner = none\nread = owner\n[field p.id]\ntype = uuid\n"
		  "policy = readonly\n[field p.updated_at]\ntype = timestamp\n"
		  "policy = server\n",
		    "needs an owner" },
		{ "[resource p]\nitem = p\n[field p.a]\ntype = text\npolicy = counter\n",
		    "a counter is an integer field" },
		{ "[resource p]\nitem = p\n[field p.a]\ntype = integer\nuser_delta = any\n",
		    "user_delta applies to a counter only" },
		{ "[resource p]\nitem = p\n[field p.a]\ntype = integer\npolicy = counter\n"
		  "user_delta = some\n",
		    "user_delta must be negative, any or none" },
		{ "[resource p]\nitem = p\n[field p.a]\ntype = integer\npolicy = count\n",
		    "or counter" },
	};
	struct resources set;
	char err[PC_ERRLEN];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(resources_parse(&set, bad[i].ini, err),
		    PC_INVALID);
		if (strstr(err, bad[i].says) == NULL)
			fail_msg("declaration %zu: \"%s\" does not say \"%s\"",
			    i, err, bad[i].says);
		assert_int_equal(set.n, 0);
	}
}

/* What a field check needs still compiles: classes, brackets, bounds. */
static void
test_patterns_accepted(void **state)
{
	static const char *const ok[] = {
		"[[:alpha:]][[:alnum:]_-]{0,31}",
		"[]a-z]+",
		"[^]]*",
		"(ab|cd){1,100}",
		"[a-z]{2,}\\.[a-z]{2,6}",
		"\\{x\\}",
		"[0-9]{3}-[0-9]{4}",
		"(([a-z]{1,8}){1,8}){1,8}",
		"[[.-.]a]",
		"\\\\0",
	};
	char ini[512], err[PC_ERRLEN];
	struct resources set;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		(void)snprintf(ini, sizeof(ini),
		    "[resource p]\nitem = p\n"
		    "[field p.id]\ntype = uuid\npolicy = readonly\n"
		    "[field p.a]\ntype = text\npattern = %s\n"
		    "[field p.updated_at]\ntype = timestamp\npolicy = server\n",
		    ok[i]);
		err[0] = '\0';
		if (resources_parse(&set, ini, err) != PC_OK)
			fail_msg("%s: %s", ok[i], err);
		resources_free(&set);
	}
}

static void
test_checks(void **state)
{
	struct resources set;
	const struct resource *res;

	(void)state;
	res = parse(&set, challenges);
	assert_string_equal(why(res, "title", "\"abcde\""), "");
	assert_string_equal(why(res, "title",
	                        "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\""),
	    "");
	assert_string_equal(why(res, "title", "\"abcdef\""),
	    "too long (at most 5 characters)");
	assert_string_equal(why(res, "title", "\"\""),
	    "too short (at least 1 characters)");
	assert_string_equal(why(res, "title", "\"a\\u0007\""),
	    "must not contain control characters");
	assert_string_equal(why(res, "title", "\"a\\nb\""),
	    "must not contain control characters");
	assert_string_equal(why(res, "title", "7"), "must be a string or null");
	assert_string_equal(why(res, "title", "null"), "");
	/* The pattern holds for the whole value, whatever its anchors. */
	assert_string_equal(why(res, "code", "\"AB1\""), "");
	assert_string_equal(why(res, "code", "\"xAB1\""),
	    "does not have the allowed form");
	assert_string_equal(why(res, "code", "\"AB12\""),
	    "does not have the allowed form");
	assert_string_equal(why(res, "code", "\"AB1\\u0000\""),
	    "does not have the allowed form");
	assert_string_equal(why(res, "status", "\"open\""), "");
	assert_string_equal(why(res, "status", "\"Open\""),
	    "must be one of: open, done");
	assert_string_equal(why(res, "percent", "100"), "");
	assert_string_equal(why(res, "percent", "101"),
	    "must be a whole number from 0 to 100");
	assert_string_equal(why(res, "percent", "1.5"),
	    "must be a whole number or null");
	assert_string_equal(why(res, "percent", "\"1\""),
	    "must be a whole number or null");
	assert_string_equal(why(res, "score", "-1.5"), "");
	assert_string_equal(why(res, "score", "-2"), "must be at least -1.5");
	assert_string_equal(why(res, "due_at", "\"2026-12-03T10:00:00Z\""), "");
	assert_string_equal(why(res, "due_at", "\"tomorrow\""),
	    "must be an RFC 3339 time with a zone");
	assert_string_equal(why(res, "meta", "{\"a\":1}"), "");
	assert_string_equal(why(res, "meta", "{\"a\":\"0123456789abcdef\"}"),
	    "too large (at most 20 bytes as compact JSON)");
	assert_string_equal(why(res, "meta", "[1]"),
	    "must be a JSON object or null");
	assert_string_equal(why(res, "done", "true"), "");
	assert_string_equal(why(res, "done", "null"), "must be true or false");
	assert_string_equal(why(res, "user_id", "\"" UID "\""), "");
	assert_string_equal(why(res, "user_id", "\"" UID "x\""),
	    "must be a UUID in lower case (8-4-4-4-12 hex digits)");
	resources_free(&set);
}

static void
test_patch(void **state)
{
	static const char body[] =
	    "{\"title\":\"abcdefg\",\"id\":\"" ID "\","
	    "\"user_id\":\"" UID "\",\"colour\":1,\"percent\":5}";
	struct resources set;
	const struct resource *res;
	json_t *patch, *errors;
	char *s;

	(void)state;
	res = parse(&set, challenges);
	assert_int_equal(resource_patch_parse(res, body, strlen(body), false,
	                     false, &patch, &errors),
	    PC_INVALID);
	assert_null(patch);
	s = json_dumps(errors, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s,
	    "{\"colour\":\"unknown field; allowed: title, code, "
	    "status, percent, score, due_at, meta, done\",\"id\":\"read-only\","
	    "\"title\":\"too long (at most 5 characters)\",\"user_id\":\"read-only\"}");
	free(s);
	json_decref(errors);

	/* A replace sets every writable field: absent ones to null or false. */
	assert_int_equal(resource_patch_parse(res, "{\"percent\":5}", 13, true,
	                     false, &patch, &errors),
	    PC_OK);
	s = json_dumps(patch, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s,
	    "{\"code\":null,\"done\":false,\"due_at\":null,"
	    "\"meta\":null,\"percent\":5,\"score\":null,\"status\":null,\"title\":null}");
	free(s);
	json_decref(patch);
	assert_int_equal(resource_patch_parse(res, "[]", 2, false, false,
	                     &patch, &errors),
	    PC_INVALID);
	assert_null(errors);
	resources_free(&set);
}

static const char balances[] =
    "[resource balances]\nitem = balance\nkey = user_id\nread = owner\n"
    "[field balances.user_id]\ntype = uuid\npolicy = readonly\n"
    "[field balances.balance]\ntype = integer\npolicy = counter\nmin = 0\n"
    "[field balances.note]\ntype = text\n"
    "[field balances.updated_at]\ntype = timestamp\npolicy = server\n";

/* A counter: changed by increments; a user's PATCH is refused, the admin's taken. */
static void
test_counter(void **state)
{
	struct resources set;
	const struct resource *res;
	json_t *patch, *errors;
	char *s;

	(void)state;
	res = parse(&set, balances);
	assert_true(res->counters);
	assert_string_equal(res->increments_ns, "balance/increment");
	assert_int_equal(resource_field(res, "balance")->user_delta,
	    UD_NEGATIVE);
	assert_int_equal(resource_patch_parse(res, "{\"balance\":5}", 13, false,
	                     false, &patch, &errors),
	    PC_INVALID);
	s = json_dumps(errors, JSON_COMPACT);
	assert_string_equal(s,
	    "{\"balance\":\"a counter: send POST .../increments\"}");
	free(s);
	json_decref(errors);
	assert_int_equal(resource_patch_parse(res, "{\"balance\":5}", 13, false,
	                     true, &patch, &errors),
	    PC_OK);
	assert_int_equal(json_integer_value(json_object_get(patch, "balance")),
	    5);
	json_decref(patch);
	/* A replace leaves a counter alone: only increments move it. */
	assert_int_equal(resource_patch_parse(res, "{\"note\":\"x\"}", 12, true,
	                     true, &patch, &errors),
	    PC_OK);
	assert_null(json_object_get(patch, "balance"));
	json_decref(patch);
	resources_free(&set);
	res = parse(&set, challenges);
	assert_false(res->counters);
	assert_null(res->increments_ns);
	resources_free(&set);
}

/* An Idempotency-Key: 1 to 64 safe characters; it becomes part of keys. */
static void
test_increment_key(void **state)
{
	static const char *const good[] = {
		"k",
		"5f0c1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b",
		"a.b:c_d-E",
		"0123456789012345678901234567890123456789012345678901234567890123",
	};
	static const char *const bad[] = {
		"",
		"two words",
		"a/b",
		"a\nb",
		"caf\xc3\xa9",
		"%41",
		"a\"b",
		"{x}",
		"01234567890123456789012345678901234567890123456789012345678901234",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(increment_key_valid(good[i], strlen(good[i])));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(increment_key_valid(bad[i], strlen(bad[i])));
	assert_false(increment_key_valid("ab\0c", 4));
}

static void
test_render(void **state)
{
	static const char row[] =
	    "{\"updated_at\":\"2026-11-21T16:31:03Z\","
	    "\"id\":\"" ID "\",\"user_id\":\"" UID
	    "\",\"percent\":7,\"score\":2.5,"
	    "\"meta\":{\"k\":[1]},\"status\":\"open\",\"due_at\":\"2026-12-01T00:00:00+01:00\"}";
	struct resources set;
	const struct resource *res;
	struct resource_meta meta;
	char err[PC_ERRLEN], *body;
	json_error_t jerr;
	json_t *in;
	size_t len;

	(void)state;
	res = parse(&set, challenges);
	in = json_loads(row, 0, &jerr);
	assert_int_equal(resource_render(res, in, ID, RESOURCE_PENDING, NULL,
	                     &body, &len, &meta, err),
	    PC_OK);
	assert_string_equal(body,
	    "{\"challenge\":{\"id\":\"" ID "\",\"user_id\":\"" UID
	    "\",\"title\":null,\"code\":null,\"status\":\"open\",\"percent\":7,"
	    "\"score\":2.5,\"due_at\":\"2026-11-30T23:00:00.000000Z\","
	    "\"meta\":{\"k\":[1]},\"done\":null,"
	    "\"updated_at\":\"2026-11-21T16:31:03.000000Z\"},\"sync\":\"pending\"}");
	assert_int_equal(len, strlen(body));
	assert_false(meta.is_private);
	free(body);
	/* A number where an integer is declared is the database's mistake. */
	json_object_set_new(in, "percent", json_real(7.5));
	assert_int_equal(resource_render(res, in, ID, RESOURCE_SYNCED, NULL,
	                     &body, &len, &meta, err),
	    PC_INVALID);
	assert_non_null(strstr(err, "percent"));
	json_decref(in);
	resources_free(&set);
}

/* The profiles declaration answers exactly as the hand-written model did. */
static void
test_profiles_declared(void **state)
{
	const struct resource *res = profile_resource();

	(void)state;
	assert_string_equal(res->select,
	    "id,username,display_name,bio,avatar_url,"
	    "gradient,is_private,created_at,updated_at,field_versions");
	assert_string_equal(res->owner->name, "id");
	assert_string_equal(res->visibility->name, "is_private");
	assert_string_equal(why(res, "username", "\"ab\""),
	    "must be 3 to 30 characters of a-z, 0-9 and _");
	assert_string_equal(why(res, "username", "\"al\\u202eice\""),
	    "must be 3 to 30 characters of a-z, 0-9 and _");
	assert_string_equal(why(res, "gradient", "\"#aabbcc,#001122\""), "");
	assert_string_equal(why(res, "gradient", "\"#aabbcc,\""),
	    "must be 1 to 4 colours like #a1b2c3, separated by commas");
	assert_string_equal(why(res, "bio", "\"a\\nb\""), "");
	assert_string_equal(why(res, "avatar_url", "\"ftp://x\""),
	    "must be an http or https URL");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_declaration),
		cmocka_unit_test(test_bad_declarations),
		cmocka_unit_test(test_patterns_accepted),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_patch),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_counter),
		cmocka_unit_test(test_increment_key),
		cmocka_unit_test(test_profiles_declared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

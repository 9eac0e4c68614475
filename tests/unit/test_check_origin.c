/* Unit tests for the origin's preflight: the report made from the origin's answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "profile.h"
#include "usecase_check_origin.h"

/* An OpenAPI description as PostgREST gives it, cut to what is read. */
#define COL(name, type) \
	"\"" name "\":{\"format\":\"" type "\",\"type\":\"string\"}"
#define RPC(name, arg, type) \
	"\"/rpc/" name "\":{\"post\":{\"parameters\":[{\"in\":\"body\"," \
	"\"name\":\"args\",\"required\":true,\"schema\":{\"type\":\"object\",\"properties\":" \
	"{\"" arg "\":{\"format\":\"" type "\"}},\"required\":[\"" arg \
	"\"]}}]}}"

static const char doc_ok[] = "{\"swagger\":\"2.0\",\"paths\":{\"/\":{},\"/profiles\":{}," RPC(
    "apply_profile_changes", "changes", "jsonb") "," RPC("delete_profile", "id",
    "uuid") "," RPC("profilecache_changed_since", "since",
    "timestamp with time zone") "},"
                                "\"definitions\":{\"profiles\":{\"properties\":{" COL(
                                    "id", "uuid") "," COL("username",
                                    "text") "," COL("display_name",
                                    "text") "," COL("bio",
                                    "character varying(200)") "," COL("avatar_url",
                                    "text") "," COL("gradient",
                                    "text") "," COL("is_private",
                                    "boolean") "," COL("created_at",
                                    "timestamp with time zone") "," COL("updated_at",
                                    "timestamp with time zone") "," COL("field_versions",
                                    "jsonb") "," COL("website", "text") "}}}}";

/* The Supabase user-management starter's table, nothing of profilecache's. */
static const char doc_starter[] =
    "{\"swagger\":\"2.0\",\"paths\":{\"/\":{},\"/profiles\":{}},"
    "\"definitions\":{\"profiles\":{\"properties\":{" COL("id",
        "text") "," COL("updated_at",
        "timestamp with time zone") "," COL("username",
        "text") "," COL("full_name", "text") "," COL("avatar_url",
        "text") "," COL("website", "text") "}}}}";

static const char apply_ok[] = "{\"results\":[],\"now\":1737222125123456}";
static const char changed_ok[] =
    "{\"rows\":[],\"deleted\":[],\"now\":\"2030-01-01T00:00:00+00:00\"}";
static const char missing_col[] =
    "{\"code\":\"42703\",\"details\":null,\"hint\":null,\"message\":\"column profiles.bio does not exist\"}";
static const char no_fn[] =
    "{\"code\":\"PGRST202\",\"details\":null,\"hint\":null,\"message\":\"Could not find the function\"}";

/* The line of rep that contains s, or NULL. */
static const char *
line_with(const struct check_report *rep, enum check_level level, const char *s)
{
	size_t i;

	for (i = 0; i < rep->nlines; i++)
		if (rep->lines[i].level == level &&
		    strstr(rep->lines[i].text, s) != NULL)
			return rep->lines[i].text;
	return NULL;
}

static bool
has_fix(const struct check_report *rep, const char *s)
{
	size_t i;

	for (i = 0; i < rep->nfixes; i++)
		if (strstr(rep->fixes[i], s) != NULL)
			return true;
	return false;
}

static void
test_columns_match_the_read_path(void **state)
{
	char all[512] = "";
	size_t i;

	(void)state;
	for (i = 0; i < CHECK_NCOLUMNS; i++) {
		if (i > 0)
			strcat(all, ",");
		strcat(all, check_column_name(i));
	}
	assert_string_equal(all, profile_select_columns());
	assert_null(check_column_name(CHECK_NCOLUMNS));
	assert_string_equal(check_column_type(0), "uuid");
}

static void
test_all_there(void **state)
{
	struct check_answers a = {
		.root = { 200, doc_ok },
		.columns = { 200, "[]" },
		.apply = { 200, apply_ok },
		.changed = { 200, changed_ok },
	};
	struct check_report rep;

	(void)state;
	check_origin_report(&a, &rep);
	assert_int_equal(rep.nfailed, 0);
	assert_int_equal(rep.nfixes, 0);
	assert_int_equal(rep.nlines, 4);
	assert_non_null(line_with(&rep, CHECK_OK,
	    "reads all 10 columns profilecache uses, each of the type"));
	assert_non_null(line_with(&rep, CHECK_OK,
	    "rpc/apply_profile_changes: takes an empty batch"));
	assert_non_null(line_with(&rep, CHECK_OK,
	    "rpc/delete_profile: in the origin's OpenAPI description"));
	assert_non_null(line_with(&rep, CHECK_OK,
	    "rpc/profilecache_changed_since: answers"));
}

static void
test_starter(void **state)
{
	struct check_answers a = {
		.root = { 200, doc_starter },
		.columns = { 400, missing_col },
		.apply = { 404, no_fn },
		.changed = { 404, no_fn },
	};
	struct check_report rep;
	size_t i;

	(void)state;
	for (i = 0; i < CHECK_NCOLUMNS; i++)
		a.column[i] = (struct check_answer){ 200, "[]" };
	check_origin_report(&a, &rep);
	assert_non_null(line_with(&rep, CHECK_FAIL,
	    "profiles: missing columns: display_name, bio, "
	    "gradient, is_private, created_at, field_versions"));
	assert_non_null(line_with(&rep, CHECK_FAIL,
	    "profiles: id is text, profilecache needs uuid"));
	assert_non_null(line_with(&rep, CHECK_FAIL,
	    "rpc/apply_profile_changes: not in the origin's"));
	assert_non_null(line_with(&rep, CHECK_FAIL,
	    "rpc/delete_profile: not in the origin's"));
	assert_non_null(line_with(&rep, CHECK_FAIL,
	    "rpc/profilecache_changed_since: not in the origin's"));
	assert_int_equal(rep.nfailed, 5);
	assert_true(has_fix(&rep,
	    "load schema/postgres/10_profiles.sql, 20_policies.sql, 30_apply.sql and 40_changes.sql"));
	assert_true(has_fix(&rep, "change the columns named above"));
	assert_true(has_fix(&rep, "reload schema"));
	/* Each fix once, though several lines call for it. */
	for (i = 1; i < rep.nfixes; i++)
		assert_string_not_equal(rep.fixes[i], rep.fixes[i - 1]);
}

static void
test_without_openapi(void **state)
{
	struct check_answers a = {
		.root = { 404,
		    "{\"code\":\"PGRST126\",\"message\":\"Root endpoint metadata is disabled\"}" },
		.columns = { 400, missing_col },
		.apply = { 200, apply_ok },
		.changed = { 200, changed_ok },
		.del = { 400,
		    "{\"code\":\"22004\",\"message\":\"delete_profile: id must not be null\"}" },
	};
	struct check_report rep;
	size_t i;

	(void)state;
	for (i = 0; i < CHECK_NCOLUMNS; i++)
		a.column[i] = (struct check_answer){ 200, "[]" };
	a.column[3] = (struct check_answer){ 400, missing_col };
	a.column[9] = (struct check_answer){ 400, "{\"code\":\"PGRST204\"}" };
	check_origin_report(&a, &rep);
	assert_non_null(line_with(&rep, CHECK_NOTE,
	    "GET / (the OpenAPI description) gave none (HTTP 404"));
	assert_non_null(line_with(&rep, CHECK_FAIL,
	    "profiles: missing columns: bio, field_versions"));
	assert_non_null(line_with(&rep, CHECK_OK,
	    "rpc/delete_profile: refuses a null id with 22004"));
	assert_int_equal(rep.nfailed, 1);

	/* A delete_profile that takes a null id is someone else's. */
	a.del = (struct check_answer){ 200, "{}" };
	check_origin_report(&a, &rep);
	assert_non_null(line_with(&rep, CHECK_FAIL,
	    "not profilecache's function"));
	a.del = (struct check_answer){ 404, no_fn };
	check_origin_report(&a, &rep);
	assert_non_null(line_with(&rep, CHECK_FAIL,
	    "rpc/delete_profile: no such function (PGRST202)"));
}

static void
test_refused_and_unreachable(void **state)
{
	struct check_answers a = {
		.root = { 403,
		    "{\"message\":\"You cannot consume this service\"}" },
		.columns = { 401, "{\"message\":\"Invalid API key\"}" },
		.apply = { 401, "{\"message\":\"Invalid API key\"}" },
		.changed = { 401, "{\"message\":\"Invalid API key\"}" },
		.del = { 401, "{\"message\":\"Invalid API key\"}" },
	};
	struct check_report rep;

	(void)state;
	check_origin_report(&a, &rep);
	assert_int_equal(rep.nfailed, 4);
	assert_non_null(line_with(&rep, CHECK_FAIL,
	    "profiles: the service key cannot read it (HTTP 401"));
	assert_int_equal(rep.nfixes, 1);
	assert_true(has_fix(&rep, "check [origin] service_key_file"));

	memset(&a, 0, sizeof(a));
	a.unreachable = "origin: Failed to connect";
	check_origin_report(&a, &rep);
	assert_int_equal(rep.nfailed, 1);
	assert_int_equal(rep.nlines, 1);
	assert_true(has_fix(&rep, "check [origin] url"));
}

static void
test_no_table(void **state)
{
	struct check_answers a = {
		.root = { 200,
		    "{\"swagger\":\"2.0\",\"paths\":{\"/\":{}},\"definitions\":{}}" },
		.columns = { 404,
		    "{\"code\":\"PGRST205\",\"message\":\"Could not find the table\"}" },
		.apply = { 404, no_fn },
		.changed = { 404, no_fn },
	};
	struct check_report rep;

	(void)state;
	check_origin_report(&a, &rep);
	assert_non_null(line_with(&rep, CHECK_FAIL,
	    "profiles: there is no table public.profiles"));
	/* No column is named missing when there is no table. */
	assert_null(line_with(&rep, CHECK_FAIL, "missing columns"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_columns_match_the_read_path),
		cmocka_unit_test(test_all_there),
		cmocka_unit_test(test_starter),
		cmocka_unit_test(test_without_openapi),
		cmocka_unit_test(test_refused_and_unreachable),
		cmocka_unit_test(test_no_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

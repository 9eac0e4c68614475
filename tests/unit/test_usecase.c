/* Unit tests for the read, write and delete use-cases over fake stores (fake_stores.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "app.h"
#include "cache.h"
#include "clock.h"
#include "fake_stores.h"
#include "journal_files.h"
#include "origin.h"
#include "profile.h"
#include "resource.h"
#include "usecase_list.h"
#include "usecase_read.h"
#include "usecase_write.h"

#define ID "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01"
#define ROW \
	"{\"id\":\"" ID "\",\"username\":\"ann\",\"display_name\":\"Ann\"," \
	"\"bio\":\"old bio\",\"avatar_url\":null,\"gradient\":null,\"is_private\":false," \
	"\"created_at\":\"2026-01-01T00:00:00Z\",\"updated_at\":\"2026-01-01T00:00:00Z\"}"

static struct app app;
static const struct resource *res;
/* The journal is faked; the row locks beside it are real files. */
static char journal_path[64];

static int
setup(void **state)
{
	char err[PC_ERRLEN];

	fake_reset();
	memset(&app, 0, sizeof(app));
	(void)snprintf(journal_path, sizeof(journal_path),
	    "/tmp/test_usecase.%ld.db", (long)getpid());
	app.cfg.journal_path = journal_path;
	app.cfg.journal_synchronous = (char *)"full";
	app.cfg.cache_fresh_ttl = 600;
	app.cfg.cache_stale_ttl = 60;
	app.cfg.cache_negative_ttl = 30;
	app.cfg.cache_lock_ttl = 5;
	app.cfg.cache_lock_wait_ms = 0;
	assert_int_equal(cache_open(&app.cfg, &app.cache, err), PC_OK);
	assert_int_equal(origin_open(&app.cfg, &app.origin, err), PC_OK);
	res = profile_resource();
	return 0;
}

static int
teardown(void **state)
{
	char path[sizeof(journal_path) + 16];

	(void)snprintf(path, sizeof(path), "%s" JOURNAL_FILE_ROWLOCK,
	    journal_path);
	(void)unlink(path);
	fake_reset();
	return 0;
}

/* Whether an entry's body holds needle (the body is not NUL-terminated). */
static bool
body_has(const struct cache_entry *e, const char *needle)
{
	return e->body != NULL &&
	    memmem(e->body, e->body_len, needle, strlen(needle)) != NULL;
}

/* Whether an answer holds needle. */
static bool
answer_has(const struct answer *a, const char *needle)
{
	return a->body != NULL &&
	    memmem(a->body, a->body_len, needle, strlen(needle)) != NULL;
}

/* Whether the fake memcached's entry of ID holds needle in its body. */
static bool
cached_has(const char *needle)
{
	struct fake_item *it = fake_cache_find(res->item, ID);
	struct cache_entry e;

	return it != NULL &&
	    cache_entry_decode(it->raw, it->len, &e) == PC_OK &&
	    body_has(&e, needle);
}

/* Put an entry of ID with body into the fake memcached, fresh or stale. */
static void
cache_seed(const char *body, bool fresh)
{
	struct cache_entry e = {
		.updated_at_us = INT64_C(1767225600000000),
		.fresh_until_us =
		    clock_now_us() + (fresh ? 1 : -1) * INT64_C(600000000),
	};

	assert_int_equal(cache_entry_build(&e, body, strlen(body)), PC_OK);
	assert_int_equal(cache_put(app.cache, res->item, ID, &e, 660), PC_OK);
	cache_entry_release(&e);
}

/* --- read ------------------------------------------------------------------ */

static void
test_read_hit(void **state)
{
	struct read_result rd;

	cache_seed("{\"profile\":{\"id\":\"" ID
	           "\",\"bio\":\"cached\"},\"sync\":\"synced\"}",
	    true);
	fake_origin_row(res->table, ID, ROW);
	usecase_read(&app, res, ID, &rd);
	assert_int_equal(rd.result, PC_OK);
	assert_int_equal(rd.source, READ_HIT);
	assert_false(rd.refresh);
	assert_true(answer_has(&rd.answer, "\"bio\":\"cached\""));
	assert_int_equal(fake.origin_gets,
	    0); /* a hit never asks the database */
	read_result_release(&rd);
}

static void
test_read_stale_is_served_and_refreshed_later(void **state)
{
	struct read_result rd;

	cache_seed("{\"profile\":{\"id\":\"" ID
	           "\",\"bio\":\"stale\"},\"sync\":\"synced\"}",
	    false);
	fake_origin_row(res->table, ID, ROW);
	usecase_read(&app, res, ID, &rd);
	assert_int_equal(rd.result, PC_OK);
	assert_int_equal(rd.source, READ_STALE);
	assert_true(rd.refresh);
	assert_true(answer_has(&rd.answer, "\"bio\":\"stale\""));
	assert_int_equal(fake.origin_gets, 0); /* not while the client waits */
	read_result_release(&rd);

	usecase_refresh(&app, res, ID);
	assert_int_equal(fake.origin_gets, 1);
	assert_true(cached_has("\"bio\":\"old bio\""));
}

/*
 * Two processes served the same stale entry; the first refreshed it and let
 * go of the lock before the second took it. The second finds it fresh.
 */
static void
test_read_stale_refreshed_once(void **state)
{
	struct read_result a, b;

	cache_seed("{\"profile\":{\"id\":\"" ID
	           "\",\"bio\":\"stale\"},\"sync\":\"synced\"}",
	    false);
	fake_origin_row(res->table, ID, ROW);
	usecase_read(&app, res, ID, &a);
	usecase_read(&app, res, ID, &b);
	assert_true(a.refresh && b.refresh);
	usecase_refresh(&app, res, ID);
	usecase_refresh(&app, res, ID);
	assert_int_equal(fake.origin_gets, 1);
	assert_true(cached_has("\"bio\":\"old bio\""));
	read_result_release(&a);
	read_result_release(&b);
}

static void
test_read_miss_is_filled_from_the_origin(void **state)
{
	struct read_result rd;

	fake_origin_row(res->table, ID, ROW);
	usecase_read(&app, res, ID, &rd);
	assert_int_equal(rd.result, PC_OK);
	assert_int_equal(rd.source, READ_MISS);
	assert_true(rd.found);
	assert_true(answer_has(&rd.answer, "\"bio\":\"old bio\""));
	assert_true(answer_has(&rd.answer, "\"sync\":\"synced\""));
	assert_int_equal(fake.origin_gets, 1);
	read_result_release(&rd);
	/* Stored: the next read is a hit. */
	assert_true(cached_has("\"bio\":\"old bio\""));
	usecase_read(&app, res, ID, &rd);
	assert_int_equal(rd.source, READ_HIT);
	assert_int_equal(fake.origin_gets, 1);
	read_result_release(&rd);
}

static void
test_read_origin_down_nothing_cached(void **state)
{
	struct read_result rd;

	fake.origin_get_result = PC_UNAVAILABLE;
	usecase_read(&app, res, ID, &rd);
	assert_int_equal(rd.result, PC_UNAVAILABLE);
	assert_int_equal(fake.nitems, 0); /* no not-found cached for it */
	read_result_release(&rd);
}

static void
test_read_not_found_is_cached_negatively(void **state)
{
	struct read_result rd;
	struct fake_item *it;
	struct cache_entry e;

	usecase_read(&app, res, ID, &rd);
	assert_int_equal(rd.result, PC_OK);
	assert_false(rd.found);
	/* Short-lived: the negative TTL, not the fresh one. */
	it = fake_cache_find(res->item, ID);
	assert_non_null(it);
	assert_int_equal(cache_entry_decode(it->raw, it->len, &e), PC_OK);
	assert_true(e.flags & CACHE_F_NOTFOUND);
	assert_true(e.fresh_until_us <= clock_now_us() + 30 * INT64_C(1000000));
	read_result_release(&rd);
	usecase_read(&app, res, ID, &rd);
	assert_int_equal(rd.result, PC_OK);
	assert_int_equal(rd.source, READ_HIT);
	assert_false(rd.found);
	assert_int_equal(fake.origin_gets, 1);
	read_result_release(&rd);
}

static void
test_read_memcached_down_reads_the_origin(void **state)
{
	struct read_result rd;

	fake.cache_get_result = PC_UNAVAILABLE;
	fake_origin_row(res->table, ID, ROW);
	usecase_read(&app, res, ID, &rd);
	assert_int_equal(rd.result, PC_OK);
	assert_int_equal(rd.source, READ_MISS);
	assert_true(answer_has(&rd.answer, "\"bio\":\"old bio\""));
	assert_int_equal(fake.cache_stores, 0);
	read_result_release(&rd);
}

static void
test_read_your_writes_on_a_miss(void **state)
{
	struct read_result rd;

	fake_origin_row(res->table, ID, ROW);
	fake_journal_add(res->item, ID, "{\"bio\":\"journaled\"}",
	    clock_now_us(), FAKE_PENDING);
	usecase_read(&app, res, ID, &rd);
	assert_int_equal(rd.result, PC_OK);
	assert_true(answer_has(&rd.answer, "\"bio\":\"journaled\""));
	assert_true(answer_has(&rd.answer, "\"sync\":\"pending\""));
	assert_true(answer_has(&rd.answer, "\"username\":\"ann\""));
	read_result_release(&rd);
}

static void
test_read_older_pending_change_loses_to_a_newer_field(void **state)
{
	struct read_result rd;

	/* The database's bio was set after this node's pending change. */
	fake_origin_row(res->table, ID,
	    "{\"id\":\"" ID "\",\"username\":\"ann\","
	    "\"bio\":\"newer\",\"is_private\":false,\"created_at\":\"2026-01-01T00:00:00Z\","
	    "\"updated_at\":\"2026-01-01T00:00:00Z\",\"field_versions\":"
	    "{\"bio\":1767225600000000}}");
	fake_journal_add(res->item, ID, "{\"bio\":\"older\"}",
	    INT64_C(1767225500000000), FAKE_PENDING);
	usecase_read(&app, res, ID, &rd);
	assert_int_equal(rd.result, PC_OK);
	assert_true(answer_has(&rd.answer, "\"bio\":\"newer\""));
	read_result_release(&rd);
}

static void
test_read_journal_unreadable_on_a_miss(void **state)
{
	struct read_result rd;

	/* Without the journal a miss could hide an acknowledged write. */
	fake_origin_row(res->table, ID, ROW);
	fake.journal_read_result = PC_UNAVAILABLE;
	usecase_read(&app, res, ID, &rd);
	assert_int_equal(rd.result, PC_UNAVAILABLE);
	assert_int_equal(fake.nitems, 0);
	read_result_release(&rd);
}

/* --- hidden rows: whose they are, for the route's check -------------------------- */

#define OWNER "0f9d8c7b-6a5e-4d3c-8b2a-1f0e9d8c7b6a"

static void
test_read_private_profile_is_hidden_and_its_own(void **state)
{
	struct read_result rd;

	fake_origin_row(res->table, ID,
	    "{\"id\":\"" ID "\",\"username\":\"ann\","
	    "\"bio\":\"mine\",\"is_private\":true,"
	    "\"created_at\":\"2026-01-01T00:00:00Z\",\"updated_at\":\"2026-01-01T00:00:00Z\"}");
	usecase_read(&app, res, ID, &rd);
	assert_int_equal(rd.result, PC_OK);
	assert_true(rd.found);
	assert_true(rd.hidden);
	assert_string_equal(rd.owner, ID); /* owner = id */
	assert_true(answer_has(&rd.answer, "\"bio\":\"mine\""));
	read_result_release(&rd);
}

static const char steps_declaration[] =
    "[resource steps]\nitem = step\nowner = user_id\nread = owner\n"
    "[field steps.id]\ntype = uuid\npolicy = readonly\n"
    "[field steps.user_id]\ntype = uuid\npolicy = server\n"
    "[field steps.step]\ntype = integer\n"
    "[field steps.updated_at]\ntype = timestamp\npolicy = server\n";

static void
read_step(const char *user_id_json, struct read_result *rd)
{
	struct resources set;
	char err[PC_ERRLEN], row[256];

	assert_int_equal(resources_parse(&set, steps_declaration, err), PC_OK);
	(void)snprintf(row, sizeof(row),
	    "{\"id\":\"" ID "\",\"user_id\":%s,"
	    "\"step\":3,\"updated_at\":\"2026-01-01T00:00:00Z\"}",
	    user_id_json);
	fake_origin_row("steps", ID, row);
	usecase_read(&app, &set.v[0], ID, rd);
	resources_free(&set);
}

static void
test_read_owner_only_row_names_its_owner(void **state)
{
	struct read_result rd;

	read_step("\"" OWNER "\"", &rd);
	assert_int_equal(rd.result, PC_OK);
	assert_true(rd.found);
	assert_true(rd.hidden);
	assert_string_equal(rd.owner, OWNER); /* the owner field, not the key */
	read_result_release(&rd);
}

static void
test_read_owner_longer_than_an_id_is_nobodys(void **state)
{
	struct read_result rd;

	/* Cut to an id's length it would name OWNER: it must name no one. */
	read_step("\"" OWNER "-and-more\"", &rd);
	assert_int_equal(rd.result, PC_OK);
	assert_true(rd.hidden);
	assert_string_equal(rd.owner, "");
	read_result_release(&rd);
}

/* --- write ----------------------------------------------------------------- */

/* PATCH {"bio": bio} of ID as the admin; outcome in *out (released by the caller). */
static void
patch_bio(const char *bio, const struct http_if_match *m,
    struct write_result *out)
{
	struct write_request w = { .res = res, .id = ID };
	json_t *patch = json_pack("{s:s}", "bio", bio);

	assert_non_null(patch);
	w.patch = patch;
	w.if_match = m;
	usecase_write(&app, &w, out);
	json_decref(patch);
}

static void
test_write_acknowledged_after_the_journal(void **state)
{
	struct write_result wr;

	fake_origin_row(res->table, ID, ROW);
	patch_bio("new bio", NULL, &wr);
	assert_int_equal(wr.outcome, WRITE_PENDING);
	assert_int_equal(fake.journal_appends, 1);
	assert_int_equal(fake.nchanges, 1);
	assert_string_equal(fake.changes[0].patch, "{\"bio\":\"new bio\"}");
	assert_int_equal(wr.version_us, fake.changes[0].version_us);
	assert_true(answer_has(&wr.answer, "\"bio\":\"new bio\""));
	assert_true(answer_has(&wr.answer, "\"sync\":\"pending\""));
	/* The cache shows it at once. */
	assert_true(cached_has("\"bio\":\"new bio\""));
	write_result_release(&wr);
}

static void
test_write_version_above_the_cached_one(void **state)
{
	struct write_result wr;
	struct cache_entry e = {
		/* A version ahead of this node's clock: another node's. */
		.updated_at_us = clock_now_us() + INT64_C(3600000000),
		.fresh_until_us = clock_now_us() + INT64_C(600000000),
		.versions = "{\"bio\":1}",
		.versions_len = 9,
	};
	const char *body =
	    "{\"profile\":{\"id\":\"" ID "\",\"username\":\"ann\","
	    "\"bio\":\"x\",\"is_private\":false},\"sync\":\"synced\"}";

	assert_int_equal(cache_entry_build(&e, body, strlen(body)), PC_OK);
	assert_int_equal(cache_put(app.cache, res->item, ID, &e, 660), PC_OK);
	patch_bio("later", NULL, &wr);
	assert_int_equal(wr.outcome, WRITE_PENDING);
	assert_true(wr.version_us > e.updated_at_us);
	cache_entry_release(&e);
	write_result_release(&wr);
}

static void
test_write_journal_down_is_not_acknowledged(void **state)
{
	struct write_result wr;
	struct read_result rd;
	unsigned stores;

	fake_origin_row(res->table, ID, ROW);
	usecase_read(&app, res, ID, &rd); /* cached */
	read_result_release(&rd);
	stores = fake.cache_stores;
	fake.journal_append_result = PC_UNAVAILABLE;
	patch_bio("lost", NULL, &wr);
	assert_int_equal(wr.outcome, WRITE_UNAVAILABLE);
	assert_int_equal(fake.nchanges, 0);
	assert_int_equal(fake.cache_stores, stores);
	assert_true(cached_has("\"bio\":\"old bio\""));
	assert_null(wr.answer.raw);
	write_result_release(&wr);
}

static void
test_write_journal_that_cannot_open(void **state)
{
	struct write_result wr;

	fake_origin_row(res->table, ID, ROW);
	fake.journal_open_result = PC_UNAVAILABLE;
	patch_bio("lost", NULL, &wr);
	assert_int_equal(wr.outcome, WRITE_UNAVAILABLE);
	assert_int_equal(fake.nchanges, 0);
	assert_int_equal(fake.nitems, 0);
	write_result_release(&wr);
}

static void
test_write_over_budget(void **state)
{
	struct write_result wr;

	fake_origin_row(res->table, ID, ROW);
	fake.journal_append_result = PC_TOOBIG;
	patch_bio("too much", NULL, &wr);
	assert_int_equal(wr.outcome, WRITE_OVER_BUDGET);
	assert_int_equal(fake.nchanges, 0);
	assert_false(cached_has("too much"));
	write_result_release(&wr);
}

static void
test_write_cache_down_still_acknowledged(void **state)
{
	struct write_result wr;

	fake_origin_row(res->table, ID, ROW);
	fake.cache_get_result = PC_UNAVAILABLE;
	fake.cache_store_result = PC_UNAVAILABLE;
	patch_bio("durable", NULL, &wr);
	/* The journal is the truth: committed, so acknowledged. */
	assert_int_equal(wr.outcome, WRITE_PENDING);
	assert_int_equal(fake.nchanges, 1);
	assert_true(answer_has(&wr.answer, "\"bio\":\"durable\""));
	write_result_release(&wr);
}

static void
test_write_cache_update_failed_drops_the_old_entry(void **state)
{
	struct write_result wr;

	/* memcached answers the read, then fails the CAS: the old entry must
	 * not stay to be read as if the write had not happened. */
	fake_origin_row(res->table, ID, ROW);
	cache_seed("{\"profile\":{\"id\":\"" ID
	           "\",\"bio\":\"cached\"},\"sync\":\"synced\"}",
	    true);
	fake.cache_store_result = PC_UNAVAILABLE;
	patch_bio("acknowledged", NULL, &wr);
	assert_int_equal(wr.outcome, WRITE_PENDING);
	assert_int_equal(fake.nchanges, 1);
	assert_true(answer_has(&wr.answer, "\"bio\":\"acknowledged\""));
	assert_null(fake_cache_find(res->item, ID));
	write_result_release(&wr);
}

static void
test_write_blind_while_the_database_is_away(void **state)
{
	struct write_result wr;

	/* Nothing cached, the database down: journaled all the same. */
	fake.origin_get_result = PC_UNAVAILABLE;
	patch_bio("blind", NULL, &wr);
	assert_int_equal(wr.outcome, WRITE_PENDING);
	assert_int_equal(fake.nchanges, 1);
	assert_int_equal(fake.nitems, 0); /* no base: nothing cached */
	write_result_release(&wr);
}

static void
test_write_if_match_mismatch(void **state)
{
	struct http_if_match m = { .present = true,
		.ntags = 1,
		.tags = { 42 } };
	struct write_result wr;

	fake_origin_row(res->table, ID, ROW);
	patch_bio("guarded", &m, &wr);
	assert_int_equal(wr.outcome, WRITE_PRECONDITION);
	assert_int_equal(fake.nchanges, 0);
	write_result_release(&wr);
}

static void
test_write_if_match_current_tag(void **state)
{
	struct http_if_match m = { .present = true, .ntags = 1 };
	struct write_result wr;
	struct read_result rd;

	fake_origin_row(res->table, ID, ROW);
	usecase_read(&app, res, ID, &rd);
	m.tags[0] = rd.answer.tag;
	read_result_release(&rd);
	patch_bio("guarded", &m, &wr);
	assert_int_equal(wr.outcome, WRITE_PENDING);
	assert_int_equal(fake.nchanges, 1);
	write_result_release(&wr);
}

static void
test_write_merge_into_nothing(void **state)
{
	struct write_result wr;

	patch_bio("nobody", NULL, &wr);
	assert_int_equal(wr.outcome, WRITE_NOT_FOUND);
	assert_int_equal(fake.nchanges, 0);
	write_result_release(&wr);
}

/* --- delete ---------------------------------------------------------------- */

static void
test_delete_goes_to_the_database_first(void **state)
{
	struct read_result rd;

	fake_origin_row(res->table, ID, ROW);
	usecase_read(&app, res, ID, &rd);
	read_result_release(&rd);
	fake_journal_add(res->item, ID, "{\"bio\":\"pending\"}", clock_now_us(),
	    FAKE_PENDING);
	fake.origin_rpc_answer = "{\"status\":\"deleted\"}";
	assert_int_equal(usecase_delete(&app, res, ID, NULL), DELETE_DONE);
	assert_string_equal(fake.origin_rpc_fn, "delete_profile");
	assert_int_equal(fake.changes[0].state, FAKE_CANCELLED);
	assert_null(fake_cache_find(res->item, ID));
}

static void
test_delete_database_down_changes_nothing(void **state)
{
	struct read_result rd;

	fake_origin_row(res->table, ID, ROW);
	usecase_read(&app, res, ID, &rd);
	read_result_release(&rd);
	fake_journal_add(res->item, ID, "{\"bio\":\"pending\"}", clock_now_us(),
	    FAKE_PENDING);
	fake.origin_rpc_result = PC_UNAVAILABLE;
	assert_int_equal(usecase_delete(&app, res, ID, NULL),
	    DELETE_UNAVAILABLE);
	assert_int_equal(fake.changes[0].state, FAKE_PENDING);
	assert_true(cached_has("\"bio\":\"old bio\""));
}

static void
test_delete_of_nothing(void **state)
{
	fake.origin_rpc_answer = "{\"status\":\"not_found\"}";
	assert_int_equal(usecase_delete(&app, res, ID, NULL), DELETE_NOT_FOUND);
}

/* --- list generations --------------------------------------------------------- */

static const char tasks_declaration[] =
    "[resource tasks]\nitem = task\nowner = user_id\n"
    "[field tasks.id]\ntype = uuid\npolicy = readonly\n"
    "[field tasks.user_id]\ntype = uuid\npolicy = server\nfilter = true\n"
    "[field tasks.title]\ntype = text\n"
    "[field tasks.status]\ntype = enum\nvalues = open, done\nfilter = true\n"
    "[field tasks.due_at]\ntype = timestamp\nfilter = true\n"
    "[field tasks.updated_at]\ntype = timestamp\npolicy = server\n";

#define TASK_ROW(id, status) \
	"{\"id\":\"" id "\",\"user_id\":\"" OWNER "\",\"title\":\"t\"," \
	"\"status\":\"" status "\",\"due_at\":\"2030-01-01T00:00:00Z\"}"
#define ID2 "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b02"
#define ID3 "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b03"

/* How many generations starting with prefix were moved on. */
static unsigned
bumps_with(const char *prefix)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < fake.nbumped; i++)
		n += strncmp(fake.bumped[i], prefix, strlen(prefix)) == 0;
	return n;
}

/* Touch rows (JSON texts, or NULL) of tasks with patch (or NULL). */
static void
touch_tasks(const char *const *rows, const char *owner, const char *patch,
    size_t n)
{
	struct list_touch t[4];
	struct resources set;
	char err[PC_ERRLEN];
	size_t i;

	assert_int_equal(resources_parse(&set, tasks_declaration, err), PC_OK);
	memset(t, 0, sizeof(t));
	for (i = 0; i < n; i++) {
		t[i].id = i == 0 ? ID : i == 1 ? ID2 : ID3;
		t[i].owner = owner;
		t[i].row =
		    rows[i] != NULL ? json_loads(rows[i], 0, NULL) : NULL;
		t[i].patch = patch != NULL ? json_loads(patch, 0, NULL) : NULL;
	}
	usecase_list_touched(&app, &set.v[0], t, n);
	for (i = 0; i < n; i++) {
		json_decref(t[i].row);
		json_decref(t[i].patch);
	}
	resources_free(&set);
}

static void
test_list_change_leaving_a_filter_alone_keeps_other_values(void **state)
{
	const char *rows[] = { TASK_ROW(ID, "open") };

	touch_tasks(rows, NULL, "{\"title\":\"t\"}", 1);
	assert_int_equal(fake_bumps("task"), 1); /* pages without a filter */
	/* status and the owner left alone: their values' generations, not
	 * their epochs, so the pages of other values stay */
	assert_int_equal(fake_bumps("task~status"), 0);
	assert_int_equal(bumps_with("task~status="), 1);
	assert_int_equal(fake_bumps("task~user_id"), 0);
	assert_int_equal(bumps_with("task~user_id="), 1);
	/* a time is compared by value: its pages have the epoch only */
	assert_int_equal(fake_bumps("task~due_at"), 1);
}

static void
test_list_change_of_a_filter_moves_its_epoch(void **state)
{
	const char *rows[] = { TASK_ROW(ID, "done") };

	/* The value it had is not known: every page filtered on it. */
	touch_tasks(rows, NULL, "{\"status\":\"done\"}", 1);
	assert_int_equal(fake_bumps("task~status"), 1);
	assert_int_equal(bumps_with("task~status="), 0);
	/* the owner never changes */
	assert_int_equal(fake_bumps("task~user_id"), 0);
	assert_int_equal(bumps_with("task~user_id="), 1);
}

static void
test_list_row_not_known_moves_every_epoch(void **state)
{
	const char *rows[] = { NULL };

	touch_tasks(rows, NULL, NULL, 1);
	assert_int_equal(fake_bumps("task~user_id"), 1);
	assert_int_equal(fake_bumps("task~status"), 1);
	assert_int_equal(bumps_with("task~user_id="), 0);
	assert_int_equal(bumps_with("task~status="), 0);
	fake_reset();
	/* With its owner known (a delete), that owner's pages only. */
	touch_tasks(rows, OWNER, NULL, 1);
	assert_int_equal(fake_bumps("task~user_id"), 0);
	assert_int_equal(bumps_with("task~user_id="), 1);
	assert_int_equal(fake_bumps("task~status"), 1);
}

static void
test_list_one_value_moved_on_once(void **state)
{
	const char *rows[] = { TASK_ROW(ID, "open"), TASK_ROW(ID2, "open"),
		TASK_ROW(ID3, "done") };

	touch_tasks(rows, NULL, "{\"title\":\"t\"}", 3);
	assert_int_equal(fake_bumps("task"), 1);
	assert_int_equal(bumps_with("task~status="), 2); /* open, done */
	assert_int_equal(bumps_with("task~user_id="), 1);
	assert_int_equal(fake_bumps("task~status"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_hit, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_list_change_leaving_a_filter_alone_keeps_other_values,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_list_change_of_a_filter_moves_its_epoch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_list_row_not_known_moves_every_epoch, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_list_one_value_moved_on_once, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_stale_is_served_and_refreshed_later, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_read_stale_refreshed_once,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_miss_is_filled_from_the_origin, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_origin_down_nothing_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_not_found_is_cached_negatively, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_memcached_down_reads_the_origin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_your_writes_on_a_miss,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_older_pending_change_loses_to_a_newer_field,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_journal_unreadable_on_a_miss, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_write_acknowledged_after_the_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_write_version_above_the_cached_one, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_write_journal_down_is_not_acknowledged, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_write_journal_that_cannot_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_over_budget, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_private_profile_is_hidden_and_its_own, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_owner_only_row_names_its_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_owner_longer_than_an_id_is_nobodys, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_write_cache_down_still_acknowledged, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_write_cache_update_failed_drops_the_old_entry, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_write_blind_while_the_database_is_away, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_write_if_match_mismatch,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_if_match_current_tag,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_merge_into_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_delete_goes_to_the_database_first, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_delete_database_down_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_of_nothing, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

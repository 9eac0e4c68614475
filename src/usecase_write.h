/* The write of a resource's row: deferred (journal + cache) or, for a through field, through the database. */
#ifndef PC_USECASE_WRITE_H
#define PC_USECASE_WRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "http.h"
#include "result.h"

struct app;
struct json_t;

enum write_outcome {
	WRITE_PENDING,		/* journaled and cached: 202 */
	WRITE_SYNCED,		/* written to the database: 200 */
	WRITE_NOT_FOUND,	/* a merge into a row that does not exist */
	WRITE_FORBIDDEN,	/* the row is another user's */
	WRITE_EXISTS,		/* a create of an id that has a row */
	WRITE_PRECONDITION,	/* If-Match does not match the current version */
	WRITE_USERNAME_TAKEN,	/* profiles' username, or a unique value */
	WRITE_REJECTED,		/* the database refused a value */
	WRITE_OVER_BUDGET,	/* the id's pending changes would pass max_pending */
	WRITE_UNAVAILABLE,	/* nothing written: journal or database down */
	WRITE_ERROR
};

struct write_request {
	const struct resource *res;
	const char *id;			/* a validated canonical UUID */
	const char *actor;		/* the caller's user id; NULL: the admin.
					   Checked against the row's owner field
					   when that is not the key (the route
					   checked the key) */
	bool replace;			/* PUT: every editable field */
	bool create;			/* POST: only if there is no row */
	bool new_id;			/* id is a random one made here, that
					   nobody else can have chosen */
	struct json_t *patch;		/* from resource_patch_parse(), borrowed */
	const struct http_if_match *if_match;
	int64_t max_pending;		/* bytes of pending changes the id may
					   hold with this one; 0: no limit */
};

struct write_result {
	enum write_outcome outcome;
	struct cache_entry entry;	/* the new version: body and ETag tag */
	/* WRITE_REJECTED: this project's error code and message for what the
	 * database refused (static strings); the database's own words are
	 * logged, never answered. */
	const char *reject_code, *reject_message;
	int64_t seq;			/* WRITE_PENDING: the journal entry */
	int64_t version_us;		/* WRITE_PENDING: the change's version */
	struct json_t *before;		/* the row before the write, or NULL;
					   owned: write_result_release() */
};

/*
 * Count a write by actor (a user id) against the per-minute limit.
 * True when it may go ahead; otherwise *retry_after is the seconds until
 * the window ends. With memcached down writes are let through: the
 * journal, not the limiter, is what must not fail.
 */
bool usecase_write_admit(struct app *app, const char *actor, long *retry_after);

/*
 * Write w. When the patch changes no write-through field, the change is
 * appended to the journal (acknowledged only after the commit returned),
 * and the cache entry is updated with CAS (or dropped when another writer
 * raced it): WRITE_PENDING; or, when the id's pending changes and this one
 * would hold more than w->max_pending bytes, nothing is written:
 * WRITE_OVER_BUDGET. When it changes a write-through field (profiles'
 * username), the change, with this node's pending changes of the id, goes
 * to the database first (resource_apply_fn()), and the result is cached:
 * WRITE_SYNCED.
 * When the owner is a field of its own (not the key), a row that exists
 * must hold w->actor there (else WRITE_FORBIDDEN), and a new row is created
 * with it; the admin (actor NULL) writes any row. A user's write while the
 * database cannot be read is WRITE_UNAVAILABLE: nothing proves the row
 * theirs.
 * On success res->entry owns the new body; release it with
 * cache_entry_release().
 */
void usecase_write(struct app *app, const struct write_request *w,
    struct write_result *res);
void write_result_release(struct write_result *res);

enum delete_outcome {
	DELETE_DONE,		/* 204 */
	DELETE_FORBIDDEN,	/* the row is another user's */
	DELETE_NOT_FOUND,	/* neither the database nor this node had it */
	DELETE_UNAVAILABLE,	/* the database did not answer: nothing changed */
	DELETE_ERROR
};

/*
 * Delete row id of res synchronously: the database first (its delete
 * function leaves a tombstone so a late replay cannot bring the row back),
 * then this node's pending changes of it are cancelled and its cache entry
 * dropped. With an owner field of its own, a user (actor) deletes only a
 * row that holds them (DELETE_FORBIDDEN otherwise; DELETE_UNAVAILABLE when
 * the row cannot be read).
 */
enum delete_outcome usecase_delete(struct app *app, const struct resource *res,
    const char *id, const char *actor);

#endif

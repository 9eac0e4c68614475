/* The profile write: deferred (journal + cache) or, for username, through the database. */
#ifndef PC_USECASE_PROFILE_WRITE_H
#define PC_USECASE_PROFILE_WRITE_H

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
	WRITE_NOT_FOUND,	/* a merge into a profile that does not exist */
	WRITE_PRECONDITION,	/* If-Match does not match the current version */
	WRITE_USERNAME_TAKEN,
	WRITE_REJECTED,		/* the database refused a value */
	WRITE_OVER_BUDGET,	/* the id's pending changes would pass max_pending */
	WRITE_UNAVAILABLE,	/* nothing written: journal or database down */
	WRITE_ERROR
};

struct profile_write {
	const char *id;			/* a validated canonical UUID */
	bool replace;			/* PUT: every editable field */
	struct json_t *patch;		/* from profile_patch_parse(), borrowed */
	const struct http_if_match *if_match;
	int64_t max_pending;		/* bytes of pending changes the id may
					   hold with this one; 0: no limit */
};

struct profile_write_result {
	enum write_outcome outcome;
	struct cache_entry entry;	/* the new version: body and ETag tag */
	/* WRITE_REJECTED: this project's error code and message for what the
	 * database refused (static strings); the database's own words are
	 * logged, never answered. */
	const char *reject_code, *reject_message;
	int64_t seq;			/* WRITE_PENDING: the journal entry */
	int64_t version_us;		/* WRITE_PENDING: the change's version */
	struct json_t *before;		/* the profile before the write, or NULL;
					   owned: profile_write_result_release() */
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
 * WRITE_OVER_BUDGET. When it changes username, the change, with
 * this node's pending changes of the id, goes to the database first
 * through apply_profile_changes, and the result is cached: WRITE_SYNCED.
 * On success res->entry owns the new body; release it with
 * cache_entry_release().
 */
void usecase_profile_write(struct app *app, const struct profile_write *w,
    struct profile_write_result *res);
void profile_write_result_release(struct profile_write_result *res);

enum delete_outcome {
	DELETE_DONE,		/* 204 */
	DELETE_NOT_FOUND,	/* neither the database nor this node had it */
	DELETE_UNAVAILABLE,	/* the database did not answer: nothing changed */
	DELETE_ERROR
};

/*
 * Delete profile id synchronously: the database first (delete_profile
 * leaves a tombstone so a late replay cannot bring the row back), then this
 * node's pending changes of it are cancelled and its cache entry dropped.
 */
enum delete_outcome usecase_profile_delete(struct app *app, const char *id);

#endif

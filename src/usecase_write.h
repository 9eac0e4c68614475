/* The write of a resource's row: deferred (journal + cache) or, for a through field, through the database. */
#ifndef PC_USECASE_WRITE_H
#define PC_USECASE_WRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "http.h"
#include "resource.h"
#include "result.h"
#include "usecase_read.h"

struct app;
struct json_t;

/* The version a write starts from. */
struct write_base {
	struct json_t *row; /* the row object, NULL when there is none */
	struct json_t
	    *versions;         /* its field versions (an object, maybe empty) */
	int64_t updated_at_us; /* -1 when there is no row */
	uint64_t tag;          /* its ETag */
	bool have_cas;         /* a cache entry exists: update it with CAS */
	uint64_t cas;
	bool blind; /* the database could not be read: the base is
				   unknown until the flush, nothing is cached */
};

/*
 * Find row id's current version: the cache entry if there is one, else the
 * database row with pending changes laid over it. A cached not-found is
 * not trusted for a write: the row may have been created since.
 * PC_UNAVAILABLE: neither has it (the database is away); b->blind is not
 * set here. Release with write_base_release().
 */
enum pc_result usecase_write_base(struct app *app, const struct resource *res,
    const char *id, struct write_base *b);
void write_base_release(struct write_base *b);

enum write_outcome {
	WRITE_PENDING,        /* journaled and cached: 202 */
	WRITE_SYNCED,         /* written to the database: 200 */
	WRITE_NOT_FOUND,      /* a merge into a row that does not exist */
	WRITE_FORBIDDEN,      /* the row is another user's */
	WRITE_EXISTS,         /* a create of an id that has a row */
	WRITE_PRECONDITION,   /* If-Match does not match the current version */
	WRITE_USERNAME_TAKEN, /* profiles' username, or a unique value */
	WRITE_REJECTED,       /* the database refused a value */
	WRITE_OVER_BUDGET, /* the id's pending changes would pass max_pending */
	WRITE_UNAVAILABLE, /* nothing written: journal or database down */
	WRITE_ERROR
};

struct write_request {
	const struct resource *res;
	const char *id;       /* a validated canonical UUID */
	const char *actor;    /* the caller's user id; NULL: the admin.
					   Checked against the row's owner field
					   when that is not the key (the route
					   checked the key) */
	bool replace;         /* PUT: every editable field */
	bool create;          /* POST: only if there is no row */
	bool new_id;          /* id is a random one made here, that
					   nobody else can have chosen */
	struct json_t *patch; /* from resource_patch_parse(), borrowed */
	const struct http_if_match *if_match;
	int64_t max_pending; /* bytes of pending changes the id may
					   hold with this one; 0: no limit */
};

struct write_result {
	enum write_outcome outcome;
	struct answer answer; /* the new version, when it is known */
	/* WRITE_REJECTED: this project's error code and message for what the
	 * database refused (static strings); the database's own words are
	 * logged, never answered. */
	const char *reject_code, *reject_message;
	int64_t seq;           /* WRITE_PENDING: the journal entry */
	int64_t version_us;    /* WRITE_PENDING: the change's version */
	struct json_t *before; /* the row before the write, or NULL;
					   owned: write_result_release() */
};

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
 * On success res->answer holds the new version, when it is known; release
 * it with write_result_release().
 */
void usecase_write(struct app *app, const struct write_request *w,
    struct write_result *res);
void write_result_release(struct write_result *res);

/*
 * Whether w may be written as far as the row tells now (before costly work
 * such as an image's): WRITE_PENDING when it may (or the database is away
 * and the write will decide), else WRITE_NOT_FOUND, WRITE_FORBIDDEN,
 * WRITE_UNAVAILABLE or WRITE_ERROR, as usecase_write() would answer.
 */
enum write_outcome usecase_write_allowed(struct app *app,
    const struct write_request *w);

/*
 * Render row (a resource's row after a write, borrowed) with its field
 * versions into a new cache entry e (owned by the caller on PC_OK) and
 * store it: with CAS over the entry read with cas when have_cas, else with
 * add. PC_CONFLICT when another writer got there first, PC_UNAVAILABLE
 * (or PC_TOOBIG) when memcached did not take it: e is built all the same;
 * the caller drops the entry, or merges and tries again.
 */
enum pc_result usecase_store(struct app *app, const struct resource *res,
    const char *id, struct json_t *row, struct json_t *versions,
    enum resource_sync sync, bool have_cas, uint64_t cas, struct cache_entry *e,
    char *err);

enum delete_outcome {
	DELETE_DONE,        /* 204 */
	DELETE_FORBIDDEN,   /* the row is another user's */
	DELETE_NOT_FOUND,   /* neither the database nor this node had it */
	DELETE_UNAVAILABLE, /* the database did not answer: nothing changed */
	DELETE_ERROR
};

/*
 * Cancel this node's pending changes of row id of res (*n of them) and its
 * pending increments, as a delete of the row does.
 */
enum pc_result usecase_cancel_pending(struct app *app,
    const struct resource *res, const char *id, long *n, char *err);

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

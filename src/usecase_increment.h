/* Increments of a counter: deferred, applied exactly once through the database's ledger. */
#ifndef PC_USECASE_INCREMENT_H
#define PC_USECASE_INCREMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"

struct app;
struct field;
struct resource;

/* An Idempotency-Key: 1 to 64 of A-Z a-z 0-9 - _ . : (a UUID is one). */
#define INCREMENT_KEY_MAX 64

enum increment_outcome {
	INCREMENT_PENDING,   /* journaled, counted in: 202 */
	INCREMENT_REPEATED,  /* the key's first answer again: 202 */
	INCREMENT_BELOW_MIN, /* would take the counter below its minimum: 409 */
	INCREMENT_ABOVE_MAX, /* above its maximum: 409 */
	INCREMENT_KEY_REUSED, /* the key was sent with another increment: 422 */
	INCREMENT_NOT_FOUND, /* no row to add to (or another user's hidden one) */
	INCREMENT_FORBIDDEN, /* another user's row, or a delta users may not send */
	INCREMENT_OVER_BUDGET, /* the row's pending changes would pass max_pending */
	INCREMENT_BUSY,        /* the row's other increments held it too long */
	INCREMENT_UNAVAILABLE, /* nothing written: journal down, or the floor
				   could not be checked */
	INCREMENT_ERROR
};

struct increment_request {
	const struct resource *res;
	const char *id;            /* a validated canonical UUID */
	const char *actor;         /* the caller's user id; NULL: the admin */
	const struct field *field; /* a counter of res */
	int64_t delta;
	const char *key;     /* a valid Idempotency-Key */
	int64_t max_pending; /* as for writes; 0: no limit */
};

struct increment_result {
	enum increment_outcome outcome;
	/* PENDING, REPEATED: {"increment":{"key","field","delta","value"},
	 * "sync":"pending|synced|failed"[,"error":{...}]}; malloc()ed. */
	char *body;
	size_t body_len;
};

/* Whether s (len bytes) is a valid Idempotency-Key. */
bool increment_key_valid(const char *s, size_t len);

/*
 * Count one increment in. Under a memcached lock of the row (its
 * increments on every node take turns), the key is looked up (this node's
 * journal, then the answer any node left in memcached), the counter's
 * provisional value is found (the cache entry, else the database's value
 * with the increments it has not settled), the bounds are checked, the
 * increment is journaled (acknowledged only once durable) and the cache
 * entry gets the new value. With memcached down a credit is journaled on
 * the database's word or blind; a debit needs the database.
 */
void usecase_increment(struct app *app, const struct increment_request *req,
    struct increment_result *out);
void increment_result_release(struct increment_result *out);

/*
 * The flusher settled an increment (patch: its journal entry's): the answer
 * its key gets through any node from now on says so.
 */
struct json_t;
void usecase_increment_settled(struct app *app, const struct resource *res,
    const char *id, struct json_t *patch, enum journal_state state,
    const char *reason);

#endif

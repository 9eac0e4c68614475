/* A row's writers taking turns: the node's lock, then memcached's. */
#ifndef PC_ROWLOCK_H
#define PC_ROWLOCK_H

#include <stdbool.h>

#include "app.h"
#include "result.h"

struct rowlock {
	int fd;      /* holds the node's byte lock; -1: none */
	bool cached; /* memcached's lock is held too */
	const char *ns, *id;
};

/*
 * Take the row's locks for a check and the write that depends on it (an
 * increment's floor, an If-Match, a create), waiting up to [cache]
 * lock_wait_ms for each:
 *
 *   - the node's: one byte of "<journal>-rowlock", an open file description
 *     lock, so that this node's processes and threads take turns, also while
 *     memcached is down or coming back;
 *   - memcached's ("<ns>/<id>", [cache] lock_ttl), so that the nodes do;
 *     while memcached is down the node's alone is held.
 *
 * PC_OK: held, until rowlock_release(); PC_CONFLICT: another held one of
 * them past the wait; PC_UNAVAILABLE: they cannot be taken (nothing is).
 */
enum pc_result rowlock_take(struct app *app, const char *ns, const char *id,
    struct rowlock *lk);
void rowlock_release(struct app *app, struct rowlock *lk);

#endif

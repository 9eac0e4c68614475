/* The per-user write limit: a fixed window counted in memcached. */
#ifndef PC_RATELIMIT_H
#define PC_RATELIMIT_H

#include <stdbool.h>

struct app;

/*
 * Count a write by actor (a user id) against [limits] writes_per_minute.
 * True when it may go ahead; otherwise *retry_after is the seconds until
 * the window ends. While memcached cannot count, this node's journal
 * counts instead (the limit then holds per node); only when neither can
 * count is a write let through: the journal's appends, not the limiter,
 * are what must not fail.
 */
bool ratelimit_admit(struct app *app, const char *actor, long *retry_after);

#endif

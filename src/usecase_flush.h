/* The flush: replay the journal to the database in coalesced batches. */
#ifndef PC_USECASE_FLUSH_H
#define PC_USECASE_FLUSH_H

#include <stdbool.h>

#include "result.h"

struct app;

struct flush_opts {
	long batch;		/* changes (coalesced per id) per call */
	long pipeline;		/* calls in flight at once */
	long max_seconds;	/* start no batch after this */
	bool once;		/* one batch, then stop */
	bool dry_run;		/* print the first batch, change nothing */
};

struct flush_stats {
	long batches;
	long entries;		/* journal entries settled or retried */
	long applied;		/* changes (ids) applied */
	long conflicts;		/* changes refused: the row was newer */
	long deleted;		/* changes refused: the row was deleted */
	long dead;		/* entries dead-lettered */
	long retried;		/* entries put back for a later attempt */
	long pruned;
	bool origin_down;
};

/*
 * Replay due journal entries in seq order: coalesce them per id (patches
 * merged in order, the newest version), send batches to
 * apply_profile_changes, and settle each entry from its change's result:
 * applied (the cache entry becomes synced if it still holds that version),
 * conflict (the database row is re-cached and the reconciliation logged),
 * deleted (cancelled, cache entry dropped), rejected (dead-lettered, cache
 * entry dropped so reads go to the database). When the origin is down or
 * fails, the batch's entries are retried later with exponential backoff and
 * jitter, dead-lettered after max_attempts, and the run stops. A batch the
 * database refuses as a whole is split so one bad change cannot block the
 * rest. Finally prunes applied entries past the retention and notes the run
 * in the journal's meta table. PC_OK unless the journal failed.
 */
enum pc_result usecase_flush_run(struct app *app, const struct flush_opts *o,
    struct flush_stats *st, char *err);

#endif

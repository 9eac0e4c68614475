/* The flush: replay the journal to the database in coalesced batches. */
#ifndef PC_USECASE_FLUSH_H
#define PC_USECASE_FLUSH_H

#include <stdbool.h>

#include "result.h"

struct app;

struct flush_opts {
	long batch;       /* changes (coalesced per id) per call */
	long pipeline;    /* calls in flight at once */
	long max_seconds; /* start no batch after this */
	bool once;        /* one batch, then stop */
	bool dry_run;     /* print the first batch, change nothing */
};

struct flush_stats {
	long batches;
	long entries;    /* journal entries settled or retried */
	long applied;    /* changes (ids) applied, some fields at least */
	long conflicts;  /* changes of which every field held a newer version */
	long superseded; /* fields that held a newer version */
	long deleted;    /* changes refused: the row was deleted */
	long dead;       /* entries dead-lettered */
	long split;      /* rejected changes sent again entry by entry */
	long retried;    /* entries put back for a later attempt */
	long pruned;
	long pulled; /* rows changed outside, looked at */
	bool origin_down;
	/* The database's clock minus this node's, from the answer with the
	 * shortest round trip (0 when none came). */
	int64_t clock_offset_us, clock_rtt_us;
};

/*
 * Replay due journal entries in seq order: coalesce them per id (per field,
 * the newest value with its own version), send batches to
 * apply_profile_changes, and settle each entry from its change's result:
 * applied (fields that held a newer version are counted as superseded; a
 * cache entry not newer than the row becomes the row with this node's
 * pending changes over it), conflict (every field was newer: the same),
 * deleted (cancelled, cache entry dropped), rejected (a coalesced change is
 * sent again entry by entry so only the refused entry is dead-lettered;
 * reads then show "sync":"failed"). When the origin is down or fails in any
 * other way, the batch's entries are retried later with capped exponential
 * backoff and jitter, never given up (an alert past max_attempts), and the
 * run stops; no entry of an id is sent while an older one waits. Finally
 * prunes applied entries past the retention and notes the run and the
 * measured clock offset in the journal's meta table. PC_OK unless the
 * journal failed.
 */
enum pc_result usecase_flush_run(struct app *app, const struct flush_opts *o,
    struct flush_stats *st, char *err);

#endif

/* The node's own state: what /v1/healthz and /v1/metrics report. */
#ifndef PC_USECASE_STATUS_H
#define PC_USECASE_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "result.h"

struct app;

struct health {
	const char *status; /* "ok", "degraded" (a cache server down, or
				   the clock skewed), "unavailable" (the
				   database is) */
	const char *cache;  /* "up", "degraded", "down" */
	char *servers;      /* JSON members "host:port":"up|down", one
				   per server of the ring; malloc()ed */
	bool origin_up;
	const char *clock; /* "ok", "skewed", "unknown" */
	bool have_offset;
	int64_t offset_us; /* the database's clock minus this node's */
};

/* Ask every dependency once. PC_NOMEM only. */
enum pc_result usecase_health(struct app *app, struct health *h);
void health_release(struct health *h);

/*
 * The node's counters in Prometheus' text format, with the journal's
 * entries by state and its group-commit counts: *body is malloc()ed.
 */
enum pc_result usecase_metrics(struct app *app, char **body, size_t *len);

#endif

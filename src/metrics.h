/* Counters in a shared memory-mapped file: atomic adds, no network round trip. */
#ifndef PC_METRICS_H
#define PC_METRICS_H

#include <stdint.h>

#include "result.h"

/* The routes requests are counted by. */
enum metrics_route {
	MR_PROFILE_GET,
	MR_PROFILE_PUT,
	MR_PROFILE_PATCH,
	MR_PROFILE_DELETE,
	MR_AVATAR_POST,
	MR_HEALTHZ,
	MR_METRICS,
	MR_RESOURCE_GET, /* a declared resource's row */
	MR_RESOURCE_PUT,
	MR_RESOURCE_PATCH,
	MR_RESOURCE_DELETE,
	MR_RESOURCE_POST,
	MR_RESOURCE_LIST,
	MR_RESOURCE_INCREMENT, /* POST /v1/{resource}/{id}/increments */
	MR_RESOURCE_IMAGE,     /* POST /v1/{resource}/{id}/{image field} */
	MR_OTHER,              /* 404, 405, unparseable requests */
	MR_COUNT
};

/* Everything else that is counted. */
enum metrics_counter {
	MC_CACHE_HIT,
	MC_CACHE_MISS,
	MC_CACHE_STALE,
	MC_ORIGIN_REQUESTS,
	MC_ORIGIN_ERRORS,
	MC_WRITES_RATE_LIMITED,
	MC_WRITES_RATE_COUNTED_HERE, /* by this node's journal: memcached could not */
	MC_FLUSH_RUNS,
	MC_FLUSH_APPLIED,
	MC_FLUSH_CONFLICT,
	MC_FLUSH_RETRY,
	MC_FLUSH_DEAD,
	MC_COUNT
};

/* Values that are set, not added: the latest measurement. */
enum metrics_gauge {
	MG_CLOCK_OFFSET_US,   /* the database's clock minus this node's */
	MG_CLOCK_MEASURED_US, /* when (this node's clock), 0: never */
	MG_COUNT
};

/* Declared resources whose requests are counted each under its name. */
#define METRICS_RESOURCES 32

/*
 * Map the counters file at path (created when missing, shared by every
 * process of the node: responders, flusher). Until it succeeds, counting
 * is a no-op, so a broken metrics file never fails a request. resources
 * names the declared resources, n of them, in order: a file counted for
 * other ones is started afresh (its per-resource counters would be misnamed).
 */
enum pc_result metrics_open(const char *path, const char *const *resources,
    size_t n, char *err);
void metrics_close(void);

void metrics_add(enum metrics_counter c, uint64_t n);
void metrics_gauge_set(enum metrics_gauge g, int64_t v);
/* The gauge's value, 0 when never set or when no file is mapped. */
int64_t metrics_gauge(enum metrics_gauge g);

/*
 * Count one answered request; resource: the index of the declared resource
 * a resource route served (the order given to metrics_open), else -1.
 */
void metrics_request(enum metrics_route r, int resource, int status);

/* The route name of r, e.g. "profile_get". */
const char *metrics_route_name(enum metrics_route r);

/*
 * Write the counters in Prometheus' text format into *out (malloc()ed,
 * owned by the caller); extra (may be NULL) is appended as it is.
 */
enum pc_result metrics_render(const char *extra, char **out, size_t *len);

#endif

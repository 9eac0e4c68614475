/* Counters in a shared memory-mapped file: atomic adds, no network round trip. */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "metrics.h"

/*
 * The file: a header, then the counters, all uint64_t. Every process maps it
 * shared and adds with __atomic_fetch_add, so a counter is exact across
 * processes and survives their restarts. The layout is versioned: a file of
 * another version or size is reset (under an flock) by the first process
 * that maps it.
 */
#define METRICS_MAGIC UINT64_C(0x50434d4554524943) /* "PCMETRIC" */
#define METRICS_VERSION 7

/* The statuses requests are counted by; anything else counts as "other". */
static const int statuses[] = {
	200,
	202,
	204,
	304,
	400,
	401,
	403,
	404,
	405,
	409,
	411,
	412,
	413,
	414,
	415,
	422,
	429,
	500,
	502,
	503,
};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]) + 1)

/* The routes of a declared resource's rows, counted per resource. */
#define MR_RES_FIRST MR_RESOURCE_GET
#define MR_RES_N (MR_RESOURCE_IMAGE - MR_RESOURCE_GET + 1)

struct metrics_file {
	uint64_t magic;
	uint64_t version;
	uint64_t size;
	uint64_t layout; /* a hash of the declared resources' names */
	uint64_t counters[MC_COUNT];
	uint64_t requests[MR_COUNT][NSTATUS];
	uint64_t res_requests[METRICS_RESOURCES][MR_RES_N][NSTATUS];
	int64_t gauges[MG_COUNT];
};

static struct metrics_file *mf;
static char **res_names; /* the declared resources' names, copied */
static size_t nres;

static void
names_free(void)
{
	size_t i;

	for (i = 0; i < nres; i++)
		free(res_names[i]);
	free(res_names);
	res_names = NULL;
	nres = 0;
}

static const char *const route_names[MR_COUNT] = {
	[MR_PROFILE_GET] = "profile_get",
	[MR_PROFILE_PUT] = "profile_put",
	[MR_PROFILE_PATCH] = "profile_patch",
	[MR_PROFILE_DELETE] = "profile_delete",
	[MR_AVATAR_POST] = "avatar_post",
	[MR_HEALTHZ] = "healthz",
	[MR_METRICS] = "metrics",
	[MR_RESOURCE_GET] = "resource_get",
	[MR_RESOURCE_PUT] = "resource_put",
	[MR_RESOURCE_PATCH] = "resource_patch",
	[MR_RESOURCE_DELETE] = "resource_delete",
	[MR_RESOURCE_POST] = "resource_post",
	[MR_RESOURCE_LIST] = "resource_list",
	[MR_RESOURCE_INCREMENT] = "resource_increment",
	[MR_RESOURCE_IMAGE] = "resource_image",
	[MR_OTHER] = "other",
};

static const struct {
	const char *name;
	const char *help;
	const char *labels;
} counters[MC_COUNT] = {
	[MC_CACHE_HIT] = { "profilecache_cache_total",
	    "Profile reads by cache outcome.", "result=\"hit\"" },
	[MC_CACHE_MISS] = { "profilecache_cache_total", NULL,
	    "result=\"miss\"" },
	[MC_CACHE_STALE] = { "profilecache_cache_total", NULL,
	    "result=\"stale\"" },
	[MC_ORIGIN_REQUESTS] = { "profilecache_origin_requests_total",
	    "Requests to the database (PostgREST).", NULL },
	[MC_ORIGIN_ERRORS] = { "profilecache_origin_errors_total",
	    "Database requests that failed or answered 5xx.", NULL },
	[MC_WRITES_RATE_LIMITED] = { "profilecache_writes_rate_limited_total",
	    "Writes refused with 429.", NULL },
	[MC_WRITES_RATE_COUNTED_HERE] = { "profilecache_writes_rate_counted_here_total",
	    "Writes counted against the rate limit by this node's journal, memcached being unable to.",
	    NULL },
	[MC_FLUSH_RUNS] = { "profilecache_flush_runs_total",
	    "Flusher runs that got the lock.", NULL },
	[MC_FLUSH_APPLIED] = { "profilecache_flush_changes_total",
	    "Flushed changes by outcome.", "result=\"applied\"" },
	[MC_FLUSH_CONFLICT] = { "profilecache_flush_changes_total", NULL,
	    "result=\"conflict\"" },
	[MC_FLUSH_RETRY] = { "profilecache_flush_changes_total", NULL,
	    "result=\"retry\"" },
	[MC_FLUSH_DEAD] = { "profilecache_flush_changes_total", NULL,
	    "result=\"dead\"" },
};

/* FNV-1a over the names, each ended by a NUL. */
static uint64_t
layout_of(const char *const *names, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	const char *p;
	size_t i;

	for (i = 0; i < n; i++)
		for (p = names[i];; p++) {
			h = (h ^ (unsigned char)*p) * UINT64_C(0x100000001b3);
			if (*p == '\0')
				break;
		}
	return h;
}

enum pc_result
metrics_open(const char *path, const char *const *resources, size_t n,
    char *err)
{
	uint64_t layout = layout_of(resources, n);
	struct metrics_file *m;
	struct stat st;
	int fd;

	if (mf != NULL)
		return PC_OK;
	if (n > METRICS_RESOURCES)
		n = METRICS_RESOURCES; /* the others are counted without a name */
	names_free();
	if (n > 0 && (res_names = calloc(n, sizeof(*res_names))) == NULL) {
		pc_err(err, "out of memory");
		return PC_NOMEM;
	}
	for (nres = 0; nres < n; nres++)
		if ((res_names[nres] = strdup(resources[nres])) == NULL) {
			names_free();
			pc_err(err, "out of memory");
			return PC_NOMEM;
		}
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		pc_err(err, "metrics file %s: %s", path, strerror(errno));
		return PC_UNAVAILABLE;
	}
	(void)flock(fd, LOCK_EX);
	if (fstat(fd, &st) == -1 ||
	    ((size_t)st.st_size != sizeof(*m) &&
	        (ftruncate(fd, 0) == -1 || ftruncate(fd, sizeof(*m)) == -1))) {
		pc_err(err, "metrics file %s: %s", path, strerror(errno));
		goto fail;
	}
	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		pc_err(err, "metrics file %s: mmap: %s", path, strerror(errno));
		goto fail;
	}
	if (m->magic != METRICS_MAGIC || m->version != METRICS_VERSION ||
	    m->size != sizeof(*m) || m->layout != layout) {
		memset(m, 0, sizeof(*m));
		m->magic = METRICS_MAGIC;
		m->version = METRICS_VERSION;
		m->size = sizeof(*m);
		m->layout = layout;
	}
	(void)flock(fd, LOCK_UN);
	(void)close(fd); /* the mapping stays */
	mf = m;
	return PC_OK;
fail:
	(void)flock(fd, LOCK_UN);
	(void)close(fd);
	return PC_UNAVAILABLE;
}

void
metrics_close(void)
{
	if (mf != NULL)
		(void)munmap(mf, sizeof(*mf));
	mf = NULL;
	names_free();
}

void
metrics_add(enum metrics_counter c, uint64_t n)
{
	if (mf != NULL && c < MC_COUNT)
		(void)__atomic_fetch_add(&mf->counters[c], n, __ATOMIC_RELAXED);
}

void
metrics_gauge_set(enum metrics_gauge g, int64_t v)
{
	if (mf != NULL && g < MG_COUNT)
		__atomic_store_n(&mf->gauges[g], v, __ATOMIC_RELAXED);
}

int64_t
metrics_gauge(enum metrics_gauge g)
{
	return mf != NULL && g < MG_COUNT ?
	    __atomic_load_n(&mf->gauges[g], __ATOMIC_RELAXED) :
	    0;
}

void
metrics_request(enum metrics_route r, int resource, int status)
{
	size_t i;

	if (mf == NULL || r >= MR_COUNT)
		return;
	for (i = 0; i < NSTATUS - 1 && statuses[i] != status; i++)
		;
	if (r >= MR_RES_FIRST && r < MR_RES_FIRST + MR_RES_N && resource >= 0 &&
	    (size_t)resource < nres)
		(void)__atomic_fetch_add(
		    &mf->res_requests[resource][r - MR_RES_FIRST][i], 1,
		    __ATOMIC_RELAXED);
	else
		(void)__atomic_fetch_add(&mf->requests[r][i], 1,
		    __ATOMIC_RELAXED);
}

/* One series of profilecache_requests_total; resource may be NULL. */
static enum pc_result
request_line(struct buf *b, size_t route, const char *resource, size_t s,
    uint64_t v)
{
	char status[16];

	if (s < NSTATUS - 1)
		(void)snprintf(status, sizeof(status), "%d", statuses[s]);
	else
		(void)snprintf(status, sizeof(status), "other");
	if (resource != NULL)
		return buf_printf(b,
		    "profilecache_requests_total{route=\"%s\",resource=\"%s\","
		    "status=\"%s\"} %llu\n",
		    route_names[route], resource, status,
		    (unsigned long long)v);
	return buf_printf(b,
	    "profilecache_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
	    route_names[route], status, (unsigned long long)v);
}

const char *
metrics_route_name(enum metrics_route r)
{
	return r < MR_COUNT ? route_names[r] : "other";
}

static uint64_t
load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

enum pc_result
metrics_render(const char *extra, char **out, size_t *len)
{
	enum pc_result r = PC_OK;
	struct buf b;
	size_t i, s, k;
	uint64_t v;

	buf_init(&b, 1024 * 1024);
	r = buf_adds(&b,
	    "# HELP profilecache_requests_total Answered requests by route, "
	    "declared resource and status.\n"
	    "# TYPE profilecache_requests_total counter\n");
	for (i = 0; i < MR_COUNT && r == PC_OK && mf != NULL; i++)
		for (s = 0; s < NSTATUS && r == PC_OK; s++)
			if ((v = load(&mf->requests[i][s])) != 0)
				r = request_line(&b, i, NULL, s, v);
	for (k = 0; k < nres && r == PC_OK && mf != NULL; k++)
		for (i = 0; i < MR_RES_N && r == PC_OK; i++)
			for (s = 0; s < NSTATUS && r == PC_OK; s++)
				if ((v = load(&mf->res_requests[k][i][s])) != 0)
					r = request_line(&b, MR_RES_FIRST + i,
					    res_names[k], s, v);
	for (i = 0; i < MC_COUNT && r == PC_OK; i++) {
		v = mf != NULL ? load(&mf->counters[i]) : 0;
		if (counters[i].help != NULL)
			r = buf_printf(&b, "# HELP %s %s\n# TYPE %s counter\n",
			    counters[i].name, counters[i].help,
			    counters[i].name);
		if (r != PC_OK)
			break;
		if (counters[i].labels != NULL)
			r = buf_printf(&b, "%s{%s} %llu\n", counters[i].name,
			    counters[i].labels, (unsigned long long)v);
		else
			r = buf_printf(&b, "%s %llu\n", counters[i].name,
			    (unsigned long long)v);
	}
	if (r == PC_OK && mf != NULL &&
	    metrics_gauge(MG_CLOCK_MEASURED_US) != 0)
		r = buf_printf(&b,
		    "# HELP profilecache_clock_offset_seconds The database's clock"
		    " minus this node's, as the flusher last measured it.\n"
		    "# TYPE profilecache_clock_offset_seconds gauge\n"
		    "profilecache_clock_offset_seconds %.6f\n",
		    (double)metrics_gauge(MG_CLOCK_OFFSET_US) / 1e6);
	if (r == PC_OK && extra != NULL)
		r = buf_adds(&b, extra);
	if (r != PC_OK) {
		buf_free(&b);
		return r;
	}
	*out = buf_steal(&b, len);
	return PC_OK;
}

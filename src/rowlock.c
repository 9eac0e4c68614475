/* A row's writers taking turns: the node's lock, then memcached's. */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "clock.h"
#include "journal_files.h"
#include "log.h"
#include "rowlock.h"

#define WAIT_STEP_US 2000
/* The bytes of the node's row locks: rows share one only by chance. */
#define ROWLOCK_BYTES 65536

/*
 * The node's lock on ns/id: one byte of a file beside the journal, locked
 * with F_OFD_SETLK, so that it holds against the process's other threads
 * too and is not dropped when the process closes another descriptor of the
 * file; released when its descriptor is closed or its process dies. The
 * descriptor, -1 when another held it past lock_wait_ms, -2 when it cannot
 * be taken.
 */
static int
node_lock(struct app *app, const char *ns, const char *id)
{
	int64_t deadline = clock_mono_us() + app->cfg.cache_lock_wait_ms * 1000;
	char path[PATH_MAX];
	struct flock fl;
	uint32_t h = 2166136261u; /* FNV-1a of "ns/id" */
	const char *s;
	int fd = -1, e;

	for (s = ns; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (s = id; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	if ((size_t)snprintf(path, sizeof(path), "%s" JOURNAL_FILE_ROWLOCK,
	        app->cfg.journal_path) >= sizeof(path))
		errno = ENAMETOOLONG;
	else
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1) {
		log_error("row_lock_failed", "row=%s/%s error=\"%s\"", ns, id,
		    strerror(errno));
		return -2;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = (off_t)(h % ROWLOCK_BYTES);
	fl.l_len = 1;
	while (fcntl(fd, F_OFD_SETLK, &fl) == -1) {
		e = errno;
		if ((e == EACCES || e == EAGAIN) &&
		    clock_mono_us() < deadline) {
			clock_sleep_us(WAIT_STEP_US);
			continue;
		}
		(void)close(fd);
		if (e == EACCES || e == EAGAIN)
			return -1;
		log_error("row_lock_failed", "row=%s/%s error=\"%s\"", ns, id,
		    strerror(e));
		return -2;
	}
	return fd;
}

enum pc_result
rowlock_take(struct app *app, const char *ns, const char *id,
    struct rowlock *lk)
{
	int64_t deadline;
	enum pc_result r;

	lk->ns = ns;
	lk->id = id;
	lk->cached = false;
	/*
	 * The node's lock first, always: while memcached comes back, or when
	 * one process's cache_lock fails and another's does not, this node's
	 * processes holding either lock must still not take turns wrongly.
	 */
	if ((lk->fd = node_lock(app, ns, id)) < 0)
		return lk->fd == -1 ? PC_CONFLICT : PC_UNAVAILABLE;
	deadline = clock_mono_us() + app->cfg.cache_lock_wait_ms * 1000;
	while ((r = cache_lock(app->cache, ns, id, app->cfg.cache_lock_ttl)) ==
	        PC_CONFLICT &&
	    clock_mono_us() < deadline)
		clock_sleep_us(WAIT_STEP_US);
	if (r == PC_OK || r == PC_UNAVAILABLE) {
		lk->cached = r == PC_OK; /* down: the node's lock alone */
		return PC_OK;
	}
	(void)close(lk->fd);
	lk->fd = -1;
	return r == PC_CONFLICT ? PC_CONFLICT : PC_UNAVAILABLE;
}

void
rowlock_release(struct app *app, struct rowlock *lk)
{
	if (lk->cached)
		cache_unlock(app->cache, lk->ns, lk->id);
	if (lk->fd >= 0)
		(void)close(lk->fd); /* releases the node's lock */
	lk->fd = -1;
	lk->cached = false;
}

/* The journal store: deferred writes made durable in a local SQLite file. */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "clock.h"
#include "journal.h"
#include "journal_files.h"
#include "log.h"

/* The schema, generated from schema/journal.sql at build time. */
static const char journal_schema[] =
#include "journal_schema.h"
    ;

enum stmt_id {
	ST_NEWEST,
	ST_INSERT,
	ST_PENDING,
	ST_PENDING_BYTES,
	ST_SUPERSEDE,
	ST_DUE,
	ST_SETTLE,
	ST_RETRY,
	ST_RETRY_ID,
	ST_DEAD_OF,
	ST_MENTIONS,
	ST_PENDING_WITH,
	ST_DUE_NOW,
	ST_CANCEL,
	ST_PRUNE,
	ST_META,
	ST_META_GET,
	ST_TRASH_ADD,
	ST_TRASH_SETTLED,
	ST_TRASH_DEL,
	ST_DEPTH,
	ST_BY_KEY,
	ST_RATE_COUNT,
	ST_RATE_PRUNE,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	/*
	 * Versions of pending changes rise with seq: the last one is the
	 * newest. Its retry time is the id's: see journal_record().
	 */
	[ST_NEWEST] = "SELECT updated_at_us, next_attempt_at FROM changes"
	              " WHERE resource = ?1 AND id = ?2 AND state = 'pending'"
	              " ORDER BY seq DESC LIMIT 1",
	[ST_INSERT] =
	    "INSERT INTO changes (resource, id, patch, updated_at_us,"
	    " created_at_us, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_PENDING] =
	    "SELECT patch, updated_at_us FROM changes"
	    " WHERE resource = ?1 AND id = ?2 AND state = 'pending' ORDER BY seq",
	/* Kept by the journal's triggers (schema/journal.sql), in bytes. */
	[ST_PENDING_BYTES] = "SELECT coalesce((SELECT bytes FROM pending_bytes"
	                     " WHERE resource = ?1 AND id = ?2), 0)",
	[ST_SUPERSEDE] =
	    "UPDATE changes SET state = 'applied', last_error = NULL"
	    " WHERE resource = ?1 AND id = ?2 AND state = 'pending'"
	    " AND updated_at_us <= ?3",
	/* No LIMIT: the caller stops when its batch is full, however many
	 * entries it skips on the way. */
	[ST_DUE] =
	    "SELECT seq, resource, id, patch, updated_at_us, attempts"
	    " FROM changes WHERE state = 'pending' AND next_attempt_at <= ?1"
	    " ORDER BY seq",
	[ST_SETTLE] = "UPDATE changes SET state = ?2, last_error = ?3"
	              " WHERE seq = ?1 AND state = 'pending'",
	[ST_RETRY] = "UPDATE changes SET attempts = attempts + 1,"
	             " next_attempt_at = ?2, last_error = ?3"
	             " WHERE seq = ?1 AND state = 'pending'",
	/* Every pending entry of the id waits as long as its oldest. */
	[ST_RETRY_ID] =
	    "UPDATE changes SET next_attempt_at = max(next_attempt_at, ?3)"
	    " WHERE resource = ?1 AND id = ?2 AND state = 'pending'",
	[ST_DUE_NOW] = "UPDATE changes SET next_attempt_at = 0"
	               " WHERE state = 'pending' AND next_attempt_at > ?1",
	[ST_MENTIONS] =
	    "SELECT 1 FROM changes WHERE state IN ('pending', 'dead')"
	    " AND instr(patch, ?1) > 0 LIMIT 1",
	/* Pending creates of one owner: only a create sets the owner field. */
	[ST_PENDING_WITH] =
	    "SELECT DISTINCT id FROM changes WHERE resource = ?1"
	    " AND state = 'pending' AND json_extract(patch, ?2) = ?3",
	[ST_DEAD_OF] =
	    "SELECT patch, updated_at_us FROM changes"
	    " WHERE resource = ?1 AND id = ?2 AND state = 'dead' ORDER BY seq",
	[ST_CANCEL] = "UPDATE changes SET state = 'cancelled',"
	              " last_error = 'deleted' WHERE resource = ?1 AND id = ?2"
	              " AND state = 'pending'",
	[ST_PRUNE] =
	    "DELETE FROM changes WHERE state IN ('applied', 'cancelled')"
	    " AND created_at_us < ?1",
	[ST_META] = "INSERT INTO meta (key, value) VALUES (?1, ?2)"
	            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[ST_TRASH_ADD] =
	    "INSERT INTO avatar_trash (seq, relpath) VALUES (?1, ?2)",
	[ST_TRASH_SETTLED] =
	    "SELECT t.rowid, t.relpath, c.state, t.seq FROM avatar_trash t"
	    " LEFT JOIN changes c ON c.seq = t.seq"
	    " WHERE c.state IS NULL OR c.state <> 'pending' LIMIT 1000",
	[ST_TRASH_DEL] = "DELETE FROM avatar_trash WHERE rowid = ?1",
	[ST_DEPTH] = "SELECT state, count(*) FROM changes GROUP BY state",
	/* An increment by its key (the index changes_increment_key). */
	[ST_BY_KEY] =
	    "SELECT seq, patch, state, last_error FROM changes"
	    " WHERE resource = ?1 AND id = ?2 AND json_extract(patch, '$.key') = ?3"
	    " AND resource GLOB '*/increment'",
	[ST_RATE_COUNT] =
	    "INSERT INTO rate_counts (name, minute, n) VALUES (?1, ?2, 1)"
	    " ON CONFLICT (name, minute) DO UPDATE SET n = n + 1 RETURNING n",
	[ST_RATE_PRUNE] = "DELETE FROM rate_counts WHERE minute < ?1",
};

/* The names of the states in the changes table (schema/journal.sql). */
static const char *const state_names[] = {
	[JOURNAL_APPLIED] = "applied",
	[JOURNAL_CONFLICT] = "conflict",
	[JOURNAL_DEAD] = "dead",
	[JOURNAL_CANCELLED] = "cancelled",
	[JOURNAL_RETRY] = "pending",
};
#define NSTATES (sizeof(state_names) / sizeof(state_names[0]))

const char *
journal_state_name(enum journal_state s)
{
	return (size_t)s < NSTATES ? state_names[s] : "?";
}

bool
journal_state_parse(const char *name, enum journal_state *s)
{
	size_t i;

	for (i = 0; name != NULL && i < NSTATES; i++)
		if (strcmp(name, state_names[i]) == 0) {
			*s = (enum journal_state)i;
			return true;
		}
	return false;
}

struct journal_group;

struct journal {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	long busy_timeout_ms;
	bool queue_poll; /* see journal_opts */
	int wlock;       /* the writers' queue: see journal_queue() */
	int wal_frames;  /* frames in the WAL after our last commit */
	bool wrote;      /* the last COMMIT wrote to the WAL */
	int gsync;       /* "<journal>-sync": its flock is the syncers' queue */
	struct journal_group *group; /* mapped from it; NULL: no group commit */
	int64_t counted_minute;      /* journal_count() pruned before it */
};

/*
 * WAL frames after which journal_maintain() checkpoints (SQLite's default).
 * 250 gave a shorter 8-writer PATCH tail on a fresh journal but a longer one
 * after the other benchmark scenarios had run (A/B runs on 2026-11-21, see
 * docs/benchmarks.md).
 */
#define JOURNAL_CHECKPOINT_FRAMES 1000

/*
 * Replaces SQLite's automatic checkpoint, which runs inside the commit that
 * crosses the threshold: with writers queued behind it, copying the WAL and
 * fsyncing the database there stalls every one of them. Only note the size;
 * journal_maintain() checkpoints after the response has been sent.
 */
static int
journal_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct journal *j = arg;

	(void)db;
	(void)name;
	j->wal_frames = frames;
	j->wrote = true;
	return SQLITE_OK;
}

/*
 * Writers on one node queue on an flock of "<journal>-wlock" before they
 * ask SQLite for its write lock. SQLite's own busy handler sleeps 1, 2, 5,
 * 10 ... 100 ms between tries, so writers behind one another see tails of
 * 100 ms and more, and a writer can lose every race for seconds; a blocked
 * flock is woken by the kernel the moment the lock is released. The wait is
 * bounded by busy_timeout_ms with an interval timer whose signal interrupts
 * flock(). What is left for SQLite's lock is the flusher, another process,
 * which the fine-grained busy handler below waits for.
 */
#define JOURNAL_QUEUE_TICK_US 20000
/* Polling, in a process with threads: the first and the longest sleep. */
#define JOURNAL_POLL_MIN_US 50
#define JOURNAL_POLL_MAX_US 1000

static void
journal_alarm(int sig)
{
	(void)sig; /* only here to interrupt flock() */
}

static enum pc_result
journal_queue_failed(const struct journal *j, char *err)
{
	pc_err(err, "journal: waited %ld ms for the writers' lock",
	    j->busy_timeout_ms);
	log_error("journal_error", "op=queue error=\"%s\"", err);
	return PC_UNAVAILABLE;
}

/*
 * The interval timer and its signal belong to the process, not to a
 * thread: a responder with threads polls the queue instead, sleeping twice
 * as long after each try (from JOURNAL_POLL_MIN_US up to
 * JOURNAL_POLL_MAX_US), so a short wait stays short.
 */
static enum pc_result
journal_queue_poll(struct journal *j, int64_t deadline, char *err)
{
	int64_t step = JOURNAL_POLL_MIN_US;

	do {
		clock_sleep_us(step);
		if (flock(j->wlock, LOCK_EX | LOCK_NB) == 0)
			return PC_OK;
		if (errno != EWOULDBLOCK && errno != EINTR)
			break;
		if (step < JOURNAL_POLL_MAX_US)
			step *= 2;
	} while (clock_mono_us() < deadline);
	return journal_queue_failed(j, err);
}

static enum pc_result
journal_queue(struct journal *j, char *err)
{
	/*
	 * The timer repeats every JOURNAL_QUEUE_TICK_US: a signal that fires
	 * before flock() blocks is followed by another one, so the wait stays
	 * bounded; the deadline is checked after each interruption.
	 */
	struct itimerval it = { { 0, JOURNAL_QUEUE_TICK_US },
		{ 0, JOURNAL_QUEUE_TICK_US } };
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	static bool handled;
	struct sigaction sa;
	int64_t deadline;
	int rc;

	if (flock(j->wlock, LOCK_EX | LOCK_NB) == 0)
		return PC_OK;
	deadline = clock_mono_us() + (int64_t)j->busy_timeout_ms * 1000;
	if (j->queue_poll)
		return journal_queue_poll(j, deadline, err);
	/*
	 * Installed once and kept (nothing else in the programs uses SIGALRM):
	 * two system calls fewer on every write that waits, and a late tick
	 * after the timer is off does nothing.
	 */
	if (!handled) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler =
		    journal_alarm; /* no SA_RESTART: flock returns EINTR */
		(void)sigemptyset(&sa.sa_mask);
		handled = sigaction(SIGALRM, &sa, NULL) == 0;
	}
	(void)setitimer(ITIMER_REAL, &it, NULL);
	while ((rc = flock(j->wlock, LOCK_EX)) == -1 && errno == EINTR &&
	    clock_mono_us() < deadline)
		;
	(void)setitimer(ITIMER_REAL, &off, NULL);
	if (rc == 0)
		return PC_OK;
	return journal_queue_failed(j, err);
}

static int
journal_busy(void *arg, int count)
{
	struct journal *j = arg;
	static const int64_t steps[] = { 20, 50, 100, 200, 300, 500 };
	int64_t waited = 0;
	int i;

	for (i = 0; i < count; i++)
		waited += steps[i < 6 ? i : 5];
	if (waited >= j->busy_timeout_ms * 1000)
		return 0;
	clock_sleep_us(steps[count < 6 ? count : 5]);
	return 1;
}

/*
 * Group commit. With synchronous=FULL, COMMIT fsyncs the WAL while its
 * writer still holds the writers' queue, so the node's commits and their
 * fsyncs took turns one at a time: at 8 writers the queue was held about
 * 0.5 ms per change, half of it in fdatasync, while a third of the two CPUs
 * sat idle. Now a journal opened with sync_full commits with
 * synchronous=NORMAL (the frames are written to the WAL, not synced; SQLite
 * still syncs around checkpoints and a restarted WAL's header), and then:
 *
 *   - in the writers' queue, the writer counts its commit as begun, commits,
 *     and takes a ticket: commits are made one at a time, so the n-th commit
 *     begun gets ticket n, and every ticket up to it belongs to a commit that
 *     had returned before it was taken;
 *   - it leaves the queue and queues on the flock of "<journal>-sync"; the
 *     holder reads the newest ticket, fsyncs the WAL (every commit up to
 *     that ticket is then on disk, whichever process wrote it: they all
 *     write the one WAL file) and publishes that ticket as durable;
 *   - a writer that finds its own ticket durable when its turn comes is
 *     done without an fsync.
 *
 * While one fsync runs, the next writers commit and queue behind it, and the
 * next fsync covers them all. A change is acknowledged only once this
 * returned PC_OK, as with synchronous=FULL. What differs is that other
 * connections can see a commit before it is on disk (from inside its
 * COMMIT); so a read of pending changes first waits for every commit begun
 * so far to be durable (journal_barrier()), and nothing not yet on disk is
 * shown or cached. (The flusher may send such a change to the database: it
 * was not acknowledged, and may be applied like one whose answer was lost.)
 *
 * A failed fsync is final: the commits it covered are visible and later ones
 * follow them in the WAL, and Linux reports a lost writeback only once, so a
 * later fsync that succeeds proves nothing about them. The journal then
 * acknowledges nothing more until the counters are reset (a reboot, or
 * removing "<journal>-sync" with every program of the node stopped).
 */
struct journal_group {
	uint64_t ticket;  /* tickets taken so far */
	uint64_t durable; /* every ticket up to this one is on disk */
	uint64_t syncs;   /* fsyncs of the WAL made for them */
	uint64_t failed;  /* an fsync failed: see above */
	char boot[40];    /* the boot they count in (kernel's boot_id) */
	uint64_t begun;   /* commits begun (ticket + 1 during a COMMIT) */
};

/* Shared between processes through a mapping: the atomics must not lock. */
_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0),
    "64-bit atomics take no lock");

static enum pc_result
journal_failed(char *err)
{
	pc_err(err,
	    "journal: an fsync of the WAL failed before: nothing is "
	    "acknowledged until the disk is checked and the node restarted");
	return PC_UNAVAILABLE;
}

/*
 * Wait until the commits begun up to mine have their tickets: the one in its
 * COMMIT now takes it within microseconds. A writer killed between the two
 * (the writers' queue is then free, yet tickets lag) is accounted for here.
 */
static void
journal_await_ticket(struct journal *j, uint64_t mine)
{
	struct journal_group *g = j->group;

	while (__atomic_load_n(&g->ticket, __ATOMIC_SEQ_CST) < mine) {
		if (flock(j->wlock, LOCK_EX | LOCK_NB) == 0) {
			/* Nobody is between begun and ticket. */
			if (__atomic_load_n(&g->ticket, __ATOMIC_SEQ_CST) <
			    __atomic_load_n(&g->begun, __ATOMIC_SEQ_CST))
				__atomic_store_n(&g->ticket,
				    __atomic_load_n(&g->begun,
				        __ATOMIC_SEQ_CST),
				    __ATOMIC_SEQ_CST);
			(void)flock(j->wlock, LOCK_UN);
			return;
		}
		clock_sleep_us(20);
	}
}

/* Make every commit up to ticket mine durable. */
static enum pc_result
journal_sync_upto(struct journal *j, uint64_t mine, char *err)
{
	struct journal_group *g = j->group;
	sqlite3_file *wal = NULL;
	uint64_t upto;
	int rc;

	journal_await_ticket(j, mine);
	while ((rc = flock(j->gsync, LOCK_EX)) == -1 && errno == EINTR)
		;
	if (rc == -1) {
		pc_err(err, "journal: sync lock: %s", strerror(errno));
		log_error("journal_error", "op=sync error=\"%s\"", err);
		return PC_UNAVAILABLE;
	}
	if (__atomic_load_n(&g->failed, __ATOMIC_ACQUIRE)) {
		(void)flock(j->gsync, LOCK_UN);
		return journal_failed(err);
	}
	if (__atomic_load_n(&g->durable, __ATOMIC_ACQUIRE) >= mine) {
		(void)flock(j->gsync, LOCK_UN);
		return PC_OK;
	}
	upto = __atomic_load_n(&g->ticket, __ATOMIC_SEQ_CST);
	if (sqlite3_file_control(j->db, "main", SQLITE_FCNTL_JOURNAL_POINTER,
	        &wal) != SQLITE_OK ||
	    wal == NULL || wal->pMethods == NULL ||
	    (rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL)) != SQLITE_OK) {
		__atomic_store_n(&g->failed, 1, __ATOMIC_RELEASE);
		(void)flock(j->gsync, LOCK_UN);
		pc_err(err,
		    "journal: fsync of the WAL failed (%s): nothing is "
		    "acknowledged until the disk is checked and the node restarted",
		    wal == NULL || wal->pMethods == NULL ? "no WAL open" :
		                                           sqlite3_errstr(rc));
		log_error("journal_error", "op=sync error=\"%s\"", err);
		return PC_UNAVAILABLE;
	}
	/* Under the lock: nobody else publishes meanwhile. */
	if (upto > __atomic_load_n(&g->durable, __ATOMIC_ACQUIRE))
		__atomic_store_n(&g->durable, upto, __ATOMIC_RELEASE);
	__atomic_add_fetch(&g->syncs, 1, __ATOMIC_RELAXED);
	(void)flock(j->gsync, LOCK_UN);
	return PC_OK;
}

/* Before anything this connection sees is shown: make it durable. */
static enum pc_result
journal_barrier(struct journal *j, char *err)
{
	uint64_t seen;

	if (j->group == NULL)
		return PC_OK;
	/* Begun, not ticketed: a commit is visible from inside its COMMIT. */
	seen = __atomic_load_n(&j->group->begun, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&j->group->durable, __ATOMIC_ACQUIRE) >= seen &&
	    !__atomic_load_n(&j->group->failed, __ATOMIC_ACQUIRE))
		return PC_OK;
	return journal_sync_upto(j, seen, err);
}

bool
journal_group_counts(struct journal *j, uint64_t *commits, uint64_t *syncs)
{
	if (j == NULL || j->group == NULL)
		return false;
	*commits = __atomic_load_n(&j->group->ticket, __ATOMIC_ACQUIRE);
	*syncs = __atomic_load_n(&j->group->syncs, __ATOMIC_ACQUIRE);
	return true;
}

/*
 * Map "<journal>-sync", creating it; on failure each COMMIT fsyncs by itself.
 * Called in the writers' queue. The file is not synced: counters from
 * another boot (or torn by a crash of the machine) are reset, and so are
 * counters that cannot be right (durable past the last ticket).
 */
static void
journal_group_open(struct journal *j, const char *path)
{
	struct journal_group *g;
	char name[4096], boot[40] = "";
	struct stat sb;
	const char *why;
	void *p;
	FILE *fp;

	if ((fp = fopen("/proc/sys/kernel/random/boot_id", "re")) != NULL) {
		if (fgets(boot, sizeof(boot), fp) == NULL)
			boot[0] = '\0';
		(void)fclose(fp);
	}
	if ((size_t)snprintf(name, sizeof(name), "%s" JOURNAL_FILE_SYNC,
	        path) >= sizeof(name)) {
		why = "path too long";
		goto off;
	}
	if ((j->gsync = open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
	    fstat(j->gsync, &sb) == -1 ||
	    /* Growing a new file to its size is idempotent between processes. */
	    (sb.st_size < (off_t)sizeof(*g) &&
	        ftruncate(j->gsync, sizeof(*g)) == -1) ||
	    (p = mmap(NULL, sizeof(*g), PROT_READ | PROT_WRITE, MAP_SHARED,
	         j->gsync, 0)) == MAP_FAILED) {
		why = strerror(errno);
		goto off;
	}
	g = p;
	/* Not when this boot's id cannot be read: others may count live. */
	if ((boot[0] != '\0' && strncmp(g->boot, boot, sizeof(g->boot)) != 0) ||
	    g->durable > g->ticket || g->ticket > g->begun) {
		g->ticket = g->durable = g->syncs = g->failed = g->begun = 0;
		memcpy(g->boot, boot, sizeof(g->boot));
	}
	if (g->failed)
		log_error("journal_error",
		    "op=open error=\"an fsync of the WAL "
		    "failed: writes are refused until the node restarts\"");
	j->group = g;
	return;
off:
	log_warn("journal_group_commit_off",
	    "file=\"%s" JOURNAL_FILE_SYNC "\" error=\"%s\"", path, why);
	if (j->gsync != -1)
		(void)close(j->gsync);
	j->gsync = -1;
}

/* SQLite errors all mean "cannot make it durable now" to a caller. */
static enum pc_result
journal_fail(struct journal *j, const char *op, char *err)
{
	int code = sqlite3_extended_errcode(j->db);
	enum pc_result r;

	pc_err(err, "journal %s: %s", op, sqlite3_errmsg(j->db));
	log_error("journal_error", "op=%s code=%d error=\"%s\"", op, code,
	    sqlite3_errmsg(j->db));
	switch (code & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_READONLY:
	case SQLITE_INTERRUPT:
	case SQLITE_IOERR:
	case SQLITE_CORRUPT:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_PROTOCOL:
	case SQLITE_NOTADB:
		/* The disk or the file: a client may try again later. */
		r = PC_UNAVAILABLE;
		break;
	case SQLITE_NOMEM:
		r = PC_NOMEM;
		break;
	default:
		/* A statement this program got wrong (SQLITE_ERROR, MISUSE,
		 * CONSTRAINT, RANGE, ...): a bug, answered 500, not 503. */
		r = PC_ERROR;
		break;
	}
	return r;
}

static enum pc_result
journal_exec(struct journal *j, const char *sql, const char *op, char *err)
{
	if (sqlite3_exec(j->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return journal_fail(j, op, err);
	return PC_OK;
}

/* Bring the schema to JOURNAL_FORMAT (migrations by user_version). */
static enum pc_result
journal_migrate(struct journal *j, char *err)
{
	sqlite3_stmt *st = NULL;
	enum pc_result r;
	char sql[64];
	int version = 0;

	if ((r = journal_exec(j, "BEGIN IMMEDIATE", "migrate", err)) != PC_OK)
		return r;
	if (sqlite3_prepare_v2(j->db, "PRAGMA user_version", -1, &st, NULL) !=
	        SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		r = journal_fail(j, "migrate", err);
		goto out;
	}
	version = sqlite3_column_int(st, 0);
	if (version > JOURNAL_FORMAT) {
		pc_err(err,
		    "journal has format %d, newer than this program's %d",
		    version, JOURNAL_FORMAT);
		r = PC_ERROR;
		goto out;
	}
	/* The schema file is idempotent (IF NOT EXISTS): running it brings any
	 * older format up to date; a format that needs more gets a step here. */
	if (version < JOURNAL_FORMAT &&
	    (r = journal_exec(j, journal_schema, "migrate", err)) != PC_OK)
		goto out;
	(void)snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
	    JOURNAL_FORMAT);
	r = journal_exec(j, sql, "migrate", err);
out:
	sqlite3_finalize(st);
	if (r == PC_OK)
		return journal_exec(j, "COMMIT", "migrate", err);
	(void)sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

/*
 * Pending changes may be private: the file is created 0600 here (SQLite
 * gives its -wal and -shm files the mode of the database file). Only when
 * it does not exist yet: closing any descriptor of the database file drops
 * every POSIX lock this process holds on it, SQLite's included, and in a
 * responder with threads another thread's connection may hold them (seen:
 * "database disk image is malformed"). The mutex keeps another thread from
 * opening the file between its creation here and the close.
 */
static enum pc_result
journal_create(const char *path, char *err)
{
	static pthread_mutex_t creating = PTHREAD_MUTEX_INITIALIZER;
	enum pc_result r = PC_OK;
	int fd;

	(void)pthread_mutex_lock(&creating);
	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) !=
	    -1)
		(void)close(fd);
	else if (errno != EEXIST || access(path, R_OK | W_OK) == -1) {
		pc_err(err, "journal %s: %s", path, strerror(errno));
		r = PC_UNAVAILABLE;
	}
	(void)pthread_mutex_unlock(&creating);
	return r;
}

enum pc_result
journal_open(const struct journal_opts *opts, struct journal **out, char *err)
{
	enum pc_result r = PC_UNAVAILABLE;
	struct journal *j;
	char lock[4096];
	int i;

	*out = NULL;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return PC_NOMEM;
	j->busy_timeout_ms = opts->busy_timeout_ms;
	j->queue_poll = opts->queue_poll;
	j->gsync = -1;
	if ((size_t)snprintf(lock, sizeof(lock), "%s" JOURNAL_FILE_WLOCK,
	        opts->path) >= sizeof(lock) ||
	    (j->wlock = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		pc_err(err, "journal %s: %s", lock, strerror(errno));
		j->wlock = -1;
		goto out;
	}
	if (journal_create(opts->path, err) != PC_OK)
		goto out;
	if (sqlite3_open_v2(opts->path, &j->db,
	        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	            SQLITE_OPEN_NOMUTEX,
	        NULL) != SQLITE_OK) {
		pc_err(err, "journal %s: %s", opts->path,
		    j->db ? sqlite3_errmsg(j->db) : "out of memory");
		goto out;
	}
	(void)sqlite3_extended_result_codes(j->db, 1);
	(void)sqlite3_busy_handler(j->db, journal_busy, j);
	(void)sqlite3_wal_hook(j->db, journal_wal_hook, j);
	/* Setting up queues with the writers too: changing the journal mode
	 * and migrating need locks SQLite will not wait for. */
	if ((r = journal_queue(j, err)) != PC_OK)
		goto out;
	if (opts->sync_full)
		journal_group_open(j, opts->path);
	if ((r = journal_exec(j, "PRAGMA journal_mode = WAL", "open", err)) !=
	        PC_OK ||
	    (r = journal_exec(j,
	         opts->sync_full && j->group == NULL ?
	             "PRAGMA synchronous = FULL" :
	             "PRAGMA synchronous = NORMAL",
	         "open", err)) != PC_OK ||
	    /*
	     * Another process's commit empties this connection's page cache,
	     * so beyond the few pages a transaction touches it only keeps
	     * memory: at SQLite's default (2 MiB) a responder's private memory
	     * settled at 3.0 MB under the Zipf mix, at 256 KiB at 2.0 MB, with
	     * the same throughput and latency.
	     */
	    (r = journal_exec(j, "PRAGMA cache_size = -256", "open", err)) !=
	        PC_OK ||
	    (r = journal_migrate(j, err)) != PC_OK) {
		(void)flock(j->wlock, LOCK_UN);
		goto out;
	}
	(void)flock(j->wlock, LOCK_UN);
	for (i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(j->db, stmt_sql[i], -1,
		        SQLITE_PREPARE_PERSISTENT, &j->st[i], NULL) !=
		    SQLITE_OK) {
			r = journal_fail(j, "prepare", err);
			goto out;
		}
	}
	*out = j;
	j = NULL;
	r = PC_OK;
out:
	journal_close(j);
	return r;
}

void
journal_close(struct journal *j)
{
	int i;

	if (j == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(j->st[i]);
	(void)sqlite3_close(j->db);
	if (j->wlock != -1)
		(void)close(j->wlock);
	if (j->group != NULL)
		(void)munmap(j->group, sizeof(*j->group));
	if (j->gsync != -1)
		(void)close(j->gsync);
	free(j);
}

static sqlite3_stmt *
journal_stmt(struct journal *j, enum stmt_id id, const char *resource,
    const char *rid)
{
	sqlite3_stmt *st = j->st[id];

	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
	(void)sqlite3_bind_text(st, 1, resource, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
	return st;
}

/* BEGIN IMMEDIATE behind the writers' queue; journal_end() finishes it. */
static enum pc_result
journal_begin(struct journal *j, char *err)
{
	enum pc_result r;

	/* Nothing more goes in that could not be acknowledged. */
	if (j->group != NULL &&
	    __atomic_load_n(&j->group->failed, __ATOMIC_ACQUIRE))
		return journal_failed(err);
	if ((r = journal_queue(j, err)) != PC_OK)
		return r;
	if ((r = journal_exec(j, "BEGIN IMMEDIATE", "begin", err)) != PC_OK)
		(void)flock(j->wlock, LOCK_UN);
	return r;
}

/* COMMIT (or roll back), leave the writers' queue, and make it durable. */
static enum pc_result
journal_end(struct journal *j, enum pc_result r, char *err)
{
	uint64_t mine = 0;

	j->wrote = false;
	/* Begun and ticket go in pairs, whatever COMMIT does (see above). */
	if (j->group != NULL)
		(void)__atomic_add_fetch(&j->group->begun, 1, __ATOMIC_SEQ_CST);
	if (r == PC_OK &&
	    sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		r = journal_fail(j, "commit", err);
	if (r != PC_OK && !sqlite3_get_autocommit(j->db))
		(void)sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
	if (j->group != NULL)
		mine =
		    __atomic_add_fetch(&j->group->ticket, 1, __ATOMIC_SEQ_CST);
	(void)flock(j->wlock, LOCK_UN);
	if (r == PC_OK && j->wrote && mine != 0)
		r = journal_sync_upto(j, mine, err);
	return r;
}

UNITTEST enum pc_result
journal_pending_bytes(struct journal *j, const char *resource, const char *id,
    int64_t *bytes, char *err)
{
	sqlite3_stmt *st;
	enum pc_result r = PC_OK;

	*bytes = 0;
	st = journal_stmt(j, ST_PENDING_BYTES, resource, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		*bytes = sqlite3_column_int64(st, 0);
	else
		r = journal_fail(j, "read", err);
	(void)sqlite3_reset(st);
	return r;
}

/*
 * Insert one change under the write transaction: the budget check, the
 * version, the retry time. See journal_append().
 */
static enum pc_result
append_locked(struct journal *j, const char *resource, const char *id,
    const char *patch, int64_t base_us, int64_t now_us, int64_t max_pending,
    int64_t *updated_at_us, int64_t *seq, char *err)
{
	enum pc_result r = PC_OK;
	sqlite3_stmt *st;
	int64_t v = now_us, next_attempt = 0, pending,
	        len = (int64_t)strlen(patch);
	int rc;

	/* Under the write lock: no other append of the id can come between
	 * this count and the insert. */
	if (max_pending > 0) {
		if ((r = journal_pending_bytes(j, resource, id, &pending,
		         err)) != PC_OK)
			goto out;
		if (pending + len > max_pending) {
			pc_err(err,
			    "%lld bytes pending and %lld more would pass %lld",
			    (long long)pending, (long long)len,
			    (long long)max_pending);
			r = PC_TOOBIG;
			goto out;
		}
	}
	st = journal_stmt(j, ST_NEWEST, resource, id);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW && rc != SQLITE_DONE) {
		r = journal_fail(j, "append", err);
		goto out;
	}
	if (base_us >= v)
		v = base_us + 1;
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_int64(st, 0) >= v)
			v = sqlite3_column_int64(st, 0) + 1;
		/* Never due before an older entry of the id that backs off. */
		next_attempt = sqlite3_column_int64(st, 1);
	}
	st = journal_stmt(j, ST_INSERT, resource, id);
	(void)sqlite3_bind_text(st, 3, patch, -1, SQLITE_STATIC);
	(void)sqlite3_bind_int64(st, 4, v);
	(void)sqlite3_bind_int64(st, 5, now_us);
	(void)sqlite3_bind_int64(st, 6, next_attempt);
	if (sqlite3_step(st) != SQLITE_DONE) {
		r = journal_fail(j, "append", err);
		goto out;
	}
	*seq = sqlite3_last_insert_rowid(j->db);
	*updated_at_us = v;
out:
	(void)sqlite3_reset(j->st[ST_NEWEST]);
	(void)sqlite3_reset(j->st[ST_INSERT]);
	return r;
}

enum pc_result
journal_append(struct journal *j, const char *resource, const char *id,
    const char *patch, int64_t base_us, int64_t now_us, int64_t max_pending,
    int64_t *updated_at_us, int64_t *seq, char *err)
{
	enum pc_result r;

	if ((r = journal_begin(j, err)) != PC_OK)
		return r;
	r = append_locked(j, resource, id, patch, base_us, now_us, max_pending,
	    updated_at_us, seq, err);
	/* Durable once journal_end() returns PC_OK (see journal_sync_upto()). */
	return journal_end(j, r, err);
}

void
journal_keyed_release(struct journal_keyed *k)
{
	free(k->patch);
	free(k->reason);
	memset(k, 0, sizeof(*k));
}

/* Look key up; PC_NOTFOUND when no entry has it. */
static enum pc_result
keyed_find(struct journal *j, const char *resource, const char *id,
    const char *key, struct journal_keyed *found, char *err)
{
	sqlite3_stmt *st = journal_stmt(j, ST_BY_KEY, resource, id);
	const char *state, *reason;
	enum pc_result r = PC_NOTFOUND;
	int rc;

	(void)sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		found->seq = sqlite3_column_int64(st, 0);
		state = (const char *)sqlite3_column_text(st, 2);
		reason = (const char *)sqlite3_column_text(st, 3);
		if (!journal_state_parse(state, &found->state))
			found->state = JOURNAL_CANCELLED;
		found->patch = strdup((const char *)sqlite3_column_text(st, 1));
		found->reason = reason != NULL ? strdup(reason) : NULL;
		r = found->patch != NULL ? PC_OK : PC_NOMEM;
	} else if (rc != SQLITE_DONE)
		r = journal_fail(j, "read", err);
	(void)sqlite3_reset(st);
	return r;
}

enum pc_result
journal_keyed(struct journal *j, const char *resource, const char *id,
    const char *key, struct journal_keyed *found, char *err)
{
	enum pc_result r;

	memset(found, 0, sizeof(*found));
	if ((r = keyed_find(j, resource, id, key, found, err)) == PC_OK)
		r = journal_barrier(j, err);
	return r;
}

enum pc_result
journal_append_keyed(struct journal *j, const char *resource, const char *id,
    const char *key, const char *patch, int64_t now_us, int64_t max_pending,
    struct journal_keyed *found, int64_t *updated_at_us, int64_t *seq,
    char *err)
{
	enum pc_result r;

	memset(found, 0, sizeof(*found));
	if ((r = journal_begin(j, err)) != PC_OK)
		return r;
	r = keyed_find(j, resource, id, key, found, err);
	if (r == PC_OK)
		r = PC_CONFLICT;
	else if (r == PC_NOTFOUND)
		r = append_locked(j, resource, id, patch, -1, now_us,
		    max_pending, updated_at_us, seq, err);
	if (r == PC_CONFLICT) {
		/* Seen, not written: nothing to commit, but what was seen may
		 * be answered only once it is on disk. */
		(void)journal_end(j, PC_ERROR, err);
		return journal_barrier(j, err) == PC_OK ?
		    PC_CONFLICT :
		    PC_UNAVAILABLE;
	}
	return journal_end(j, r, err);
}

/* Visit (patch, version) of the rows statement which selects for (resource, id). */
static enum pc_result
journal_patches(struct journal *j, enum stmt_id which, const char *resource,
    const char *id, journal_pending_fn fn, void *arg, char *err)
{
	enum pc_result r = PC_OK;
	sqlite3_stmt *st;
	bool seen = false;
	int rc;

	st = journal_stmt(j, which, resource, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		seen = true;
		if (!fn(arg, (const char *)sqlite3_column_text(st, 0),
		        (size_t)sqlite3_column_bytes(st, 0),
		        sqlite3_column_int64(st, 1)))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = journal_fail(j, "read", err);
	(void)sqlite3_reset(st);
	/* What was seen may be shown or cached: only once it is on disk. */
	if (r == PC_OK && seen)
		r = journal_barrier(j, err);
	return r;
}

enum pc_result
journal_pending(struct journal *j, const char *resource, const char *id,
    journal_pending_fn fn, void *arg, char *err)
{
	return journal_patches(j, ST_PENDING, resource, id, fn, arg, err);
}

enum pc_result
journal_supersede(struct journal *j, const char *resource, const char *id,
    int64_t upto_us, char *err)
{
	sqlite3_stmt *st;
	enum pc_result r = PC_OK;

	st = journal_stmt(j, ST_SUPERSEDE, resource, id);
	(void)sqlite3_bind_int64(st, 3, upto_us);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = journal_fail(j, "supersede", err);
	(void)sqlite3_reset(st);
	return r;
}

enum pc_result
journal_due_now(struct journal *j, int64_t now_us, long *n, char *err)
{
	sqlite3_stmt *st = j->st[ST_DUE_NOW];
	enum pc_result r;

	*n = 0;
	if ((r = journal_begin(j, err)) != PC_OK)
		return r;
	(void)sqlite3_reset(st);
	(void)sqlite3_bind_int64(st, 1, now_us);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = journal_fail(j, "due now", err);
	else
		*n = (long)sqlite3_changes(j->db);
	(void)sqlite3_reset(st);
	return journal_end(j, r, err);
}

enum pc_result
journal_pending_with(struct journal *j, const char *resource, const char *field,
    const char *value, journal_id_fn fn, void *arg, char *err)
{
	sqlite3_stmt *st = j->st[ST_PENDING_WITH];
	enum pc_result r = PC_OK;
	char path[80];
	bool seen = false;
	int rc;

	(void)snprintf(path, sizeof(path), "$.%s", field);
	(void)sqlite3_reset(st);
	(void)sqlite3_bind_text(st, 1, resource, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(st, 2, path, -1, SQLITE_TRANSIENT);
	(void)sqlite3_bind_text(st, 3, value, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		seen = true;
		if (!fn(arg, (const char *)sqlite3_column_text(st, 0)))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = journal_fail(j, "read", err);
	(void)sqlite3_reset(st);
	if (r == PC_OK && seen)
		r = journal_barrier(j, err);
	return r;
}

enum pc_result
journal_mentions(struct journal *j, const char *needle, bool *found, char *err)
{
	sqlite3_stmt *st = j->st[ST_MENTIONS];
	enum pc_result r = PC_OK;
	int rc;

	(void)sqlite3_reset(st);
	(void)sqlite3_bind_text(st, 1, needle, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*found = rc != SQLITE_DONE;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = journal_fail(j, "read", err);
	(void)sqlite3_reset(st);
	return r;
}

enum pc_result
journal_dead_of(struct journal *j, const char *resource, const char *id,
    journal_pending_fn fn, void *arg, char *err)
{
	return journal_patches(j, ST_DEAD_OF, resource, id, fn, arg, err);
}

enum pc_result
journal_due(struct journal *j, int64_t now_us, journal_entry_fn fn, void *arg,
    char *err)
{
	sqlite3_stmt *st = j->st[ST_DUE];
	struct journal_entry e;
	enum pc_result r = PC_OK;
	int rc;

	(void)sqlite3_reset(st);
	(void)sqlite3_bind_int64(st, 1, now_us);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		e.seq = sqlite3_column_int64(st, 0);
		e.resource = (const char *)sqlite3_column_text(st, 1);
		e.id = (const char *)sqlite3_column_text(st, 2);
		e.patch = (const char *)sqlite3_column_text(st, 3);
		e.updated_at_us = sqlite3_column_int64(st, 4);
		e.attempts = (long)sqlite3_column_int64(st, 5);
		if (!fn(arg, &e))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = journal_fail(j, "due", err);
	(void)sqlite3_reset(st);
	return r;
}

/* Settle one outcome's entries; inside journal_record's transaction. */
static enum pc_result
journal_record_one(struct journal *j, const struct journal_outcome *o,
    char *err)
{
	sqlite3_stmt *st;
	size_t i;

	st = j->st[o->state == JOURNAL_RETRY ? ST_RETRY : ST_SETTLE];
	for (i = 0; i < o->nseqs; i++) {
		(void)sqlite3_reset(st);
		(void)sqlite3_bind_int64(st, 1, o->seqs[i]);
		if (o->state == JOURNAL_RETRY)
			(void)sqlite3_bind_int64(st, 2, o->next_attempt_us);
		else
			(void)sqlite3_bind_text(st, 2, state_names[o->state],
			    -1, SQLITE_STATIC);
		(void)sqlite3_bind_text(st, 3, o->reason, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			(void)sqlite3_reset(st);
			return journal_fail(j, "record", err);
		}
	}
	(void)sqlite3_reset(st);
	if (o->state != JOURNAL_RETRY || o->id == NULL)
		return PC_OK;
	/* Entries of the id appended since it was sent wait with it, so that
	 * none of them overtakes it (journal_append() copies the time too). */
	st = journal_stmt(j, ST_RETRY_ID, o->resource, o->id);
	(void)sqlite3_bind_int64(st, 3, o->next_attempt_us);
	if (sqlite3_step(st) != SQLITE_DONE) {
		(void)sqlite3_reset(st);
		return journal_fail(j, "record", err);
	}
	(void)sqlite3_reset(st);
	return PC_OK;
}

enum pc_result
journal_record(struct journal *j, const struct journal_outcome *o, size_t n,
    char *err)
{
	enum pc_result r;
	size_t i;

	if (n == 0)
		return PC_OK;
	if ((r = journal_begin(j, err)) != PC_OK)
		return r;
	for (i = 0; i < n && r == PC_OK; i++)
		r = journal_record_one(j, &o[i], err);
	return journal_end(j, r, err);
}

enum pc_result
journal_cancel(struct journal *j, const char *resource, const char *id, long *n,
    char *err)
{
	sqlite3_stmt *st;
	enum pc_result r;

	*n = 0;
	if ((r = journal_begin(j, err)) != PC_OK)
		return r;
	st = journal_stmt(j, ST_CANCEL, resource, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = journal_fail(j, "cancel", err);
	else
		*n = (long)sqlite3_changes(j->db);
	(void)sqlite3_reset(st);
	return journal_end(j, r, err);
}

enum pc_result
journal_prune(struct journal *j, int64_t before_us, long *pruned, char *err)
{
	sqlite3_stmt *st = j->st[ST_PRUNE];
	enum pc_result r;

	*pruned = 0;
	if ((r = journal_begin(j, err)) != PC_OK)
		return r;
	(void)sqlite3_reset(st);
	(void)sqlite3_bind_int64(st, 1, before_us);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = journal_fail(j, "prune", err);
	else
		*pruned = (long)sqlite3_changes(j->db);
	(void)sqlite3_reset(st);
	return journal_end(j, r, err);
}

enum pc_result
journal_count(struct journal *j, const char *name, int64_t minute, int64_t *n,
    char *err)
{
	sqlite3_stmt *st;
	enum pc_result r;

	*n = 0;
	if ((r = journal_begin(j, err)) != PC_OK)
		return r;
	st = journal_stmt(j, ST_RATE_COUNT, name, NULL);
	(void)sqlite3_bind_int64(st, 2, minute);
	if (sqlite3_step(st) == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	else
		r = journal_fail(j, "count", err);
	(void)sqlite3_reset(st);
	/* Once a minute per connection: the older minutes' rows go. */
	if (r == PC_OK && minute != j->counted_minute) {
		j->counted_minute = minute;
		st = j->st[ST_RATE_PRUNE];
		(void)sqlite3_reset(st);
		(void)sqlite3_bind_int64(st, 1, minute - 1);
		if (sqlite3_step(st) != SQLITE_DONE)
			r = journal_fail(j, "count", err);
		(void)sqlite3_reset(st);
	}
	return journal_end(j, r, err);
}

enum pc_result
journal_meta_set(struct journal *j, const char *key, const char *value,
    char *err)
{
	sqlite3_stmt *st = j->st[ST_META];
	enum pc_result r;

	if ((r = journal_begin(j, err)) != PC_OK)
		return r;
	(void)sqlite3_reset(st);
	(void)sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	(void)sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = journal_fail(j, "meta", err);
	(void)sqlite3_reset(st);
	return journal_end(j, r, err);
}

enum pc_result
journal_meta_get(struct journal *j, const char *key, char *value, size_t size,
    char *err)
{
	sqlite3_stmt *st = j->st[ST_META_GET];
	enum pc_result r = PC_NOTFOUND;
	int rc;

	(void)sqlite3_reset(st);
	(void)sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		(void)snprintf(value, size, "%s",
		    (const char *)sqlite3_column_text(st, 0));
		r = PC_OK;
	} else if (rc != SQLITE_DONE)
		r = journal_fail(j, "meta", err);
	(void)sqlite3_reset(st);
	return r;
}

static void
journal_checkpoint(struct journal *j, int mode)
{
	int log = 0, done = 0;

	if (sqlite3_wal_checkpoint_v2(j->db, NULL, mode, &log, &done) !=
	        SQLITE_OK &&
	    sqlite3_errcode(j->db) != SQLITE_BUSY)
		log_warn("journal_checkpoint_failed", "error=\"%s\"",
		    sqlite3_errmsg(j->db));
}

void
journal_maintain(struct journal *j)
{

	if (j == NULL || j->wal_frames < JOURNAL_CHECKPOINT_FRAMES)
		return;
	j->wal_frames = 0;
	/*
	 * A PASSIVE checkpoint copies what it can without blocking anyone, but
	 * under a steady stream of writers it never reaches the end of the WAL,
	 * so the WAL never starts over: it grows, and every commit's fsync then
	 * has the file's new size to write as well. Measured with 8 writers:
	 * the WAL reached 70 MB in 5 s and a commit took 400 us instead of 180.
	 * So after the PASSIVE pass, a RESTART checkpoint, which lets the next
	 * writer begin the WAL again, runs holding the writers' queue (only
	 * frames written since the PASSIVE pass are left to copy, so writers
	 * wait about half a millisecond). When the queue is busy, the next
	 * response that finds the WAL long tries again.
	 */
	journal_checkpoint(j, SQLITE_CHECKPOINT_PASSIVE);
	if (flock(j->wlock, LOCK_EX | LOCK_NB) != 0)
		return;
	journal_checkpoint(j, SQLITE_CHECKPOINT_RESTART);
	(void)flock(j->wlock, LOCK_UN);
}

enum pc_result
journal_trash_add(struct journal *j, int64_t seq, const char *relpath,
    char *err)
{
	sqlite3_stmt *st = j->st[ST_TRASH_ADD];
	enum pc_result r;

	if ((r = journal_begin(j, err)) != PC_OK)
		return r;
	(void)sqlite3_reset(st);
	(void)sqlite3_bind_int64(st, 1, seq);
	(void)sqlite3_bind_text(st, 2, relpath, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = journal_fail(j, "trash", err);
	(void)sqlite3_reset(st);
	return journal_end(j, r, err);
}

enum pc_result
journal_trash_settled(struct journal *j, journal_trash_fn fn, void *arg,
    char *err)
{
	sqlite3_stmt *st = j->st[ST_TRASH_SETTLED], *del = j->st[ST_TRASH_DEL];
	enum journal_state s;
	enum pc_result r;
	const char *state;
	int rc;

	if ((r = journal_begin(j, err)) != PC_OK)
		return r;
	(void)sqlite3_reset(st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		state = (const char *)sqlite3_column_text(st, 2);
		/* Only an applied change (or a delete: no change, seq < 0)
		 * retires the old file; otherwise the database still points
		 * at it. */
		if (!fn(arg, (const char *)sqlite3_column_text(st, 1),
		        sqlite3_column_int64(st, 3) < 0 ||
		            (journal_state_parse(state, &s) &&
		                s == JOURNAL_APPLIED)))
			continue; /* keep the row: try again next run */
		(void)sqlite3_reset(del);
		(void)sqlite3_bind_int64(del, 1, sqlite3_column_int64(st, 0));
		if (sqlite3_step(del) != SQLITE_DONE) {
			r = journal_fail(j, "trash", err);
			break;
		}
	}
	if (r == PC_OK && rc != SQLITE_DONE)
		r = journal_fail(j, "trash", err);
	(void)sqlite3_reset(st);
	(void)sqlite3_reset(del);
	return journal_end(j, r, err);
}

enum pc_result
journal_depth(struct journal *j, struct journal_depth *d, char *err)
{
	sqlite3_stmt *st = j->st[ST_DEPTH];
	enum journal_state s;
	enum pc_result r = PC_OK;
	const char *state;
	long n;
	int rc;

	memset(d, 0, sizeof(*d));
	(void)sqlite3_reset(st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		state = (const char *)sqlite3_column_text(st, 0);
		n = (long)sqlite3_column_int64(st, 1);
		if (!journal_state_parse(state, &s))
			continue;
		switch (s) {
		case JOURNAL_RETRY:
			d->pending = n;
			break;
		case JOURNAL_APPLIED:
			d->applied = n;
			break;
		case JOURNAL_CONFLICT:
			d->conflict = n;
			break;
		case JOURNAL_DEAD:
			d->dead = n;
			break;
		case JOURNAL_CANCELLED:
			d->cancelled = n;
			break;
		}
	}
	if (rc != SQLITE_DONE)
		r = journal_fail(j, "depth", err);
	(void)sqlite3_reset(st);
	return r;
}

/* profilecache-flush: replay the journal to the database; run by cron. */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "app.h"
#include "clock.h"
#include "journal_files.h"
#include "log.h"
#include "metrics.h"
#include "origin.h"
#include "strnum.h"
#include "usecase_flush.h"

/* Exit codes a cron user can act on (sysexits.h values). */
#define EXIT_OK 0     /* done, nothing to do, or another run holds the lock */
#define EXIT_FAILED 1 /* the journal could not be read or written */
#define EXIT_USAGE 2
#define EXIT_DEAD 65 /* EX_DATAERR: changes were dead-lettered this run */
#define EXIT_RETRY \
	75 /* EX_TEMPFAIL: the database failed; entries wait for a retry */
#define EXIT_CONFIG 78 /* EX_CONFIG */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: profilecache-flush [--config FILE] [--once] [--batch N]\n"
	    "                          [--pipeline N] [--max-seconds N] [--dry-run] [-v]\n"
	    "\n"
	    "Replays the deferred writes in the journal to the database through\n"
	    "apply_profile_changes, in batches of changes coalesced per profile.\n"
	    "Meant for cron, every minute; a run that finds another one holding\n"
	    "the journal's flush lock exits 0 at once.\n"
	    "\n"
	    "  --config FILE     configuration (default $PROFILECACHE_CONFIG)\n"
	    "  --once            send one batch, then stop\n"
	    "  --batch N         changes per call (default [flush] batch)\n"
	    "  --pipeline N      calls in flight at once ([flush] pipeline)\n"
	    "  --max-seconds N   start no batch after N seconds ([flush] max_seconds)\n"
	    "  --dry-run         print the first batch as JSON; change nothing\n"
	    "  -v                log every batch, and a run that had nothing to do\n"
	    "\n"
	    "Prints nothing when there was nothing to do (cron mails no one).\n"
	    "Exit status: 0 done or nothing to do; 65 changes were dead-lettered\n"
	    "(see profilecache-admin dead list); 75 the database failed and entries\n"
	    "wait for a retry; 78 bad configuration; 1 the journal failed; 2 usage.\n");
}

/* True when the run had nothing to send, settle or prune. */
static bool
flush_idle(const struct flush_stats *st)
{
	return st->entries == 0 && st->batches == 0 && st->applied == 0 &&
	    st->conflicts == 0 && st->deleted == 0 && st->dead == 0 &&
	    st->retried == 0 && st->pruned == 0 && st->superseded == 0 &&
	    st->split == 0;
}

int
main(int argc, char **argv)
{
	const char *path = getenv(CONFIG_ENV);
	struct flush_opts o = { 0 };
	struct flush_stats st;
	char err[PC_ERRLEN] = "", lock[4096];
	long long batch = 0, pipeline = 0, max_seconds = 0;
	int64_t t0 = clock_mono_us();
	bool verbose = false;
	struct config cfg;
	struct app app;
	int i, fd, rc;

	log_set_ident("profilecache-flush");
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--once") == 0)
			o.once = true;
		else if (strcmp(argv[i], "--dry-run") == 0)
			o.dry_run = true;
		else if (strcmp(argv[i], "-v") == 0)
			verbose = true;
		else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc &&
		    strnum_parse(argv[i + 1], 1, 10000, &batch) == PC_OK)
			i++;
		else if (strcmp(argv[i], "--pipeline") == 0 && i + 1 < argc &&
		    strnum_parse(argv[i + 1], 1, ORIGIN_STARTED_MAX,
		        &pipeline) == PC_OK)
			i++;
		else if (strcmp(argv[i], "--max-seconds") == 0 &&
		    i + 1 < argc &&
		    strnum_parse(argv[i + 1], 1, 86400, &max_seconds) == PC_OK)
			i++;
		else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("profilecache-flush %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (config_load_logged(path, &cfg) != PC_OK)
		return EXIT_CONFIG;
	if (verbose)
		log_set_level(LOG_LVL_DEBUG);
	o.batch = batch ? (long)batch : cfg.flush_batch;
	o.pipeline = pipeline ? (long)pipeline : cfg.flush_pipeline;
	o.max_seconds = max_seconds ? (long)max_seconds : cfg.flush_max_seconds;

	/* One run at a time per journal: a second one leaves at once. */
	if ((size_t)snprintf(lock, sizeof(lock), "%s" JOURNAL_FILE_FLUSH_LOCK,
	        cfg.journal_path) >= sizeof(lock) ||
	    (fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		log_error("flush_lock_failed", "path=%s error=\"%s\"", lock,
		    strerror(errno));
		config_free(&cfg);
		return EXIT_FAILED;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		log_info("flush_skipped", "reason=\"another run holds %s\"",
		    lock);
		(void)close(fd);
		config_free(&cfg);
		return EXIT_OK;
	}
	if (app_open(&app, &cfg, err) != PC_OK) {
		log_error("startup_failed", "error=\"%s\"", err);
		(void)close(fd);
		return EXIT_CONFIG;
	}
	if (usecase_flush_run(&app, &o, &st, err) != PC_OK) {
		log_error("flush_failed", "error=\"%s\"", err);
		rc = EXIT_FAILED;
	} else if (st.dead > 0)
		rc = EXIT_DEAD;
	else if (st.origin_down || st.retried > 0)
		rc = EXIT_RETRY;
	else
		rc = EXIT_OK;
	metrics_add(MC_FLUSH_RUNS, 1);
	metrics_add(MC_FLUSH_APPLIED, (uint64_t)st.applied);
	metrics_add(MC_FLUSH_CONFLICT, (uint64_t)st.conflicts);
	metrics_add(MC_FLUSH_RETRY, (uint64_t)st.retried);
	metrics_add(MC_FLUSH_DEAD, (uint64_t)st.dead);
	/*
	 * The one summary line per run; a run that found nothing to send says
	 * it at debug level only (-v), so that cron, which mails whatever a job
	 * prints, stays quiet. Refreshing cache entries from rows changed
	 * outside (pulled) is routine, not something to report.
	 */
	log_msg(rc != EXIT_OK   ? LOG_LVL_WARN :
	        flush_idle(&st) ? LOG_LVL_DEBUG :
	                          LOG_LVL_INFO,
	    "flush_done",
	    "applied=%ld conflicts=%ld deleted=%ld dead=%ld retried=%ld entries=%ld"
	    " batches=%ld pruned=%ld superseded=%ld split=%ld pulled=%ld seconds=%.3f"
	    " exit=%d",
	    st.applied, st.conflicts, st.deleted, st.dead, st.retried,
	    st.entries, st.batches, st.pruned, st.superseded, st.split,
	    st.pulled, (double)(clock_mono_us() - t0) / 1e6, rc);
	app_close(&app);
	(void)close(fd);
	return rc;
}

/*
 * Reference for the PUT benchmark: a plain SQLite insert loop, one
 * transaction per row, WAL and synchronous=FULL, the same table as the
 * journal, run by W processes at once for S seconds. Prints
 * "writers rps p50_ms p90_ms p99_ms".
 *
 *   cc -O2 -o sqlite-insert bench/sqlite-insert.c -lsqlite3
 *   ./sqlite-insert DB WRITERS SECONDS
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES 2000000

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One writer: insert until the deadline, write latencies (ms) to out. */
static int
writer(const char *path, double seconds, FILE *out)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	double end, t0, *lat;
	char *text;
	size_t len = 0;
	long n = 0, i;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return 1;
	sqlite3_busy_timeout(db, 5000);
	sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", 0,
	    0, 0);
	if (sqlite3_prepare_v2(db,
	        "INSERT INTO changes (resource, id, patch,"
	        " updated_at_us, created_at_us) VALUES ('profile', ?1, '{\"bio\":\"x\"}',"
	        " ?2, ?2)",
	        -1, &st, NULL) != SQLITE_OK)
		return 1;
	/* Latencies are kept here and written once at the end, in one write:
	 * the writers share the output file, and stdio buffers flushed at
	 * their boundaries would cut each other's lines. */
	if ((lat = malloc(MAX_SAMPLES / 8 * sizeof(*lat))) == NULL)
		return 1;
	end = now_ms() + seconds * 1e3;
	while ((t0 = now_ms()) < end && n < MAX_SAMPLES / 8) {
		/* Busy past the timeout (another writer held the lock): try again. */
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0) != SQLITE_OK)
			continue;
		sqlite3_bind_text(st, 1, "7b3e4a52-1c9d-4f60-9a8e-2d5c6f7a8b01",
		    -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)(t0 * 1000));
		sqlite3_step(st);
		sqlite3_reset(st);
		if (sqlite3_exec(db, "COMMIT", 0, 0, 0) != SQLITE_OK) {
			fprintf(stderr, "sqlite-insert: COMMIT: %s\n",
			    sqlite3_errmsg(db));
			return 1;
		}
		lat[n++] = now_ms() - t0;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (n == 0) {
		fprintf(stderr,
		    "sqlite-insert: a writer committed nothing in %.0f s"
		    " (it lost every race for the lock to the others)\n",
		    seconds);
		return 1;
	}
	if ((text = malloc((size_t)n * 16)) == NULL)
		return 1;
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, 16, "%.4f\n", lat[i]);
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fileno(out), text + off, len - off);

		if (w <= 0)
			return 1;
		off += (size_t)w;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static double lat[MAX_SAMPLES];
	char tmpl[] = "/tmp/pc-sqlite-bench.XXXXXX";
	double seconds;
	size_t n = 0;
	int writers, i, status, fd, rc = 0;
	sqlite3 *db;
	FILE *f;

	if (argc != 4) {
		fprintf(stderr, "usage: sqlite-insert DB WRITERS SECONDS\n");
		return 2;
	}
	writers = atoi(argv[2]);
	seconds = atof(argv[3]);
	if (sqlite3_open(argv[1], &db) != SQLITE_OK ||
	    sqlite3_exec(db,
	        "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS changes ("
	        " seq INTEGER PRIMARY KEY AUTOINCREMENT, resource TEXT NOT NULL,"
	        " id TEXT NOT NULL, patch TEXT NOT NULL, updated_at_us INTEGER NOT NULL,"
	        " state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,"
	        " next_attempt_at INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
	        " created_at_us INTEGER NOT NULL)",
	        0, 0, 0) != SQLITE_OK)
		return 1;
	sqlite3_close(db);
	if ((fd = mkstemp(tmpl)) == -1 || (f = fdopen(fd, "w+")) == NULL)
		return 1;
	for (i = 0; i < writers; i++) {
		if (fork() == 0)
			_exit(writer(argv[1], seconds, f));
	}
	for (i = 0; i < writers; i++) {
		wait(&status);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			rc = 1;
	}
	fflush(f);
	rewind(f);
	while (n < MAX_SAMPLES && fscanf(f, "%lf", &lat[n]) == 1)
		n++;
	fclose(f);
	unlink(tmpl);
	if (n == 0)
		return 1;
	qsort(lat, n, sizeof(lat[0]), cmp);
	printf("%d %.0f %.3f %.3f %.3f\n", writers, n / seconds, lat[n / 2],
	    lat[(size_t)(n * 0.9)], lat[(size_t)(n * 0.99)]);
	return rc;
}

/* The files a node keeps beside its journal. */
#ifndef PC_JOURNAL_FILES_H
#define PC_JOURNAL_FILES_H

/*
 * Each is [journal] path with one of these appended. Every program names
 * them from here, and profilecache-admin paths prints them for the scripts,
 * which so repeat none of them.
 */
#define JOURNAL_FILE_WAL "-wal"               /* SQLite's write-ahead log */
#define JOURNAL_FILE_SHM "-shm"               /* SQLite's shared memory */
#define JOURNAL_FILE_WLOCK "-wlock"           /* the writers' queue (flock) */
#define JOURNAL_FILE_SYNC "-sync"             /* group commit (flock, mmap) */
#define JOURNAL_FILE_FLUSH_LOCK "-flush.lock" /* one flusher run at a time */
#define JOURNAL_FILE_JWKS "-jwks.json"        /* the fetched jwks_url key set */
#define JOURNAL_FILE_JWKS_LOCK "-jwks.lock"   /* its fetches (flock, mtime) */
#define JOURNAL_FILE_DECODE "-decode"         /* the image decode slots */
#define JOURNAL_FILE_ROWLOCK "-rowlock" /* rows' increments, memcached down */
#define JOURNAL_FILE_METRICS "-metrics" /* [metrics] file's default */

#endif

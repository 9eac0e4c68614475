-- The local journal of deferred writes (SQLite). profilecache creates and
-- migrates it itself (PRAGMA user_version); this file is the reference, and
-- operators may read the database with the sqlite3 CLI:
--
--   sqlite3 /var/lib/profilecache/journal.db \
--     "select state, count(*) from changes group by state"
--
-- One row per accepted change. A change is acknowledged to the client only
-- after the transaction that inserted its row has committed.

CREATE TABLE IF NOT EXISTS changes (
    -- No AUTOINCREMENT: it costs a page write per commit, and a rowid is
    -- only ever reused after the newest row was deleted, so seq still
    -- rises with every append among the rows that exist.
    seq             INTEGER PRIMARY KEY,
    resource        TEXT    NOT NULL,                 -- 'profile'
    id              TEXT    NOT NULL,                 -- canonical UUID
    patch           TEXT    NOT NULL,                 -- JSON object: the changed fields only
    updated_at_us   INTEGER NOT NULL,                 -- the change's version, µs since the epoch
    state           TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'applied', 'conflict', 'dead', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,       -- µs since the epoch
    last_error      TEXT,
    created_at_us   INTEGER NOT NULL
);

-- Due entries in seq order (the flusher): walked in seq order, the retry
-- time checked from the index (an index led by next_attempt_at would make
-- every batch sort all pending entries).
CREATE INDEX IF NOT EXISTS changes_due
    ON changes (seq, next_attempt_at) WHERE state = 'pending';

-- Pending entries of one id (read-your-writes, causal timestamps).
CREATE INDEX IF NOT EXISTS changes_pending_id
    ON changes (resource, id, seq) WHERE state = 'pending';

-- Small facts the flusher leaves for operators (profilecache-admin status):
-- last_flush_at_us, last_flush_summary.
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Format 2: avatar files to remove once the change that replaced them has
-- settled (the previous file stays until the new URL is in the database).
CREATE TABLE IF NOT EXISTS avatar_trash (
    seq     INTEGER NOT NULL,                  -- the change that set the new avatar_url
    relpath TEXT    NOT NULL                   -- the previous file, under [avatar] dir
);
CREATE INDEX IF NOT EXISTS avatar_trash_seq ON avatar_trash (seq);

-- Format 3: dead-lettered entries of one id (a read shows "sync":"failed"
-- with the fields the database refused). Retried entries are never given
-- up; every pending entry of an id shares the id's retry time, so no entry
-- overtakes an older one of its id that backs off.
CREATE INDEX IF NOT EXISTS changes_dead_id
    ON changes (resource, id) WHERE state = 'dead';

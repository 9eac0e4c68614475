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

-- Format 4: the bytes of each id's pending patches, kept by the triggers
-- below, so that an append checks [limits] max_pending_bytes by reading one
-- row. Summing the id's pending rows instead read a table page per pending
-- change, inside the writers' lock and after every other process's commit had
-- emptied the connection's page cache: with 3 000 pending changes per profile
-- 8 PATCH writers fell from about 1 900 to 930 requests/s (p99 16 -> 63 ms).
CREATE TABLE IF NOT EXISTS pending_bytes (
    resource TEXT    NOT NULL,
    id       TEXT    NOT NULL,
    bytes    INTEGER NOT NULL,
    PRIMARY KEY (resource, id)
) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS pending_bytes_insert AFTER INSERT ON changes
WHEN new.state = 'pending' BEGIN
    INSERT INTO pending_bytes (resource, id, bytes)
    VALUES (new.resource, new.id, length(CAST(new.patch AS BLOB)))
    ON CONFLICT (resource, id) DO UPDATE SET bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER IF NOT EXISTS pending_bytes_update
AFTER UPDATE OF state, patch, resource, id ON changes
WHEN old.state = 'pending' OR new.state = 'pending' BEGIN
    UPDATE pending_bytes SET bytes = bytes - length(CAST(old.patch AS BLOB))
    WHERE old.state = 'pending' AND resource = old.resource AND id = old.id;
    INSERT INTO pending_bytes (resource, id, bytes)
    SELECT new.resource, new.id, length(CAST(new.patch AS BLOB))
    WHERE new.state = 'pending'
    ON CONFLICT (resource, id) DO UPDATE SET bytes = bytes + excluded.bytes;
    DELETE FROM pending_bytes
    WHERE resource = old.resource AND id = old.id AND bytes <= 0;
END;

CREATE TRIGGER IF NOT EXISTS pending_bytes_delete AFTER DELETE ON changes
WHEN old.state = 'pending' BEGIN
    UPDATE pending_bytes SET bytes = bytes - length(CAST(old.patch AS BLOB))
    WHERE resource = old.resource AND id = old.id;
    DELETE FROM pending_bytes
    WHERE resource = old.resource AND id = old.id AND bytes <= 0;
END;

-- Format 5: increments of counters (resource "<item>/increment", patch
-- {"field","delta","key","value"}), found by their Idempotency-Key: a
-- retried request answers its first answer for as long as the entry is
-- kept ([flush] retention).
CREATE INDEX IF NOT EXISTS changes_increment_key
    ON changes (resource, id, json_extract(patch, '$.key'))
    WHERE resource GLOB '*/increment';

-- Format 6: this node's count of a user's writes per minute, kept only while
-- memcached cannot count them ([limits] writes_per_minute; see
-- src/ratelimit.c), so that a memcached outage does not lift the limit.
-- Minutes before the previous one are removed as new ones are counted.
CREATE TABLE IF NOT EXISTS rate_counts (
    name   TEXT    NOT NULL,                  -- "writes:<user id>"
    minute INTEGER NOT NULL,                  -- seconds since the epoch / 60
    n      INTEGER NOT NULL,
    PRIMARY KEY (name, minute)
) WITHOUT ROWID;

-- Counted afresh whenever this file is applied (a migration), so exact from
-- any earlier format.
DELETE FROM pending_bytes;
INSERT INTO pending_bytes (resource, id, bytes)
SELECT resource, id, sum(length(CAST(patch AS BLOB))) FROM changes
WHERE state = 'pending' GROUP BY resource, id;

-- The account sync: recordings found by listing the Vobiz account (source 'sync'), with what
-- the REST API says about them, their length, their numbers for finding them, and when Vobiz's
-- copy was deleted. SQLite cannot change a CHECK constraint in place, so the table is rebuilt
-- (the migrator runs with foreign keys off and checks them before committing).
CREATE TABLE recordings_new (
    recording_id      TEXT PRIMARY KEY,
    conference_uuid   TEXT REFERENCES conferences (conference_uuid),
    call_uuid         TEXT,
    source            TEXT NOT NULL CHECK (source IN ('conference_end', 'record_stop', 'sync')),
    source_url        TEXT NOT NULL,
    duration_ms       INTEGER,
    format            TEXT,
    size_bytes        INTEGER,
    sha256            TEXT,
    location          TEXT,
    archived_at       TEXT,
    created_at        TEXT NOT NULL,
    object_key        TEXT,
    -- When it was recorded: the REST object's start, else when confvault learnt of it.
    recorded_at       TEXT NOT NULL,
    -- Numbers as given and normalised as for legs; from the REST object (callbacks have none).
    from_number       TEXT,
    to_number         TEXT,
    from_normalized   TEXT,
    to_normalized     TEXT,
    -- The REST object as listed, verbatim: its facts go into the sidecar.
    vobiz_object      TEXT,
    source_deleted_at TEXT
);
INSERT INTO recordings_new
    (recording_id, conference_uuid, call_uuid, source, source_url, duration_ms, format,
     size_bytes, sha256, location, archived_at, created_at, object_key, recorded_at)
SELECT recording_id, conference_uuid, call_uuid, source, source_url, duration_ms, format,
       size_bytes, sha256, location, archived_at, created_at, object_key, created_at
FROM recordings;
DROP TABLE recordings;
ALTER TABLE recordings_new RENAME TO recordings;
CREATE INDEX recordings_by_conference ON recordings (conference_uuid);
CREATE INDEX recordings_unlinked ON recordings (call_uuid) WHERE conference_uuid IS NULL;
CREATE INDEX recordings_by_call ON recordings (call_uuid);
CREATE INDEX recordings_newest ON recordings (recorded_at DESC, recording_id DESC);
CREATE INDEX recordings_by_from ON recordings (from_normalized);
CREATE INDEX recordings_by_to ON recordings (to_normalized);
-- Archived recordings whose source copy is still at Vobiz: candidates for delete at source.
CREATE INDEX recordings_source_kept ON recordings (archived_at)
    WHERE archived_at IS NOT NULL AND source_deleted_at IS NULL;

-- Named leases that one process at a time may hold (the account sync), and when the work they
-- guard last completed, so that several replicas sync in turn rather than all at once.
CREATE TABLE leases (
    name          TEXT PRIMARY KEY,
    owner         TEXT,
    until         TEXT,
    completed_at  TEXT
) WITHOUT ROWID;

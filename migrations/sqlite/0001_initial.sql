-- Callbacks, conferences, their roster, recordings and the job queue (outbox).
-- Timestamps are UTC text in one fixed-width format (YYYY-MM-DDTHH:MM:SS.ffffffZ), so that
-- text order is time order and MIN/MAX work in SQL.

-- Every accepted callback, verbatim (raw_body holds every field, unknown ones included;
-- for GET callbacks it is the query string). dedupe_key is the conference (or, for a recording,
-- call) id, a slash, then a hash of the endpoint and the sorted fields: a redelivered callback is
-- recognised and changes nothing, and one conference's events sit together in the index (which
-- also serves look-ups by conference).
CREATE TABLE callback_events (
    id               INTEGER PRIMARY KEY,
    endpoint         TEXT NOT NULL CHECK (endpoint IN ('conference', 'recording')),
    dedupe_key       BLOB NOT NULL UNIQUE,
    method           TEXT NOT NULL,
    raw_body         TEXT NOT NULL,
    kind             TEXT NOT NULL,
    conference_uuid  TEXT,
    call_uuid        TEXT,
    received_at      TEXT NOT NULL
);

CREATE TABLE conferences (
    conference_uuid      TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('active', 'ended')),
    started_at           TEXT,
    ended_at             TEXT,
    end_reason           TEXT CHECK (end_reason IN ('end_event', 'last_member_left')),
    -- Live shape: an exit with ConferenceLastMember=true was seen, at this time.
    last_member_exit_at  TEXT,
    -- Live shape: when the inferred end is confirmed unless an enter arrives first.
    end_due_at           TEXT,
    peak_size            INTEGER,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX conferences_end_due ON conferences (end_due_at) WHERE end_due_at IS NOT NULL;
CREATE INDEX conferences_by_start ON conferences (started_at);

-- One row per call leg. member_id is '' for the documented shape, which has none.
CREATE TABLE participants (
    id               INTEGER PRIMARY KEY,
    conference_uuid  TEXT NOT NULL REFERENCES conferences (conference_uuid),
    call_uuid        TEXT NOT NULL,
    member_id        TEXT NOT NULL DEFAULT '',
    from_number      TEXT,
    to_number        TEXT,
    from_normalized  TEXT,
    direction        TEXT,
    joined_at        TEXT,
    left_at          TEXT,
    UNIQUE (conference_uuid, call_uuid, member_id)
);
CREATE INDEX participants_by_call ON participants (call_uuid);
CREATE INDEX participants_by_number ON participants (from_normalized);

-- A recording Vobiz made. conference_uuid stays NULL until a leg with call_uuid is seen.
CREATE TABLE recordings (
    recording_id     TEXT PRIMARY KEY,
    conference_uuid  TEXT REFERENCES conferences (conference_uuid),
    call_uuid        TEXT,
    source           TEXT NOT NULL CHECK (source IN ('conference_end', 'record_stop')),
    source_url       TEXT NOT NULL,
    duration_ms      INTEGER,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'archiving', 'archived', 'failed')),
    format           TEXT,
    size_bytes       INTEGER,
    sha256           TEXT,
    location         TEXT,
    archived_at      TEXT,
    created_at       TEXT NOT NULL
);
CREATE INDEX recordings_by_conference ON recordings (conference_uuid);
CREATE INDEX recordings_unlinked ON recordings (call_uuid) WHERE conference_uuid IS NULL;

-- The outbox: work the callback handlers leave for the worker, written in the same
-- transaction as the event that caused it.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    run_at       TEXT NOT NULL,
    lease_owner  TEXT,
    lease_until  TEXT,
    last_error   TEXT,
    checkpoint   TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (kind, subject)
);
CREATE INDEX jobs_ready ON jobs (state, run_at);

-- Signature nonces seen recently, with the body they came with: the same nonce with another
-- body is a replay and is refused.
CREATE TABLE seen_nonces (
    nonce      TEXT PRIMARY KEY,
    body_hash  BLOB NOT NULL,
    seen_at    TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX seen_nonces_by_age ON seen_nonces (seen_at);

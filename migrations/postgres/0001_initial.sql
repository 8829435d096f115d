-- The whole schema for PostgreSQL, as SQLite's migrations 0001 to 0006 leave it, in native
-- types: instants are timestamptz, ids identity columns, keys and hashes bytea. A recording's
-- status is derived from its archive job, as on SQLite; names are searched with pg_trgm.
-- Ids compare byte by byte (COLLATE "C"), as SQLite's text does, so keyset pages and id
-- order are the same on both backends whatever the database's locale.

-- Every accepted callback, verbatim, keyed for redelivery (see migrations/sqlite/0001).
CREATE TABLE callback_events (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint         text NOT NULL CHECK (endpoint IN ('conference', 'recording')),
    dedupe_key       bytea NOT NULL UNIQUE,
    method           text NOT NULL,
    raw_body         text NOT NULL,
    kind             text NOT NULL,
    conference_uuid  text COLLATE "C",
    call_uuid        text COLLATE "C",
    received_at      timestamptz NOT NULL
);

CREATE TABLE conferences (
    conference_uuid      text COLLATE "C" PRIMARY KEY,
    name                 text NOT NULL,
    status               text NOT NULL CHECK (status IN ('active', 'ended')),
    started_at           timestamptz,
    ended_at             timestamptz,
    end_reason           text CHECK (end_reason IN ('end_event', 'last_member_left')),
    last_member_exit_at  timestamptz,
    end_due_at           timestamptz,
    peak_size            integer,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);
CREATE INDEX conferences_end_due ON conferences (end_due_at) WHERE end_due_at IS NOT NULL;
CREATE INDEX conferences_newest ON conferences (started_at DESC, conference_uuid DESC);
CREATE INDEX conferences_active ON conferences (started_at DESC, conference_uuid DESC)
    WHERE status = 'active';
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX conferences_name_trigrams ON conferences USING gin (name gin_trgm_ops);

-- One row per call leg. member_id is '' for the documented shape, which has none.
CREATE TABLE participants (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conference_uuid  text COLLATE "C" NOT NULL REFERENCES conferences (conference_uuid),
    call_uuid        text COLLATE "C" NOT NULL,
    member_id        text NOT NULL DEFAULT '',
    from_number      text,
    to_number        text,
    from_normalized  text,
    direction        text,
    joined_at        timestamptz,
    left_at          timestamptz,
    UNIQUE (conference_uuid, call_uuid, member_id)
);
CREATE INDEX participants_by_call ON participants (call_uuid);
CREATE INDEX participants_by_number ON participants (from_normalized);

CREATE TABLE recordings (
    recording_id      text COLLATE "C" PRIMARY KEY,
    conference_uuid   text COLLATE "C" REFERENCES conferences (conference_uuid),
    call_uuid         text COLLATE "C",
    source            text NOT NULL CHECK (source IN ('conference_end', 'record_stop', 'sync')),
    source_url        text NOT NULL,
    duration_ms       bigint,
    format            text,
    size_bytes        bigint,
    sha256            text,
    location          text,
    archived_at       timestamptz,
    created_at        timestamptz NOT NULL,
    object_key        text,
    recorded_at       timestamptz NOT NULL,
    from_number       text,
    to_number         text,
    from_normalized   text,
    to_normalized     text,
    vobiz_object      jsonb,
    source_deleted_at timestamptz
);
CREATE INDEX recordings_by_conference ON recordings (conference_uuid);
CREATE INDEX recordings_unlinked ON recordings (call_uuid) WHERE conference_uuid IS NULL;
CREATE INDEX recordings_unlinked_by_age ON recordings (created_at) WHERE conference_uuid IS NULL;
CREATE INDEX recordings_by_call ON recordings (call_uuid);
CREATE INDEX recordings_newest ON recordings (recorded_at DESC, recording_id DESC);
CREATE INDEX recordings_by_from ON recordings (from_normalized);
CREATE INDEX recordings_by_to ON recordings (to_normalized);
CREATE INDEX recordings_source_kept ON recordings (archived_at)
    WHERE archived_at IS NOT NULL AND source_deleted_at IS NULL;

-- The outbox and job queue. Claims use FOR UPDATE SKIP LOCKED with a lease; lease_owner
-- fences a worker whose lease was taken over.
CREATE TABLE jobs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL,
    subject      text COLLATE "C" NOT NULL,
    state        text NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    run_at       timestamptz NOT NULL,
    lease_owner  text,
    lease_until  timestamptz,
    last_error   text,
    checkpoint   text,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    UNIQUE (kind, subject)
);
CREATE INDEX jobs_ready ON jobs (state, run_at);

CREATE TABLE seen_nonces (
    nonce      text PRIMARY KEY,
    body_hash  bytea NOT NULL,
    seen_at    timestamptz NOT NULL
);
CREATE INDEX seen_nonces_by_age ON seen_nonces (seen_at);

CREATE TABLE mail_sent (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('summary', 'alert')),
    subject_id  text COLLATE "C" NOT NULL,
    recipient   text NOT NULL,
    status      text NOT NULL CHECK (status IN ('sent', 'failed')),
    message_id  text,
    detail      text,
    sent_at     timestamptz NOT NULL,
    UNIQUE (kind, subject_id, recipient)
);

CREATE TABLE recording_links (
    token_hash    bytea PRIMARY KEY,
    recording_id  text COLLATE "C" NOT NULL REFERENCES recordings (recording_id),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz
);

CREATE TABLE heartbeat (
    id  integer PRIMARY KEY CHECK (id = 1),
    at  timestamptz NOT NULL
);

CREATE TABLE leases (
    name          text PRIMARY KEY,
    owner         text,
    until         timestamptz,
    completed_at  timestamptz
);

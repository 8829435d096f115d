-- People's access: sign-in requests and links, sessions, and the audit log. Credentials are
-- kept only as SHA-256 digests.

-- Every request for a sign-in link, known address or not, so that both cost the same.
CREATE TABLE signin_requests (
    id          INTEGER PRIMARY KEY,
    email       TEXT NOT NULL,
    client      TEXT,
    at          TEXT NOT NULL
);
CREATE INDEX signin_requests_by_age ON signin_requests (at);

CREATE TABLE signin_links (
    token_hash  BLOB PRIMARY KEY,
    email       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
) WITHOUT ROWID;
CREATE INDEX signin_links_by_email ON signin_links (email, created_at);

CREATE TABLE sessions (
    id_hash       BLOB PRIMARY KEY,
    email         TEXT NOT NULL,
    client        TEXT,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    last_used_at  TEXT NOT NULL,
    ended_at      TEXT
) WITHOUT ROWID;
CREATE INDEX sessions_by_email ON sessions (email);

CREATE TABLE audit_events (
    id               INTEGER PRIMARY KEY,
    at               TEXT NOT NULL,
    actor            TEXT NOT NULL,
    action           TEXT NOT NULL,
    conference_uuid  TEXT,
    recording_id     TEXT,
    client           TEXT
);
CREATE INDEX audit_by_conference ON audit_events (conference_uuid, id);
CREATE INDEX audit_by_actor ON audit_events (actor, id);
CREATE INDEX audit_by_age ON audit_events (at);

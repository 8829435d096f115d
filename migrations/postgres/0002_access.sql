-- People's access: sign-in requests and links, sessions, and the audit log. Credentials are
-- kept only as SHA-256 digests.

-- Every request for a sign-in link, known address or not, so that both cost the same.
CREATE TABLE signin_requests (
    id          bigserial PRIMARY KEY,
    email       text NOT NULL,
    client      text,
    at          timestamptz NOT NULL
);
CREATE INDEX signin_requests_by_age ON signin_requests (at);

CREATE TABLE signin_links (
    token_hash  bytea PRIMARY KEY,
    email       text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX signin_links_by_email ON signin_links (email, created_at);

CREATE TABLE sessions (
    id_hash       bytea PRIMARY KEY,
    email         text NOT NULL,
    client        text,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    last_used_at  timestamptz NOT NULL,
    ended_at      timestamptz
);
CREATE INDEX sessions_by_email ON sessions (email);

CREATE TABLE audit_events (
    id               bigserial PRIMARY KEY,
    at               timestamptz NOT NULL,
    actor            text NOT NULL,
    action           text NOT NULL,
    conference_uuid  text COLLATE "C",
    recording_id     text COLLATE "C",
    client           text
);
CREATE INDEX audit_by_conference ON audit_events (conference_uuid, id);
CREATE INDEX audit_by_actor ON audit_events (actor, id);
CREATE INDEX audit_by_age ON audit_events (at);

-- Meeting summaries and alerts: one row per message and recipient, so that retries and
-- replayed end events never send a message twice.
CREATE TABLE mail_sent (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('summary', 'alert')),
    subject_id  TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('sent', 'failed')),
    message_id  TEXT,
    detail      TEXT,
    sent_at     TEXT NOT NULL,
    UNIQUE (kind, subject_id, recipient)
);

-- Links in emails: confvault's own URL with an unguessable token, of which only a hash is kept.
CREATE TABLE recording_links (
    token_hash    BLOB PRIMARY KEY,
    recording_id  TEXT NOT NULL REFERENCES recordings (recording_id),
    created_at    TEXT NOT NULL,
    expires_at    TEXT
) WITHOUT ROWID;

-- The archived object's key in the store (location is how it is shown to people).
ALTER TABLE recordings ADD COLUMN object_key TEXT;

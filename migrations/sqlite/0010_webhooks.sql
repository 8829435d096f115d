-- Outbound webhooks. A message is written in the transaction of the change that causes it (the
-- outbox); the dispatcher fans it out to a delivery per endpoint that takes its type, and each
-- delivery keeps its attempts. The body is frozen at the first attempt, so retries and replays
-- send the same bytes under the same webhook-id.
CREATE TABLE webhook_messages (
    message_id     TEXT PRIMARY KEY,
    event_type     TEXT NOT NULL,
    subject        TEXT NOT NULL,
    -- Set for events that happen once per subject (a conference ends once).
    dedupe_key     TEXT UNIQUE,
    body           TEXT,
    created_at     TEXT NOT NULL,
    fanned_out_at  TEXT
);
CREATE INDEX webhook_messages_waiting ON webhook_messages (created_at) WHERE fanned_out_at IS NULL;

CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    message_id       TEXT NOT NULL REFERENCES webhook_messages (message_id),
    -- The endpoint's URL without credentials or query, as the settings list it.
    endpoint         TEXT NOT NULL,
    -- The delivery this one replays (kept after that one is pruned).
    replay_of        INTEGER,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    lease_owner      TEXT,
    lease_until      TEXT,
    last_status      INTEGER,
    last_error       TEXT,
    delivered_at     TEXT,
    created_at       TEXT NOT NULL
);
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (message_id, endpoint)
    WHERE replay_of IS NULL;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint, next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_newest ON webhook_deliveries (created_at);

CREATE TABLE webhook_attempts (
    delivery_id  INTEGER NOT NULL REFERENCES webhook_deliveries (id),
    at           TEXT NOT NULL,
    status       INTEGER,
    error        TEXT,
    duration_ms  INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_of ON webhook_attempts (delivery_id);

-- Endpoints that answered 410 Gone: nothing more is sent until `confvault webhooks enable`.
CREATE TABLE webhook_endpoints (
    endpoint     TEXT PRIMARY KEY,
    disabled_at  TEXT NOT NULL,
    reason       TEXT NOT NULL
);

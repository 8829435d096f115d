-- Outbound webhooks. A message is written in the transaction of the change that causes it (the
-- outbox); the dispatcher fans it out to a delivery per endpoint that takes its type, and each
-- delivery keeps its attempts. The body is frozen at the first attempt, so retries and replays
-- send the same bytes under the same webhook-id.
CREATE TABLE webhook_messages (
    message_id     text PRIMARY KEY,
    event_type     text NOT NULL,
    subject        text NOT NULL,
    -- Set for events that happen once per subject (a conference ends once).
    dedupe_key     text UNIQUE,
    body           text,
    created_at     timestamptz NOT NULL,
    fanned_out_at  timestamptz
);
CREATE INDEX webhook_messages_waiting ON webhook_messages (created_at) WHERE fanned_out_at IS NULL;

CREATE TABLE webhook_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id       text NOT NULL REFERENCES webhook_messages (message_id),
    -- The endpoint's URL without credentials or query, as the settings list it.
    endpoint         text NOT NULL,
    -- The delivery this one replays (kept after that one is pruned).
    replay_of        bigint,
    state            text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         bigint NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    lease_owner      text,
    lease_until      timestamptz,
    last_status      bigint,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL
);
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (message_id, endpoint)
    WHERE replay_of IS NULL;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint, next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_newest ON webhook_deliveries (created_at);

CREATE TABLE webhook_attempts (
    delivery_id  bigint NOT NULL REFERENCES webhook_deliveries (id),
    at           timestamptz NOT NULL,
    status       bigint,
    error        text,
    duration_ms  bigint NOT NULL
);
CREATE INDEX webhook_attempts_of ON webhook_attempts (delivery_id);

-- Endpoints that answered 410 Gone: nothing more is sent until `confvault webhooks enable`.
CREATE TABLE webhook_endpoints (
    endpoint     text PRIMARY KEY,
    disabled_at  timestamptz NOT NULL,
    reason       text NOT NULL
);

//! What the database keeps for outbound webhooks: messages written in the transaction of the
//! change that causes them (the outbox), a delivery per endpoint and message with its attempts,
//! and the endpoints a `410 Gone` disabled.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::time::Instant;
use crate::webhooks::events::EventType;

/// A message to queue inside a write transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub event: EventType,
    /// The conference or recording it is about.
    pub subject: String,
    /// At most one message of this type for this subject, ever (a conference ends once).
    pub once: bool,
}

impl WebhookEvent {
    /// `msg_` + 32 hex digits: the `webhook-id` of every attempt and replay.
    pub fn new_message_id() -> String {
        let bytes: [u8; 16] = rand::random();
        format!("msg_{}", hex::encode(bytes))
    }

    /// `recording.source_deleted` for `recording_id`: Vobiz's copy goes once.
    pub fn source_deleted(recording_id: &str) -> Self {
        Self {
            event: EventType::RecordingSourceDeleted,
            subject: recording_id.to_owned(),
            once: true,
        }
    }

    pub fn dedupe_key(&self) -> Option<String> {
        self.once
            .then(|| format!("{}:{}", self.event, self.subject))
    }
}

/// Which events an endpoint takes, for fanning messages out.
#[derive(Debug, Clone)]
pub struct EndpointRoute {
    /// The endpoint as the log shows it (see [`crate::config::display_url`]).
    pub endpoint: String,
    pub events: Vec<EventType>,
}

/// A delivery claimed for an attempt.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: i64,
    pub message_id: String,
    pub event: EventType,
    pub subject: String,
    /// The frozen body, once the first attempt wrote it.
    pub body: Option<String>,
    pub created_at: Instant,
    /// Attempts before this one.
    pub attempts: i64,
}

/// What an attempt leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptNext {
    Delivered,
    RetryAt(Instant),
    /// Out of retries, or refused for good.
    Failed,
}

/// What an attempt made at some instant writes to its delivery.
pub struct DeliveryUpdate {
    pub state: &'static str,
    /// When it is due again (kept as it was when none).
    pub next_attempt_at: Option<Instant>,
    pub delivered_at: Option<Instant>,
}

impl Attempt {
    pub fn delivery_update(&self) -> DeliveryUpdate {
        let (state, next_attempt_at, delivered_at) = match self.next {
            AttemptNext::Delivered => ("delivered", None, Some(self.at)),
            AttemptNext::RetryAt(t) => ("pending", Some(t), None),
            AttemptNext::Failed => ("failed", None, None),
        };
        DeliveryUpdate {
            state,
            next_attempt_at,
            delivered_at,
        }
    }
}

/// One attempt, as recorded.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub delivery_id: i64,
    pub owner: String,
    pub at: Instant,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub next: AttemptNext,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub endpoint: Option<String>,
    pub failed_only: bool,
    pub limit: u32,
}

/// A delivery as the log shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryRow {
    pub id: i64,
    /// The `webhook-id`.
    pub message_id: String,
    pub event_type: String,
    pub subject: String,
    pub endpoint: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The delivery this one replays.
    pub replay_of: Option<i64>,
}

/// What to replay.
#[derive(Debug, Clone)]
pub enum ReplaySelection {
    One(i64),
    /// Every original delivery created at or after this instant.
    Since(Instant),
}

/// An endpoint a `410 Gone` disabled.
#[derive(Debug, Clone, Serialize)]
pub struct DisabledEndpoint {
    pub endpoint: String,
    pub disabled_at: DateTime<Utc>,
    pub reason: String,
}

/// Deliveries still to make, for the metrics.
#[derive(Debug, Clone, Default)]
pub struct WebhookBacklog {
    /// Pending deliveries to the configured endpoints.
    pub pending: i64,
    /// When the oldest message still undelivered to a configured endpoint (or not yet fanned
    /// out) was committed.
    pub oldest: Option<Instant>,
    /// Pending deliveries to endpoints no longer in the settings: kept (they go out if the
    /// endpoint comes back), but not counted above, or its age would grow for ever.
    pub unconfigured: i64,
}

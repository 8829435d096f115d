//! Outbound webhooks on the Standard Webhooks specification: what happened in confvault,
//! signed, delivered to each endpoint from a durable outbox, retried on the specification's
//! schedule, and replayable.

pub mod events;
pub mod signing;

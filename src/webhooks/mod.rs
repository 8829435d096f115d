//! Outbound webhooks on the Standard Webhooks specification: what happened in confvault,
//! signed, delivered to each endpoint from a durable outbox, retried on the specification's
//! schedule, and replayable.

pub mod delivery;
pub mod dispatcher;
pub mod events;
pub mod payload;
pub mod schedule;
pub mod schema;
pub mod signing;

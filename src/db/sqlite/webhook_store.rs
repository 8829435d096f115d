//! [`Sqlite`] as the [`WebhookStore`]: writes through the writer, the log from a reader.

use async_trait::async_trait;

use super::{Sqlite, webhooks};
use crate::db::model::Instant;
use crate::db::webhooks::{
    Attempt, DeliveryQuery, DeliveryRow, DisabledEndpoint, DueDelivery, EndpointRoute,
    ReplaySelection, WebhookBacklog,
};
use crate::db::{DbError, WebhookStore};

#[async_trait]
impl WebhookStore for Sqlite {
    async fn fan_out_webhooks(
        &self,
        routes: Vec<EndpointRoute>,
        now: Instant,
    ) -> Result<u64, DbError> {
        self.writer
            .run(move |conn| webhooks::fan_out(conn, &routes, now))
            .await
    }

    async fn claim_webhook_deliveries(
        &self,
        endpoint: String,
        owner: String,
        now: Instant,
        lease_until: Instant,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, DbError> {
        self.writer
            .run(move |conn| webhooks::claim(conn, &endpoint, &owner, now, lease_until, limit))
            .await
    }

    async fn freeze_webhook_bodies(
        &self,
        bodies: Vec<(String, String)>,
    ) -> Result<Vec<String>, DbError> {
        self.writer
            .run(move |conn| {
                bodies
                    .iter()
                    .map(|(id, body)| webhooks::freeze_body(conn, id, body))
                    .collect()
            })
            .await
    }

    async fn record_webhook_attempts(&self, attempts: Vec<Attempt>) -> Result<Vec<bool>, DbError> {
        self.writer
            .run(move |conn| {
                attempts
                    .iter()
                    .map(|a| webhooks::record_attempt(conn, a))
                    .collect()
            })
            .await
    }

    async fn webhook_deliveries(&self, query: DeliveryQuery) -> Result<Vec<DeliveryRow>, DbError> {
        self.readers
            .run(move |conn| webhooks::deliveries(conn, &query))
            .await
    }

    async fn replay_webhooks(
        &self,
        selection: ReplaySelection,
        now: Instant,
    ) -> Result<Vec<i64>, DbError> {
        self.writer
            .run(move |conn| webhooks::replay(conn, &selection, now))
            .await
    }

    async fn disable_webhook_endpoint(
        &self,
        endpoint: String,
        reason: String,
        at: Instant,
    ) -> Result<(), DbError> {
        self.writer
            .run(move |conn| webhooks::disable(conn, &endpoint, &reason, at))
            .await
    }

    async fn enable_webhook_endpoint(&self, endpoint: String) -> Result<bool, DbError> {
        self.writer
            .run(move |conn| webhooks::enable(conn, &endpoint))
            .await
    }

    async fn disabled_webhook_endpoints(&self) -> Result<Vec<DisabledEndpoint>, DbError> {
        self.readers.run(webhooks::disabled).await
    }

    async fn webhook_backlog(&self, endpoints: Vec<String>) -> Result<WebhookBacklog, DbError> {
        self.readers
            .run(move |conn| webhooks::backlog(conn, &endpoints))
            .await
    }

    async fn prune_webhooks(&self, before: Instant) -> Result<u64, DbError> {
        let mut deliveries = 0;
        loop {
            let chunk = webhooks::PRUNE_CHUNK;
            let pruned = self
                .writer
                .run(move |conn| webhooks::prune_chunk(conn, before, chunk))
                .await?;
            deliveries += pruned.deliveries as u64;
            if !pruned.filled(chunk) {
                return Ok(deliveries);
            }
        }
    }
}

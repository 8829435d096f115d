//! Outbound webhooks on PostgreSQL: the same rows as on SQLite. Several replicas fan out and
//! claim at once: the fan-out's unique index makes a second copy of a delivery impossible, and
//! claims skip rows another replica has locked.

use async_trait::async_trait;

use super::Postgres;
use super::tx::PgTx;
use crate::db::webhooks::{
    Attempt, DeliveryQuery, DeliveryRow, DisabledEndpoint, DueDelivery, EndpointRoute,
    ReplaySelection, WebhookBacklog, WebhookEvent,
};
use crate::db::{DbError, WebhookStore};
use crate::time::Instant;
use crate::webhooks::events::EventType;

/// Queues a message inside the caller's transaction. Sent, not waited for: nothing in the
/// transaction depends on its answer.
pub fn enqueue(tx: &PgTx<'_>, event: &WebhookEvent, now: Instant) -> Result<(), DbError> {
    tx.send(
        "INSERT INTO webhook_messages (message_id, event_type, subject, dedupe_key, created_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (dedupe_key) DO NOTHING",
        vec![
            Box::new(WebhookEvent::new_message_id()),
            Box::new(event.event.as_str()),
            Box::new(event.subject.clone()),
            Box::new(event.dedupe_key()),
            Box::new(now),
        ],
    )
}

/// The messages are looked up one index probe per id, as lateral subqueries the planner cannot
/// flatten: `= ANY` over the array gets a sequential scan in a generic plan while the table has
/// no statistics yet, which the server settles on after a few runs (seen on a new database).
fn fan_out(tx: &PgTx<'_>, routes: &[EndpointRoute], now: Instant) -> Result<u64, DbError> {
    // Messages committed meanwhile wait for the next round: the set is fixed first.
    let waiting: Vec<String> = tx
        .query(
            "SELECT message_id FROM webhook_messages WHERE fanned_out_at IS NULL
             ORDER BY created_at LIMIT 5000 FOR UPDATE SKIP LOCKED",
            &[],
        )?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    if waiting.is_empty() {
        return Ok(0);
    }
    let mut made = 0;
    for route in routes {
        let events: Vec<&str> = route.events.iter().map(|e| e.as_str()).collect();
        made += tx.execute(
            "INSERT INTO webhook_deliveries
                 (message_id, endpoint, state, next_attempt_at, created_at)
             SELECT m.message_id, $1, 'pending', $2, $2 FROM unnest($3::text[]) AS k(id),
                 LATERAL (SELECT message_id, event_type FROM webhook_messages
                          WHERE message_id = k.id OFFSET 0) AS m
             WHERE m.event_type = ANY($4)
             ON CONFLICT DO NOTHING",
            &[&route.endpoint, &now, &waiting, &events],
        )?;
    }
    tx.execute(
        "UPDATE webhook_messages m SET fanned_out_at = $1
         FROM (SELECT x.message_id FROM unnest($2::text[]) AS k(id),
                   LATERAL (SELECT message_id FROM webhook_messages
                            WHERE message_id = k.id OFFSET 0) AS x) AS w
         WHERE m.message_id = w.message_id",
        &[&now, &waiting],
    )?;
    Ok(made)
}

fn claim(
    tx: &PgTx<'_>,
    endpoint: &str,
    owner: &str,
    now: Instant,
    until: Instant,
    limit: u32,
) -> Result<Vec<DueDelivery>, DbError> {
    tx.query(
        "WITH due AS (
             SELECT id FROM webhook_deliveries
             WHERE endpoint = $1 AND state = 'pending' AND next_attempt_at <= $3
               AND (lease_until IS NULL OR lease_until < $3)
             ORDER BY next_attempt_at, id LIMIT $5 FOR UPDATE SKIP LOCKED)
         UPDATE webhook_deliveries d SET lease_owner = $2, lease_until = $4
         FROM due, webhook_messages m
         WHERE d.id = due.id AND m.message_id = d.message_id
         RETURNING d.id, d.message_id, m.event_type, m.subject, m.body, m.created_at, d.attempts",
        &[&endpoint, &owner, &now, &until, &i64::from(limit)],
    )?
    .iter()
    .map(|r| {
        let event: String = r.try_get(2)?;
        Ok(DueDelivery {
            id: r.try_get(0)?,
            message_id: r.try_get(1)?,
            event: EventType::parse(&event)
                .ok_or_else(|| DbError::Corrupt(format!("webhook event type {event:?}")))?,
            subject: r.try_get(3)?,
            body: r.try_get(4)?,
            created_at: r.try_get(5)?,
            attempts: r.try_get(6)?,
        })
    })
    .collect::<Result<Vec<_>, DbError>>()
    .map(|mut due| {
        due.sort_by_key(|d| d.id);
        due
    })
}

fn record_attempt(tx: &PgTx<'_>, a: &Attempt) -> Result<bool, DbError> {
    let update = a.delivery_update();
    let status = a.status.map(i64::from);
    let updated = tx.execute(
        "UPDATE webhook_deliveries
         SET state = $3, attempts = attempts + 1, last_status = $4, last_error = $5,
             next_attempt_at = COALESCE($6, next_attempt_at), delivered_at = $7,
             lease_owner = NULL, lease_until = NULL
         WHERE id = $1 AND lease_owner = $2",
        &[
            &a.delivery_id,
            &a.owner,
            &update.state,
            &status,
            &a.error,
            &update.next_attempt_at,
            &update.delivered_at,
        ],
    )?;
    if updated == 0 {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO webhook_attempts (delivery_id, at, status, error, duration_ms)
         VALUES ($1, $2, $3, $4, $5)",
        &[&a.delivery_id, &a.at, &status, &a.error, &a.duration_ms],
    )?;
    Ok(true)
}

fn deliveries(tx: &PgTx<'_>, q: &DeliveryQuery) -> Result<Vec<DeliveryRow>, DbError> {
    tx.query(
        "SELECT d.id, d.message_id, m.event_type, m.subject, d.endpoint, d.state, d.attempts,
                d.last_status, d.last_error,
                CASE WHEN d.state = 'pending' THEN d.next_attempt_at END,
                d.delivered_at, d.created_at, d.replay_of
         FROM webhook_deliveries d JOIN webhook_messages m ON m.message_id = d.message_id
         WHERE ($1::text IS NULL OR d.endpoint = $1) AND (NOT $2 OR d.state = 'failed')
         ORDER BY d.id DESC LIMIT $3",
        &[&q.endpoint, &q.failed_only, &i64::from(q.limit)],
    )?
    .iter()
    .map(|r| {
        Ok(DeliveryRow {
            id: r.try_get(0)?,
            message_id: r.try_get(1)?,
            event_type: r.try_get(2)?,
            subject: r.try_get(3)?,
            endpoint: r.try_get(4)?,
            state: r.try_get(5)?,
            attempts: r.try_get(6)?,
            last_status: r.try_get(7)?,
            last_error: r.try_get(8)?,
            next_attempt_at: r.try_get(9)?,
            delivered_at: r.try_get(10)?,
            created_at: r.try_get(11)?,
            replay_of: r.try_get(12)?,
        })
    })
    .collect()
}

fn replay(tx: &PgTx<'_>, selection: &ReplaySelection, now: Instant) -> Result<Vec<i64>, DbError> {
    let (one, since) = match selection {
        ReplaySelection::One(id) => (Some(*id), None),
        ReplaySelection::Since(t) => (None, Some(*t)),
    };
    tx.query(
        "INSERT INTO webhook_deliveries
             (message_id, endpoint, replay_of, state, next_attempt_at, created_at)
         SELECT message_id, endpoint, id, 'pending', $1, $1 FROM webhook_deliveries
         WHERE ($2::bigint IS NOT NULL AND id = $2)
            OR ($3::timestamptz IS NOT NULL AND replay_of IS NULL AND created_at >= $3)
         ORDER BY id
         RETURNING id",
        &[&now, &one, &since],
    )?
    .iter()
    .map(|r| Ok(r.try_get(0)?))
    .collect()
}

fn backlog(tx: &PgTx<'_>, endpoints: &[String]) -> Result<WebhookBacklog, DbError> {
    let row = tx.one(
        "WITH pending AS (
             SELECT m.created_at, d.endpoint = ANY($1) AS configured
             FROM webhook_deliveries d JOIN webhook_messages m ON m.message_id = d.message_id
             WHERE d.state = 'pending')
         SELECT (SELECT COUNT(*) FROM pending WHERE configured),
                LEAST((SELECT MIN(created_at) FROM pending WHERE configured),
                      (SELECT MIN(created_at) FROM webhook_messages
                       WHERE fanned_out_at IS NULL)),
                (SELECT COUNT(*) FROM pending WHERE NOT configured)",
        &[&endpoints],
    )?;
    Ok(WebhookBacklog {
        pending: row.try_get(0)?,
        oldest: row.try_get(1)?,
        unconfigured: row.try_get(2)?,
    })
}

fn prune(tx: &PgTx<'_>, before: Instant) -> Result<u64, DbError> {
    let old = "SELECT id FROM webhook_deliveries WHERE state <> 'pending' AND created_at < $1";
    tx.execute(
        &format!("DELETE FROM webhook_attempts WHERE delivery_id IN ({old})"),
        &[&before],
    )?;
    let deleted = tx.execute(
        &format!("DELETE FROM webhook_deliveries WHERE id IN ({old})"),
        &[&before],
    )?;
    tx.execute(
        "DELETE FROM webhook_messages m
         WHERE m.created_at < $1 AND m.fanned_out_at IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.message_id)",
        &[&before],
    )?;
    Ok(deleted)
}

#[async_trait]
impl WebhookStore for Postgres {
    async fn fan_out_webhooks(
        &self,
        routes: Vec<EndpointRoute>,
        now: Instant,
    ) -> Result<u64, DbError> {
        self.write(move |tx| fan_out(tx, &routes, now)).await
    }

    async fn claim_webhook_deliveries(
        &self,
        endpoint: String,
        owner: String,
        now: Instant,
        lease_until: Instant,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, DbError> {
        self.write(move |tx| claim(tx, &endpoint, &owner, now, lease_until, limit))
            .await
    }

    async fn freeze_webhook_bodies(
        &self,
        bodies: Vec<(String, String)>,
    ) -> Result<Vec<String>, DbError> {
        self.write(move |tx| {
            bodies
                .iter()
                .map(|(id, body)| {
                    Ok(tx
                        .one(
                            "UPDATE webhook_messages SET body = COALESCE(body, $2)
                             WHERE message_id = $1 RETURNING body",
                            &[id, body],
                        )?
                        .try_get(0)?)
                })
                .collect()
        })
        .await
    }

    async fn record_webhook_attempts(&self, attempts: Vec<Attempt>) -> Result<Vec<bool>, DbError> {
        self.write(move |tx| attempts.iter().map(|a| record_attempt(tx, a)).collect())
            .await
    }

    async fn webhook_deliveries(&self, query: DeliveryQuery) -> Result<Vec<DeliveryRow>, DbError> {
        self.read(move |tx| deliveries(tx, &query)).await
    }

    async fn replay_webhooks(
        &self,
        selection: ReplaySelection,
        now: Instant,
    ) -> Result<Vec<i64>, DbError> {
        self.write(move |tx| replay(tx, &selection, now)).await
    }

    async fn disable_webhook_endpoint(
        &self,
        endpoint: String,
        reason: String,
        at: Instant,
    ) -> Result<(), DbError> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO webhook_endpoints (endpoint, disabled_at, reason) VALUES ($1, $2, $3)
                 ON CONFLICT (endpoint) DO UPDATE SET disabled_at = excluded.disabled_at,
                                                      reason = excluded.reason",
                &[&endpoint, &at, &reason],
            )
            .map(drop)
        })
        .await
    }

    async fn enable_webhook_endpoint(&self, endpoint: String) -> Result<bool, DbError> {
        self.write(move |tx| {
            Ok(tx.execute(
                "DELETE FROM webhook_endpoints WHERE endpoint = $1",
                &[&endpoint],
            )? > 0)
        })
        .await
    }

    async fn disabled_webhook_endpoints(&self) -> Result<Vec<DisabledEndpoint>, DbError> {
        self.read(|tx| {
            tx.query(
                "SELECT endpoint, disabled_at, reason FROM webhook_endpoints ORDER BY endpoint",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(DisabledEndpoint {
                    endpoint: r.try_get(0)?,
                    disabled_at: r.try_get(1)?,
                    reason: r.try_get(2)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn webhook_backlog(&self, endpoints: Vec<String>) -> Result<WebhookBacklog, DbError> {
        self.read(move |tx| backlog(tx, &endpoints)).await
    }

    async fn prune_webhooks(&self, before: Instant) -> Result<u64, DbError> {
        self.write(move |tx| prune(tx, before)).await
    }
}

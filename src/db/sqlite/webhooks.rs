//! Outbound webhooks on SQLite: the outbox insert other writes make, fan-out, leases on
//! deliveries, attempts and the delivery log.

use rusqlite::{Connection, named_params};

use super::conferences::instant;
use super::optional;
use crate::db::DbError;
use crate::db::webhooks::{
    Attempt, DeliveryQuery, DeliveryRow, DisabledEndpoint, DueDelivery, EndpointRoute,
    ReplaySelection, WebhookBacklog, WebhookEvent,
};
use crate::time::{Instant, to_db};
use crate::webhooks::events::EventType;

/// Queues a message inside the caller's transaction; a `once` event seen before is not queued
/// again.
pub fn enqueue(conn: &Connection, event: &WebhookEvent, now: &str) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO webhook_messages (message_id, event_type, subject, dedupe_key, created_at)
         VALUES (:id, :type, :subject, :dedupe, :now)
         ON CONFLICT (dedupe_key) DO NOTHING",
    )?
    .execute(named_params! {
        ":id": WebhookEvent::new_message_id(), ":type": event.event.as_str(),
        ":subject": event.subject, ":dedupe": event.dedupe_key(), ":now": now,
    })?;
    Ok(())
}

pub fn fan_out(conn: &Connection, routes: &[EndpointRoute], now: Instant) -> Result<u64, DbError> {
    let now = to_db(now);
    let mut made = 0;
    for route in routes {
        let events: Vec<&str> = route.events.iter().map(|e| e.as_str()).collect();
        made += conn
            .prepare_cached(
                "INSERT INTO webhook_deliveries
                     (message_id, endpoint, state, next_attempt_at, created_at)
                 SELECT m.message_id, :endpoint, 'pending', :now, :now
                 FROM webhook_messages m
                 WHERE m.fanned_out_at IS NULL
                   AND m.event_type IN (SELECT value FROM json_each(:events))
                 ON CONFLICT DO NOTHING",
            )?
            .execute(named_params! {
                ":endpoint": route.endpoint, ":now": now,
                ":events": serde_json::to_string(&events).unwrap_or_default(),
            })? as u64;
    }
    conn.prepare_cached(
        "UPDATE webhook_messages SET fanned_out_at = :now WHERE fanned_out_at IS NULL",
    )?
    .execute(named_params! {":now": now})?;
    Ok(made)
}

pub fn claim(
    conn: &Connection,
    endpoint: &str,
    owner: &str,
    now: Instant,
    until: Instant,
    limit: u32,
) -> Result<Vec<DueDelivery>, DbError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE webhook_deliveries SET lease_owner = :owner, lease_until = :until
         WHERE id IN (SELECT id FROM webhook_deliveries
                      WHERE endpoint = :endpoint AND state = 'pending'
                        AND next_attempt_at <= :now
                        AND (lease_until IS NULL OR lease_until < :now)
                      ORDER BY next_attempt_at, id LIMIT :limit)
         RETURNING id, message_id, attempts",
    )?;
    let claimed: Vec<(i64, String, i64)> = stmt
        .query_map(
            named_params! {
                ":owner": owner, ":until": to_db(until), ":endpoint": endpoint,
                ":now": to_db(now), ":limit": limit,
            },
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?
        .collect::<Result<_, _>>()?;
    let mut message = conn.prepare_cached(
        "SELECT event_type, subject, body, created_at FROM webhook_messages
         WHERE message_id = :id",
    )?;
    let mut due = Vec::with_capacity(claimed.len());
    for (id, message_id, attempts) in claimed {
        let (event, subject, body, created): (String, String, Option<String>, String) = message
            .query_row(named_params! {":id": message_id}, |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
        due.push(DueDelivery {
            id,
            event: EventType::parse(&event)
                .ok_or_else(|| DbError::Corrupt(format!("webhook event type {event:?}")))?,
            message_id,
            subject,
            body,
            created_at: instant(Some(created))?.unwrap_or_default(),
            attempts,
        });
    }
    due.sort_by_key(|d| d.id);
    Ok(due)
}

pub fn freeze_body(conn: &Connection, message_id: &str, body: &str) -> Result<String, DbError> {
    Ok(conn
        .prepare_cached(
            "UPDATE webhook_messages SET body = COALESCE(body, :body) WHERE message_id = :id
             RETURNING body",
        )?
        .query_row(named_params! {":id": message_id, ":body": body}, |r| {
            r.get(0)
        })?)
}

pub fn record_attempt(conn: &Connection, a: &Attempt) -> Result<bool, DbError> {
    let update = a.delivery_update();
    let updated = conn
        .prepare_cached(
            "UPDATE webhook_deliveries
             SET state = :state, attempts = attempts + 1, last_status = :status,
                 last_error = :error, next_attempt_at = COALESCE(:next, next_attempt_at),
                 delivered_at = :delivered, lease_owner = NULL, lease_until = NULL
             WHERE id = :id AND lease_owner = :owner",
        )?
        .execute(named_params! {
            ":id": a.delivery_id, ":owner": a.owner, ":state": update.state, ":status": a.status,
            ":error": a.error, ":next": update.next_attempt_at.map(to_db),
            ":delivered": update.delivered_at.map(to_db),
        })?;
    if updated == 0 {
        return Ok(false);
    }
    conn.prepare_cached(
        "INSERT INTO webhook_attempts (delivery_id, at, status, error, duration_ms)
         VALUES (:id, :at, :status, :error, :ms)",
    )?
    .execute(named_params! {
        ":id": a.delivery_id, ":at": to_db(a.at), ":status": a.status, ":error": a.error,
        ":ms": a.duration_ms,
    })?;
    Ok(true)
}

pub fn deliveries(conn: &Connection, q: &DeliveryQuery) -> Result<Vec<DeliveryRow>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.id, d.message_id, m.event_type, m.subject, d.endpoint, d.state, d.attempts,
                d.last_status, d.last_error,
                CASE WHEN d.state = 'pending' THEN d.next_attempt_at END,
                d.delivered_at, d.created_at, d.replay_of
         FROM webhook_deliveries d JOIN webhook_messages m ON m.message_id = d.message_id
         WHERE (:endpoint IS NULL OR d.endpoint = :endpoint)
           AND (NOT :failed OR d.state = 'failed')
         ORDER BY d.id DESC LIMIT :limit",
    )?;
    let rows = stmt.query_map(
        named_params! {":endpoint": q.endpoint, ":failed": q.failed_only, ":limit": q.limit},
        |r| {
            Ok((
                DeliveryRow {
                    id: r.get(0)?,
                    message_id: r.get(1)?,
                    event_type: r.get(2)?,
                    subject: r.get(3)?,
                    endpoint: r.get(4)?,
                    state: r.get(5)?,
                    attempts: r.get(6)?,
                    last_status: r.get(7)?,
                    last_error: r.get(8)?,
                    next_attempt_at: None,
                    delivered_at: None,
                    created_at: chrono::DateTime::UNIX_EPOCH,
                    replay_of: r.get(12)?,
                },
                r.get::<_, Option<String>>(9)?,
                r.get::<_, Option<String>>(10)?,
                r.get::<_, String>(11)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (row, next, delivered, created) = row?;
        out.push(DeliveryRow {
            next_attempt_at: instant(next)?,
            delivered_at: instant(delivered)?,
            created_at: instant(Some(created))?.unwrap_or_default(),
            ..row
        });
    }
    Ok(out)
}

/// One statement per selection, so that each can use its index (the key for one delivery,
/// `webhook_deliveries_newest` for a time): an `(:one IS NOT NULL AND id = :one) OR …` form read
/// every delivery, inside the write transaction that ingest waits on.
pub(super) fn replay_sql(selection: &ReplaySelection) -> String {
    let which = match selection {
        ReplaySelection::One(_) => "id = :one",
        ReplaySelection::Since(_) => "replay_of IS NULL AND created_at >= :since ORDER BY id",
    };
    format!(
        "INSERT INTO webhook_deliveries
             (message_id, endpoint, replay_of, state, next_attempt_at, created_at)
         SELECT message_id, endpoint, id, 'pending', :now, :now FROM webhook_deliveries
         WHERE {which}
         RETURNING id"
    )
}

pub fn replay(
    conn: &Connection,
    selection: &ReplaySelection,
    now: Instant,
) -> Result<Vec<i64>, DbError> {
    let now = to_db(now);
    let mut stmt = conn.prepare_cached(&replay_sql(selection))?;
    let since;
    let params: &[(&str, &dyn rusqlite::ToSql)] = match selection {
        ReplaySelection::One(id) => &[(":now", &now), (":one", id)],
        ReplaySelection::Since(t) => {
            since = to_db(*t);
            &[(":now", &now), (":since", &since)]
        }
    };
    let ids = stmt
        .query_map(params, |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

pub fn disable(
    conn: &Connection,
    endpoint: &str,
    reason: &str,
    at: Instant,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO webhook_endpoints (endpoint, disabled_at, reason) VALUES (:e, :at, :why)
         ON CONFLICT (endpoint) DO UPDATE SET disabled_at = excluded.disabled_at,
                                              reason = excluded.reason",
    )?
    .execute(named_params! {":e": endpoint, ":at": to_db(at), ":why": reason})?;
    Ok(())
}

pub fn enable(conn: &Connection, endpoint: &str) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached("DELETE FROM webhook_endpoints WHERE endpoint = :e")?
        .execute(named_params! {":e": endpoint})?
        > 0)
}

pub fn disabled(conn: &Connection) -> Result<Vec<DisabledEndpoint>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT endpoint, disabled_at, reason FROM webhook_endpoints ORDER BY endpoint",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (endpoint, at, reason) = row?;
        out.push(DisabledEndpoint {
            endpoint,
            disabled_at: instant(Some(at))?.unwrap_or_default(),
            reason,
        });
    }
    Ok(out)
}

pub fn backlog(conn: &Connection, endpoints: &[String]) -> Result<WebhookBacklog, DbError> {
    let endpoints = serde_json::to_string(endpoints).unwrap_or_default();
    let (pending, oldest, unconfigured): (i64, Option<String>, i64) = conn
        .prepare_cached(
            "SELECT COUNT(*) FILTER (WHERE configured), MIN(created_at) FILTER (WHERE configured),
                    COUNT(*) FILTER (WHERE NOT configured)
             FROM (SELECT m.created_at,
                          d.endpoint IN (SELECT value FROM json_each(:endpoints)) AS configured
                   FROM webhook_deliveries d JOIN webhook_messages m ON m.message_id = d.message_id
                   WHERE d.state = 'pending')",
        )?
        .query_row(named_params! {":endpoints": endpoints}, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    let unrouted: Option<String> = optional(
        conn.prepare_cached(
            "SELECT MIN(created_at) FROM webhook_messages WHERE fanned_out_at IS NULL",
        )?
        .query_row([], |r| r.get(0)),
    )?
    .flatten();
    let oldest = [instant(oldest)?, instant(unrouted)?]
        .into_iter()
        .flatten()
        .min();
    Ok(WebhookBacklog {
        pending,
        oldest,
        unconfigured,
    })
}

/// How many settled deliveries, and how many old messages, one prune transaction forgets at
/// most: the writer runs other writes (ingest above all) between chunks, so a large backlog
/// (the first prune after a long stop, or `webhooks.keep_days` lowered) never holds them long.
pub const PRUNE_CHUNK: usize = 1000;

/// What one chunk of pruning forgot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub deliveries: usize,
    pub messages: usize,
}

impl Pruned {
    /// Whether a chunk this size may have left more behind.
    pub fn filled(&self, chunk: usize) -> bool {
        self.deliveries >= chunk || self.messages >= chunk
    }
}

/// Forgets up to `chunk` settled deliveries created before `before` (oldest first) with their
/// attempts, and up to `chunk` messages from before then that nothing refers to any more.
pub fn prune_chunk(conn: &Connection, before: Instant, chunk: usize) -> Result<Pruned, DbError> {
    let before = to_db(before);
    let chunk = i64::try_from(chunk).unwrap_or(i64::MAX);
    let params = named_params! {":before": before, ":chunk": chunk};
    // A newer replay outlives the delivery it replayed, and keeps its message.
    conn.prepare_cached(&format!(
        "DELETE FROM webhook_attempts WHERE delivery_id IN ({OLD_DELIVERIES})"
    ))?
    .execute(params)?;
    let deliveries = conn
        .prepare_cached(&format!(
            "DELETE FROM webhook_deliveries WHERE id IN ({OLD_DELIVERIES})"
        ))?
        .execute(params)?;
    let messages = conn.prepare_cached(PRUNE_MESSAGES)?.execute(params)?;
    Ok(Pruned {
        deliveries,
        messages,
    })
}

/// The oldest settled deliveries, in an order both statements of a chunk agree on.
pub(super) const OLD_DELIVERIES: &str = "SELECT id FROM webhook_deliveries
     WHERE state <> 'pending' AND created_at < :before
     ORDER BY created_at, id LIMIT :chunk";

/// Old messages no delivery (or replay) refers to any more, found through
/// `webhook_messages_by_age` and asked of `webhook_deliveries_by_message` one by one, which also
/// serves the foreign key's check of each deleted message: this runs in the write transaction
/// ingest waits on, so it must not read either table whole.
pub(super) const PRUNE_MESSAGES: &str = "DELETE FROM webhook_messages WHERE message_id IN (
         SELECT m.message_id FROM webhook_messages AS m
         WHERE m.created_at < :before AND m.fanned_out_at IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS d
                           WHERE d.message_id = m.message_id)
         LIMIT :chunk)";

#[cfg(test)]
#[path = "webhooks_tests.rs"]
mod tests;

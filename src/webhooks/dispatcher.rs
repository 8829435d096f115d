//! The dispatcher inside `confvault serve`: fans committed messages out to deliveries, leases
//! each endpoint's due deliveries in batches, sends a batch up to the endpoint's own concurrency
//! limit (a slow or failing endpoint holds only its own lane), and records what happened, many
//! attempts to a write. Several replicas may run it at once: leases keep a delivery to one of
//! them at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::delivery::{Outcome, Sender};
use super::events::EventType;
use super::payload::Payloads;
use super::schedule;
use super::signing::SigningKey;
use crate::config::{WebhookEndpoint, WebhooksConfig};
use crate::db::Database;
use crate::db::webhooks::{Attempt, AttemptNext, DueDelivery, EndpointRoute};
use crate::ops::Metrics;

/// How often a busy dispatcher looks for new messages and due retries.
const POLL: Duration = Duration::from_millis(50);
/// The longest an idle one waits between looks: each look that finds nothing doubles the wait
/// up to this, so an idle service does not write twenty times a second, and the first message
/// after a quiet spell still goes out within about half a second.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How often the backlog gauges and disabled endpoints are read again.
const REFRESH: Duration = Duration::from_secs(1);
/// How many rounds of `concurrency_per_endpoint` a fast endpoint's batch holds.
const FAST_ROUNDS: usize = 16;
/// How often old deliveries are pruned.
const PRUNE: Duration = Duration::from_secs(3600);

/// One endpoint as the dispatcher serves it.
struct Lane {
    endpoint: WebhookEndpoint,
    /// Its URL as the log shows it: the delivery rows' key.
    key: String,
    keys: Vec<SigningKey>,
    /// A batch of its deliveries is being sent.
    busy: AtomicBool,
    /// Its last batch went out quickly: the next one may be larger.
    fast: AtomicBool,
    /// It answered 410 Gone: nothing more is sent until it is enabled again.
    disabled: AtomicBool,
}

pub struct Dispatcher {
    db: Arc<dyn Database>,
    config: WebhooksConfig,
    lanes: Vec<Arc<Lane>>,
    sender: Sender,
    payloads: Payloads,
    owner: String,
    metrics: Arc<Metrics>,
    /// Pending deliveries to endpoints no longer configured, at the last look (warned of once).
    unconfigured: AtomicI64,
}

impl Dispatcher {
    pub fn new(
        db: Arc<dyn Database>,
        config: &WebhooksConfig,
        link_base: String,
        owner: String,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let lanes = config
            .endpoints
            .iter()
            .map(|e| {
                Arc::new(Lane {
                    key: e.display_url(),
                    keys: e.keys(),
                    busy: AtomicBool::new(false),
                    fast: AtomicBool::new(false),
                    disabled: AtomicBool::new(false),
                    endpoint: e.clone(),
                })
            })
            .collect();
        Ok(Self {
            payloads: Payloads {
                db: Arc::clone(&db),
                link_base,
            },
            sender: Sender::new(config)?,
            db,
            config: config.clone(),
            lanes,
            owner,
            metrics,
            unconfigured: AtomicI64::new(0),
        })
    }

    fn routes(&self) -> Vec<EndpointRoute> {
        self.lanes
            .iter()
            .map(|lane| EndpointRoute {
                endpoint: lane.key.clone(),
                events: EventType::ALL
                    .into_iter()
                    .filter(|e| *e != EventType::Ping && lane.endpoint.wants(*e))
                    .collect(),
            })
            .collect()
    }

    /// How many deliveries a lane claims at once, and for how long: a batch is sent
    /// `concurrency_per_endpoint` at a time, so its lease covers every round of it taking the
    /// whole timeout. A lane starts cautious (one round); a batch that went out quickly lets
    /// the next be larger, so a fast endpoint costs few claims.
    fn batch(&self, lane: &Lane) -> (u32, chrono::Duration) {
        let rounds = if lane.fast.load(Ordering::Relaxed) {
            FAST_ROUNDS
        } else {
            1
        };
        let size = self.config.concurrency_per_endpoint * rounds;
        let lease = Duration::from_secs_f64((self.config.timeout_seconds + 5.0) * rounds as f64);
        (
            size as u32,
            chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX),
        )
    }

    /// Runs until `shutdown` turns true; attempts in flight are then abandoned, and their
    /// leases lapse so that the next start (or another replica) sends them again.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let routes = self.routes();
        let (record, to_record) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(record_attempts(Arc::clone(&self.db), to_record));
        let mut in_flight = JoinSet::new();
        let mut next_look = tokio::time::Instant::now();
        let mut idle_looks: u32 = 0;
        let mut refreshed = tokio::time::Instant::now() - REFRESH;
        let mut pruned = tokio::time::Instant::now();
        loop {
            let ticked = tokio::select! {
                _ = tokio::time::sleep_until(next_look) => true,
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => false,
                _ = shutdown.changed() => break,
            };
            let mut fanned_out = false;
            if ticked {
                if refreshed.elapsed() >= REFRESH {
                    refreshed = tokio::time::Instant::now();
                    self.refresh().await;
                }
                if pruned.elapsed() >= PRUNE {
                    pruned = tokio::time::Instant::now();
                    self.prune().await;
                }
                match self
                    .db
                    .fan_out_webhooks(routes.clone(), chrono::Utc::now())
                    .await
                {
                    Ok(made) => fanned_out = made > 0,
                    Err(e) => tracing::error!(error = %e, "could not fan webhook messages out"),
                }
            }
            for lane in &self.lanes {
                if !lane.disabled.load(Ordering::Relaxed) && !lane.busy.load(Ordering::Relaxed) {
                    self.start_batch(lane, &mut in_flight, &record).await;
                }
            }
            // A batch started (or still sending) is in flight: the dispatcher is busy.
            if ticked {
                idle_looks = if fanned_out || !in_flight.is_empty() {
                    0
                } else {
                    idle_looks.saturating_add(1)
                };
                next_look = tokio::time::Instant::now() + wait_after(idle_looks);
            }
        }
        in_flight.shutdown().await;
        drop(record);
        let _ = recorder.await;
    }

    /// Leases a batch of `lane`'s due deliveries, writes the bodies of first attempts, and
    /// starts sending them, `concurrency_per_endpoint` at a time.
    async fn start_batch(
        self: &Arc<Self>,
        lane: &Arc<Lane>,
        in_flight: &mut JoinSet<()>,
        record: &mpsc::UnboundedSender<Attempt>,
    ) {
        let now = chrono::Utc::now();
        let (size, lease) = self.batch(lane);
        let due = self
            .db
            .claim_webhook_deliveries(lane.key.clone(), self.owner.clone(), now, now + lease, size)
            .await;
        let due = match due {
            Ok(due) if due.is_empty() => return,
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, endpoint = %lane.key, "could not claim webhook deliveries");
                return;
            }
        };
        let mut ready = Vec::with_capacity(due.len());
        for (delivery, body) in self.with_bodies(due).await {
            match body {
                Ok(body) => ready.push((delivery, body)),
                Err(error) => {
                    tracing::error!(%error, message_id = %delivery.message_id, "webhook not sent");
                    self.metrics.webhooks.attempt(&lane.key, "refused");
                    let failed =
                        self.attempt_record(&delivery, None, Some(error), AttemptNext::Failed, 0);
                    let _ = record.send(failed);
                }
            }
        }
        lane.busy.store(true, Ordering::Relaxed);
        let dispatcher = Arc::clone(self);
        let lane = Arc::clone(lane);
        let record = record.clone();
        in_flight.spawn(async move {
            let concurrency = dispatcher.config.concurrency_per_endpoint;
            let mut sent = futures_util::stream::iter(ready)
                .map(|(d, body)| {
                    let (dispatcher, lane) = (&dispatcher, &lane);
                    async move { dispatcher.attempt(lane, &d, &body).await }
                })
                .buffer_unordered(concurrency);
            let mut quick = true;
            while let Some(attempt) = sent.next().await {
                quick &= attempt.next == AttemptNext::Delivered && attempt.duration_ms < 1000;
                let _ = record.send(attempt);
            }
            lane.fast.store(quick, Ordering::Relaxed);
            lane.busy.store(false, Ordering::Relaxed);
        });
    }

    /// Each delivery with its body: the frozen one, or, for first attempts, one written now
    /// and frozen for all of them in one write.
    async fn with_bodies(
        &self,
        due: Vec<DueDelivery>,
    ) -> Vec<(DueDelivery, Result<String, String>)> {
        let written = futures_util::future::join_all(due.iter().map(|d| async move {
            match &d.body {
                Some(_) => None,
                None => Some(
                    self.payloads
                        .body(d.event, &d.subject, d.created_at)
                        .await
                        .map_err(|e| format!("could not write the message: {e}")),
                ),
            }
        }))
        .await;
        let to_freeze: Vec<(String, String)> = due
            .iter()
            .zip(&written)
            .filter_map(|(d, w)| Some((d.message_id.clone(), w.as_ref()?.as_ref().ok()?.clone())))
            .collect();
        let mut frozen = match self.db.freeze_webhook_bodies(to_freeze).await {
            Ok(kept) => Ok(kept.into_iter()),
            Err(e) => Err(format!("could not keep the message: {e}")),
        };
        due.into_iter()
            .zip(written)
            .map(|(d, written)| {
                let body = match (&d.body, written) {
                    (Some(body), _) => Ok(body.clone()),
                    (None, Some(Ok(_))) => match &mut frozen {
                        Ok(kept) => kept
                            .next()
                            .ok_or_else(|| "the message was not kept".to_owned()),
                        Err(e) => Err(e.clone()),
                    },
                    (None, Some(Err(e))) => Err(e),
                    (None, None) => Err("the message was not written".to_owned()),
                };
                (d, body)
            })
            .collect()
    }

    #[tracing::instrument(name = "webhook.attempt", skip_all, fields(delivery_id = d.id, message_id = %d.message_id, event = %d.event, endpoint = %lane.key, attempt = d.attempts + 1))]
    async fn attempt(&self, lane: &Lane, d: &DueDelivery, body: &str) -> Attempt {
        let started = std::time::Instant::now();
        let outcome = self
            .sender
            .send(&lane.endpoint.url, &d.message_id, body, &lane.keys)
            .await;
        let now = chrono::Utc::now();
        self.metrics.webhooks.attempt(&lane.key, outcome.label());
        let (status, error, next) = match &outcome {
            Outcome::Delivered { status } => {
                let since_commit = (now - d.created_at).to_std().unwrap_or_default();
                self.metrics.webhooks.delivered(since_commit);
                tracing::debug!(status, "webhook delivered");
                (Some(*status), None, AttemptNext::Delivered)
            }
            Outcome::Failed {
                status,
                error,
                retry_after,
            } => {
                let next = schedule::next_attempt(
                    d.attempts + 1,
                    &self.config.retry_schedule_seconds,
                    *retry_after,
                    now,
                );
                match next {
                    Some(at) => {
                        let retry_in_s = (at - now).as_seconds_f64();
                        tracing::warn!(%error, retry_in_s, "webhook attempt failed; will retry");
                    }
                    None => tracing::error!(%error, "webhook failed: out of attempts"),
                }
                (
                    *status,
                    Some(error.clone()),
                    next.map_or(AttemptNext::Failed, AttemptNext::RetryAt),
                )
            }
            Outcome::Gone => {
                self.disable(lane, now).await;
                (
                    Some(410),
                    Some("410 Gone: the endpoint is disabled".to_owned()),
                    AttemptNext::Failed,
                )
            }
            Outcome::Refused { error } => {
                tracing::error!(%error, "webhook not sent");
                (None, Some(error.clone()), AttemptNext::Failed)
            }
        };
        let elapsed = started.elapsed().as_millis() as i64;
        self.attempt_record(d, status, error, next, elapsed)
    }

    fn attempt_record(
        &self,
        d: &DueDelivery,
        status: Option<u16>,
        error: Option<String>,
        next: AttemptNext,
        duration_ms: i64,
    ) -> Attempt {
        Attempt {
            delivery_id: d.id,
            owner: self.owner.clone(),
            at: chrono::Utc::now(),
            status,
            error,
            duration_ms,
            next,
        }
    }

    async fn disable(&self, lane: &Lane, now: crate::time::Instant) {
        tracing::error!(
            endpoint = %lane.key,
            "webhook endpoint answered 410 Gone: disabled; `confvault webhooks enable` turns it back on"
        );
        let disabled = self
            .db
            .disable_webhook_endpoint(lane.key.clone(), "answered 410 Gone".into(), now)
            .await;
        if let Err(e) = disabled {
            tracing::error!(error = %e, "could not record the disabled endpoint");
        }
        // After the write, so that a refresh reading the list meanwhile cannot undo it.
        lane.disabled.store(true, Ordering::Relaxed);
        self.metrics.webhooks.set_disabled(&lane.key, true);
    }

    /// Reads the backlog into the metrics, and which endpoints are disabled (an operator may
    /// have enabled one again).
    async fn refresh(&self) {
        let endpoints = self.lanes.iter().map(|lane| lane.key.clone()).collect();
        match self.db.webhook_backlog(endpoints).await {
            Ok(backlog) => {
                let age = backlog
                    .oldest
                    .map(|t| (chrono::Utc::now() - t).to_std().unwrap_or_default());
                self.metrics.webhooks.set_backlog(backlog.pending, age);
                let before = self
                    .unconfigured
                    .swap(backlog.unconfigured, Ordering::Relaxed);
                if backlog.unconfigured > 0 && before == 0 {
                    tracing::warn!(
                        deliveries = backlog.unconfigured,
                        "pending webhook deliveries to endpoints no longer in the settings are \
                         kept, not sent, and not counted in the backlog metrics; they go out if \
                         the endpoint is configured again (`confvault webhooks deliveries` lists them)"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "could not read the webhook backlog"),
        }
        match self.db.disabled_webhook_endpoints().await {
            Ok(disabled) => {
                for lane in &self.lanes {
                    let off = disabled.iter().any(|d| d.endpoint == lane.key);
                    lane.disabled.store(off, Ordering::Relaxed);
                    self.metrics.webhooks.set_disabled(&lane.key, off);
                }
            }
            Err(e) => tracing::error!(error = %e, "could not read the disabled webhook endpoints"),
        }
    }

    async fn prune(&self) {
        let before = chrono::Utc::now() - chrono::Duration::days(i64::from(self.config.keep_days));
        match self.db.prune_webhooks(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deliveries = n, "pruned old webhook deliveries"),
            Err(e) => tracing::error!(error = %e, "could not prune webhook deliveries"),
        }
    }
}

/// Records finished attempts, as many as have arrived in one write: attempts finish far more
/// often than a write transaction should be made.
async fn record_attempts(db: Arc<dyn Database>, mut finished: mpsc::UnboundedReceiver<Attempt>) {
    while let Some(first) = finished.recv().await {
        let mut batch = vec![first];
        while batch.len() < 512 {
            match finished.try_recv() {
                Ok(attempt) => batch.push(attempt),
                Err(_) => break,
            }
        }
        match db.record_webhook_attempts(batch).await {
            Ok(kept) if kept.iter().all(|k| *k) => {}
            Ok(kept) => tracing::warn!(
                lost = kept.iter().filter(|k| !**k).count(),
                "webhook leases lapsed before their attempts were recorded; they will be sent again"
            ),
            Err(e) => {
                tracing::error!(error = %e, "could not record webhook attempts; they will be sent again")
            }
        }
    }
}

/// The wait before the next look, after `idle_looks` looks in a row that found nothing.
fn wait_after(idle_looks: u32) -> Duration {
    POLL.saturating_mul(1 << idle_looks.min(16)).min(IDLE_POLL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_dispatcher_looks_often_and_an_idle_one_backs_off_to_half_a_second() {
        let waits: Vec<u128> = (0..8).map(|n| wait_after(n).as_millis()).collect();
        assert_eq!(waits, [50, 100, 200, 400, 500, 500, 500, 500]);
        assert_eq!(wait_after(u32::MAX), IDLE_POLL);
    }
}

//! The dispatcher inside `confvault serve`: fans committed messages out to deliveries, leases
//! each endpoint's due deliveries up to its own concurrency limit (a slow or failing endpoint
//! holds only its own slots), sends them, and records what happened. Several replicas may run
//! it at once: leases keep a delivery to one of them at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
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

/// How often the dispatcher looks for new messages and due retries.
const POLL: Duration = Duration::from_millis(50);
/// How often the backlog gauges and disabled endpoints are read again.
const REFRESH: Duration = Duration::from_secs(1);
/// How often old deliveries are pruned.
const PRUNE: Duration = Duration::from_secs(3600);

/// One endpoint as the dispatcher serves it.
struct Lane {
    endpoint: WebhookEndpoint,
    /// Its URL as the log shows it: the delivery rows' key.
    key: String,
    keys: Vec<SigningKey>,
    slots: Arc<Semaphore>,
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
                    slots: Arc::new(Semaphore::new(config.concurrency_per_endpoint)),
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

    fn lease(&self) -> chrono::Duration {
        // Longer than an attempt can take, so a live attempt keeps its delivery.
        chrono::Duration::from_std(Duration::from_secs_f64(self.config.timeout_seconds + 5.0))
            .unwrap_or(chrono::Duration::MAX)
    }

    /// Runs until `shutdown` turns true; attempts in flight are then abandoned, and their
    /// leases lapse so that the next start (or another replica) sends them again.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let routes = self.routes();
        let mut in_flight = JoinSet::new();
        let mut refreshed = tokio::time::Instant::now() - REFRESH;
        let mut pruned = tokio::time::Instant::now();
        loop {
            if refreshed.elapsed() >= REFRESH {
                refreshed = tokio::time::Instant::now();
                self.refresh().await;
            }
            if pruned.elapsed() >= PRUNE {
                pruned = tokio::time::Instant::now();
                self.prune().await;
            }
            if let Err(e) = self
                .db
                .fan_out_webhooks(routes.clone(), chrono::Utc::now())
                .await
            {
                tracing::error!(error = %e, "could not fan webhook messages out");
            }
            for lane in self
                .lanes
                .iter()
                .filter(|l| !l.disabled.load(Ordering::Relaxed))
            {
                self.start_due(lane, &mut in_flight).await;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = shutdown.changed() => break,
            }
        }
        in_flight.shutdown().await;
    }

    /// Leases as many of `lane`'s due deliveries as it has free slots, and starts them.
    async fn start_due(self: &Arc<Self>, lane: &Arc<Lane>, in_flight: &mut JoinSet<()>) {
        let free = lane.slots.available_permits();
        if free == 0 {
            return;
        }
        let now = chrono::Utc::now();
        let due = self
            .db
            .claim_webhook_deliveries(
                lane.key.clone(),
                self.owner.clone(),
                now,
                now + self.lease(),
                free as u32,
            )
            .await;
        let due = match due {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, endpoint = %lane.key, "could not claim webhook deliveries");
                return;
            }
        };
        for delivery in due {
            let Ok(slot) = Arc::clone(&lane.slots).try_acquire_owned() else {
                break;
            };
            let dispatcher = Arc::clone(self);
            let lane = Arc::clone(lane);
            in_flight.spawn(async move { dispatcher.attempt(&lane, delivery, slot).await });
        }
    }

    #[tracing::instrument(name = "webhook.attempt", skip_all, fields(delivery_id = d.id, message_id = %d.message_id, event = %d.event, endpoint = %lane.key, attempt = d.attempts + 1))]
    async fn attempt(&self, lane: &Lane, d: DueDelivery, _slot: OwnedSemaphorePermit) {
        let started = std::time::Instant::now();
        let outcome = match self.body(&d).await {
            Ok(body) => {
                self.sender
                    .send(&lane.endpoint.url, &d.message_id, &body, &lane.keys)
                    .await
            }
            Err(error) => Outcome::Refused { error },
        };
        let now = chrono::Utc::now();
        let attempts = d.attempts + 1;
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
                    attempts,
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
        let attempt = Attempt {
            delivery_id: d.id,
            owner: self.owner.clone(),
            at: now,
            status,
            error,
            duration_ms: started.elapsed().as_millis() as i64,
            next,
        };
        match self.db.record_webhook_attempt(attempt).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!("the delivery's lease lapsed; another dispatcher owns it"),
            Err(e) => {
                tracing::error!(error = %e, "could not record a webhook attempt; it will be sent again")
            }
        }
    }

    /// The message's body: frozen at its first attempt.
    async fn body(&self, d: &DueDelivery) -> Result<String, String> {
        if let Some(body) = &d.body {
            return Ok(body.clone());
        }
        let body = self
            .payloads
            .body(d.event, &d.subject, d.created_at)
            .await
            .map_err(|e| format!("could not write the message: {e}"))?;
        self.db
            .freeze_webhook_body(d.message_id.clone(), body)
            .await
            .map_err(|e| format!("could not keep the message: {e}"))
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
        match self.db.webhook_backlog().await {
            Ok(backlog) => {
                let age = backlog
                    .oldest
                    .map(|t| (chrono::Utc::now() - t).to_std().unwrap_or_default());
                self.metrics.webhooks.set_backlog(backlog.pending, age);
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

//! `/readyz`'s verdict, decided in the background: every `health.check_interval_seconds` the
//! database takes a write, the storage a probe and the mail transport a connection. Requests
//! only read the last verdict, so a load balancer polling hard costs nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;

use super::metrics::Metrics;
use crate::config::HealthConfig;
use crate::db::Database;
use crate::mail::transport::Mailer;
use crate::storage::Store;

/// The latest readiness verdict, as handlers see it.
pub type ReadinessView = watch::Receiver<Report>;

/// One dependency's state. Details stay in the log: `/readyz` answers without a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub ok: bool,
}

/// The last verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// `ready`, `not_ready`, or `starting` before the first round.
    pub status: &'static str,
    pub checked_at: Option<String>,
    pub checks: BTreeMap<&'static str, Check>,
}

impl Report {
    pub fn starting() -> Self {
        Self {
            status: "starting",
            checked_at: None,
            checks: BTreeMap::new(),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

/// What the checker looks at.
pub struct Dependencies {
    pub db: Arc<dyn Database>,
    pub store: Arc<dyn Store>,
    pub mailer: Arc<dyn Mailer>,
    pub metrics: Arc<Metrics>,
}

/// Checks as `cadence` says until `stop` turns true.
pub async fn run(
    deps: Dependencies,
    cadence: HealthConfig,
    report: watch::Sender<Report>,
    mut stop: watch::Receiver<bool>,
) {
    let (interval, timeout) = (cadence.interval(), cadence.timeout());
    let mut previous: BTreeMap<&'static str, bool> = BTreeMap::new();
    let mut done_recount = Recount::every(cadence.done_jobs_recount());
    loop {
        // Side by side, so that one dependency hanging until its timeout delays no other.
        let (database_ok, storage_ok, mail_ok) = tokio::join!(
            bounded(timeout, database(deps.db.as_ref())),
            bounded(timeout, storage(deps.store.as_ref())),
            bounded(timeout, mail(deps.mailer.as_ref())),
        );
        let results = [
            ("database", database_ok),
            ("storage", storage_ok),
            ("mail", mail_ok),
        ];
        let mut checks = BTreeMap::new();
        for (name, result) in results {
            let ok = result.is_ok();
            match (&result, previous.get(name)) {
                (Err(e), Some(true) | None) => {
                    tracing::warn!(check = name, error = %e, "readiness check failing")
                }
                (Ok(()), Some(false)) => tracing::info!(check = name, "readiness check recovered"),
                _ => {}
            }
            previous.insert(name, ok);
            checks.insert(name, Check { ok });
        }
        let ready = checks.values().all(|c| c.ok);
        report.send_replace(Report {
            status: if ready { "ready" } else { "not_ready" },
            checked_at: Some(crate::time::to_db(chrono::Utc::now())),
            checks,
        });
        let count_done = done_recount.is_due(Instant::now());
        if refresh_queue_metrics(deps.db.as_ref(), &deps.metrics, count_done).await && count_done {
            done_recount.counted(Instant::now());
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn bounded(
    timeout: Duration,
    check: impl Future<Output = Result<(), String>>,
) -> Result<(), String> {
    tokio::time::timeout(timeout, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
}

#[tracing::instrument(name = "ready.database", skip_all)]
async fn database(db: &dyn Database) -> Result<(), String> {
    db.heartbeat(chrono::Utc::now())
        .await
        .map_err(|e| format!("{:#}", anyhow::Error::new(e)))
}

#[tracing::instrument(name = "ready.storage", skip_all)]
async fn storage(store: &dyn Store) -> Result<(), String> {
    store.probe().await.map_err(|e| e.chain())
}

#[tracing::instrument(name = "ready.mail", skip_all)]
async fn mail(mailer: &dyn Mailer) -> Result<(), String> {
    mailer.probe().await.map_err(|e| e.to_string())
}

/// When the done-jobs gauge is next counted. Counting jobs done reads the whole history, which
/// only grows (about 180 ms at 3,000,000 jobs on SQLite), so it has a slower cadence than the
/// checks: an operator may check every second for a quick failover, on every replica.
struct Recount {
    every: Duration,
    last: Option<Instant>,
}

impl Recount {
    fn every(every: Duration) -> Self {
        Self { every, last: None }
    }

    /// At the first round, and once `every` has passed since the last count that succeeded.
    fn is_due(&self, now: Instant) -> bool {
        self.last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.every)
    }

    fn counted(&mut self, at: Instant) {
        self.last = Some(at);
    }
}

/// True if the gauges were read.
async fn refresh_queue_metrics(db: &dyn Database, metrics: &Metrics, count_done: bool) -> bool {
    match db.job_stats(chrono::Utc::now(), count_done).await {
        Ok(stats) => {
            metrics.set_job_stats(&stats);
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read the job queue for metrics");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_done_are_recounted_at_the_first_round_then_only_once_the_period_has_passed() {
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        let mut recount = Recount::every(5 * minute);

        assert!(recount.is_due(start), "the first round counts");
        recount.counted(start);
        assert!(!recount.is_due(start + minute));
        assert!(!recount.is_due(start + 5 * minute - Duration::from_millis(1)));
        assert!(recount.is_due(start + 5 * minute));
    }
}

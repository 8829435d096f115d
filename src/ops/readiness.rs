//! `/readyz`'s verdict, decided in the background: every `health.check_interval_seconds` the
//! database takes a write, the storage a probe and the mail transport a connection. Requests
//! only read the last verdict, so a load balancer polling hard costs nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

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
    let mut done_counted: Option<tokio::time::Instant> = None;
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
        // Counting jobs done reads the whole history, which only grows (about 180 ms at
        // 3,000,000 jobs on SQLite), so it has a slower cadence of its own: an operator may
        // check every second for a quick failover, on every replica.
        let count_done = done_counted.is_none_or(|at| at.elapsed() >= cadence.done_jobs_recount());
        if refresh_queue_metrics(deps.db.as_ref(), &deps.metrics, count_done).await && count_done {
            done_counted = Some(tokio::time::Instant::now());
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

//! The account sync inside `serve`: at start and then every `vobiz.sync_interval_minutes`,
//! over the last `vobiz.sync_lookback_days`. Replicas take turns through the account lease: one
//! that finds a sync completed within the interval skips its turn.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::sync::{NotRun, SyncOptions, Syncer};
use crate::ops::Metrics;

pub struct Schedule {
    pub syncer: Syncer,
    pub interval: Duration,
    pub lookback: Duration,
    pub metrics: Arc<Metrics>,
}

impl Schedule {
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = self.once() => {}
                _ = stop.changed() => {
                    // Stopped mid-walk: hand the lease back rather than make the next sync (or
                    // delete) wait for it to lapse.
                    if let Err(e) = self.syncer.release().await {
                        tracing::warn!(error = %e, "could not hand the account lease back; it will lapse");
                    }
                    return;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.interval) => {}
                _ = stop.changed() => return,
            }
        }
    }

    #[tracing::instrument(name = "sync.scheduled", skip_all)]
    async fn once(&self) {
        let now = chrono::Utc::now();
        let chrono = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let options = SyncOptions {
            since: Some(now - chrono(self.lookback)),
            until: None,
            dry_run: false,
            // A little less than the interval, so that turns do not drift past each other.
            unless_completed_after: Some(now - chrono(self.interval.mul_f64(0.9))),
        };
        let metrics = Arc::clone(&self.metrics);
        let mut on_page = |page: &super::sync::PageDone| {
            for found in &page.new {
                metrics.recording_discovered("sync");
                tracing::warn!(
                    recording_id = %found.recording_id,
                    conference_uuid = found.conference_uuid.as_deref().unwrap_or(""),
                    "a recording only the account sync found: its callback never arrived (callbacks may be being lost)"
                );
            }
        };
        match self.syncer.run(&options, &mut on_page).await {
            Ok(Ok(report)) => tracing::info!(
                listed = report.listed,
                found = report.found,
                queued = report.queued,
                skipped = report.skipped,
                bad_pages = report.bad_pages,
                "account sync done"
            ),
            Ok(Err(NotRun::RecentlyDone)) => {
                tracing::debug!("another replica synced the account recently; skipping this turn")
            }
            Ok(Err(NotRun::Busy { holder })) => tracing::info!(
                holder = holder.as_deref().unwrap_or(""),
                "the account is being synced or pruned elsewhere; skipping this turn"
            ),
            Err(e) => {
                tracing::error!(
                    error = format!("{:#}", anyhow::Error::new(e)),
                    "account sync failed; trying again at the next turn"
                )
            }
        }
    }
}

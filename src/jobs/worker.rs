//! The job runner inside `confvault serve`: claims due jobs with a lease, keeps the lease alive
//! while a job runs, and records how each run ended. A panicking job fails; the worker goes on.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::task::AbortOnDropHandle;

use super::JobError;
use super::archive::Archiver;
use super::context::JobContext;
use super::delete_source::SourceDeleteJob;
use super::ending;
use super::notify::Notifier;
use crate::config::JobsConfig;
use crate::db::model::{Finish, Job, JobId, JobKind};
use crate::db::{Database, DbError};
use crate::ops::Metrics;
use crate::ops::metrics::JobOutcome;

pub struct Worker {
    pub db: Arc<dyn Database>,
    pub config: JobsConfig,
    pub archiver: Arc<Archiver>,
    pub notifier: Arc<Notifier>,
    /// `None` when the account is not configured for deletes at source.
    pub source_deletes: Option<Arc<SourceDeleteJob>>,
    /// Identifies this process's claims.
    pub owner: String,
    /// Queue webhook messages for settled runs: some endpoint is configured.
    pub webhooks: bool,
    pub metrics: Arc<Metrics>,
}

impl Worker {
    /// Sweeps the spool of what a crash left behind, then runs until `shutdown` turns true;
    /// running jobs then get `grace` to finish, after which they are stopped and handed back,
    /// so the next start resumes them from their last checkpoint.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>, grace: Duration) {
        super::spool::sweep(&self.archiver.spool_dir, &*self.db).await;
        let mut running = JoinSet::new();
        let wakeups = self.db.wakeups();
        loop {
            while running.len() < self.config.concurrency {
                match self.claim().await {
                    Ok(Some(job)) => {
                        let worker = Arc::clone(&self);
                        running.spawn(async move { worker.run_one(job).await });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "could not claim a job");
                        break;
                    }
                }
            }
            tokio::select! {
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = tokio::time::sleep(self.config.poll_interval()) => {}
                _ = woken(wakeups.as_deref()) => {}
                _ = shutdown.changed() => break,
            }
        }
        let drained = tokio::time::timeout(grace, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                jobs = running.len(),
                "jobs still running at shutdown; their leases will lapse and they will resume"
            );
            running.shutdown().await;
            self.release_leases().await;
        }
    }

    async fn release_leases(&self) {
        match self.db.release_jobs(&self.owner, chrono::Utc::now()).await {
            Ok(released) => {
                tracing::info!(jobs = released, "leases handed back for the next start")
            }
            Err(e) => tracing::error!(error = %e, "could not hand leases back; they will lapse"),
        }
    }

    async fn claim(&self) -> Result<Option<Job>, DbError> {
        let now = chrono::Utc::now();
        self.db
            .claim_job(&self.owner, now, now + self.lease())
            .await
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.lease()).unwrap_or(chrono::Duration::MAX)
    }

    #[tracing::instrument(name = "job", skip_all, fields(job_id = %job.id, kind = %job.kind, subject = %job.subject, attempt = job.attempts))]
    async fn run_one(self: Arc<Self>, job: Job) {
        let id = job.id;
        let context = JobContext {
            job: job.clone(),
            owner: self.owner.clone(),
            db: Arc::clone(&self.db),
            metrics: Arc::clone(&self.metrics),
        };
        let archiver = Arc::clone(&self.archiver);
        let notifier = Arc::clone(&self.notifier);
        let source_deletes = self.source_deletes.clone();
        let started = std::time::Instant::now();
        // Its own task, so that a panic is caught at the join and fails only this job; stopped
        // when this runner is dropped (shutdown, lost lease) rather than left running detached.
        let mut task = AbortOnDropHandle::new(tokio::spawn(async move {
            match context.job.kind {
                JobKind::ArchiveRecording => archiver.run(&context).await,
                JobKind::ArchiveTranscript => {
                    super::transcript::archive(&context, &*archiver.store).await
                }
                JobKind::NotifyConference => notifier.summary(&context).await,
                JobKind::AlertJobFailed => notifier.alert(&context).await,
                JobKind::DeleteSource => match source_deletes {
                    Some(job) => job.run(&context).await,
                    None => Err(JobError::Permanent(
                        "delete at source needs vobiz.auth_id, vobiz.auth_token and vobiz.delete_source_after_days".into(),
                    )),
                },
            }
        }));
        let mut renew = tokio::time::interval(self.config.lease() / 3);
        renew.tick().await;
        let outcome = loop {
            tokio::select! {
                joined = &mut task => break joined,
                _ = renew.tick() => {
                    if !self.extend_lease(id).await {
                        tracing::warn!("lease lost; abandoning this run");
                        return;
                    }
                }
            }
        };
        let outcome = ended(outcome);
        let elapsed = started.elapsed();
        let now = chrono::Utc::now();
        let ending = ending::decide(&job, &outcome, &self.config, self.webhooks, now);
        match (&ending.finish, &outcome) {
            (Finish::Done, _) => {
                tracing::info!(elapsed_ms = elapsed.as_millis() as u64, "job done")
            }
            (Finish::Defer { reason, .. }, _) => tracing::debug!(%reason, "job deferred"),
            (Finish::RetryAt { run_at, error }, _) => {
                let retry_in_s = (*run_at - now).as_seconds_f64();
                tracing::warn!(%error, retry_in_s, "job will be retried");
            }
            (Finish::Failed { error }, Err(JobError::Retryable(_))) => {
                tracing::error!(%error, "job failed: out of attempts")
            }
            (Finish::Failed { error }, _) => tracing::error!(%error, "job failed permanently"),
        }
        self.metrics.job_finished(
            job.kind.as_str(),
            match ending.finish {
                Finish::Done => JobOutcome::Done,
                Finish::Defer { .. } => JobOutcome::Deferred,
                Finish::RetryAt { .. } => JobOutcome::Retry,
                Finish::Failed { .. } => JobOutcome::Failed,
            },
            elapsed,
        );
        match self.db.finish_job(id, &self.owner, ending, now).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("another worker took this job over; its result was dropped")
            }
            Err(e) => {
                tracing::error!(error = %e, "could not record the job's outcome; it will run again")
            }
        }
    }

    async fn extend_lease(&self, id: JobId) -> bool {
        let until = chrono::Utc::now() + self.lease();
        self.db
            .extend_lease(id, &self.owner, until)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "could not extend a lease");
                // Keep going: the lease is long enough to try again at the next tick.
                true
            })
    }
}

/// How a job's own task ended: a panic (caught at the join, so the worker goes on) or a
/// cancellation fails the job for good, as retrying a bug does not fix it.
fn ended(joined: Result<Result<(), JobError>, tokio::task::JoinError>) -> Result<(), JobError> {
    joined.unwrap_or_else(|e| {
        Err(JobError::Permanent(if e.is_panic() {
            "the job panicked (a bug; see the log)".to_owned()
        } else {
            "the job was cancelled".to_owned()
        }))
    })
}

/// Resolves when the database says a job may have been queued; never without wakeups.
async fn woken(wakeups: Option<&tokio::sync::Notify>) {
    match wakeups {
        Some(notify) => notify.notified().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_job_fails_for_good_and_the_runtime_goes_on() {
        let panicking = tokio::spawn(async {
            if std::hint::black_box(true) {
                panic!("a bug in a job");
            }
            Ok(())
        });

        let outcome = ended(panicking.await);

        assert_eq!(
            outcome,
            Err(JobError::Permanent(
                "the job panicked (a bug; see the log)".into()
            ))
        );
        let next = tokio::spawn(async { Ok(()) }).await;
        assert_eq!(ended(next), Ok(()));
    }

    #[tokio::test]
    async fn a_cancelled_job_fails_for_good() {
        let stalled = tokio::spawn(std::future::pending::<Result<(), JobError>>());
        stalled.abort();

        let outcome = ended(stalled.await);

        assert_eq!(
            outcome,
            Err(JobError::Permanent("the job was cancelled".into()))
        );
    }
}

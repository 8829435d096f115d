//! The job runner inside `confvault serve`: claims due jobs with a lease, keeps the lease alive
//! while a job runs, and records how each run ended. A panicking job fails; the worker goes on.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::task::AbortOnDropHandle;

use super::JobError;
use super::archive::Archiver;
use super::notify::Notifier;
use crate::config::JobsConfig;
use crate::db::jobs::{self, Finish, Job};
use crate::db::{DbError, Writer};
use crate::ops::Metrics;
use crate::ops::metrics::JobOutcome;
use crate::time::to_db;

/// What a running job can reach.
pub struct JobContext {
    pub job: Job,
    pub owner: String,
    pub writer: Writer,
    pub metrics: Arc<Metrics>,
}

impl JobContext {
    /// Saves progress so that a later run resumes; fails if this worker lost the job.
    pub async fn checkpoint(&self, checkpoint: Option<String>) -> Result<(), JobError> {
        let (id, owner) = (self.job.id, self.owner.clone());
        let kept = self
            .writer
            .run(move |conn| {
                jobs::save_checkpoint(
                    conn,
                    id,
                    &owner,
                    checkpoint.as_deref(),
                    &to_db(chrono::Utc::now()),
                )
            })
            .await?;
        if kept {
            Ok(())
        } else {
            Err(JobError::Retryable("lease lost to another worker".into()))
        }
    }
}

pub struct Worker {
    pub writer: Writer,
    pub config: JobsConfig,
    pub archiver: Arc<Archiver>,
    pub notifier: Arc<Notifier>,
    /// Identifies this process's claims.
    pub owner: String,
    pub metrics: Arc<Metrics>,
}

impl Worker {
    /// Runs until `shutdown` turns true; running jobs then get `grace` to finish, after which
    /// they are stopped and handed back, so the next start resumes them from their last
    /// checkpoint.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>, grace: Duration) {
        let mut running = JoinSet::new();
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
        let owner = self.owner.clone();
        match self
            .writer
            .run(move |conn| jobs::release_all(conn, &owner, &to_db(chrono::Utc::now())))
            .await
        {
            Ok(released) => {
                tracing::info!(jobs = released, "leases handed back for the next start")
            }
            Err(e) => tracing::error!(error = %e, "could not hand leases back; they will lapse"),
        }
    }

    async fn claim(&self) -> Result<Option<Job>, DbError> {
        let owner = self.owner.clone();
        let lease = self.lease();
        self.writer
            .run(move |conn| {
                let now = chrono::Utc::now();
                jobs::claim(conn, &owner, &to_db(now), &to_db(now + lease))
            })
            .await
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.lease()).unwrap_or(chrono::Duration::MAX)
    }

    #[tracing::instrument(name = "job", skip_all, fields(job_id = job.id, kind = %job.kind, subject = %job.subject, attempt = job.attempts))]
    async fn run_one(self: Arc<Self>, job: Job) {
        let (id, attempts, kind) = (job.id, job.attempts, job.kind.clone());
        let context = JobContext {
            job,
            owner: self.owner.clone(),
            writer: self.writer.clone(),
            metrics: Arc::clone(&self.metrics),
        };
        let archiver = Arc::clone(&self.archiver);
        let notifier = Arc::clone(&self.notifier);
        let started = std::time::Instant::now();
        // Its own task, so that a panic is caught at the join and fails only this job; stopped
        // when this runner is dropped (shutdown, lost lease) rather than left running detached.
        let mut task = AbortOnDropHandle::new(tokio::spawn(async move {
            match context.job.kind.as_str() {
                jobs::ARCHIVE_RECORDING => archiver.run(&context).await,
                jobs::NOTIFY_CONFERENCE => notifier.summary(&context).await,
                jobs::ALERT_JOB_FAILED => notifier.alert(&context).await,
                other => Err(JobError::Permanent(format!("unknown job kind {other:?}"))),
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
        let (finish, run_at) = match &outcome {
            Ok(()) => {
                tracing::info!(elapsed_ms = elapsed.as_millis() as u64, "job done");
                (FinishKind::Done, None)
            }
            Err(JobError::Wait(why)) => {
                let wait = std::time::Duration::from_secs_f64(
                    self.config.retry_base_seconds.clamp(0.05, 60.0),
                );
                let at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                tracing::debug!(reason = %why, "job deferred");
                (FinishKind::Defer(why.clone()), Some(to_db(at)))
            }
            Err(JobError::Retryable(e)) if attempts < i64::from(self.config.max_attempts) => {
                let wait = super::backoff::delay(
                    attempts as u32,
                    self.config.retry_base_seconds,
                    self.config.retry_max_seconds,
                );
                let at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                tracing::warn!(error = %e, retry_in_s = wait.as_secs_f64(), "job will be retried");
                (FinishKind::Retry(e.clone()), Some(to_db(at)))
            }
            Err(JobError::Retryable(e)) => {
                tracing::error!(error = %e, "job failed: out of attempts");
                (
                    FinishKind::Failed(format!("{e} (gave up after {attempts} attempts)")),
                    None,
                )
            }
            Err(JobError::Permanent(e)) => {
                tracing::error!(error = %e, "job failed permanently");
                (FinishKind::Failed(e.clone()), None)
            }
        };
        self.metrics.job_finished(
            &kind,
            match finish {
                FinishKind::Done => JobOutcome::Done,
                FinishKind::Defer(_) => JobOutcome::Deferred,
                FinishKind::Retry(_) => JobOutcome::Retry,
                FinishKind::Failed(_) => JobOutcome::Failed,
            },
            elapsed,
        );
        let owner = self.owner.clone();
        let recorded = self
            .writer
            .run(move |conn| {
                let how = match &finish {
                    FinishKind::Done => Finish::Done,
                    FinishKind::Defer(reason) => Finish::Defer {
                        run_at: run_at.as_deref().unwrap_or_default(),
                        reason,
                    },
                    FinishKind::Retry(error) => Finish::RetryAt {
                        run_at: run_at.as_deref().unwrap_or_default(),
                        error,
                    },
                    FinishKind::Failed(error) => Finish::Failed { error },
                };
                jobs::finish(conn, id, &owner, how, &to_db(now))
            })
            .await;
        match recorded {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("another worker took this job over; its result was dropped")
            }
            Err(e) => {
                tracing::error!(error = %e, "could not record the job's outcome; it will run again")
            }
        }
    }

    async fn extend_lease(&self, id: i64) -> bool {
        let owner = self.owner.clone();
        let lease = self.lease();
        self.writer
            .run(move |conn| {
                jobs::extend_lease(conn, id, &owner, &to_db(chrono::Utc::now() + lease))
            })
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "could not extend a lease");
                // Keep going: the lease is long enough to try again at the next tick.
                true
            })
    }
}

enum FinishKind {
    Done,
    Defer(String),
    Retry(String),
    Failed(String),
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

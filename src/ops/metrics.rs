//! The Prometheus metrics confvault exports at `/metrics`: counters and histograms updated where
//! things happen, gauges about the job queue refreshed by the readiness checker.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::db::batch_metrics::BatchMetrics;
use crate::db::model::{JobState, JobStats};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectedLabels {
    endpoint: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ViaLabels {
    via: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

/// Every metric, registered once per process (or per test server).
pub struct Metrics {
    registry: Registry,
    callbacks_received: Family<EndpointLabels, Counter>,
    callbacks_rejected: Family<RejectedLabels, Counter>,
    ingest_seconds: Family<EndpointLabels, Histogram>,
    job_seconds: Family<JobLabels, Histogram>,
    archived_bytes: Counter,
    archived_recordings: Counter,
    recordings_discovered: Family<ViaLabels, Counter>,
    emails_sent: Counter,
    emails_failed: Counter,
    jobs: Family<StateLabels, Gauge>,
    queue_depth: Gauge,
    oldest_waiting_seconds: Gauge<f64, AtomicU64>,
    pub webhooks: super::webhook_metrics::WebhookMetrics,
}

fn ingest_histogram() -> Histogram {
    // 50 µs to about 0.8 s: a commit normally takes a few milliseconds.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 15))
}

fn job_histogram() -> Histogram {
    // 10 ms to about 1.5 h: a notify takes milliseconds, a 2 GiB archive minutes.
    Histogram::new(exponential_buckets(0.01, 3.0, 14))
}

/// How a job run ended, for `confvault_job_duration_seconds{outcome}`.
#[derive(Debug, Clone, Copy)]
pub enum JobOutcome {
    Done,
    Deferred,
    Retry,
    Failed,
}

impl JobOutcome {
    fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Done => "done",
            JobOutcome::Deferred => "deferred",
            JobOutcome::Retry => "retry",
            JobOutcome::Failed => "failed",
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("confvault");
        let callbacks_received = Family::<EndpointLabels, Counter>::default();
        registry.register(
            "callbacks_received",
            "Vobiz callbacks received, by endpoint (accepted or not)",
            callbacks_received.clone(),
        );
        let callbacks_rejected = Family::<RejectedLabels, Counter>::default();
        registry.register(
            "callbacks_rejected",
            "Vobiz callbacks refused, by endpoint and error code",
            callbacks_rejected.clone(),
        );
        let ingest_seconds = Family::<EndpointLabels, Histogram>::new_with_constructor(
            ingest_histogram as fn() -> _,
        );
        registry.register_with_unit(
            "ingest_duration",
            "Time from a callback's arrival to its answer, including the commit",
            Unit::Seconds,
            ingest_seconds.clone(),
        );
        let job_seconds =
            Family::<JobLabels, Histogram>::new_with_constructor(job_histogram as fn() -> _);
        registry.register_with_unit(
            "job_duration",
            "Duration of job runs, by kind and outcome",
            Unit::Seconds,
            job_seconds.clone(),
        );
        let archived_bytes = Counter::default();
        registry.register_with_unit(
            "archived",
            "Bytes of recordings archived",
            Unit::Bytes,
            archived_bytes.clone(),
        );
        let archived_recordings = Counter::default();
        registry.register(
            "archived_recordings",
            "Recordings archived",
            archived_recordings.clone(),
        );
        let recordings_discovered = Family::<ViaLabels, Counter>::default();
        registry.register(
            "recordings_discovered",
            "Recordings confvault learnt of, by how: a callback, or the account sync (its callback never came)",
            recordings_discovered.clone(),
        );
        for via in ["callback", "sync"] {
            drop(recordings_discovered.get_or_create(&ViaLabels { via }));
        }
        let emails_sent = Counter::default();
        registry.register(
            "emails_sent",
            "Messages accepted by the mail transport",
            emails_sent.clone(),
        );
        let emails_failed = Counter::default();
        registry.register(
            "emails_failed",
            "Messages the mail transport refused or could not take (each attempt)",
            emails_failed.clone(),
        );
        let jobs = Family::<StateLabels, Gauge>::default();
        registry.register("jobs", "Jobs by state", jobs.clone());
        let queue_depth = Gauge::default();
        registry.register(
            "job_queue_depth",
            "Pending jobs that are due now",
            queue_depth.clone(),
        );
        let oldest_waiting_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "oldest_pending_job_age",
            "Age of the oldest job not yet done or failed (0 when there is none)",
            Unit::Seconds,
            oldest_waiting_seconds.clone(),
        );
        let webhooks = super::webhook_metrics::WebhookMetrics::register(&mut registry);
        Self {
            webhooks,
            registry,
            callbacks_received,
            callbacks_rejected,
            ingest_seconds,
            job_seconds,
            archived_bytes,
            archived_recordings,
            recordings_discovered,
            emails_sent,
            emails_failed,
            jobs,
            queue_depth,
            oldest_waiting_seconds,
        }
    }
}

impl Metrics {
    /// Exports what the database's writers observe of their group commits.
    pub fn database(&mut self, batches: &BatchMetrics) {
        self.registry.register(
            "database_batch_writes",
            "Writes each group commit of the database carried (SQLite: every write; PostgreSQL: \
             the callbacks of a writer's batch)",
            batches.writes.clone(),
        );
        self.registry.register_with_unit(
            "database_batch",
            "Group commits, from their first write until durable (SQLite: its log synced)",
            Unit::Seconds,
            batches.seconds.clone(),
        );
    }

    /// One callback answered: `rejected` is its error code when it was refused. Static
    /// labels: this runs on every callback, and allocates nothing.
    pub fn callback(
        &self,
        endpoint: &'static str,
        rejected: Option<&'static str>,
        elapsed: Duration,
    ) {
        let labels = EndpointLabels { endpoint };
        self.callbacks_received.get_or_create(&labels).inc();
        self.ingest_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if let Some(reason) = rejected {
            self.callbacks_rejected
                .get_or_create(&RejectedLabels { endpoint, reason })
                .inc();
        }
    }

    pub fn job_finished(&self, kind: &str, outcome: JobOutcome, elapsed: Duration) {
        self.job_seconds
            .get_or_create(&JobLabels {
                kind: kind.to_owned(),
                outcome: outcome.as_str().to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn recording_archived(&self, bytes: u64) {
        self.archived_bytes.inc_by(bytes);
        self.archived_recordings.inc();
    }

    /// A recording not known before, found by `via` (`callback` or `sync`).
    pub fn recording_discovered(&self, via: &'static str) {
        self.recordings_discovered
            .get_or_create(&ViaLabels { via })
            .inc();
    }

    pub fn email(&self, sent: bool) {
        if sent {
            self.emails_sent.inc();
        } else {
            self.emails_failed.inc();
        }
    }

    /// Replaces the queue gauges with a fresh reading; the done gauge keeps its last count
    /// when the reading has none.
    pub fn set_job_stats(&self, stats: &JobStats) {
        let gauge = |state: JobState, count: i64| {
            self.jobs
                .get_or_create(&StateLabels {
                    state: state.as_str().to_owned(),
                })
                .set(count);
        };
        for &state in JobState::ALL.iter().filter(|s| **s != JobState::Done) {
            let count = stats.by_state.iter().find(|(s, _)| *s == state);
            gauge(state, count.map_or(0, |(_, n)| *n));
        }
        if let Some(done) = stats.done {
            gauge(JobState::Done, done);
        }
        self.queue_depth.set(stats.due);
        self.oldest_waiting_seconds
            .set(stats.oldest_waiting.map_or(0.0, |d| d.as_secs_f64()));
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejected_callback_counts_as_received_and_as_rejected_by_reason() {
        let metrics = Metrics::default();

        metrics.callback("conference", None, Duration::from_millis(2));
        metrics.callback(
            "conference",
            Some("bad_signature"),
            Duration::from_millis(1),
        );

        let text = metrics.encode();
        assert!(
            text.contains("confvault_callbacks_received_total{endpoint=\"conference\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "confvault_callbacks_rejected_total{endpoint=\"conference\",reason=\"bad_signature\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("confvault_ingest_duration_seconds_count{endpoint=\"conference\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn every_job_state_is_exported_even_when_empty() {
        let metrics = Metrics::default();

        metrics.set_job_stats(&JobStats {
            by_state: vec![(JobState::Pending, 3)],
            done: Some(0),
            due: 2,
            oldest_waiting: Some(Duration::from_secs(90)),
        });

        let text = metrics.encode();
        for line in [
            "confvault_jobs{state=\"pending\"} 3",
            "confvault_jobs{state=\"failed\"} 0",
            "confvault_jobs{state=\"done\"} 0",
            "confvault_job_queue_depth 2",
            "confvault_oldest_pending_job_age_seconds 90.0",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn a_reading_without_the_done_count_keeps_the_last_one() {
        let metrics = Metrics::default();
        let reading = |done| JobStats {
            by_state: vec![(JobState::Failed, 1)],
            done,
            ..JobStats::default()
        };
        metrics.set_job_stats(&reading(Some(41)));

        metrics.set_job_stats(&reading(None));

        let text = metrics.encode();
        assert!(text.contains("confvault_jobs{state=\"done\"} 41"), "{text}");
        assert!(
            text.contains("confvault_jobs{state=\"failed\"} 1"),
            "{text}"
        );
    }
}

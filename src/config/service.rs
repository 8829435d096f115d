//! The sections about the service itself: `[api]`, `[jobs]`, `[health]` and `[archive]`.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{ConfigError, serialize_secrets};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Bearer tokens accepted on the read API, as an administrator. None configured (and no
    /// scoped token): every API request without a session is refused.
    #[serde(serialize_with = "serialize_secrets")]
    pub tokens: Vec<SecretString>,
    /// Tokens that act as one person: they see what that person sees.
    pub scoped_tokens: Vec<super::ScopedToken>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Jobs run at the same time.
    pub concurrency: usize,
    /// How long a claimed job is held; extended while it runs, taken again once it expires.
    pub lease_seconds: u64,
    /// First retry delay; doubles with each attempt (with jitter) up to `retry_max_seconds`.
    pub retry_base_seconds: f64,
    pub retry_max_seconds: f64,
    /// Attempts before a retryable failure becomes permanent.
    pub max_attempts: u32,
    /// How often idle workers look for due jobs.
    pub poll_interval_seconds: f64,
    /// At shutdown, how long running jobs may go on before they are stopped (their leases
    /// then lapse and they resume at the next start).
    pub shutdown_grace_seconds: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        // 30 s doubling to 1 h, 60 attempts: even with the shortest jitter that is more than a
        // day of trying, which outlasts a bucket outage or a recording that Vobiz serves late.
        Self {
            concurrency: 2,
            lease_seconds: 120,
            retry_base_seconds: 30.0,
            retry_max_seconds: 3600.0,
            max_attempts: 60,
            poll_interval_seconds: 1.0,
            shutdown_grace_seconds: 30,
        }
    }
}

impl JobsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.concurrency == 0 {
            return Err(ConfigError::invalid(
                "jobs.concurrency",
                "must be at least 1",
            ));
        }
        if self.lease_seconds < 5 {
            return Err(ConfigError::invalid(
                "jobs.lease_seconds",
                "must be at least 5",
            ));
        }
        for (key, value) in [
            ("jobs.retry_base_seconds", self.retry_base_seconds),
            ("jobs.retry_max_seconds", self.retry_max_seconds),
            ("jobs.poll_interval_seconds", self.poll_interval_seconds),
        ] {
            if !(value.is_finite() && (0.0..=86_400.0 * 7.0).contains(&value)) {
                return Err(ConfigError::invalid(
                    key,
                    "must be between 0 and 604800 seconds",
                ));
            }
        }
        if self.retry_max_seconds < self.retry_base_seconds {
            return Err(ConfigError::invalid(
                "jobs.retry_max_seconds",
                "must not be below jobs.retry_base_seconds",
            ));
        }
        if self.max_attempts == 0 {
            return Err(ConfigError::invalid(
                "jobs.max_attempts",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs_f64(self.poll_interval_seconds)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// How often `/readyz`'s checks (database write, storage probe, mail connection) and the
    /// job-queue metrics are refreshed.
    pub check_interval_seconds: f64,
    /// Longest one check may take before it counts as failing.
    pub check_timeout_seconds: f64,
    /// How often the count of jobs done is refreshed: it reads the whole job history.
    pub done_jobs_recount_seconds: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            check_interval_seconds: 15.0,
            check_timeout_seconds: 10.0,
            done_jobs_recount_seconds: 300.0,
        }
    }
}

impl HealthConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("health.check_interval_seconds", self.check_interval_seconds),
            ("health.check_timeout_seconds", self.check_timeout_seconds),
            (
                "health.done_jobs_recount_seconds",
                self.done_jobs_recount_seconds,
            ),
        ] {
            if !(0.05..=86_400.0).contains(&value) {
                return Err(ConfigError::invalid(
                    key,
                    "must be between 0.05 and 86400 seconds",
                ));
            }
        }
        Ok(())
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(self.check_interval_seconds)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.check_timeout_seconds)
    }

    pub fn done_jobs_recount(&self) -> Duration {
        Duration::from_secs_f64(self.done_jobs_recount_seconds)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// Largest recording accepted.
    pub max_bytes: u64,
    /// Where downloads are kept until stored; defaults to `<data_dir>/spool`.
    pub spool_dir: Option<PathBuf>,
    /// A recording whose conference never became known is archived on its own after this.
    pub unlinked_grace_seconds: u64,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self {
            max_bytes: 2 * 1024 * 1024 * 1024,
            spool_dir: None,
            unlinked_grace_seconds: 3600,
        }
    }
}

//! The database interface: one operation per unit of work, grouped by who uses it (ingest, job
//! queue, archive, mail, read side, housekeeping) and combined into [`Database`], which the
//! state holds as `Arc<dyn Database>`. Backends live below: `sqlite` (the embedded default).
//! Nothing outside this module names a connection, a transaction or the SQL.

pub mod access;
pub mod batch_metrics;
pub mod catalog;
pub mod copy;
mod derived;
pub mod error;
pub mod ingest_tx;
pub mod migrations;
pub mod model;
pub mod postgres;
pub mod restore;
mod snapshot;
pub mod sqlite;
pub mod webhooks;

#[cfg(test)]
mod contract;
#[cfg(test)]
mod contract_access;
#[cfg(test)]
mod contract_account;
#[cfg(test)]
mod contract_concurrency;
#[cfg(test)]
mod contract_restore;
#[cfg(test)]
mod contract_said;
#[cfg(test)]
mod contract_transcripts;
#[cfg(test)]
mod contract_webhooks;

use std::sync::Arc;

use async_trait::async_trait;

use access::{
    AccessUpkeep, AuditEvent, AuditQuery, NewSession, Redeemed, SessionRow, SigninRequest,
    SigninRequested, Visibility,
};
use batch_metrics::BatchMetrics;
use catalog::{
    Discovered, Found, LeaseRequest, RecordingDetail, RecordingFilter, RecordingPage, SourceCopy,
    Upkeep,
};
pub use error::DbError;
use model::{
    ArchiveSubject, Archived, ArchivedObject, ArchivedRecording, ConferenceDetail, Ending, Filter,
    Instant, Job, JobId, JobKind, JobState, JobStats, LinkTarget, MailKind, NewLink, Page,
    RetrySelection, SentMessage, SentRow, SummarySubject,
};

use crate::config::Config;
use crate::ingest::rules::{Accepted, Outcome, Rules};

/// Turning callbacks into conference state.
#[async_trait]
pub trait IngestStore: Send + Sync {
    /// Stores the callback and applies the ingest rules in one durable transaction; returns
    /// only once it is committed.
    async fn record_callback(&self, callback: Accepted, rules: Rules) -> Result<Outcome, DbError>;
}

/// Background upkeep, run by one task.
#[async_trait]
pub trait Housekeeping: Send + Sync {
    /// In one transaction: ends conferences whose inferred end is due (queueing their work),
    /// forgets old nonces, queues the archiving of recordings whose conference never became
    /// known, and queues deletes at source that are due (see [`Upkeep`]). Returns the
    /// conferences ended.
    async fn housekeep(&self, upkeep: Upkeep, rules: Rules) -> Result<Vec<String>, DbError>;
    /// Proves the database takes a durable write.
    async fn heartbeat(&self, at: Instant) -> Result<(), DbError>;
}

/// The durable job queue: claims with a lease, fenced on the lease's owner.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Takes the next due job (or one whose lease ran out) for `owner` until `lease_until`.
    async fn claim_job(
        &self,
        owner: &str,
        now: Instant,
        lease_until: Instant,
    ) -> Result<Option<Job>, DbError>;
    /// False if `owner` no longer holds the job.
    async fn extend_lease(&self, id: JobId, owner: &str, until: Instant) -> Result<bool, DbError>;
    /// Saves a job's progress; false if `owner` no longer holds the job.
    async fn save_checkpoint(
        &self,
        id: JobId,
        owner: &str,
        checkpoint: Option<String>,
        now: Instant,
    ) -> Result<bool, DbError>;
    /// Records how a run ended and what it causes, atomically; false if `owner` no longer held
    /// the job (then nothing changes).
    async fn finish_job(
        &self,
        id: JobId,
        owner: &str,
        ending: Ending,
        now: Instant,
    ) -> Result<bool, DbError>;
    /// Hands back every job `owner` holds, due at once, the interrupted attempt not counted.
    async fn release_jobs(&self, owner: &str, now: Instant) -> Result<usize, DbError>;
    /// Makes failed jobs due again with a fresh count of attempts, in one transaction; returns
    /// the ones that were failed.
    async fn retry_jobs(&self, which: RetrySelection, now: Instant) -> Result<Vec<JobId>, DbError>;
    async fn job(&self, id: JobId) -> Result<Option<Job>, DbError>;
    /// Newest first.
    async fn jobs(&self, state: Option<JobState>, limit: u32) -> Result<Vec<Job>, DbError>;
    /// The queue's gauges; jobs done are counted only if `count_done` (see [`JobStats::done`]).
    async fn job_stats(&self, now: Instant, count_done: bool) -> Result<JobStats, DbError>;
    /// Fires when a job may have been queued, on this replica or another; `None` where the
    /// backend cannot tell (workers then poll alone).
    fn wakeups(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }
}

/// What the archive job and the archive's readers need.
#[async_trait]
pub trait ArchiveStore: Send + Sync {
    async fn archive_subject(&self, recording_id: &str) -> Result<Option<ArchiveSubject>, DbError>;
    async fn record_archived(&self, recording_id: &str, archived: Archived) -> Result<(), DbError>;
    /// `None` if the recording is unknown.
    async fn archived_object(&self, recording_id: &str) -> Result<Option<ArchivedObject>, DbError>;
    async fn count_archived(&self) -> Result<u64, DbError>;
    /// Up to `limit` archived recordings after `after` in id order.
    async fn archived_after(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<ArchivedRecording>, DbError>;
    /// Points an archived recording at where it is stored now.
    async fn set_location(&self, recording_id: &str, location: &str) -> Result<(), DbError>;
    /// The recording's transcription, if Vobiz sent one.
    async fn transcript(&self, recording_id: &str) -> Result<Option<model::Transcript>, DbError>;
}

/// Messages sent and the lasting links in them.
#[async_trait]
pub trait MailLog: Send + Sync {
    async fn summary_subject(
        &self,
        conference_uuid: &str,
    ) -> Result<Option<SummarySubject>, DbError>;
    /// Addresses already handled for one message.
    async fn handled_recipients(
        &self,
        kind: MailKind,
        subject: &str,
    ) -> Result<Vec<String>, DbError>;
    /// Records one recipient's outcome; a second record for the same one changes nothing.
    async fn record_sent(&self, sent: SentMessage) -> Result<(), DbError>;
    async fn sent_messages(&self, kind: MailKind, subject: &str) -> Result<Vec<SentRow>, DbError>;
    async fn add_link(&self, link: NewLink) -> Result<(), DbError>;
    async fn resolve_link(&self, token_hash: Vec<u8>) -> Result<Option<LinkTarget>, DbError>;
}

/// Finding and showing conferences and recordings.
/// Each read takes the reader's [`Visibility`]: what it may not see is not found.
#[async_trait]
pub trait ReadSide: Send + Sync {
    async fn search_conferences(
        &self,
        filter: Filter,
        visible: Visibility,
    ) -> Result<Page, DbError>;
    async fn conference_detail(
        &self,
        uuid: &str,
        visible: Visibility,
    ) -> Result<Option<ConferenceDetail>, DbError>;
    /// Every recording, linked to a conference or not, newest first.
    async fn search_recordings(
        &self,
        filter: RecordingFilter,
        visible: Visibility,
    ) -> Result<RecordingPage, DbError>;
    async fn recording(
        &self,
        recording_id: &str,
        visible: Visibility,
    ) -> Result<Option<RecordingDetail>, DbError>;
}

/// Sign-in links, sessions and the audit log.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Records the request and, unless the address has had too many links lately, its link;
    /// one transaction, so concurrent requests cannot overrun the limit.
    async fn request_signin(&self, request: SigninRequest) -> Result<SigninRequested, DbError>;
    /// Uses the link up and opens the session, atomically: a link opens one session at most.
    async fn redeem_signin_link(
        &self,
        token_hash: Vec<u8>,
        session: NewSession,
    ) -> Result<Redeemed, DbError>;
    async fn session(&self, id_hash: Vec<u8>) -> Result<Option<SessionRow>, DbError>;
    async fn touch_session(&self, id_hash: Vec<u8>, now: Instant) -> Result<(), DbError>;
    async fn end_session(&self, id_hash: Vec<u8>, now: Instant) -> Result<(), DbError>;
    /// Ends every live session of `email`; returns how many.
    async fn end_sessions_of(&self, email: &str, now: Instant) -> Result<u64, DbError>;
    async fn record_audit(&self, event: AuditEvent) -> Result<(), DbError>;
    async fn audit_events(&self, query: AuditQuery) -> Result<Vec<AuditEvent>, DbError>;
    /// Forgets old requests, used or expired links, ended or expired sessions and audit events
    /// past their keeping.
    async fn prune_access(&self, upkeep: AccessUpkeep) -> Result<(), DbError>;
}

/// The account sync and deletes at source.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Records the recordings a sync found, in one transaction: each new one linked to the
    /// conference of its call leg when that is known, and its archive queued (at once if that
    /// conference has ended, at its end if it is running, at `unlinked_archive_at` if there is
    /// none); known ones keep what they have, gaining only facts they lacked.
    async fn record_discovered(
        &self,
        found: Vec<Discovered>,
        now: Instant,
        unlinked_archive_at: Instant,
    ) -> Result<Vec<Found>, DbError>;
    /// Which of `ids` are known already.
    async fn known_recordings(&self, ids: Vec<String>) -> Result<Vec<String>, DbError>;
    /// Takes or renews the lease; false while another owner holds it (or the work was done
    /// recently, see [`LeaseRequest::unless_completed_after`]).
    async fn take_lease(&self, request: LeaseRequest) -> Result<bool, DbError>;
    /// Gives the lease up, noting when its work completed (if it did).
    async fn end_lease(
        &self,
        name: &'static str,
        owner: &str,
        completed_at: Option<Instant>,
    ) -> Result<(), DbError>;
    /// Who holds the lease now, if anyone.
    async fn lease_holder(
        &self,
        name: &'static str,
        now: Instant,
    ) -> Result<Option<String>, DbError>;
    /// Jobs of `kind` running under a live lease.
    async fn running_jobs(&self, kind: JobKind, now: Instant) -> Result<i64, DbError>;
    async fn source_copy(&self, recording_id: &str) -> Result<Option<SourceCopy>, DbError>;
    /// Archived recordings whose Vobiz copy is still there, archived before `archived_before`,
    /// after `after` in id order: a page at a time.
    async fn source_deletes_due(
        &self,
        archived_before: Instant,
        after: &str,
        limit: u32,
    ) -> Result<Vec<SourceCopy>, DbError>;
    /// Notes that Vobiz's copy is gone, and with `webhook`, queues `recording.source_deleted`
    /// in the same transaction (once per recording).
    async fn record_source_deleted(
        &self,
        recording_id: &str,
        at: Instant,
        webhook: bool,
    ) -> Result<(), DbError>;
    /// The archived copy failed its check: the recording counts as not archived and its
    /// archive job runs again from the source, with a fresh count of attempts.
    async fn rearchive(&self, recording_id: &str, now: Instant) -> Result<(), DbError>;
}

/// Outbound webhooks: messages are queued inside other writes (see [`webhooks::WebhookEvent`]);
/// these fan them out to endpoints, lease deliveries to the dispatcher and keep the log.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Gives each message not yet fanned out a delivery per endpoint that takes its type;
    /// returns how many deliveries were made. Safe to run on several replicas at once.
    async fn fan_out_webhooks(
        &self,
        routes: Vec<webhooks::EndpointRoute>,
        now: Instant,
    ) -> Result<u64, DbError>;
    /// Leases up to `limit` of `endpoint`'s due deliveries to `owner`, oldest first.
    async fn claim_webhook_deliveries(
        &self,
        endpoint: String,
        owner: String,
        now: Instant,
        lease_until: Instant,
        limit: u32,
    ) -> Result<Vec<webhooks::DueDelivery>, DbError>;
    /// Keeps each `(message_id, body)`'s body unless one was kept already; returns the kept
    /// ones, in order, so every attempt and replay sends the same bytes. One transaction.
    async fn freeze_webhook_bodies(
        &self,
        bodies: Vec<(String, String)>,
    ) -> Result<Vec<String>, DbError>;
    /// Records attempts and what follows each, in one transaction; for each, false if its
    /// owner had lost the lease (nothing of it is recorded then).
    async fn record_webhook_attempts(
        &self,
        attempts: Vec<webhooks::Attempt>,
    ) -> Result<Vec<bool>, DbError>;
    async fn webhook_deliveries(
        &self,
        query: webhooks::DeliveryQuery,
    ) -> Result<Vec<webhooks::DeliveryRow>, DbError>;
    /// New deliveries of the same messages to the same endpoints, due now; returns their ids.
    async fn replay_webhooks(
        &self,
        selection: webhooks::ReplaySelection,
        now: Instant,
    ) -> Result<Vec<i64>, DbError>;
    async fn disable_webhook_endpoint(
        &self,
        endpoint: String,
        reason: String,
        at: Instant,
    ) -> Result<(), DbError>;
    /// False if it was not disabled.
    async fn enable_webhook_endpoint(&self, endpoint: String) -> Result<bool, DbError>;
    async fn disabled_webhook_endpoints(&self) -> Result<Vec<webhooks::DisabledEndpoint>, DbError>;
    /// The backlog of deliveries to `endpoints` (the configured ones).
    async fn webhook_backlog(
        &self,
        endpoints: Vec<String>,
    ) -> Result<webhooks::WebhookBacklog, DbError>;
    /// Forgets settled deliveries, their attempts and messages created before `before`.
    async fn prune_webhooks(&self, before: Instant) -> Result<u64, DbError>;
}

/// Rebuilding the database from the archive's sidecars.
#[async_trait]
pub trait RestoreStore: Send + Sync {
    /// Restores each recording the database does not know, in one transaction: its conference
    /// and legs where they are missing, the recording as archived, and its archive job (and
    /// an ended conference's summary) counted done. Known recordings, conferences and legs are
    /// left as they are.
    async fn restore_archived(
        &self,
        restored: Vec<restore::Restored>,
        now: Instant,
    ) -> Result<Vec<restore::RestoreOutcome>, DbError>;
}

/// Every unit of work confvault asks of its database.
pub trait Database:
    IngestStore
    + Housekeeping
    + JobQueue
    + ArchiveStore
    + MailLog
    + ReadSide
    + AccountStore
    + AccessStore
    + WebhookStore
    + RestoreStore
{
}

impl<T> Database for T where
    T: IngestStore
        + Housekeeping
        + JobQueue
        + ArchiveStore
        + MailLog
        + ReadSide
        + AccountStore
        + AccessStore
        + WebhookStore
        + RestoreStore
{
}

/// An open database and what must be closed with it.
pub struct Opened {
    pub db: Arc<dyn Database>,
    /// What its writers observe of their group commits, for `/metrics`.
    pub batches: BatchMetrics,
    writers: Writers,
}

/// What writes behind an open database.
enum Writers {
    Sqlite(sqlite::Threads),
    Postgres(postgres::Writers),
}

impl Opened {
    /// Waits, blocking, until the database has written everything queued and stopped. Call it
    /// after every other handle to `db` is dropped; off the async runtime (in a blocking
    /// task).
    pub fn close(self) {
        drop(self.db);
        match self.writers {
            Writers::Sqlite(threads) => threads.join(),
            Writers::Postgres(writers) => writers.join(),
        }
    }
}

/// Which database `config` names, for messages: the SQLite file or the PostgreSQL URL without
/// its password.
pub fn describe(config: &Config) -> String {
    match &config.database.url {
        Some(url) => url.shown().to_owned(),
        None => config.database_path().display().to_string(),
    }
}

/// Opens (and migrates) the configured database: PostgreSQL when `database.url` is set, else
/// the embedded SQLite file.
pub async fn open(config: &Config) -> Result<Opened, DbError> {
    let batches = BatchMetrics::default();
    if let Some(url) = &config.database.url {
        let (db, writers) = postgres::Postgres::open(
            &postgres_settings(config, url),
            config.database.max_batch,
            batches.clone(),
        )
        .await?;
        return Ok(Opened {
            db,
            batches,
            writers: Writers::Postgres(writers),
        });
    }
    let (db, threads) = sqlite::Sqlite::open(&sqlite::Settings {
        path: config.database_path(),
        synchronous: config.database.synchronous,
        max_batch: config.database.max_batch,
        wal_max_bytes: config.database.wal_max_bytes,
        mmap_bytes: config.database.mmap_bytes,
        batches: batches.clone(),
    })?;
    Ok(Opened {
        db,
        batches,
        writers: Writers::Sqlite(threads),
    })
}

/// Applies pending migrations to the configured database without starting anything else;
/// returns their names.
pub async fn migrate(config: &Config) -> Result<Vec<&'static str>, DbError> {
    match &config.database.url {
        Some(url) => {
            let mut client = postgres::connect::single(&postgres_settings(config, url)).await?;
            postgres::migrate::run(&mut client).await
        }
        None => sqlite::migrate_file(&config.database_path(), config.database.synchronous),
    }
}

/// The PostgreSQL connection settings of `config`.
pub fn postgres_settings(config: &Config, url: &crate::config::PostgresUrl) -> postgres::Settings {
    postgres::Settings {
        url: url.clone(),
        pool_size: config.database.pool_size,
        connect_timeout: config.database.connect_timeout(),
        statement_timeout: config.database.statement_timeout(),
    }
}

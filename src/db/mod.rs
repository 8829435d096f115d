//! The database interface: one operation per unit of work, grouped by who uses it (ingest, job
//! queue, archive, mail, read side, housekeeping) and combined into [`Database`], which the
//! state holds as `Arc<dyn Database>`. Backends live below: `sqlite` (the embedded default).
//! Nothing outside this module names a connection, a transaction or the SQL.

pub mod error;
pub mod ingest_tx;
pub mod model;
pub mod sqlite;

#[cfg(test)]
mod contract;

use std::sync::Arc;

use async_trait::async_trait;

pub use error::DbError;
use model::{
    ArchiveSubject, Archived, ArchivedObject, ArchivedRecording, ConferenceDetail, Ending, Filter,
    Instant, Job, JobId, JobState, JobStats, LinkTarget, MailKind, NewLink, Page, RetrySelection,
    SentMessage, SentRow, SummarySubject,
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
    /// forgets nonces seen before `nonces_before`, and queues the archiving of recordings
    /// whose conference never became known and that arrived before `unlinked_before`. Returns
    /// the conferences ended.
    async fn housekeep(
        &self,
        now: Instant,
        rules: Rules,
        nonces_before: Instant,
        unlinked_before: Instant,
    ) -> Result<Vec<String>, DbError>;
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
    async fn job_stats(&self, now: Instant) -> Result<JobStats, DbError>;
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

/// Finding and showing conferences.
#[async_trait]
pub trait ReadSide: Send + Sync {
    async fn search_conferences(&self, filter: Filter) -> Result<Page, DbError>;
    async fn conference_detail(&self, uuid: &str) -> Result<Option<ConferenceDetail>, DbError>;
}

/// Every unit of work confvault asks of its database.
pub trait Database:
    IngestStore + Housekeeping + JobQueue + ArchiveStore + MailLog + ReadSide
{
}

impl<T: IngestStore + Housekeeping + JobQueue + ArchiveStore + MailLog + ReadSide> Database for T {}

/// An open database and what must be closed with it.
pub struct Opened {
    pub db: Arc<dyn Database>,
    threads: sqlite::Threads,
}

impl Opened {
    /// Waits, blocking, until the database has written everything queued and stopped. Call it
    /// after every other handle to `db` is dropped; off the async runtime.
    pub fn close(self) {
        drop(self.db);
        self.threads.join();
    }
}

/// Opens (and migrates) the configured database: the embedded SQLite file.
pub fn open(config: &Config) -> Result<Opened, DbError> {
    let (db, threads) = sqlite::Sqlite::open(&sqlite::Settings {
        path: config.database_path(),
        synchronous: config.database.synchronous,
        max_batch: config.database.max_batch,
        wal_max_bytes: config.database.wal_max_bytes,
    })?;
    Ok(Opened { db, threads })
}

//! [`Sqlite`] as the [`crate::db::Database`]: each operation is one write through the writer
//! (committed with its neighbours) or one snapshot on a reader.

use async_trait::async_trait;

use super::tx::SqliteTx;
use super::{
    Sqlite, access, account, catalog, conferences, jobs, mail, nonces, recordings, search,
};
use crate::db::access::Visibility;
use crate::db::catalog::{
    Discovered, Found, LeaseRequest, RecordingDetail, RecordingFilter, RecordingPage, SourceCopy,
    Upkeep,
};
use crate::db::model::{
    ArchiveSubject, Archived, ArchivedObject, ArchivedRecording, ConferenceDetail, Ending, Filter,
    Instant, Job, JobId, JobKind, JobState, JobStats, LinkTarget, MailKind, NewLink, Page,
    RetrySelection, SentMessage, SentRow, SummarySubject, Transcript,
};
use crate::db::snapshot::{self, Snapshot};
use crate::db::webhooks::WebhookEvent;
use crate::db::{
    AccountStore, ArchiveStore, DbError, Housekeeping, IngestStore, JobQueue, MailLog, ReadSide,
};
use crate::ingest::rules::{self, Accepted, Outcome, Rules};
use crate::time::to_db;

#[async_trait]
impl IngestStore for Sqlite {
    async fn record_callback(&self, callback: Accepted, rules: Rules) -> Result<Outcome, DbError> {
        let nonces = self.nonces.clone();
        self.writer
            .run(move |conn| rules::apply(&SqliteTx(conn, &nonces), &callback, &rules))
            .await
    }
}

#[async_trait]
impl Housekeeping for Sqlite {
    async fn housekeep(&self, upkeep: Upkeep, rules: Rules) -> Result<Vec<String>, DbError> {
        let recent = self.nonces.clone();
        self.writer
            .run(move |conn| {
                let now = to_db(upkeep.now);
                let ended = rules::confirm_due_ends(&SqliteTx(conn, &recent), upkeep.now, &rules)?;
                nonces::forget_before(conn, &recent, &to_db(upkeep.nonces_before))?;
                jobs::enqueue_unlinked_archives(
                    conn,
                    upkeep.unlinked_since.map(to_db).as_deref(),
                    &to_db(upkeep.unlinked_before),
                    &now,
                )?;
                if let Some(before) = upkeep.source_delete_before {
                    account::enqueue_source_deletes(conn, &to_db(before), &now)?;
                }
                Ok(ended)
            })
            .await
    }

    async fn heartbeat(&self, at: Instant) -> Result<(), DbError> {
        self.writer
            .run(move |conn| super::heartbeat(conn, &to_db(at)))
            .await
    }
}

#[async_trait]
impl JobQueue for Sqlite {
    async fn claim_job(
        &self,
        owner: &str,
        now: Instant,
        lease_until: Instant,
    ) -> Result<Option<Job>, DbError> {
        let owner = owner.to_owned();
        self.writer
            .run(move |conn| jobs::claim(conn, &owner, &to_db(now), &to_db(lease_until)))
            .await
    }

    async fn extend_lease(&self, id: JobId, owner: &str, until: Instant) -> Result<bool, DbError> {
        let owner = owner.to_owned();
        self.writer
            .run(move |conn| jobs::extend_lease(conn, id, &owner, &to_db(until)))
            .await
    }

    async fn save_checkpoint(
        &self,
        id: JobId,
        owner: &str,
        checkpoint: Option<String>,
        now: Instant,
    ) -> Result<bool, DbError> {
        let owner = owner.to_owned();
        self.writer
            .run(move |conn| {
                jobs::save_checkpoint(conn, id, &owner, checkpoint.as_deref(), &to_db(now))
            })
            .await
    }

    async fn finish_job(
        &self,
        id: JobId,
        owner: &str,
        ending: Ending,
        now: Instant,
    ) -> Result<bool, DbError> {
        let owner = owner.to_owned();
        self.writer
            .run(move |conn| jobs::finish(conn, id, &owner, &ending, &to_db(now)))
            .await
    }

    async fn release_jobs(&self, owner: &str, now: Instant) -> Result<usize, DbError> {
        let owner = owner.to_owned();
        self.writer
            .run(move |conn| jobs::release_all(conn, &owner, &to_db(now)))
            .await
    }

    async fn retry_jobs(&self, which: RetrySelection, now: Instant) -> Result<Vec<JobId>, DbError> {
        self.writer
            .run(move |conn| jobs::retry(conn, which, &to_db(now)))
            .await
    }

    async fn job(&self, id: JobId) -> Result<Option<Job>, DbError> {
        self.readers.run(move |conn| jobs::get(conn, id)).await
    }

    async fn jobs(&self, state: Option<JobState>, limit: u32) -> Result<Vec<Job>, DbError> {
        self.readers
            .run(move |conn| jobs::list(conn, state, limit))
            .await
    }

    async fn job_stats(&self, now: Instant, count_done: bool) -> Result<JobStats, DbError> {
        self.readers
            .run(move |conn| jobs::stats(conn, now, count_done))
            .await
    }
}

#[async_trait]
impl ArchiveStore for Sqlite {
    async fn archive_subject(&self, recording_id: &str) -> Result<Option<ArchiveSubject>, DbError> {
        let id = recording_id.to_owned();
        self.readers
            .run(move |conn| snapshot::archive_subject(&Read(conn), &id))
            .await
    }

    async fn record_archived(&self, recording_id: &str, archived: Archived) -> Result<(), DbError> {
        let id = recording_id.to_owned();
        self.writer
            .run(move |conn| recordings::mark_archived(conn, &id, &archived))
            .await
    }

    async fn archived_object(&self, recording_id: &str) -> Result<Option<ArchivedObject>, DbError> {
        let id = recording_id.to_owned();
        self.readers
            .run(move |conn| recordings::archived_object(conn, &id))
            .await
    }

    async fn count_archived(&self) -> Result<u64, DbError> {
        self.readers.run(recordings::count_archived).await
    }

    async fn archived_after(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<ArchivedRecording>, DbError> {
        let after = after.to_owned();
        self.readers
            .run(move |conn| recordings::archived_after(conn, &after, limit))
            .await
    }

    async fn set_location(&self, recording_id: &str, location: &str) -> Result<(), DbError> {
        let (id, location) = (recording_id.to_owned(), location.to_owned());
        self.writer
            .run(move |conn| recordings::set_location(conn, &id, &location))
            .await
    }

    async fn transcript(&self, recording_id: &str) -> Result<Option<Transcript>, DbError> {
        let id = recording_id.to_owned();
        self.readers
            .run(move |conn| super::transcripts::get(conn, &id))
            .await
    }
}

#[async_trait]
impl MailLog for Sqlite {
    async fn summary_subject(
        &self,
        conference_uuid: &str,
    ) -> Result<Option<SummarySubject>, DbError> {
        let uuid = conference_uuid.to_owned();
        self.readers
            .run(move |conn| snapshot::summary_subject(&Read(conn), &uuid))
            .await
    }

    async fn handled_recipients(
        &self,
        kind: MailKind,
        subject: &str,
    ) -> Result<Vec<String>, DbError> {
        let subject = subject.to_owned();
        self.readers
            .run(move |conn| mail::handled_recipients(conn, kind, &subject))
            .await
    }

    async fn record_sent(&self, sent: SentMessage) -> Result<(), DbError> {
        self.writer.run(move |conn| mail::record(conn, &sent)).await
    }

    async fn sent_messages(&self, kind: MailKind, subject: &str) -> Result<Vec<SentRow>, DbError> {
        let subject = subject.to_owned();
        self.readers
            .run(move |conn| mail::sent(conn, kind, &subject))
            .await
    }

    async fn add_link(&self, link: NewLink) -> Result<(), DbError> {
        self.writer
            .run(move |conn| mail::add_link(conn, &link))
            .await
    }

    async fn resolve_link(&self, token_hash: Vec<u8>) -> Result<Option<LinkTarget>, DbError> {
        self.readers
            .run(move |conn| mail::resolve_link(conn, &token_hash))
            .await
    }
}

#[async_trait]
impl ReadSide for Sqlite {
    async fn search_conferences(
        &self,
        filter: Filter,
        visible: Visibility,
    ) -> Result<Page, DbError> {
        self.readers
            .run(move |conn| search::conferences(conn, &filter, &visible))
            .await
    }

    async fn conference_detail(
        &self,
        uuid: &str,
        visible: Visibility,
    ) -> Result<Option<ConferenceDetail>, DbError> {
        let uuid = uuid.to_owned();
        self.readers
            .run(move |conn| {
                if !access::may_see(conn, &visible, Some(&uuid))? {
                    return Ok(None);
                }
                snapshot::conference_detail(&Read(conn), &uuid)
            })
            .await
    }

    async fn search_recordings(
        &self,
        filter: RecordingFilter,
        visible: Visibility,
    ) -> Result<RecordingPage, DbError> {
        self.readers
            .run(move |conn| catalog::search(conn, &filter, &visible))
            .await
    }

    async fn recording(
        &self,
        recording_id: &str,
        visible: Visibility,
    ) -> Result<Option<RecordingDetail>, DbError> {
        let id = recording_id.to_owned();
        self.readers
            .run(move |conn| catalog::detail(conn, &id, &visible))
            .await
    }
}

#[async_trait]
impl AccountStore for Sqlite {
    async fn record_discovered(
        &self,
        found: Vec<Discovered>,
        now: Instant,
        unlinked_archive_at: Instant,
    ) -> Result<Vec<Found>, DbError> {
        self.writer
            .run(move |conn| {
                let (now, later) = (to_db(now), to_db(unlinked_archive_at));
                found
                    .iter()
                    .map(|d| account::record(conn, d, &now, &later))
                    .collect()
            })
            .await
    }

    async fn known_recordings(&self, ids: Vec<String>) -> Result<Vec<String>, DbError> {
        self.readers
            .run(move |conn| account::known(conn, &ids))
            .await
    }

    async fn take_lease(&self, request: LeaseRequest) -> Result<bool, DbError> {
        self.writer
            .run(move |conn| account::take_lease(conn, &request))
            .await
    }

    async fn end_lease(
        &self,
        name: &'static str,
        owner: &str,
        completed_at: Option<Instant>,
    ) -> Result<(), DbError> {
        let owner = owner.to_owned();
        self.writer
            .run(move |conn| {
                account::end_lease(conn, name, &owner, completed_at.map(to_db).as_deref())
            })
            .await
    }

    async fn lease_holder(
        &self,
        name: &'static str,
        now: Instant,
    ) -> Result<Option<String>, DbError> {
        self.readers
            .run(move |conn| account::lease_holder(conn, name, &to_db(now)))
            .await
    }

    async fn running_jobs(&self, kind: JobKind, now: Instant) -> Result<i64, DbError> {
        self.readers
            .run(move |conn| account::running_jobs(conn, kind, &to_db(now)))
            .await
    }

    async fn source_copy(&self, recording_id: &str) -> Result<Option<SourceCopy>, DbError> {
        let id = recording_id.to_owned();
        self.readers
            .run(move |conn| account::source_copy(conn, &id))
            .await
    }

    async fn source_deletes_due(
        &self,
        archived_before: Instant,
        after: &str,
        limit: u32,
    ) -> Result<Vec<SourceCopy>, DbError> {
        let after = after.to_owned();
        self.readers
            .run(move |conn| {
                account::source_deletes_due(conn, &to_db(archived_before), &after, limit)
            })
            .await
    }

    async fn rearchive(&self, recording_id: &str, now: Instant) -> Result<(), DbError> {
        let id = recording_id.to_owned();
        self.writer
            .run(move |conn| jobs::rearchive(conn, &id, &to_db(now)))
            .await
    }

    async fn record_source_deleted(
        &self,
        recording_id: &str,
        at: Instant,
        webhook: bool,
    ) -> Result<(), DbError> {
        let id = recording_id.to_owned();
        self.writer
            .run(move |conn| {
                account::record_source_deleted(conn, &id, &to_db(at))?;
                match webhook {
                    true => super::webhooks::enqueue(
                        conn,
                        &WebhookEvent::source_deleted(&id),
                        &to_db(at),
                    ),
                    false => Ok(()),
                }
            })
            .await
    }
}

/// A reader's connection, inside its read transaction.
struct Read<'c>(&'c rusqlite::Connection);

impl Snapshot for Read<'_> {
    fn conference(&self, uuid: &str) -> Result<Option<crate::db::model::Conference>, DbError> {
        conferences::get(self.0, uuid)
    }

    fn participants(&self, uuid: &str) -> Result<Vec<crate::db::model::Participant>, DbError> {
        conferences::participants(self.0, uuid)
    }

    fn recordings_of(&self, uuid: &str) -> Result<Vec<crate::db::model::Recording>, DbError> {
        recordings::for_conference(self.0, uuid)
    }

    fn jobs_of(&self, uuid: &str) -> Result<Vec<Job>, DbError> {
        jobs::for_conference(self.0, uuid)
    }

    fn handled(&self, kind: MailKind, subject: &str) -> Result<Vec<String>, DbError> {
        mail::handled_recipients(self.0, kind, subject)
    }

    fn to_archive(
        &self,
        recording_id: &str,
    ) -> Result<Option<crate::db::model::ToArchive>, DbError> {
        recordings::to_archive(self.0, recording_id)
    }

    fn transcript(&self, recording_id: &str) -> Result<Option<Transcript>, DbError> {
        super::transcripts::get(self.0, recording_id)
    }
}

//! [`Postgres`] as the [`crate::db::Database`]: callbacks through the group-commit writers,
//! every other operation one transaction on a pooled connection (a snapshot for reads).

use async_trait::async_trait;
use tokio::sync::oneshot;

use super::batch::{Queued, Work};
use super::tx::{conference_key, lock_order};
use super::{Postgres, account, conferences, ingest, jobs, mail, recordings, search, visibility};
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

/// Housekeeping's advisory lock ("cv-house"): one replica at a time does each round.
const HOUSEKEEPING_LOCK: i64 = 0x6376_2d68_6f75_7365;

#[async_trait]
impl IngestStore for Postgres {
    async fn record_callback(&self, callback: Accepted, rules: Rules) -> Result<Outcome, DbError> {
        let (reply, answer) = oneshot::channel();
        self.callbacks
            .send(Queued {
                work: Work { callback, rules },
                reply,
            })
            .await?;
        answer.await.map_err(|_| DbError::WriterGone)?
    }
}

#[async_trait]
impl Housekeeping for Postgres {
    async fn housekeep(&self, upkeep: Upkeep, rules: Rules) -> Result<Vec<String>, DbError> {
        self.write(move |tx| {
            // Another replica is doing this round; whatever it misses, the next one does.
            if !tx.try_lock(HOUSEKEEPING_LOCK)? {
                return Ok(Vec::new());
            }
            let due = conferences::due_ends(tx, upkeep.now)?;
            tx.lock(&lock_order(due.iter().map(|c| conference_key(c)).collect()))?;
            let ended = rules::confirm_due_ends(tx, upkeep.now, &rules)?;
            ingest::forget_nonces_before(tx, upkeep.nonces_before)?;
            jobs::enqueue_unlinked_archives(
                tx,
                upkeep.unlinked_since,
                upkeep.unlinked_before,
                upkeep.now,
            )?;
            if let Some(before) = upkeep.source_delete_before {
                account::enqueue_source_deletes(tx, before, upkeep.now)?;
            }
            Ok(ended)
        })
        .await
    }

    async fn heartbeat(&self, at: Instant) -> Result<(), DbError> {
        self.write(move |tx| mail::heartbeat(tx, at)).await
    }
}

#[async_trait]
impl JobQueue for Postgres {
    async fn claim_job(
        &self,
        owner: &str,
        now: Instant,
        lease_until: Instant,
    ) -> Result<Option<Job>, DbError> {
        let owner = owner.to_owned();
        self.write(move |tx| jobs::claim(tx, &owner, now, lease_until))
            .await
    }

    async fn extend_lease(&self, id: JobId, owner: &str, until: Instant) -> Result<bool, DbError> {
        let owner = owner.to_owned();
        self.write(move |tx| jobs::extend_lease(tx, id, &owner, until))
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
        self.write(move |tx| jobs::save_checkpoint(tx, id, &owner, checkpoint.as_deref(), now))
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
        self.write(move |tx| jobs::finish(tx, id, &owner, &ending, now))
            .await
    }

    async fn release_jobs(&self, owner: &str, now: Instant) -> Result<usize, DbError> {
        let owner = owner.to_owned();
        self.write(move |tx| jobs::release_all(tx, &owner, now))
            .await
            .map(|n| n as usize)
    }

    async fn retry_jobs(&self, which: RetrySelection, now: Instant) -> Result<Vec<JobId>, DbError> {
        self.write(move |tx| jobs::retry(tx, which, now)).await
    }

    async fn job(&self, id: JobId) -> Result<Option<Job>, DbError> {
        self.read(move |tx| jobs::get(tx, id)).await
    }

    async fn jobs(&self, state: Option<JobState>, limit: u32) -> Result<Vec<Job>, DbError> {
        self.read(move |tx| jobs::list(tx, state, limit)).await
    }

    async fn job_stats(&self, now: Instant, count_done: bool) -> Result<JobStats, DbError> {
        self.read(move |tx| jobs::stats(tx, now, count_done)).await
    }

    fn wakeups(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        Some(std::sync::Arc::clone(&self.wake))
    }
}

#[async_trait]
impl ArchiveStore for Postgres {
    async fn archive_subject(&self, recording_id: &str) -> Result<Option<ArchiveSubject>, DbError> {
        let id = recording_id.to_owned();
        self.read(move |tx| snapshot::archive_subject(tx, &id))
            .await
    }

    async fn record_archived(&self, recording_id: &str, archived: Archived) -> Result<(), DbError> {
        let id = recording_id.to_owned();
        self.write(move |tx| recordings::mark_archived(tx, &id, &archived))
            .await
    }

    async fn archived_object(&self, recording_id: &str) -> Result<Option<ArchivedObject>, DbError> {
        let id = recording_id.to_owned();
        self.read(move |tx| recordings::archived_object(tx, &id))
            .await
    }

    async fn count_archived(&self) -> Result<u64, DbError> {
        self.read(recordings::count_archived).await
    }

    async fn archived_after(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<ArchivedRecording>, DbError> {
        let after = after.to_owned();
        self.read(move |tx| recordings::archived_after(tx, &after, limit))
            .await
    }

    async fn set_location(&self, recording_id: &str, location: &str) -> Result<(), DbError> {
        let (id, location) = (recording_id.to_owned(), location.to_owned());
        self.write(move |tx| recordings::set_location(tx, &id, &location))
            .await
    }

    async fn transcript(&self, recording_id: &str) -> Result<Option<Transcript>, DbError> {
        let id = recording_id.to_owned();
        self.read(move |tx| super::transcripts::get(tx, &id)).await
    }
}

#[async_trait]
impl MailLog for Postgres {
    async fn summary_subject(
        &self,
        conference_uuid: &str,
    ) -> Result<Option<SummarySubject>, DbError> {
        let uuid = conference_uuid.to_owned();
        self.read(move |tx| snapshot::summary_subject(tx, &uuid))
            .await
    }

    async fn handled_recipients(
        &self,
        kind: MailKind,
        subject: &str,
    ) -> Result<Vec<String>, DbError> {
        let subject = subject.to_owned();
        self.read(move |tx| mail::handled_recipients(tx, kind, &subject))
            .await
    }

    async fn record_sent(&self, sent: SentMessage) -> Result<(), DbError> {
        self.write(move |tx| mail::record(tx, &sent)).await
    }

    async fn sent_messages(&self, kind: MailKind, subject: &str) -> Result<Vec<SentRow>, DbError> {
        let subject = subject.to_owned();
        self.read(move |tx| mail::sent(tx, kind, &subject)).await
    }

    async fn add_link(&self, link: NewLink) -> Result<(), DbError> {
        self.write(move |tx| mail::add_link(tx, &link)).await
    }

    async fn resolve_link(&self, token_hash: Vec<u8>) -> Result<Option<LinkTarget>, DbError> {
        self.read(move |tx| mail::resolve_link(tx, &token_hash))
            .await
    }
}

#[async_trait]
impl ReadSide for Postgres {
    async fn search_conferences(
        &self,
        filter: Filter,
        visible: Visibility,
    ) -> Result<Page, DbError> {
        self.read(move |tx| search::conferences(tx, &filter, &visible))
            .await
    }

    async fn conference_detail(
        &self,
        uuid: &str,
        visible: Visibility,
    ) -> Result<Option<ConferenceDetail>, DbError> {
        let uuid = uuid.to_owned();
        self.read(move |tx| {
            if !visibility::may_see(tx, &visible, Some(&uuid))? {
                return Ok(None);
            }
            snapshot::conference_detail(tx, &uuid)
        })
        .await
    }

    async fn search_recordings(
        &self,
        filter: RecordingFilter,
        visible: Visibility,
    ) -> Result<RecordingPage, DbError> {
        self.read(move |tx| search::recordings(tx, &filter, &visible))
            .await
    }

    async fn recording(
        &self,
        recording_id: &str,
        visible: Visibility,
    ) -> Result<Option<RecordingDetail>, DbError> {
        let id = recording_id.to_owned();
        self.read(move |tx| search::recording(tx, &id, &visible))
            .await
    }
}

#[async_trait]
impl AccountStore for Postgres {
    async fn record_discovered(
        &self,
        found: Vec<Discovered>,
        now: Instant,
        unlinked_archive_at: Instant,
    ) -> Result<Vec<Found>, DbError> {
        self.write(move |tx| account::record_all(tx, &found, now, unlinked_archive_at))
            .await
    }

    async fn known_recordings(&self, ids: Vec<String>) -> Result<Vec<String>, DbError> {
        self.read(move |tx| account::known(tx, &ids)).await
    }

    async fn take_lease(&self, request: LeaseRequest) -> Result<bool, DbError> {
        self.write(move |tx| account::take_lease(tx, &request))
            .await
    }

    async fn end_lease(
        &self,
        name: &'static str,
        owner: &str,
        completed_at: Option<Instant>,
    ) -> Result<(), DbError> {
        let owner = owner.to_owned();
        self.write(move |tx| account::end_lease(tx, name, &owner, completed_at))
            .await
    }

    async fn lease_holder(
        &self,
        name: &'static str,
        now: Instant,
    ) -> Result<Option<String>, DbError> {
        self.read(move |tx| account::lease_holder(tx, name, now))
            .await
    }

    async fn running_jobs(&self, kind: JobKind, now: Instant) -> Result<i64, DbError> {
        self.read(move |tx| account::running_jobs(tx, kind, now))
            .await
    }

    async fn source_copy(&self, recording_id: &str) -> Result<Option<SourceCopy>, DbError> {
        let id = recording_id.to_owned();
        self.read(move |tx| account::source_copy(tx, &id)).await
    }

    async fn source_deletes_due(
        &self,
        archived_before: Instant,
        after: &str,
        limit: u32,
    ) -> Result<Vec<SourceCopy>, DbError> {
        let after = after.to_owned();
        self.read(move |tx| account::source_deletes_due(tx, archived_before, &after, limit))
            .await
    }

    async fn record_source_deleted(
        &self,
        recording_id: &str,
        at: Instant,
        webhook: bool,
    ) -> Result<(), DbError> {
        let id = recording_id.to_owned();
        self.write(move |tx| {
            account::record_source_deleted(tx, &id, at)?;
            match webhook {
                true => super::webhooks::enqueue(tx, &WebhookEvent::source_deleted(&id), at),
                false => Ok(()),
            }
        })
        .await
    }

    async fn rearchive(&self, recording_id: &str, now: Instant) -> Result<(), DbError> {
        let id = recording_id.to_owned();
        self.write(move |tx| {
            // The conference's lock: a summary decided meanwhile sees the recording unsettled.
            if let Some(conf) = recordings::to_archive(tx, &id)?.and_then(|r| r.conference_uuid) {
                tx.lock(&[conference_key(&conf)])?;
            }
            jobs::rearchive(tx, &id, now)
        })
        .await
    }
}

impl Snapshot for super::tx::PgTx<'_> {
    fn conference(&self, uuid: &str) -> Result<Option<crate::db::model::Conference>, DbError> {
        conferences::get(self, uuid)
    }

    fn participants(&self, uuid: &str) -> Result<Vec<crate::db::model::Participant>, DbError> {
        conferences::participants(self, uuid)
    }

    fn recordings_of(&self, uuid: &str) -> Result<Vec<crate::db::model::Recording>, DbError> {
        recordings::for_conference(self, uuid)
    }

    fn jobs_of(&self, uuid: &str) -> Result<Vec<Job>, DbError> {
        jobs::for_conference(self, uuid)
    }

    fn handled(&self, kind: MailKind, subject: &str) -> Result<Vec<String>, DbError> {
        mail::handled_recipients(self, kind, subject)
    }

    fn to_archive(
        &self,
        recording_id: &str,
    ) -> Result<Option<crate::db::model::ToArchive>, DbError> {
        recordings::to_archive(self, recording_id)
    }

    fn transcript(&self, recording_id: &str) -> Result<Option<Transcript>, DbError> {
        super::transcripts::get(self, recording_id)
    }
}

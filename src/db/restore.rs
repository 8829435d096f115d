//! Rebuilding the database from the archive: what one sidecar restores, and what came of it.
//! The rows are written as the archive job would have left them, with the work they stand for
//! counted done, so that a rebuilt database neither fetches a recording again nor sends a
//! summary a second time.

use super::DbError;
use super::ingest_tx::{IngestTx, NewTranscript};
use super::model::{Conference, Instant, JobKind, Participant, Source, Status, Transcript};

/// One archived recording with its conference and roster, as its sidecar tells them.
#[derive(Debug, Clone)]
pub struct Restored {
    pub recording: RestoredRecording,
    pub conference: Option<Conference>,
    pub legs: Vec<RestoredLeg>,
    pub transcript: Option<Transcript>,
}

#[derive(Debug, Clone)]
pub struct RestoredRecording {
    pub recording_id: String,
    pub source: Source,
    pub source_url: String,
    pub call_uuid: Option<String>,
    pub duration_ms: Option<i64>,
    pub started_at: Option<Instant>,
    pub recorded_at: Instant,
    pub from: Option<String>,
    pub to: Option<String>,
    pub from_normalized: Option<String>,
    pub to_normalized: Option<String>,
    /// The Vobiz REST object, as JSON, for recordings the account sync found.
    pub vobiz_object: Option<String>,
    /// The file's extension, as the archive job records it.
    pub format: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub object_key: String,
    /// Where the configured store has it now.
    pub location: String,
    pub archived_at: Instant,
    pub source_deleted_at: Option<Instant>,
}

/// A call leg, with its caller's number as legs are searched by.
#[derive(Debug, Clone)]
pub struct RestoredLeg {
    pub participant: Participant,
    pub from_normalized: Option<String>,
}

/// What restoring one sidecar did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreOutcome {
    /// The recording is back, with its conference (`conference`: it was missing and is back
    /// too) and the legs that were missing (`legs`).
    Restored { conference: bool, legs: u64 },
    /// The database knew the recording; nothing of it changed.
    Known,
}

/// The writes a restore is made of, inside one backend transaction; a transcription is kept as
/// ingest keeps one.
pub(crate) trait RestoreTx: IngestTx {
    fn recording_known(&self, recording_id: &str) -> Result<bool, DbError>;
    /// False if the conference was known (it is left as it is).
    fn insert_conference(&self, conference: &Conference, now: Instant) -> Result<bool, DbError>;
    /// False if the leg was known.
    fn insert_leg(&self, conference_uuid: &str, leg: &RestoredLeg) -> Result<bool, DbError>;
    fn insert_recording(
        &self,
        conference_uuid: Option<&str>,
        recording: &RestoredRecording,
        now: Instant,
    ) -> Result<(), DbError>;
    /// Records the job of `kind` for `subject` as done, unless it has one.
    fn count_done(&self, kind: JobKind, subject: &str, now: Instant) -> Result<(), DbError>;
}

/// Restores one recording unless it is known; see [`super::RestoreStore::restore_archived`].
pub(crate) fn restore(
    tx: &dyn RestoreTx,
    r: &Restored,
    now: Instant,
) -> Result<RestoreOutcome, DbError> {
    if tx.recording_known(&r.recording.recording_id)? {
        return Ok(RestoreOutcome::Known);
    }
    let (mut conference, mut legs) = (false, 0);
    if let Some(c) = &r.conference {
        conference = tx.insert_conference(c, now)?;
        // A restored conference's summary went out, or was due, long ago: counting it done
        // keeps a rebuild from mailing every meeting in the archive again.
        if conference && c.status == Status::Ended {
            tx.count_done(JobKind::NotifyConference, &c.conference_uuid, now)?;
        }
        for leg in &r.legs {
            legs += u64::from(tx.insert_leg(&c.conference_uuid, leg)?);
            // A leg's recording restored before its conference joins it, as the callback that
            // named the call joined it in the database this one rebuilds: its sidecar was
            // written before that callback came, and is not written again.
            tx.link_waiting_recordings(&leg.participant.call_uuid, &c.conference_uuid)?;
        }
    }
    // The same, the other way round: the conference of its call may be back already.
    let conference_uuid = match (&r.conference, &r.recording.call_uuid) {
        (Some(c), _) => Some(c.conference_uuid.clone()),
        (None, Some(call)) => tx.conference_of_call(call)?,
        (None, None) => None,
    };
    tx.insert_recording(conference_uuid.as_deref(), &r.recording, now)?;
    tx.count_done(JobKind::ArchiveRecording, &r.recording.recording_id, now)?;
    if let Some(transcript) = &r.transcript {
        // It came from the sidecar, so it is archived already.
        tx.keep_transcript(&NewTranscript {
            recording_id: &r.recording.recording_id,
            transcription_id: transcript.transcription_id.as_deref(),
            text: transcript.text.as_deref(),
            error: transcript.error.as_deref(),
            received_at: transcript.received_at,
        })?;
        tx.count_done(JobKind::ArchiveTranscript, &r.recording.recording_id, now)?;
    }
    Ok(RestoreOutcome::Restored { conference, legs })
}

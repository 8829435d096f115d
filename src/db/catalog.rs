//! Values of the recordings catalogue and the account sync: recordings found by listing the
//! Vobiz account, recordings as the API lists them (linked to a conference or not), the leases
//! that keep one sync at a time, and the facts a delete at source checks.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::{Instant, RecordingStatus, Source};

/// A recording the account sync found, with what the REST object says about it.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub recording_id: String,
    pub source_url: String,
    pub call_uuid: Option<String>,
    /// When it was recorded, if the object says.
    pub recorded_at: Option<Instant>,
    /// When the recording started (`recording_start_ms`), if the object says.
    pub started_at: Option<Instant>,
    pub duration_ms: Option<u64>,
    pub from: Option<String>,
    pub from_normalized: Option<String>,
    pub to: Option<String>,
    pub to_normalized: Option<String>,
    /// The REST object as listed, as JSON.
    pub vobiz_object: String,
}

/// What recording one discovered recording did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub recording_id: String,
    /// False when it was known already (from a callback or an earlier sync).
    pub new: bool,
    /// The conference its call leg belongs to, when known.
    pub conference_uuid: Option<String>,
    /// When a new recording's archive job runs (`None` for a known one, or in a dry run).
    pub archive: Option<ArchivePlan>,
}

/// When the archive job of a recording the sync found runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchivePlan {
    /// Queued to run now: its conference has ended.
    Now,
    /// Queued when its conference, still running, ends.
    WhenConferenceEnds,
    /// Queued to run after `archive.unlinked_grace_seconds`, in case its conference's callbacks
    /// are only late.
    AfterGrace,
}

/// Which recordings to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct RecordingFilter {
    pub since: Option<Instant>,
    pub until: Option<Instant>,
    /// A number, normalised: the recording's from or to, or its leg's caller.
    pub participant: Option<String>,
    pub status: Option<RecordingStatus>,
    /// Only recordings with (true) or without (false) a known conference.
    pub linked: Option<bool>,
    /// Words that must all be in its transcript, as whole words.
    pub said: Option<Vec<String>>,
    pub after: Option<RecordingCursor>,
    pub limit: u32,
}

/// Where a page of recordings ends: the last one's time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingCursor {
    pub recorded_at: Instant,
    pub recording_id: String,
}

/// A recording as the list shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordingEntry {
    pub recording_id: String,
    /// Null while the recording's conference is unknown.
    pub conference_uuid: Option<String>,
    pub status: RecordingStatus,
    pub format: Option<String>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    /// Length in seconds, where known.
    pub duration_seconds: Option<f64>,
    pub recorded_at: DateTime<Utc>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// When Vobiz's copy was deleted (after ours was verified).
    pub source_deleted_at: Option<DateTime<Utc>>,
}

/// One recording with its archive job's progress.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordingDetail {
    #[serde(flatten)]
    pub entry: RecordingEntry,
    pub source: Source,
    pub call_uuid: Option<String>,
    pub location: Option<String>,
    pub archived_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// The transcription Vobiz sent, if it sent one.
    pub transcript: Option<super::model::Transcript>,
}

/// A page of recordings and where the next one starts.
#[derive(Debug, Clone)]
pub struct RecordingPage {
    pub rows: Vec<RecordingEntry>,
    pub next: Option<RecordingCursor>,
}

/// What a delete at source needs to know: what was downloaded, and where ours is.
#[derive(Debug, Clone)]
pub struct SourceCopy {
    pub recording_id: String,
    /// `None` while the recording is not archived.
    pub object_key: Option<String>,
    pub size_bytes: Option<u64>,
    pub sha256: Option<String>,
    pub archived_at: Option<Instant>,
    pub source_deleted_at: Option<Instant>,
}

/// A named lease on shared work (the account sync), held until `until` unless renewed.
#[derive(Debug, Clone)]
pub struct LeaseRequest {
    pub name: &'static str,
    pub owner: String,
    pub now: Instant,
    pub until: Instant,
    /// Refuse when the work was completed after this (another replica just did it).
    pub unless_completed_after: Option<Instant>,
}

/// Background upkeep's instructions for one round.
#[derive(Debug, Clone, Copy)]
pub struct Upkeep {
    pub now: Instant,
    /// Forget nonces seen before this.
    pub nonces_before: Instant,
    /// Archive recordings with no known conference that arrived before this…
    pub unlinked_before: Instant,
    /// …and, when set, at or after this: the rounds after the first look only at what arrived
    /// since the previous one, so the work does not grow with the archive.
    pub unlinked_since: Option<Instant>,
    /// Queue deleting Vobiz's copy of recordings archived before this (`None`: never).
    pub source_delete_before: Option<Instant>,
}

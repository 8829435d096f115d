//! Rebuilding the database from the archive: what one sidecar restores, and what came of it.
//! The rows are written as the archive job would have left them, with the work they stand for
//! counted done, so that a rebuilt database neither fetches a recording again nor sends a
//! summary a second time.

use super::model::{Conference, Instant, Participant, Source};

/// One archived recording with its conference and roster, as its sidecar tells them.
#[derive(Debug, Clone)]
pub struct Restored {
    pub recording: RestoredRecording,
    pub conference: Option<Conference>,
    pub legs: Vec<RestoredLeg>,
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

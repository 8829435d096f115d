//! The values the database interface takes and gives: typed ids, instants and enums, never raw
//! timestamps or an empty string standing for "none". Every backend maps them to its storage.
//!
//! Instants are written as `DateTime<Utc>` (the same type as [`Instant`]) so that the OpenAPI
//! derive recognises them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::time::Instant;

/// A job's row id.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for JobId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(JobId)
    }
}

/// Defines a closed set of names stored as text: `as_str`, `parse` and serde use the same
/// snake_case names.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The stored or typed name; `None` for anything else.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_enum!(
    /// What a job does.
    JobKind {
        ArchiveRecording => "archive_recording",
        NotifyConference => "notify_conference",
        AlertJobFailed => "alert_job_failed",
        /// Delete Vobiz's copy of an archived recording, once ours is re-verified.
        DeleteSource => "delete_source",
        /// Write a recording's transcription into its sidecar, once the recording is archived.
        ArchiveTranscript => "archive_transcript",
    }
);

stored_enum!(
    /// What an audit event records someone doing.
    AuditAction {
        /// The recording streamed to a player.
        Play => "play",
        Download => "download",
        Sidecar => "sidecar",
        /// A recording link from an email was followed.
        Link => "link",
        SignIn => "sign_in",
        SignOut => "sign_out",
        /// An administrator ended someone's sessions.
        SessionsEnded => "sessions_ended",
    }
);

stored_enum!(
    /// Where a job is in its life.
    JobState {
        Pending => "pending",
        Running => "running",
        Done => "done",
        Failed => "failed",
    }
);

stored_enum!(
    /// How far a recording's archiving has got. Derived from its archive job (and whether it
    /// was archived), never kept by hand.
    RecordingStatus {
        Pending => "pending",
        Archiving => "archiving",
        Archived => "archived",
        Failed => "failed",
    }
);

impl RecordingStatus {
    /// Still waiting for an outcome: a summary waits for these.
    pub fn is_unsettled(self) -> bool {
        matches!(self, RecordingStatus::Pending | RecordingStatus::Archiving)
    }
}

stored_enum!(
    /// Whether a conference is still running.
    Status {
        Active => "active",
        Ended => "ended",
    }
);

stored_enum!(
    /// Where a recording's URL came from.
    Source {
        /// `RecordingUrl` on a documented `end`.
        ConferenceEnd => "conference_end",
        /// An `Event=RecordStop` callback.
        RecordStop => "record_stop",
        /// Found by listing the Vobiz account: no callback announced it.
        Sync => "sync",
    }
);

stored_enum!(
    /// Which kind of message a mail row belongs to.
    MailKind {
        Summary => "summary",
        Alert => "alert",
    }
);

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Conference {
    pub conference_uuid: String,
    pub name: String,
    pub status: Status,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    pub peak_size: Option<i64>,
}

/// One call leg of a conference.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Participant {
    pub call_uuid: String,
    pub member_id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub direction: Option<String>,
    pub joined_at: Option<DateTime<Utc>>,
    pub left_at: Option<DateTime<Utc>>,
}

/// A recording as the API shows it, with its archive job's progress.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Recording {
    pub recording_id: String,
    pub source: Source,
    pub source_url: String,
    pub call_uuid: Option<String>,
    /// When the recording started, where its source said so.
    pub started_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    /// Length in seconds, where known.
    pub duration_seconds: Option<f64>,
    pub status: RecordingStatus,
    pub format: Option<String>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub location: Option<String>,
    pub archived_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// The transcription Vobiz sent, if it sent one.
    pub transcript: Option<Transcript>,
}

/// A job as the queue holds it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Job {
    pub id: JobId,
    pub kind: JobKind,
    pub subject: String,
    pub state: JobState,
    pub attempts: i64,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    #[serde(skip)]
    pub checkpoint: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A reading of the queue, for metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobStats {
    /// Jobs pending, running or failed, by state; a state with none is left out. Cheap: each
    /// is a range of the state index, as long as the queue is short.
    pub by_state: Vec<(JobState, i64)>,
    /// Jobs done, when asked for: that count reads the whole history, which only grows.
    pub done: Option<i64>,
    /// Pending jobs due now.
    pub due: i64,
    /// How long the oldest job not yet done or failed has existed.
    pub oldest_waiting: Option<std::time::Duration>,
}

/// A conference with everything known about it, read in one snapshot.
#[derive(Debug, Clone)]
pub struct ConferenceDetail {
    pub conference: Conference,
    pub participants: Vec<Participant>,
    pub recordings: Vec<Recording>,
    pub jobs: Vec<Job>,
}

/// A recording's transcription as Vobiz gave it, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Transcript {
    pub transcription_id: Option<String>,
    /// `null` when Vobiz could not transcribe the recording (see `error`).
    pub text: Option<String>,
    pub error: Option<String>,
    pub received_at: DateTime<Utc>,
}

/// Everything the archive job needs to know about a recording.
#[derive(Debug, Clone)]
pub struct ToArchive {
    pub recording_id: String,
    pub conference_uuid: Option<String>,
    pub source: Source,
    pub source_url: String,
    pub call_uuid: Option<String>,
    pub duration_ms: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// When it was recorded, as the recordings list orders it.
    pub recorded_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    /// The numbers the REST object gave, when the account sync found the recording.
    pub from: Option<String>,
    pub to: Option<String>,
    /// The Vobiz REST object, as JSON, when the account sync found the recording.
    pub vobiz_object: Option<String>,
}

/// A recording to archive with its conference and roster, read in one snapshot.
#[derive(Debug, Clone)]
pub struct ArchiveSubject {
    pub recording: ToArchive,
    pub conference: Option<Conference>,
    pub participants: Vec<Participant>,
}

/// What archiving found and where it put the recording.
#[derive(Debug, Clone)]
pub struct Archived {
    pub object_key: String,
    pub format: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub location: String,
    pub archived_at: DateTime<Utc>,
    /// The length read from the file, kept only where none was known.
    pub duration_ms: Option<u64>,
}

/// Where a recording is archived, if it is.
#[derive(Debug, Clone)]
pub struct ArchivedObject {
    /// `None` while the recording is not archived.
    pub object_key: Option<String>,
    pub format: Option<String>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
}

/// An archived recording, as re-archiving needs it.
#[derive(Debug, Clone)]
pub struct ArchivedRecording {
    pub recording_id: String,
    pub object_key: String,
    pub format: String,
    pub size_bytes: u64,
    pub sha256: String,
}

/// A conference to summarise, with what has been sent about it already, in one snapshot.
#[derive(Debug, Clone)]
pub struct SummarySubject {
    pub conference: Conference,
    pub participants: Vec<Participant>,
    pub recordings: Vec<Recording>,
    /// Addresses already handled (sent or failed for good).
    pub handled: Vec<String>,
}

/// One recipient's outcome for one message.
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub kind: MailKind,
    pub subject: String,
    pub recipient: String,
    pub ok: bool,
    pub message_id: String,
    pub detail: String,
    pub at: DateTime<Utc>,
}

/// One recipient's row of a message, as recorded.
#[derive(Debug, Clone)]
pub struct SentRow {
    pub recipient: String,
    pub ok: bool,
    /// The server's answer (or where the outbox put the file), or why it failed.
    pub detail: Option<String>,
}

/// A lasting link to a recording, by the hash of its token.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub token_hash: Vec<u8>,
    pub recording_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What a link leads to.
#[derive(Debug, Clone)]
pub struct LinkTarget {
    pub recording_id: String,
    pub conference_uuid: Option<String>,
    /// The archived object's key; `None` if the recording is not archived (any more).
    pub object_key: Option<String>,
    pub format: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Where a page of conferences continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub started_at: Option<DateTime<Utc>>,
    pub conference_uuid: String,
}

/// What to look for. Every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Part of the conference name (case-insensitive).
    pub q: Option<String>,
    /// A participant's number, already normalised.
    pub participant: Option<String>,
    /// Started at or after.
    pub since: Option<DateTime<Utc>>,
    /// Started before.
    pub until: Option<DateTime<Utc>>,
    pub status: Option<Status>,
    pub has_recording: Option<bool>,
    /// Words that must all be in a transcript of one of its recordings, as whole words.
    pub said: Option<Vec<String>>,
    pub after: Option<Cursor>,
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConferenceRow {
    pub conference_uuid: String,
    pub name: String,
    pub status: Status,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// People, not call legs: legs from one number (in any spelling) count once.
    pub participants: i64,
    pub recordings: i64,
}

/// One page, and where to continue after it (when there may be more).
#[derive(Debug, Clone)]
pub struct Page {
    pub rows: Vec<ConferenceRow>,
    pub next: Option<Cursor>,
}

/// Which failed jobs an operator hands back to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetrySelection {
    One(JobId),
    AllFailed,
}

/// How a run of a job ended, as the queue records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    Done,
    /// Not an attempt: the job waits for something else and runs again at `run_at`.
    Defer {
        run_at: Instant,
        reason: String,
    },
    RetryAt {
        run_at: Instant,
        error: String,
    },
    Failed {
        error: String,
    },
}

/// A finished run and what it causes, decided by `jobs::ending` and applied in one transaction
/// (only while the worker still holds the job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub finish: Finish,
    /// Queue an operator alert about this job.
    pub alert_operators: bool,
    /// The job settled one of a conference's recordings: queue the summary if it was the last.
    pub summarise_if_settled: bool,
    /// The archived copy of the job's recording failed its check: archive it again from the
    /// source.
    pub rearchive_recording: bool,
    /// The webhook message the run's outcome causes, queued in the same transaction.
    pub webhook: Option<super::webhooks::WebhookEvent>,
    /// A job that waits for this one, and may run now.
    pub wake: Option<Wake>,
}

/// The job of `kind` for the same subject runs now: pending, it is due at once instead of at
/// its deferral's end; running (it may have looked too early), it loses its lease, its attempt
/// uncounted, and runs again; failed, it runs again with fresh attempts if `revive_failed`
/// (what it failed for want of is there now).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wake {
    pub kind: JobKind,
    pub revive_failed: bool,
}

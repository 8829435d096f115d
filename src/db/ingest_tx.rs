//! The small transaction interface the ingest rules are written against. A backend runs the
//! rules inside one of its write transactions through it, so the rules that decide a roster
//! exist once, whatever stores them. Calls are synchronous: the rules run where the
//! transaction lives (SQLite's writer thread, or a blocking task holding a server transaction).

use super::error::DbError;
use super::model::{Instant, Source};

/// One callback as received.
pub struct NewEvent<'a> {
    pub endpoint: &'static str,
    pub dedupe_key: &'a [u8],
    pub method: &'a str,
    pub raw_body: &'a str,
    pub kind: &'a str,
    pub conference_uuid: Option<&'a str>,
    pub call_uuid: Option<&'a str>,
    pub received_at: Instant,
}

/// What a callback found when it touched its conference.
#[derive(Debug, Clone, Copy)]
pub struct Touched {
    pub ended: bool,
    /// Live shape: an exit said the room was empty, so the end may be inferred.
    pub last_member_left: bool,
}

/// What a callback tells about its conference.
pub struct ConferenceActivity<'a> {
    pub conference_uuid: &'a str,
    pub name: Option<&'a str>,
    pub at: Instant,
    pub size: Option<u32>,
}

/// The leg whose enter or exit this is.
pub struct Leg<'a> {
    pub conference_uuid: &'a str,
    pub call_uuid: &'a str,
    /// The live shape's member id; the documented shape has none.
    pub member_id: Option<&'a str>,
}

/// What an enter tells about the caller.
pub struct Caller<'a> {
    pub from: Option<&'a str>,
    pub from_normalized: Option<&'a str>,
    pub to: Option<&'a str>,
    pub direction: Option<&'a str>,
}

/// A transcription of a recording, or why there is none.
pub struct NewTranscript<'a> {
    pub recording_id: &'a str,
    pub transcription_id: Option<&'a str>,
    pub text: Option<&'a str>,
    pub error: Option<&'a str>,
    pub received_at: Instant,
}

pub struct NewRecording<'a> {
    pub recording_id: &'a str,
    pub conference_uuid: Option<&'a str>,
    pub call_uuid: Option<&'a str>,
    pub source: Source,
    pub source_url: &'a str,
    pub duration_ms: Option<u64>,
    /// When its source says the recording started.
    pub started_at: Option<Instant>,
}

/// Whether a signature nonce was seen before.
#[derive(Debug, PartialEq, Eq)]
pub enum NonceSeen {
    /// First time within the window.
    New,
    /// Seen before with the same body: a redelivery, harmless.
    SameBody,
    /// Seen before with another body: a replay.
    OtherBody,
}

/// The writes and reads one callback's rules make, all inside one transaction.
pub trait IngestTx {
    fn remember_nonce(
        &self,
        nonce: &str,
        body_hash: &[u8; 32],
        now: Instant,
    ) -> Result<NonceSeen, DbError>;
    /// Stores the event; `false` when the same callback was stored before.
    fn insert_event(&self, event: &NewEvent<'_>) -> Result<bool, DbError>;
    /// Creates the conference if it is new and records activity: the name if it had none,
    /// `started_at` moved earlier, the largest room size seen.
    fn touch_conference(
        &self,
        activity: &ConferenceActivity<'_>,
        now: Instant,
    ) -> Result<Touched, DbError>;
    /// A join at `at`; the earliest join wins and is never later than a known leave.
    fn record_enter(&self, leg: &Leg<'_>, caller: &Caller<'_>, at: Instant) -> Result<(), DbError>;
    /// A leave at `at`; the latest leave wins, and a join is never later than it.
    fn record_exit(&self, leg: &Leg<'_>, at: Instant) -> Result<(), DbError>;
    /// Attaches recordings of `call_uuid` that were waiting for their conference to be known.
    fn link_waiting_recordings(
        &self,
        call_uuid: &str,
        conference_uuid: &str,
    ) -> Result<(), DbError>;
    /// Live shape: an exit said the room was empty at `at`.
    fn note_last_member_exit(
        &self,
        conference_uuid: &str,
        at: Instant,
        now: Instant,
    ) -> Result<(), DbError>;
    /// A documented `end`. The first end wins.
    fn end_by_event(&self, conference_uuid: &str, at: Instant, now: Instant)
    -> Result<(), DbError>;
    /// Live shape: the end is due at `due` once no leg is open; ended conferences are left alone.
    fn schedule_inferred_end(
        &self,
        conference_uuid: &str,
        due: Instant,
        now: Instant,
    ) -> Result<(), DbError>;
    /// Ends every conference whose inferred end has come due; returns their ids.
    fn confirm_due_ends(&self, now: Instant) -> Result<Vec<String>, DbError>;
    /// Stores a recording once; `false` if its id was seen before.
    fn add_recording(&self, recording: &NewRecording<'_>, now: Instant) -> Result<bool, DbError>;
    /// The conference a call leg took part in, if known.
    fn conference_of_call(&self, call_uuid: &str) -> Result<Option<String>, DbError>;
    /// Queues an archive job for every recording of an ended conference, once each.
    fn enqueue_archives_if_ended(&self, conference_uuid: &str, now: Instant)
    -> Result<(), DbError>;
    /// Queues the summary of an ended conference once none of its recordings is unsettled: at
    /// once, or at `no_recording_run_at` when it has none (`None`: no summary). Once each.
    fn enqueue_summary_when_settled(
        &self,
        conference_uuid: &str,
        now: Instant,
        no_recording_run_at: Option<Instant>,
    ) -> Result<(), DbError>;
    /// Keeps a transcription unless one with text is kept already (a text replaces a failure,
    /// never the reverse); true if what is kept changed.
    fn keep_transcript(&self, transcript: &NewTranscript<'_>) -> Result<bool, DbError>;
    /// Queues the job that writes the recording's transcription into its sidecar, or makes it
    /// due again (a run in progress may have read what is now replaced).
    fn queue_transcript_archive(&self, recording_id: &str, now: Instant) -> Result<(), DbError>;
    /// Queues an outbound webhook message in this transaction (the outbox).
    fn enqueue_webhook(
        &self,
        event: &super::webhooks::WebhookEvent,
        now: Instant,
    ) -> Result<(), DbError>;
}

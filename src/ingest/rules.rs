//! The rules that turn one accepted callback into conference state, inside one write
//! transaction: the raw event, the roster change and any job it causes, or nothing at all.
//! They are idempotent and order-tolerant: redelivery changes nothing, and any delivery order
//! of the same callbacks ends in the same roster.

use chrono::Duration;
use sha2::{Digest, Sha256};

use crate::db::error::DbError;
use crate::db::ingest_tx::{
    Caller, ConferenceActivity, IngestTx, Leg, NewEvent, NewRecording, NewTranscript, NonceSeen,
};
use crate::db::model::{Instant, Source};
use crate::db::webhooks::WebhookEvent;
use crate::vobiz::callback::{Action, ConferenceCallback, ConferenceEvent, Fields, RecordStop};
use crate::vobiz::phone;
use crate::vobiz::transcription::Transcription;
use crate::webhooks::events::EventType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Conference,
    Recording,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Conference => "conference",
            Endpoint::Recording => "recording",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Parsed {
    Conference(ConferenceCallback),
    RecordStop(RecordStop),
    Transcription(Transcription),
}

impl Parsed {
    fn kind(&self) -> &'static str {
        match self {
            Parsed::Conference(ConferenceCallback::WaitSound { .. }) => "wait_sound",
            Parsed::Conference(ConferenceCallback::Event(e)) => e.action.as_str(),
            Parsed::RecordStop(_) => "record_stop",
            Parsed::Transcription(_) => "transcription",
        }
    }

    fn conference_uuid(&self) -> Option<&str> {
        match self {
            Parsed::Conference(ConferenceCallback::WaitSound { conference_uuid }) => {
                conference_uuid.as_ref().map(|id| id.as_str())
            }
            Parsed::Conference(ConferenceCallback::Event(e)) => Some(e.conference_uuid.as_str()),
            Parsed::RecordStop(_) | Parsed::Transcription(_) => None,
        }
    }

    fn call_uuid(&self) -> Option<&str> {
        match self {
            Parsed::Conference(ConferenceCallback::WaitSound { .. }) => None,
            Parsed::Conference(ConferenceCallback::Event(e)) => {
                e.call_uuid.as_ref().map(|id| id.as_str())
            }
            Parsed::RecordStop(r) => Some(r.call_uuid.as_str()),
            Parsed::Transcription(t) => t.call_uuid.as_ref().map(|id| id.as_str()),
        }
    }
}

/// A callback that passed every check and is ready to be stored.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub endpoint: Endpoint,
    pub method: String,
    pub raw_body: String,
    pub fields: Fields,
    pub parsed: Parsed,
    pub received_at: Instant,
    /// The verified signature's nonce, when signatures are checked, with the body's SHA-256:
    /// worked out where the callback is accepted rather than on SQLite's one writer thread.
    nonce: Option<(String, [u8; 32])>,
    /// Worked out once, from the fields that never change after acceptance: a backend may need
    /// it before the rules run (PostgreSQL reads ahead) as well as in them.
    dedupe_key: Vec<u8>,
}

impl Accepted {
    pub fn new(
        endpoint: Endpoint,
        method: String,
        raw_body: String,
        fields: Fields,
        parsed: Parsed,
        received_at: Instant,
        nonce: Option<String>,
    ) -> Self {
        let dedupe_key = dedupe_key(endpoint, &fields, &parsed);
        let nonce = nonce.map(|nonce| (nonce, Sha256::digest(raw_body.as_bytes()).into()));
        Self {
            endpoint,
            method,
            raw_body,
            fields,
            parsed,
            received_at,
            nonce,
            dedupe_key,
        }
    }

    /// The same callback as if signed with `nonce`.
    #[cfg(test)]
    pub fn signed_with(self, nonce: &str) -> Self {
        Self::new(
            self.endpoint,
            self.method,
            self.raw_body,
            self.fields,
            self.parsed,
            self.received_at,
            Some(nonce.to_owned()),
        )
    }

    /// The signature's nonce and what it vouches for (the body's SHA-256), when signatures are
    /// checked: what the replay guard remembers.
    pub fn nonce_record(&self) -> Option<(&str, [u8; 32])> {
        self.nonce
            .as_ref()
            .map(|(nonce, body_hash)| (nonce.as_str(), *body_hash))
    }

    /// The conference and the call leg this callback concerns, where it names them: what a
    /// backend with several writers serialises on.
    pub fn subjects(&self) -> (Option<&str>, Option<&str>) {
        (self.parsed.conference_uuid(), self.parsed.call_uuid())
    }

    /// Identifies the callback whatever the order of its fields, prefixed by the conference or
    /// call it concerns so that related events are stored together.
    pub fn dedupe_key(&self) -> &[u8] {
        &self.dedupe_key
    }
}

fn dedupe_key(endpoint: Endpoint, fields: &Fields, parsed: &Parsed) -> Vec<u8> {
    let mut pairs: Vec<_> = fields.0.iter().collect();
    pairs.sort();
    let mut hash = Sha256::new();
    hash.update(endpoint.as_str());
    for (k, v) in pairs {
        hash.update([0]);
        hash.update(k);
        hash.update([b'=']);
        hash.update(v);
    }
    let prefix = parsed
        .conference_uuid()
        .or(parsed.call_uuid())
        .unwrap_or_default();
    let mut key = Vec::with_capacity(prefix.len() + 17);
    key.extend_from_slice(prefix.as_bytes());
    key.push(b'/');
    key.extend_from_slice(&hash.finalize()[..16]);
    key
}

/// What the rules need besides the callback.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Live shape: quiet time after the last member left before the end is confirmed.
    pub end_quiet: Duration,
    /// How long a conference without a recording waits for a late one before its summary is
    /// sent; `None`: such conferences get no summary.
    pub no_recording_summary_after: Option<Duration>,
    /// Queue webhook messages: some endpoint is configured.
    pub webhooks: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stored {
        /// The callback announced a recording not known before.
        new_recording: bool,
    },
    /// The same callback was stored before; nothing changed.
    Duplicate,
    /// The signature's nonce was already used with another body: a replay. Nothing changed.
    ReplayRefused,
}

/// Stores `a` and applies it. Runs inside the backend's transaction: on error nothing is kept.
pub fn apply(tx: &dyn IngestTx, a: &Accepted, rules: &Rules) -> Result<Outcome, DbError> {
    let now = a.received_at;
    if let Some((nonce, body_hash)) = a.nonce_record() {
        // Refused before anything is written, so the refusal leaves no trace.
        if tx.remember_nonce(nonce, &body_hash, now)? == NonceSeen::OtherBody {
            return Ok(Outcome::ReplayRefused);
        }
    }
    let stored = tx.insert_event(&NewEvent {
        endpoint: a.endpoint.as_str(),
        dedupe_key: a.dedupe_key(),
        method: &a.method,
        raw_body: &a.raw_body,
        kind: a.parsed.kind(),
        conference_uuid: a.parsed.conference_uuid(),
        call_uuid: a.parsed.call_uuid(),
        received_at: now,
    })?;
    if !stored {
        return Ok(Outcome::Duplicate);
    }
    let new_recording = match &a.parsed {
        Parsed::Conference(ConferenceCallback::WaitSound { .. }) => false,
        Parsed::Conference(ConferenceCallback::Event(e)) => {
            apply_conference_event(tx, e, now, rules)?
        }
        Parsed::RecordStop(r) => apply_record_stop(tx, r, now)?,
        Parsed::Transcription(t) => {
            apply_transcription(tx, t, now)?;
            false
        }
    };
    Ok(Outcome::Stored { new_recording })
}

fn apply_conference_event(
    tx: &dyn IngestTx,
    e: &ConferenceEvent,
    now: Instant,
    rules: &Rules,
) -> Result<bool, DbError> {
    let at = e.timestamp.unwrap_or(now);
    let conf = e.conference_uuid.as_str();
    let touched = tx.touch_conference(
        &ConferenceActivity {
            conference_uuid: conf,
            name: e.conference_name.as_deref(),
            at,
            size: e.current_size,
        },
        now,
    )?;
    let member_id = e.member_id.map(|m| m.to_string());
    let leg = e.call_uuid.as_ref().map(|call| Leg {
        conference_uuid: conf,
        call_uuid: call.as_str(),
        member_id: member_id.as_deref(),
    });
    let mut last_member_left = touched.last_member_left;
    let mut new_recording = false;
    match (e.action, &leg) {
        (Action::Enter, Some(leg)) => {
            let normalized = e.from.as_deref().map(phone::normalize);
            let caller = Caller {
                from: e.from.as_deref(),
                from_normalized: normalized.as_deref(),
                to: e.to.as_deref(),
                direction: e.direction.as_deref(),
            };
            tx.record_enter(leg, &caller, at)?;
            tx.link_waiting_recordings(leg.call_uuid, conf)?;
        }
        (Action::Exit, Some(leg)) => {
            tx.record_exit(leg, at)?;
            if e.last_member == Some(true) {
                tx.note_last_member_exit(conf, at, now)?;
                last_member_left = true;
            }
        }
        (Action::Start, _) => {}
        (Action::End, _) => {
            tx.end_by_event(conf, at, now)?;
            if let Some(url) = &e.recording_url {
                let id = recording_id_for_end(conf, url.as_str());
                let recording = NewRecording {
                    recording_id: &id,
                    conference_uuid: Some(conf),
                    call_uuid: None,
                    source: Source::ConferenceEnd,
                    source_url: url.as_str(),
                    duration_ms: None,
                    started_at: None,
                };
                new_recording = tx.add_recording(&recording, now)?;
            }
        }
        // The parser guarantees a CallUUID on enter and exit.
        (Action::Enter | Action::Exit, None) => {}
    }
    let ended = touched.ended || e.action == Action::End;
    if last_member_left && !ended {
        tx.schedule_inferred_end(conf, now + rules.end_quiet, now)?;
    }
    if ended {
        queue_end_work(tx, conf, now, rules)?;
    }
    Ok(new_recording)
}

/// The work an ended conference causes: archive its recordings, and summarise it once they
/// are settled (or after a grace period when it has none). Safe to repeat.
fn queue_end_work(
    tx: &dyn IngestTx,
    conf: &str,
    now: Instant,
    rules: &Rules,
) -> Result<(), DbError> {
    tx.enqueue_archives_if_ended(conf, now)?;
    if rules.webhooks {
        let ended = WebhookEvent {
            event: EventType::ConferenceEnded,
            subject: conf.to_owned(),
            once: true,
        };
        tx.enqueue_webhook(&ended, now)?;
    }
    let no_recording_at = rules.no_recording_summary_after.map(|d| now + d);
    tx.enqueue_summary_when_settled(conf, now, no_recording_at)
}

fn apply_record_stop(tx: &dyn IngestTx, r: &RecordStop, now: Instant) -> Result<bool, DbError> {
    let conference = tx.conference_of_call(r.call_uuid.as_str())?;
    let recording = NewRecording {
        recording_id: r.recording_id.as_str(),
        conference_uuid: conference.as_deref(),
        call_uuid: Some(r.call_uuid.as_str()),
        source: Source::RecordStop,
        source_url: r.url.as_str(),
        duration_ms: r.duration_ms,
        started_at: r.started_at,
    };
    let new_recording = tx.add_recording(&recording, now)?;
    if let Some(conf) = conference {
        tx.enqueue_archives_if_ended(&conf, now)?;
    }
    Ok(new_recording)
}

/// Keeps the transcription (a text replaces a failure, never the reverse) and, when that
/// changed what is kept, queues the job that writes it into the recording's sidecar.
fn apply_transcription(tx: &dyn IngestTx, t: &Transcription, now: Instant) -> Result<(), DbError> {
    let kept = tx.keep_transcript(&NewTranscript {
        recording_id: t.recording_id.as_str(),
        transcription_id: t.transcription_id.as_ref().map(|id| id.as_str()),
        text: t.text.as_deref(),
        error: t.error.as_deref(),
        received_at: now,
    })?;
    if kept {
        tx.queue_transcript_archive(t.recording_id.as_str(), now)?;
    }
    Ok(())
}

/// A documented `end` names its recording by URL only; the id is derived from both, so the
/// same end always yields the same recording.
fn recording_id_for_end(conference_uuid: &str, url: &str) -> String {
    let digest = Sha256::digest(format!("{conference_uuid}\n{url}"));
    format!("conf-{}", &hex::encode(digest)[..24])
}

/// Ends conferences whose inferred end has come due, queueing their archive and notify jobs.
pub fn confirm_due_ends(
    tx: &dyn IngestTx,
    now: Instant,
    rules: &Rules,
) -> Result<Vec<String>, DbError> {
    let ended = tx.confirm_due_ends(now)?;
    for conf in &ended {
        queue_end_work(tx, conf, now, rules)?;
    }
    Ok(ended)
}

#[cfg(test)]
#[path = "rules_tests.rs"]
pub(crate) mod tests;

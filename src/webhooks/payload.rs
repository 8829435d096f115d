//! What each message says: `{"type", "timestamp", "data"}`, with `data` read from the database
//! at the first attempt (and frozen there, so retries and replays send the same bytes). The
//! types derive their JSON Schemas, published in the OpenAPI document's `webhooks` section.

use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use super::events::EventType;
use crate::db::access::Visibility;
use crate::db::catalog::RecordingDetail;
use crate::db::model::{Conference, MailKind, Participant, Recording, Transcript};
use crate::db::{Database, DbError};
use crate::time::Instant;

/// The most transcript text a message carries, shared among its recordings. With the rest of
/// the message it stays under 100 KB, the body limit of common web frameworks (Express's JSON
/// parser among them), and a frozen body kept per endpoint stays small.
pub const TRANSCRIPT_TEXT_LIMIT: usize = 64 * 1024;

/// Every message's envelope.
#[derive(Debug, Serialize)]
pub struct Envelope<T: Serialize> {
    #[serde(rename = "type")]
    pub event: EventType,
    /// When the event happened (its transaction), RFC 3339.
    pub timestamp: String,
    pub data: T,
}

/// A conference, briefly.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConferenceRef {
    pub conference_uuid: String,
    pub name: String,
}

/// `conference.ended`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConferenceEnded {
    pub conference: Conference,
    /// People, not call legs: legs from one number count once.
    pub people: usize,
    pub participants: Vec<Participant>,
    pub recordings: Vec<Recording>,
    /// True when a recording's `transcript.text` is only its beginning: the recordings'
    /// texts share 64 KiB (cut between characters). `GET /api/v1/recordings/{recording_id}`
    /// has each whole.
    pub transcripts_truncated: bool,
}

/// `recording.archived`, `recording.failed`, `recording.source_deleted` and
/// `recording.transcribed` (the recording's `transcript` says what came).
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingEvent {
    pub recording: RecordingDetail,
    pub conference: Option<ConferenceRef>,
    /// A link that plays the archived recording, with no expiry (archived recordings only).
    pub link: Option<String>,
    /// Why it failed, for `recording.failed`.
    pub reason: Option<String>,
    /// True when the transcript's `text` is only its first 64 KiB (cut between characters):
    /// `GET /api/v1/recordings/{recording_id}` has all of it.
    pub transcript_truncated: bool,
}

/// `summary.sent`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummarySent {
    pub conference: ConferenceRef,
    /// The addresses it reached.
    pub recipients: Vec<String>,
}

/// `ping`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ping {
    pub message: String,
}

/// Why a message could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("{0} {1} no longer exists")]
    Gone(&'static str, String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Writes bodies from the database.
pub struct Payloads {
    pub db: Arc<dyn Database>,
    /// Where recording links point (`public_url`, else the listening address).
    pub link_base: String,
}

impl Payloads {
    pub async fn body(
        &self,
        event: EventType,
        subject: &str,
        at: Instant,
    ) -> Result<String, PayloadError> {
        match event {
            EventType::ConferenceEnded => {
                envelope(event, at, self.conference_ended(subject).await?)
            }
            EventType::RecordingArchived
            | EventType::RecordingFailed
            | EventType::RecordingSourceDeleted
            | EventType::RecordingTranscribed => {
                envelope(event, at, self.recording(event, subject).await?)
            }
            EventType::SummarySent => envelope(event, at, self.summary_sent(subject).await?),
            EventType::Ping => envelope(event, at, ping()),
        }
    }

    async fn conference_ended(&self, uuid: &str) -> Result<ConferenceEnded, PayloadError> {
        let detail = self
            .db
            .conference_detail(uuid, Visibility::Everything)
            .await?
            .ok_or_else(|| PayloadError::Gone("conference", uuid.to_owned()))?;
        let directory = crate::mail::recipients::Directory::default();
        let people =
            crate::roster::people(&detail.participants, detail.conference.ended_at, &directory)
                .len();
        let mut recordings = detail.recordings;
        let transcripts_truncated = cut_transcripts(
            recordings.iter_mut().map(|r| &mut r.transcript),
            TRANSCRIPT_TEXT_LIMIT,
        );
        Ok(ConferenceEnded {
            transcripts_truncated,
            conference: detail.conference,
            people,
            participants: detail.participants,
            recordings,
        })
    }

    async fn recording(&self, event: EventType, id: &str) -> Result<RecordingEvent, PayloadError> {
        let mut recording = self
            .db
            .recording(id, Visibility::Everything)
            .await?
            .ok_or_else(|| PayloadError::Gone("recording", id.to_owned()))?;
        let conference = match &recording.entry.conference_uuid {
            Some(uuid) => self.conference_ref(uuid).await?,
            None => None,
        };
        let link = match event {
            EventType::RecordingArchived => Some(self.lasting_link(id).await?),
            _ => None,
        };
        let transcript_truncated =
            cut_transcripts([&mut recording.transcript], TRANSCRIPT_TEXT_LIMIT);
        Ok(RecordingEvent {
            transcript_truncated,
            reason: (event == EventType::RecordingFailed)
                .then(|| recording.last_error.clone())
                .flatten(),
            recording,
            conference,
            link,
        })
    }

    /// A recording link like the emails', without expiry: the receiver may keep it.
    async fn lasting_link(&self, recording_id: &str) -> Result<String, DbError> {
        crate::jobs::notify::mint_link(&*self.db, &self.link_base, recording_id, None).await
    }

    async fn conference_ref(&self, uuid: &str) -> Result<Option<ConferenceRef>, DbError> {
        let detail = self
            .db
            .conference_detail(uuid, Visibility::Everything)
            .await?;
        Ok(detail.map(|d| ConferenceRef {
            conference_uuid: d.conference.conference_uuid,
            name: d.conference.name,
        }))
    }

    async fn summary_sent(&self, uuid: &str) -> Result<SummarySent, PayloadError> {
        let conference = self
            .conference_ref(uuid)
            .await?
            .ok_or_else(|| PayloadError::Gone("conference", uuid.to_owned()))?;
        let recipients = self
            .db
            .sent_messages(MailKind::Summary, uuid)
            .await?
            .into_iter()
            .filter(|r| r.ok)
            .map(|r| r.recipient)
            .collect();
        Ok(SummarySent {
            conference,
            recipients,
        })
    }
}

/// Cuts the texts of `transcripts` to share `limit` bytes, each cut between characters: a
/// text shorter than its share is left whole and leaves the rest to the longer ones. True if
/// any was cut.
fn cut_transcripts<'a>(
    transcripts: impl IntoIterator<Item = &'a mut Option<Transcript>>,
    limit: usize,
) -> bool {
    let mut texts: Vec<&mut String> = transcripts
        .into_iter()
        .filter_map(|t| t.as_mut().and_then(|t| t.text.as_mut()))
        .collect();
    texts.sort_by_key(|text| text.len());
    let (count, mut left, mut cut) = (texts.len(), limit, false);
    for (i, text) in texts.into_iter().enumerate() {
        let share = left / (count - i);
        cut |= cut_between_characters(text, share);
        left -= text.len();
    }
    cut
}

fn cut_between_characters(text: &mut String, limit: usize) -> bool {
    if text.len() <= limit {
        return false;
    }
    text.truncate(text.floor_char_boundary(limit));
    true
}

pub fn ping() -> Ping {
    Ping {
        message: "a test message from confvault".to_owned(),
    }
}

pub fn envelope<T: Serialize>(
    event: EventType,
    at: Instant,
    data: T,
) -> Result<String, PayloadError> {
    let message = Envelope {
        event,
        timestamp: at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        data,
    };
    serde_json::to_string(&message)
        .map_err(|e| PayloadError::Db(DbError::Corrupt(format!("a webhook body: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::{Transcript, cut_between_characters, cut_transcripts};

    fn said(text: &str) -> Option<Transcript> {
        Some(Transcript {
            transcription_id: None,
            text: Some(text.to_owned()),
            error: None,
            received_at: chrono::DateTime::UNIX_EPOCH,
        })
    }

    fn text(t: &Option<Transcript>) -> &str {
        t.as_ref().and_then(|t| t.text.as_deref()).unwrap()
    }

    #[test]
    fn texts_share_the_limit_and_a_short_one_leaves_its_unused_share_to_the_long_ones() {
        let mut transcripts = [
            said(&"a".repeat(50)),
            said("bb"),
            None,
            said(&"c".repeat(50)),
        ];

        let cut = cut_transcripts(transcripts.iter_mut(), 40);

        assert!(cut);
        assert_eq!(text(&transcripts[1]), "bb");
        assert_eq!(text(&transcripts[0]), "a".repeat(19));
        assert_eq!(text(&transcripts[3]), "c".repeat(19));
    }

    #[test]
    fn texts_within_the_limit_together_are_left_whole() {
        let mut transcripts = [said("Hello board"), said("Quarterly figures")];

        assert!(!cut_transcripts(transcripts.iter_mut(), 28));
        assert_eq!(text(&transcripts[0]), "Hello board");
    }

    #[test]
    fn a_text_within_the_limit_is_left_whole() {
        let mut text = "Welcome, everyone.".to_owned();

        assert!(!cut_between_characters(&mut text, 18));
        assert_eq!(text, "Welcome, everyone.");
    }

    #[test]
    fn a_longer_text_is_cut_before_the_character_the_limit_falls_in() {
        // "ü" and "ß" take two bytes each: byte 5 is the second half of "ß", byte 3 of "ü".
        let mut text = "Grüße".to_owned();

        assert!(cut_between_characters(&mut text, 5));
        assert_eq!(text, "Grü");
        assert!(cut_between_characters(&mut text, 3));
        assert_eq!(text, "Gr");
    }
}

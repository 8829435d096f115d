//! The events confvault sends to webhook endpoints, by the names receivers see.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventType {
    /// A conference ended (its `end` callback, or an inferred end came due).
    #[serde(rename = "conference.ended")]
    ConferenceEnded,
    /// A recording is in the archive, checked.
    #[serde(rename = "recording.archived")]
    RecordingArchived,
    /// A recording could not be archived, for good.
    #[serde(rename = "recording.failed")]
    RecordingFailed,
    /// A conference's summary email went out.
    #[serde(rename = "summary.sent")]
    SummarySent,
    /// Vobiz's copy of an archived recording was deleted.
    #[serde(rename = "recording.source_deleted")]
    RecordingSourceDeleted,
    /// A recording's transcription (its text, or why there is none) is in its sidecar.
    #[serde(rename = "recording.transcribed")]
    RecordingTranscribed,
    /// A test message (`confvault webhooks test`).
    #[serde(rename = "ping")]
    Ping,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::ConferenceEnded,
        EventType::RecordingArchived,
        EventType::RecordingFailed,
        EventType::SummarySent,
        EventType::RecordingSourceDeleted,
        EventType::RecordingTranscribed,
        EventType::Ping,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ConferenceEnded => "conference.ended",
            EventType::RecordingArchived => "recording.archived",
            EventType::RecordingFailed => "recording.failed",
            EventType::SummarySent => "summary.sent",
            EventType::RecordingSourceDeleted => "recording.source_deleted",
            EventType::RecordingTranscribed => "recording.transcribed",
            EventType::Ping => "ping",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == text)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_match_their_json() {
        for event in EventType::ALL {
            assert_eq!(EventType::parse(event.as_str()), Some(event));
            assert_eq!(
                serde_json::to_value(event).expect("serializes"),
                serde_json::json!(event.as_str())
            );
        }
    }
}

//! Transcription callbacks: what Vobiz posts to a recording's `transcriptionUrl` once the
//! transcription is ready (or has failed). They arrive at the recording endpoint, beside
//! `Event=RecordStop`, and are told apart by having no `Event`. Every field but
//! `recording_id` is optional.

use super::callback::{CallbackError, Fields, Id};

/// The longest transcript kept, in bytes: about ten hours of speech.
pub const MAX_TEXT_BYTES: usize = 512 * 1024;
/// The longest failure reason kept, in characters.
const MAX_ERROR_CHARS: usize = 1000;

/// A transcription of a recording, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcription {
    pub recording_id: Id,
    pub transcription_id: Option<Id>,
    /// `None` when Vobiz could not transcribe (see `error`).
    pub text: Option<String>,
    pub error: Option<String>,
    pub call_uuid: Option<Id>,
}

/// A transcription callback, as opposed to a record stop: no `Event`, and one of the fields
/// only a transcription carries.
pub fn is_transcription(fields: &Fields) -> bool {
    fields.get("Event").is_none()
        && ["recording_id", "transcription_id", "transcription"]
            .iter()
            .any(|name| fields.get(name).is_some())
}

pub fn parse_transcription(fields: &Fields) -> Result<Transcription, CallbackError> {
    let optional_id = |name: &'static str| {
        fields
            .get(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| Id::parse(name, v))
            .transpose()
    };
    let text = fields
        .get("transcription")
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if text.is_some_and(|t| t.len() > MAX_TEXT_BYTES) {
        return Err(CallbackError::invalid(
            "transcription",
            "longer than 512 KiB",
        ));
    }
    let error = fields
        .get("error")
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| e.chars().take(MAX_ERROR_CHARS).collect());
    Ok(Transcription {
        recording_id: Id::parse("recording_id", fields.require("recording_id")?)?,
        transcription_id: optional_id("transcription_id")?,
        text: text.map(str::to_owned),
        // A text with an error is a text: keep what Vobiz managed.
        error: if text.is_some() { None } else { error },
        call_uuid: optional_id("call_uuid")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(body: &str) -> Fields {
        Fields::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn a_documented_transcription_is_told_from_a_record_stop_and_parsed() {
        let body = "transcription=Hello+everyone%2C+let%27s+start.&transcription_id=t-1\
                    &transcription_url=https%3A%2F%2Fapi.vobiz.ai%2Ft-1&recording_id=r-1";
        let stop = "Event=RecordStop&RecordingID=r-1&CallUUID=c&RecordUrl=https%3A%2F%2Fx%2Fr.mp3";

        let parsed = parse_transcription(&fields(body)).unwrap();

        assert!(is_transcription(&fields(body)));
        assert!(!is_transcription(&fields(stop)));
        assert_eq!(parsed.recording_id.as_str(), "r-1");
        assert_eq!(parsed.transcription_id.unwrap().as_str(), "t-1");
        assert_eq!(parsed.text.as_deref(), Some("Hello everyone, let's start."));
        assert_eq!(parsed.error, None);
    }

    #[test]
    fn a_failed_transcription_keeps_its_reason_and_has_no_text() {
        let body = "recording_id=r-2&transcription=&error=Recording+duration+too+long+for+transcription\
                    &call_uuid=leg-9&transcription_charge=0";

        let parsed = parse_transcription(&fields(body)).unwrap();

        assert_eq!(parsed.text, None);
        assert_eq!(
            parsed.error.as_deref(),
            Some("Recording duration too long for transcription")
        );
        assert_eq!(parsed.call_uuid.unwrap().as_str(), "leg-9");
    }

    #[test]
    fn a_transcription_without_its_recording_is_refused() {
        let refused = parse_transcription(&fields("transcription=hi&transcription_id=t-3"));

        assert!(matches!(
            refused,
            Err(CallbackError::Missing("recording_id"))
        ));
    }
}

//! Turns a callback's form fields into a typed event, for both the documented shape and the one
//! live accounts send (docs/vobiz-callbacks.md §1–2). Nothing after this sees raw strings for
//! ids, actions, flags, numbers or times.

use chrono_tz::Tz;
use url::Url;

use crate::time::{Instant, parse_provider_timestamp};

/// The form fields of one callback, in the order received, unknown ones included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Result<Self, CallbackError> {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .map(Fields)
            .map_err(|_| CallbackError::Malformed)
    }

    /// The first value of `name`; an empty value counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    pub(crate) fn require(&self, name: &'static str) -> Result<&str, CallbackError> {
        self.get(name).ok_or(CallbackError::Missing(name))
    }
}

/// Why a callback was refused; the message is the one-line reason sent back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("the body is not application/x-www-form-urlencoded")]
    Malformed,
    #[error("required field {0} is missing")]
    Missing(&'static str),
    #[error("unknown conference action {0:?}")]
    UnknownAction(String),
    #[error("unknown event {0:?}")]
    UnknownEvent(String),
    #[error("field {field} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl CallbackError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CallbackError::Malformed => "malformed_body",
            CallbackError::Missing(_) => "missing_field",
            CallbackError::UnknownAction(_) => "unknown_action",
            CallbackError::UnknownEvent(_) => "unknown_event",
            CallbackError::Invalid { .. } => "invalid_field",
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// A provider id (ConferenceUUID, CallUUID, RecordingID): printable, no spaces, bounded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(String);

impl Id {
    const MAX_LEN: usize = 128;

    pub(crate) fn parse(field: &'static str, raw: &str) -> Result<Self, CallbackError> {
        let raw = raw.trim();
        if raw.len() > Self::MAX_LEN {
            return Err(CallbackError::invalid(field, "longer than 128 characters"));
        }
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(CallbackError::invalid(
                field,
                "contains spaces or control characters",
            ));
        }
        Ok(Id(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Enter,
    Exit,
    Start,
    End,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Enter => "enter",
            Action::Exit => "exit",
            Action::Start => "start",
            Action::End => "end",
        }
    }
}

/// Which revision of the protocol a callback follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Documented,
    Live,
}

/// A conference lifecycle callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceEvent {
    pub shape: Shape,
    pub action: Action,
    pub conference_uuid: Id,
    pub conference_name: Option<String>,
    pub call_uuid: Option<Id>,
    pub member_id: Option<u32>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub direction: Option<String>,
    pub current_size: Option<u32>,
    /// The provider's time of the event; `None` for the live shape (use the receive time).
    pub timestamp: Option<Instant>,
    pub first_member: Option<bool>,
    pub last_member: Option<bool>,
    pub recording_url: Option<Url>,
}

/// What arrived at the conference endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConferenceCallback {
    Event(Box<ConferenceEvent>),
    /// The wait-music request; answered with Vobiz XML, changes no state.
    WaitSound {
        conference_uuid: Option<Id>,
    },
}

/// An `Event=RecordStop` callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordStop {
    pub recording_id: Id,
    pub url: Url,
    pub call_uuid: Id,
    pub duration_ms: Option<u64>,
    /// `RecordingStartMs`: when the recording's first second was recorded.
    pub started_at: Option<Instant>,
}

const MAX_NAME_CHARS: usize = 512;

pub fn parse_conference(fields: &Fields, zone: Tz) -> Result<ConferenceCallback, CallbackError> {
    let event = fields.get("Event");
    let action = fields.get("ConferenceAction");
    if event == Some("ConferenceRemoteSounds") || action == Some("waitSound") {
        let conference_uuid = fields
            .get("ConferenceUUID")
            .map(|v| Id::parse("ConferenceUUID", v))
            .transpose()?;
        return Ok(ConferenceCallback::WaitSound { conference_uuid });
    }
    let from_event = match event {
        Some("ConferenceEnter") => Some(Action::Enter),
        Some("ConferenceExit") => Some(Action::Exit),
        // Other events are tolerated when the action itself is known.
        Some(other) if action.is_none() => {
            return Err(CallbackError::UnknownEvent(other.to_owned()));
        }
        _ => None,
    };
    let from_action = action
        .map(|a| match a {
            "enter" => Ok(Action::Enter),
            "exit" => Ok(Action::Exit),
            "start" => Ok(Action::Start),
            "end" => Ok(Action::End),
            other => Err(CallbackError::UnknownAction(other.to_owned())),
        })
        .transpose()?;
    let action = match (from_action, from_event) {
        (Some(a), Some(e)) if a != e => {
            return Err(CallbackError::invalid(
                "ConferenceAction",
                format!(
                    "{} contradicts Event {}",
                    a.as_str(),
                    event.unwrap_or_default()
                ),
            ));
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => return Err(CallbackError::Missing("ConferenceAction")),
    };
    let shape = if event.is_some() {
        Shape::Live
    } else {
        Shape::Documented
    };
    let conference_uuid = Id::parse("ConferenceUUID", fields.require("ConferenceUUID")?)?;
    let call_uuid = fields
        .get("CallUUID")
        .map(|v| Id::parse("CallUUID", v))
        .transpose()?;
    if matches!(action, Action::Enter | Action::Exit) && call_uuid.is_none() {
        return Err(CallbackError::Missing("CallUUID"));
    }
    let conference_name = fields.get("ConferenceName").map(|name| {
        if name.chars().count() > MAX_NAME_CHARS {
            Err(CallbackError::invalid(
                "ConferenceName",
                "longer than 512 characters",
            ))
        } else {
            Ok(name.to_owned())
        }
    });
    let recording_url = fields
        .get("RecordingUrl")
        .map(|v| parse_url("RecordingUrl", v))
        .transpose()?;
    Ok(ConferenceCallback::Event(Box::new(ConferenceEvent {
        shape,
        action,
        conference_uuid,
        conference_name: conference_name.transpose()?,
        call_uuid,
        member_id: parse_number(fields, "ConferenceMemberID")?,
        from: number_field(fields, "From")?,
        to: number_field(fields, "To")?,
        direction: fields.get("Direction").map(str::to_owned),
        current_size: parse_number(fields, "ConferenceCurrentSize")?,
        timestamp: fields
            .get("Timestamp")
            .map(|t| {
                parse_provider_timestamp(t, zone)
                    .map_err(|e| CallbackError::invalid("Timestamp", e.to_string()))
            })
            .transpose()?,
        first_member: parse_flag(fields, "ConferenceFirstMember")?,
        last_member: parse_flag(fields, "ConferenceLastMember")?,
        recording_url,
    })))
}

pub fn parse_record_stop(fields: &Fields) -> Result<RecordStop, CallbackError> {
    match fields.get("Event") {
        Some("RecordStop") => {}
        Some(other) => return Err(CallbackError::UnknownEvent(other.to_owned())),
        None => return Err(CallbackError::Missing("Event")),
    }
    let url = match (fields.get("RecordUrl"), fields.get("RecordFile")) {
        (Some(url), _) => parse_url("RecordUrl", url)?,
        (None, Some(file)) => parse_url("RecordFile", file)?,
        (None, None) => return Err(CallbackError::Missing("RecordUrl")),
    };
    Ok(RecordStop {
        recording_id: Id::parse("RecordingID", fields.require("RecordingID")?)?,
        url,
        call_uuid: Id::parse("CallUUID", fields.require("CallUUID")?)?,
        duration_ms: match parse_number::<u64>(fields, "RecordingDurationMs")? {
            Some(ms) => Some(ms),
            None => parse_number::<u64>(fields, "RecordingDuration")?.map(|s| s * 1000),
        },
        started_at: parse_number::<i64>(fields, "RecordingStartMs")?
            .map(|ms| {
                chrono::DateTime::from_timestamp_millis(ms)
                    .ok_or_else(|| CallbackError::invalid("RecordingStartMs", "out of range"))
            })
            .transpose()?,
    })
}

fn parse_number<T: std::str::FromStr>(
    fields: &Fields,
    name: &'static str,
) -> Result<Option<T>, CallbackError> {
    fields
        .get(name)
        .map(|v| {
            v.trim()
                .parse::<T>()
                .map_err(|_| CallbackError::invalid(name, "not a whole number"))
        })
        .transpose()
}

fn parse_flag(fields: &Fields, name: &'static str) -> Result<Option<bool>, CallbackError> {
    fields
        .get(name)
        .map(|v| match v.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(CallbackError::invalid(name, "not true or false")),
        })
        .transpose()
}

fn number_field(fields: &Fields, name: &'static str) -> Result<Option<String>, CallbackError> {
    fields
        .get(name)
        .map(|v| {
            if v.len() > 256 || v.chars().any(char::is_control) {
                Err(CallbackError::invalid(
                    name,
                    "not a phone number or SIP URI",
                ))
            } else {
                Ok(v.trim().to_owned())
            }
        })
        .transpose()
}

fn parse_url(field: &'static str, raw: &str) -> Result<Url, CallbackError> {
    let url = Url::parse(raw.trim()).map_err(|e| CallbackError::invalid(field, e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(CallbackError::invalid(field, "not an http(s) URL"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Fields {
        let path = format!(
            "{}/../shared/fixtures/callbacks/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        Fields::parse(std::fs::read(path).unwrap().trim_ascii()).unwrap()
    }

    fn event(fields: &Fields) -> ConferenceEvent {
        match parse_conference(fields, Tz::UTC).unwrap() {
            ConferenceCallback::Event(e) => *e,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn the_documented_end_carries_time_size_and_recording() {
        let e = event(&fixture("documented-end-with-recording.form"));
        assert_eq!((e.shape, e.action), (Shape::Documented, Action::End));
        assert_eq!(e.conference_name.as_deref(), Some("WeeklyStandup"));
        assert_eq!(e.current_size, Some(0));
        assert_eq!(
            crate::time::to_db(e.timestamp.unwrap()),
            "2026-05-19T10:58:47.000000Z"
        );
        assert_eq!(
            e.recording_url.unwrap().as_str(),
            "https://recordings.vobiz.ai/conf-3f9a1b2c.mp3"
        );
    }

    #[test]
    fn the_live_enter_and_exit_carry_member_ids_and_flags() {
        let enter = event(&fixture("live-enter.form"));
        assert_eq!((enter.shape, enter.action), (Shape::Live, Action::Enter));
        assert_eq!(enter.member_id, Some(249));
        assert_eq!(enter.first_member, Some(true));
        assert_eq!(enter.timestamp, None);
        assert_eq!(enter.conference_name.as_deref(), Some("Sales Sync"));
        let exit = event(&fixture("live-exit-last.form"));
        assert_eq!((exit.action, exit.last_member), (Action::Exit, Some(true)));
        assert_eq!(exit.from, None);
    }

    #[test]
    fn the_record_stop_fixture_parses() {
        let stop = parse_record_stop(&fixture("live-record-stop.form")).unwrap();
        assert_eq!(
            stop.recording_id.as_str(),
            "c3a2b1d0-1111-4222-8333-944455556666"
        );
        assert_eq!(stop.duration_ms, Some(1_520_340));
        assert_eq!(stop.url.host_str(), Some("media.vobiz.ai"));
        assert_eq!(
            stop.started_at.map(|t| t.timestamp_millis()),
            Some(1_779_787_921_000),
            "RecordingStartMs places the recording on the meeting's time axis"
        );
    }

    #[test]
    fn the_wait_music_request_is_recognised() {
        let fields = Fields::parse(
            b"ConferenceAction=waitSound&Event=ConferenceRemoteSounds&ConferenceUUID=abc",
        )
        .unwrap();
        assert!(matches!(
            parse_conference(&fields, Tz::UTC),
            Ok(ConferenceCallback::WaitSound { .. })
        ));
    }

    #[test]
    fn bad_callbacks_get_a_precise_reason() {
        let cases: &[(&[u8], &str)] = &[
            (b"ConferenceAction=enter&CallUUID=c", "missing_field"),
            (b"ConferenceUUID=u&CallUUID=c", "missing_field"),
            (b"ConferenceAction=dance&ConferenceUUID=u", "unknown_action"),
            (
                b"ConferenceAction=end&ConferenceUUID=u&Timestamp=soon",
                "invalid_field",
            ),
            (
                b"ConferenceAction=end&ConferenceUUID=u&ConferenceCurrentSize=three",
                "invalid_field",
            ),
            (b"ConferenceAction=enter&ConferenceUUID=u", "missing_field"),
            (
                b"ConferenceAction=exit&Event=ConferenceEnter&ConferenceUUID=u&CallUUID=c",
                "invalid_field",
            ),
            (
                b"ConferenceAction=end&ConferenceUUID=u&RecordingUrl=file%3A%2F%2F%2Fetc%2Fpasswd",
                "invalid_field",
            ),
            (
                b"ConferenceAction=exit&ConferenceUUID=u&CallUUID=c&ConferenceLastMember=maybe",
                "invalid_field",
            ),
            (
                b"ConferenceAction=end&ConferenceUUID=a%20b",
                "invalid_field",
            ),
        ];
        for (body, code) in cases {
            let fields = Fields::parse(body).unwrap();
            let err = parse_conference(&fields, Tz::UTC).unwrap_err();
            assert_eq!(err.code(), *code, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn a_record_stop_may_name_its_file_instead_of_its_url() {
        let fields = Fields::parse(
            b"Event=RecordStop&RecordingID=r1&RecordFile=https%3A%2F%2Fmedia.vobiz.ai%2Fr1.mp3&CallUUID=c&RecordingDuration=12",
        )
        .unwrap();
        let stop = parse_record_stop(&fields).unwrap();
        assert_eq!(stop.duration_ms, Some(12_000));
        assert_eq!(stop.url.path(), "/r1.mp3");
        assert_eq!(stop.started_at, None, "RecordingStartMs is optional");
    }
}

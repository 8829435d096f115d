//! The JSON sidecar beside each archived recording: what it holds, where it sits, and the rows
//! a database rebuilt from the archive takes from it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::db::model::{Conference, Participant, Source, Transcript};
use crate::db::restore::{Restored, RestoredLeg, RestoredRecording};
use crate::failure::Failure;
use crate::storage::{Store, StoreError};
use crate::vobiz::phone;
use crate::vobiz::sniff::AudioFormat;

pub const SIDECAR_SCHEMA: &str = "confvault.recording/1";

/// The sidecar written beside each recording.
#[derive(Debug, Serialize, Deserialize)]
pub struct Sidecar {
    pub schema: String,
    pub recording: SidecarRecording,
    pub conference: Option<Conference>,
    pub participants: Vec<Participant>,
    /// What the Vobiz REST API listed, for recordings the account sync found: numbers,
    /// conference name, times, length, type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vobiz: Option<serde_json::Value>,
    /// The transcription Vobiz sent, once it came (written into the sidecar then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Transcript>,
    pub archived_by: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SidecarRecording {
    pub recording_id: String,
    pub source: Source,
    pub source_url: String,
    pub call_uuid: Option<String>,
    pub duration_ms: Option<i64>,
    /// Length in seconds: from the callback or the REST API where given, else read from
    /// the file's headers.
    #[serde(default)]
    pub duration_seconds: Option<f64>,
    /// When it was recorded, as the recordings list orders it (written since the database can
    /// be rebuilt from sidecars; older ones lack it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<DateTime<Utc>>,
    /// When the recording started, where its source said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// The numbers the REST API gave (callbacks give none: a leg's numbers are its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub format: AudioFormat,
    pub content_type: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub object_key: String,
    pub archived_at: DateTime<Utc>,
    /// When Vobiz's copy was deleted (written when that happens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_deleted_at: Option<DateTime<Utc>>,
}

/// The sidecar's key: the recording's key with `.json` in place of its extension.
pub fn sidecar_key(key: &str) -> String {
    match key.rsplit_once('.') {
        Some((stem, ext)) if !ext.contains('/') => format!("{stem}.json"),
        _ => format!("{key}.json"),
    }
}

/// What an [`edit`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edited {
    Written,
    /// No sidecar beside the recording.
    Missing,
    /// The sidecar is not a JSON object; it is left as it is.
    NotAnObject,
}

/// Reads the sidecar beside the recording at `recording_key`, lets `change` edit its fields and
/// writes it back. Edited as JSON, not through [`Sidecar`], so fields of a newer schema survive.
pub async fn edit(
    store: &dyn Store,
    recording_key: &str,
    change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> Result<Edited, StoreError> {
    let key = sidecar_key(recording_key);
    let Some(bytes) = store.get_bytes(&key).await? else {
        return Ok(Edited::Missing);
    };
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_slice(&bytes) else {
        return Ok(Edited::NotAnObject);
    };
    change(&mut fields);
    let json = serde_json::to_vec_pretty(&fields)
        .map_err(|e| StoreError::Permanent(Failure::caused_by("writing the sidecar", e)))?;
    store.put_bytes(&key, json, "application/json").await?;
    Ok(Edited::Written)
}

impl Sidecar {
    /// What the database holds of this recording once rebuilt, the recording stored at
    /// `location`. A sidecar written before `recorded_at` was kept is placed at its start, else
    /// at its conference's end (when a recording of a conference becomes known), else at
    /// when it was archived.
    pub fn into_restored(self, location: String) -> Restored {
        let r = self.recording;
        let recorded_at = r
            .recorded_at
            .or(r.started_at)
            .or(self.conference.as_ref().and_then(|c| c.ended_at))
            .unwrap_or(r.archived_at);
        let legs = self
            .participants
            .into_iter()
            .map(|participant| RestoredLeg {
                from_normalized: phone::normalized(participant.from.as_deref()),
                participant,
            })
            .collect();
        Restored {
            recording: RestoredRecording {
                from_normalized: phone::normalized(r.from.as_deref()),
                to_normalized: phone::normalized(r.to.as_deref()),
                recording_id: r.recording_id,
                source: r.source,
                source_url: r.source_url,
                call_uuid: r.call_uuid,
                duration_ms: r.duration_ms,
                started_at: r.started_at,
                recorded_at,
                from: r.from,
                to: r.to,
                vobiz_object: self.vobiz.map(|v| v.to_string()),
                format: r.format.extension().to_owned(),
                size_bytes: r.size_bytes,
                sha256: r.sha256,
                object_key: r.object_key,
                location,
                archived_at: r.archived_at,
                source_deleted_at: r.source_deleted_at,
            },
            conference: self.conference,
            legs,
            transcript: self.transcript,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sidecar_sits_beside_its_recording() {
        assert_eq!(sidecar_key("a/b/c-r.mp3"), "a/b/c-r.json");
        assert_eq!(sidecar_key("a.b/c"), "a.b/c.json");
    }

    fn written_before_recorded_at_was_kept() -> serde_json::Value {
        serde_json::json!({
            "schema": SIDECAR_SCHEMA,
            "recording": {
                "recording_id": "r1", "source": "conference_end",
                "source_url": "https://media.example/r1.mp3", "call_uuid": null,
                "duration_ms": 61000, "duration_seconds": 61.0, "format": "mp3",
                "content_type": "audio/mpeg", "size_bytes": 1234, "sha256": "ab12",
                "object_key": "2026/05/19/Standup/c1-r1.mp3",
                "archived_at": "2026-05-19T09:31:00Z"
            },
            "conference": {
                "conference_uuid": "c1", "name": "Standup", "status": "ended",
                "started_at": "2026-05-19T09:00:00Z", "ended_at": "2026-05-19T09:30:00Z",
                "end_reason": "end_event", "peak_size": 2
            },
            "participants": [{
                "call_uuid": "leg1", "member_id": null, "from": "+1 (415) 555-0100",
                "to": "+14155550199", "direction": "inbound",
                "joined_at": "2026-05-19T09:00:00Z", "left_at": "2026-05-19T09:30:00Z"
            }],
            "archived_by": "confvault 0.1.0"
        })
    }

    #[test]
    fn an_older_sidecar_restores_its_recording_at_the_conference_end_with_searchable_legs() {
        let sidecar: Sidecar = serde_json::from_value(written_before_recorded_at_was_kept())
            .expect("a sidecar of schema 1 without the newer fields still reads");

        let restored = sidecar.into_restored("s3://b/2026/05/19/Standup/c1-r1.mp3".into());

        let r = &restored.recording;
        assert_eq!(r.recorded_at.to_rfc3339(), "2026-05-19T09:30:00+00:00");
        assert_eq!(r.format, "mp3");
        assert_eq!(r.location, "s3://b/2026/05/19/Standup/c1-r1.mp3");
        assert_eq!(r.from_normalized, None);
        assert_eq!(restored.conference.unwrap().name, "Standup");
        assert_eq!(restored.legs.len(), 1);
        assert_eq!(
            restored.legs[0].from_normalized.as_deref(),
            Some(phone::normalize("+14155550100").as_str())
        );
    }

    #[test]
    fn a_sidecar_that_says_when_it_was_recorded_is_placed_there() {
        let mut json = written_before_recorded_at_was_kept();
        json["recording"]["recorded_at"] = "2026-05-19T09:05:00Z".into();
        json["recording"]["from"] = "+14155550142".into();
        let sidecar: Sidecar = serde_json::from_value(json).unwrap();

        let restored = sidecar.into_restored(String::new());

        assert_eq!(
            restored.recording.recorded_at.to_rfc3339(),
            "2026-05-19T09:05:00+00:00"
        );
        assert_eq!(
            restored.recording.from_normalized.as_deref(),
            Some(phone::normalize("+14155550142").as_str())
        );
    }
}

//! What a meeting summary says, computed from the roster (src/roster.rs): attendees with their
//! first join, last leave, time on the call and rejoins, peak size, recordings with their links.

use chrono_tz::Tz;
use serde::Serialize;

use super::recipients::Directory;
use crate::db::model::{Conference, Participant};
use crate::roster;
use crate::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct SummaryView {
    pub conference_name: String,
    pub conference_uuid: String,
    pub timezone: String,
    pub started: String,
    pub ended: String,
    pub duration: String,
    pub peak_participants: usize,
    pub attendees: Vec<AttendeeView>,
    pub recordings: Vec<RecordingView>,
    pub archive_failed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttendeeView {
    pub name: Option<String>,
    pub number: String,
    pub first_join: String,
    pub last_leave: String,
    pub time_on_call: String,
    pub rejoins: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordingView {
    pub format: String,
    pub size: String,
    pub length: Option<String>,
    pub link: Option<String>,
    pub archived: bool,
    pub error: Option<String>,
}

/// A recording as the summary needs it.
pub struct RecordingFacts {
    pub format: Option<String>,
    pub size_bytes: Option<i64>,
    pub duration_ms: Option<i64>,
    pub link: Option<String>,
    pub archived: bool,
    pub error: Option<String>,
}

pub fn build(
    conference: &Conference,
    legs: &[Participant],
    recordings: Vec<RecordingFacts>,
    directory: &Directory,
    zone: Tz,
) -> SummaryView {
    let end = conference
        .ended_at
        .or_else(|| legs.iter().filter_map(|l| l.left_at).max());
    let start = conference
        .started_at
        .or_else(|| legs.iter().filter_map(|l| l.joined_at).min());
    let local = |t: Option<Instant>| {
        t.map_or_else(
            || "unknown".to_owned(),
            |t| crate::time::local(t, zone, "%Y-%m-%d %H:%M"),
        )
    };
    let local_time = |t: Option<Instant>| {
        t.map_or_else(
            || "–".to_owned(),
            |t| crate::time::local(t, zone, "%H:%M:%S"),
        )
    };
    let archive_failed = recordings.iter().any(|r| !r.archived);
    SummaryView {
        conference_name: conference.name.clone(),
        conference_uuid: conference.conference_uuid.clone(),
        timezone: zone.name().to_owned(),
        started: local(start),
        ended: local(end),
        duration: match (start, end) {
            (Some(s), Some(e)) => human_duration((e - s).num_seconds()),
            _ => "unknown".to_owned(),
        },
        peak_participants: roster::peak(legs, end)
            .max(conference.peak_size.unwrap_or(0).max(0) as usize),
        attendees: roster::people(legs, end, directory)
            .into_iter()
            .map(|a| AttendeeView {
                first_join: local_time(a.first_join()),
                last_leave: local_time(a.last_leave()),
                time_on_call: human_duration(a.seconds()),
                rejoins: a.rejoins(),
                name: a.name,
                number: a.number,
            })
            .collect(),
        recordings: recordings
            .into_iter()
            .map(|r| RecordingView {
                format: r
                    .format
                    .map(|f| f.to_ascii_uppercase())
                    .unwrap_or_else(|| "–".into()),
                size: r.size_bytes.map(human_size).unwrap_or_else(|| "–".into()),
                length: r.duration_ms.map(|ms| human_duration((ms + 500) / 1000)),
                link: r.link,
                archived: r.archived,
                error: r.error,
            })
            .collect(),
        archive_failed,
    }
}

pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m {sec:02}s"),
        (h, min, _) => format!("{h}h {min:02}m"),
    }
}

pub fn human_size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.0} KiB", b / 1024.0)
    } else {
        format!("{b} B")
    }
}

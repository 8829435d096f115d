//! SQL that both backends share because it decides something in one place: a recording's
//! status, derived from its archive job.

/// A recording's status, derived from its archive job and whether it was archived: the one
/// place it is decided. `r` is the recording, `j` its archive job (LEFT JOINed).
pub(crate) const STATUS_SQL: &str = "CASE WHEN r.archived_at IS NOT NULL THEN 'archived'
          WHEN j.state = 'failed' THEN 'failed'
          WHEN j.state = 'running' THEN 'archiving'
          ELSE 'pending' END";

/// The archive job of recording `r`, as `j`.
pub(crate) const ARCHIVE_JOB_JOIN: &str =
    "LEFT JOIN jobs j ON j.kind = 'archive_recording' AND j.subject = r.recording_id";

use super::catalog::{RecordingCursor, RecordingEntry, RecordingPage};
use super::model::{ConferenceRow, Cursor, Instant, Page};

/// When the summary of a conference is due, if it is: once it has ended and none of its
/// recordings is still being archived, at once; with no recording at all, at
/// `no_recording_run_at` (`None`: such conferences get no summary).
pub(crate) fn summary_run_at(
    ended: bool,
    recordings: i64,
    unsettled: i64,
    now: Instant,
    no_recording_run_at: Option<Instant>,
) -> Option<Instant> {
    match (ended, recordings, unsettled) {
        (false, _, _) => None,
        (true, 0, _) => no_recording_run_at,
        (true, _, 0) => Some(now),
        _ => None,
    }
}

/// A LIKE pattern matching `q` anywhere, with `%`, `_` and `\` taken literally (`ESCAPE '\'`).
pub(crate) fn like_pattern(q: &str) -> String {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// A page of conferences from up to `limit + 1` rows: the one more than asked for says there is
/// a next page, which starts after the last row kept.
pub(crate) fn conference_page(mut rows: Vec<ConferenceRow>, limit: u32) -> Page {
    let next = more(&mut rows, limit).then(|| {
        rows.last().map(|r| Cursor {
            started_at: r.started_at,
            conference_uuid: r.conference_uuid.clone(),
        })
    });
    Page {
        rows,
        next: next.flatten(),
    }
}

/// [`conference_page`] for recordings.
pub(crate) fn recording_page(mut rows: Vec<RecordingEntry>, limit: u32) -> RecordingPage {
    let next = more(&mut rows, limit).then(|| {
        rows.last().map(|last| RecordingCursor {
            recorded_at: last.recorded_at,
            recording_id: last.recording_id.clone(),
        })
    });
    RecordingPage {
        rows,
        next: next.flatten(),
    }
}

/// Cuts `rows` to `limit`; whether there were more.
fn more<T>(rows: &mut Vec<T>, limit: u32) -> bool {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    more
}

//! What both backends share because it decides something in one place: a recording's status,
//! derived from its archive job, the columns a recording is listed with, when a summary is
//! due, how pages and name patterns are made, and how the queue gauges count jobs.

/// The queue's live states by count, through the state index: never the done history.
pub(crate) const LIVE_JOBS_BY_STATE: &str = "SELECT state, COUNT(*) FROM jobs
     WHERE state IN ('pending', 'running', 'failed') GROUP BY state";

/// Jobs done: reads the whole history, which only grows, so it is asked for sparingly.
pub(crate) const DONE_JOBS: &str = "SELECT COUNT(*) FROM jobs WHERE state = 'done'";

/// A recording's status, derived from its archive job and whether it was archived: the one
/// place it is decided. `r` is the recording, `j` its archive job (LEFT JOINed).
pub(crate) const STATUS_SQL: &str = "CASE WHEN r.archived_at IS NOT NULL THEN 'archived'
          WHEN j.state = 'failed' THEN 'failed'
          WHEN j.state = 'running' THEN 'archiving'
          ELSE 'pending' END";

/// The columns a recording is listed with (`r` the recording, `j` its archive job): its numbers
/// are the REST object's, else those of the call leg it recorded.
pub(crate) fn recording_entry_columns() -> String {
    format!(
        "r.recording_id, r.conference_uuid, {STATUS_SQL}, r.format, r.size_bytes, r.sha256,
         r.duration_ms, r.recorded_at,
         COALESCE(r.from_number, (SELECT p.from_number FROM participants p
                                  WHERE p.call_uuid = r.call_uuid LIMIT 1)),
         COALESCE(r.to_number, (SELECT p.to_number FROM participants p
                                WHERE p.call_uuid = r.call_uuid LIMIT 1)),
         r.source_deleted_at"
    )
}

/// The archive job of recording `r`, as `j`.
pub(crate) const ARCHIVE_JOB_JOIN: &str =
    "LEFT JOIN jobs j ON j.kind = 'archive_recording' AND j.subject = r.recording_id";

use super::DbError;
use super::catalog::{RecordingCursor, RecordingEntry, RecordingPage};
use super::model::{ConferenceRow, Cursor, Filter, Instant, Page};

/// When the summary of a conference is due, if it is: once it has ended and none of its
/// recordings is still being archived, at once; with no recording at all, at
/// `no_recording_run_at` (`None`: such conferences get no summary).
/// Generic over how the backend holds an instant, so neither converts to decide.
pub(crate) fn summary_run_at<T>(
    ended: bool,
    recordings: i64,
    unsettled: i64,
    now: T,
    no_recording_run_at: Option<T>,
) -> Option<T> {
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

/// Where in the list of conferences (newest start first, then those without a start, by id)
/// a read begins.
#[derive(Debug, Clone, Copy)]
pub(crate) enum After<'a> {
    Nothing,
    /// After this conference, among those with a start.
    Dated(&'a Instant, &'a str),
    /// Among those without a start: after this one, or from their first.
    Undated(Option<&'a str>),
}

/// The page of conferences that `f` asks for, read by `matching`: the first `wanted` that meet
/// every filter after a point of the list, in its order.
///
/// A row comparison with a cursor is never true of an unknown start, and a condition that let
/// those through as well would cost the seek into the newest-first index. So the conferences
/// without a start, which come after every dated one, are read apart, once the dated ones
/// after the cursor run out.
pub(crate) fn conferences_after(
    f: &Filter,
    mut matching: impl FnMut(After<'_>, usize) -> Result<Vec<ConferenceRow>, DbError>,
) -> Result<Page, DbError> {
    let limit = f.limit.clamp(1, 200);
    // One more than a page, to tell whether another follows.
    let wanted = limit as usize + 1;
    let rows = match &f.after {
        None => matching(After::Nothing, wanted)?,
        Some(Cursor {
            started_at: Some(at),
            conference_uuid,
        }) => {
            let mut rows = matching(After::Dated(at, conference_uuid), wanted)?;
            if rows.len() < wanted {
                rows.extend(matching(After::Undated(None), wanted - rows.len())?);
            }
            rows
        }
        Some(Cursor {
            started_at: None,
            conference_uuid,
        }) => matching(After::Undated(Some(conference_uuid)), wanted)?,
    };
    Ok(conference_page(rows, limit))
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

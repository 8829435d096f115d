//! Listing recordings, linked to a conference or not: newest first with keyset pagination, and
//! one recording in full.

use rusqlite::{Connection, Row, named_params};

use super::access::{may_see, visible_condition};
use super::conferences::instant;
use super::fts::{self, Index};
use super::said;
use crate::db::DbError;
use crate::db::access::Visibility;
use crate::db::catalog::{RecordingDetail, RecordingEntry, RecordingFilter, RecordingPage};
use crate::db::derived::{ARCHIVE_JOB_JOIN, STATUS_SQL};
use crate::db::derived::{recording_entry_columns, recording_page};
use crate::time::to_db;

type EntryRow = (RecordingEntry, String, Option<String>);

fn entry(r: &Row<'_>) -> rusqlite::Result<EntryRow> {
    let duration_ms: Option<i64> = r.get(6)?;
    Ok((
        RecordingEntry {
            recording_id: r.get(0)?,
            conference_uuid: r.get(1)?,
            status: r.get(2)?,
            format: r.get(3)?,
            size_bytes: r.get(4)?,
            sha256: r.get(5)?,
            duration_seconds: duration_ms.map(|ms| ms as f64 / 1000.0),
            recorded_at: chrono::DateTime::UNIX_EPOCH,
            from: r.get(8)?,
            to: r.get(9)?,
            source_deleted_at: None,
        },
        r.get(7)?,
        r.get(10)?,
    ))
}

fn finish((entry, recorded_at, deleted_at): EntryRow) -> Result<RecordingEntry, DbError> {
    Ok(RecordingEntry {
        recorded_at: instant(Some(recorded_at))?.unwrap_or(chrono::DateTime::UNIX_EPOCH),
        source_deleted_at: instant(deleted_at)?,
        ..entry
    })
}

/// Matches of a said search above which the list is walked rather than the matches collected:
/// collecting costs a few microseconds a match, walking a millisecond per 256 recordings
/// listed (measured at 333,334 transcripts).
const COMMON_WORD_MATCHES: usize = 5000;

pub fn search(
    conn: &Connection,
    f: &RecordingFilter,
    visible: &Visibility,
) -> Result<RecordingPage, DbError> {
    search_with(conn, f, visible, COMMON_WORD_MATCHES)
}

/// [`search`], collecting a said search's matches when there are fewer than `common_matches`.
pub(super) fn search_with(
    conn: &Connection,
    f: &RecordingFilter,
    visible: &Visibility,
    common_matches: usize,
) -> Result<RecordingPage, DbError> {
    // Only the filters given become conditions, so that the time bounds and the cursor are
    // ranges on the (recorded_at, recording_id) index rather than tests on every row.
    let mut conditions = vec!["1"];
    let mut values: Vec<(&str, Box<dyn rusqlite::ToSql>)> = Vec::new();
    if let Some(since) = f.since {
        conditions.push("r.recorded_at >= :since");
        values.push((":since", Box::new(to_db(since))));
    }
    if let Some(until) = f.until {
        conditions.push("r.recorded_at < :until");
        values.push((":until", Box::new(to_db(until))));
    }
    match f.linked {
        Some(true) => conditions.push("r.conference_uuid IS NOT NULL"),
        Some(false) => conditions.push("r.conference_uuid IS NULL"),
        None => {}
    }
    if let Some(number) = &f.participant {
        conditions.push(
            "(r.from_normalized = :participant OR r.to_normalized = :participant
              OR r.call_uuid IN (SELECT call_uuid FROM participants
                                 WHERE from_normalized = :participant))",
        );
        values.push((":participant", Box::new(number.clone())));
    }
    let status_condition = format!("{STATUS_SQL} = :status");
    if let Some(status) = f.status {
        conditions.push(&status_condition);
        values.push((":status", Box::new(status.as_str())));
    }
    if let Some(after) = &f.after {
        conditions.push("(r.recorded_at, r.recording_id) < (:after_at, :after_id)");
        values.push((":after_at", Box::new(to_db(after.recorded_at))));
        values.push((":after_id", Box::new(after.recording_id.clone())));
    }
    let visibility = visible_condition(visible, "r.conference_uuid", None);
    if let Some((condition, vis_values)) = &visibility {
        conditions.push(condition);
        values.extend(
            vis_values
                .iter()
                .map(|(k, v)| (*k, Box::new(v.clone()) as Box<dyn rusqlite::ToSql>)),
        );
    }
    // Last, as the walk it may take reads the list under every other filter.
    if let Some(words) = &f.said {
        let fts = fts::all_words(words);
        match fts::fewer_matches_than(conn, Index::Transcripts, &fts, common_matches)? {
            Some(keys) => {
                conditions.push(
                    "r.recording_id IN (SELECT k.recording_id FROM transcript_search_keys k
                                        WHERE k.key IN (SELECT value FROM json_each(:said_keys)))",
                );
                values.push((
                    ":said_keys",
                    Box::new(serde_json::Value::from(keys).to_string()),
                ));
            }
            None => {
                let params: Vec<(&str, &dyn rusqlite::ToSql)> = values
                    .iter()
                    .map(|(name, value)| (*name, value.as_ref()))
                    .collect();
                let wanted = f.limit as usize + 1;
                let found = said::newest_recordings(
                    conn,
                    &conditions,
                    f.status.is_some(),
                    &params,
                    &fts,
                    wanted,
                )?;
                conditions.push("r.recording_id IN (SELECT value FROM json_each(:said_found))");
                values.push((
                    ":said_found",
                    Box::new(serde_json::Value::from(found).to_string()),
                ));
            }
        }
    }
    values.push((":limit", Box::new(i64::from(f.limit) + 1)));
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM recordings r {ARCHIVE_JOB_JOIN}
         WHERE {}
         ORDER BY r.recorded_at DESC, r.recording_id DESC
         LIMIT :limit",
        recording_entry_columns(),
        conditions.join(" AND ")
    ))?;
    let params: Vec<(&str, &dyn rusqlite::ToSql)> = values
        .iter()
        .map(|(name, value)| (*name, value.as_ref()))
        .collect();
    let rows = stmt.query_map(params.as_slice(), entry)?;
    let entries = rows
        .map(|row| finish(row?))
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(recording_page(entries, f.limit))
}

pub fn detail(
    conn: &Connection,
    recording_id: &str,
    visible: &Visibility,
) -> Result<Option<RecordingDetail>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {}, r.source, r.call_uuid, r.location, r.archived_at,
                COALESCE(j.attempts, 0), j.last_error
         FROM recordings r {ARCHIVE_JOB_JOIN}
         WHERE r.recording_id = :id",
        recording_entry_columns()
    ))?;
    let found = super::optional(stmt.query_row(named_params! {":id": recording_id}, |r| {
        Ok((
            entry(r)?,
            r.get(11)?,
            r.get(12)?,
            r.get(13)?,
            r.get::<_, Option<String>>(14)?,
            r.get(15)?,
            r.get(16)?,
        ))
    }))?;
    let Some((entry, source, call_uuid, location, archived_at, attempts, last_error)) = found
    else {
        return Ok(None);
    };
    let entry = finish(entry)?;
    if !may_see(conn, visible, entry.conference_uuid.as_deref())? {
        return Ok(None);
    }
    Ok(Some(RecordingDetail {
        entry,
        source,
        call_uuid,
        location,
        archived_at: instant(archived_at)?,
        attempts,
        last_error,
        transcript: super::transcripts::get(conn, recording_id)?,
    }))
}

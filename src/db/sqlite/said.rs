//! Finding conferences by what was said in them: the newest matches of the transcript index,
//! whose keys follow the conference list's order (migration 0016), read until a page is certain.

use std::collections::HashSet;

use rusqlite::{Connection, Statement, ToSql, params};

use crate::db::DbError;
use crate::db::derived::ARCHIVE_JOB_JOIN;

/// Conditions that narrow the walk to the seconds a time filter allows: a key's high bits are
/// its conference's start second (see migration 0016, which shifts it by 20 bits), and the start
/// second never decreases as the start does, so these only skip matches the filters would drop.
pub(super) const SINCE_BOUND: &str = "s.rowid >= CAST(strftime('%s', :since) AS INTEGER) * 1048576";
pub(super) const UNTIL_BOUND: &str =
    "s.rowid < (CAST(strftime('%s', :until) AS INTEGER) + 1) * 1048576";
pub(super) const AFTER_BOUND: &str =
    "s.rowid < (CAST(strftime('%s', :after_at) AS INTEGER) + 1) * 1048576";
/// The keys of transcripts of conferences without a start (in [`NO_START_SECOND`]).
pub(super) const UNDATED_BOUND: &str = "s.rowid < (-4398046511104 + 1) * 1048576";

/// Whether conference `c` has a transcript with every word of `:said`, asked of the index one
/// key at a time: for the few conferences another filter leaves, as each ask costs a seek into
/// every word's matches (a few hundred microseconds for a common word at a million).
pub(super) const MENTIONED: &str = "EXISTS (SELECT 1 FROM transcript_search_keys k
                JOIN transcript_search s ON s.rowid = k.key
                WHERE k.conference_uuid = c.conference_uuid AND transcript_search MATCH :said)";

/// The conferences that mention every word of `:said` in one transcript and meet `conditions`
/// (written over `c`, the conference, with `values` bound), newest first: at least `wanted`
/// of them when there are that many, and every one that starts in the same second as the last,
/// so that sorting them by exact start gives the first `wanted` of all matches.
///
/// The cost is the matches read: about a page's worth when the other filters keep most
/// conferences, every match when they keep few, which is why a narrow filter leads instead.
pub(super) fn newest_conferences(
    conn: &Connection,
    conditions: &[&str],
    values: &[(&str, &dyn ToSql)],
    wanted: usize,
) -> Result<Vec<String>, DbError> {
    let mut sql = String::from(
        "SELECT c.conference_uuid, s.rowid >> 20
         FROM transcript_search s
         JOIN transcript_search_keys k ON k.key = s.rowid
         JOIN conferences c ON c.conference_uuid = k.conference_uuid
         WHERE transcript_search MATCH :said",
    );
    for condition in conditions {
        sql.push_str(" AND ");
        sql.push_str(condition);
    }
    sql.push_str(" ORDER BY s.rowid DESC");
    let mut stmt = conn.prepare_cached(&sql)?;
    let params = used_by(&stmt, values)?;
    let mut rows = stmt.query(params.as_slice())?;
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    let mut last_second = None;
    while let Some(row) = rows.next()? {
        let uuid: String = row.get(0)?;
        let second: i64 = row.get(1)?;
        if last_second.is_some_and(|last| second < last) {
            break;
        }
        if seen.insert(uuid.clone()) {
            found.push(uuid);
            if found.len() == wanted {
                last_second = Some(second);
            }
        }
    }
    Ok(found)
}

/// The second that keys of transcripts without a dated conference sit in (migration 0016).
const NO_START_SECOND: i64 = -4_398_046_511_104;

/// Recordings listed for the first read of the index when the recordings list is walked; each
/// later read takes twice as many, up to [`WALK_BATCH_MAX`]. A read costs about half a
/// millisecond however wide its span, so words found in few transcripts, which need a long
/// walk, take a few wide reads instead of many narrow ones.
const WALK_BATCH: usize = 256;
const WALK_BATCH_MAX: usize = 4096;

/// The newest recordings meeting `conditions` (over `r`, the recording, and, when `reads_job`,
/// `j`, its archive job) whose transcript holds every word of `fts`, in the recordings list's
/// order: the first `wanted`, or all there are.
///
/// The list is read in its own order, a batch at a time; a batch's transcripts are matched by
/// reading the index's matches over the span of keys the batch covers. Recordings listed
/// together were mostly made in conferences that started close together, so the span is
/// narrow, and reading a match costs a fraction of a microsecond where asking the index about
/// one key costs a few hundred.
pub(super) fn newest_recordings(
    conn: &Connection,
    conditions: &[&str],
    reads_job: bool,
    params: &[(&str, &dyn ToSql)],
    fts: &str,
    wanted: usize,
) -> Result<Vec<String>, DbError> {
    // The archive job is joined only when a condition reads it (the status), not for every row.
    let job = if reads_job { ARCHIVE_JOB_JOIN } else { "" };
    let sql = format!(
        "SELECT r.recording_id, k.key FROM recordings r {job}
         JOIN transcript_search_keys k ON k.recording_id = r.recording_id
         WHERE {}
         ORDER BY r.recorded_at DESC, r.recording_id DESC",
        conditions.join(" AND ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let params = used_by(&stmt, params)?;
    let mut rows = stmt.query(params.as_slice())?;
    let mut found = Vec::new();
    let mut batch_size = WALK_BATCH;
    let mut batch: Vec<(String, i64)> = Vec::with_capacity(batch_size);
    loop {
        let row = rows.next()?;
        let listed_all = row.is_none();
        if let Some(row) = row {
            batch.push((row.get(0)?, row.get(1)?));
        }
        if batch.len() == batch_size || listed_all {
            batch_size = (batch_size * 2).min(WALK_BATCH_MAX);
            let matching = matches_among(conn, fts, &batch)?;
            for (recording_id, key) in batch.drain(..) {
                if matching.contains(&key) {
                    found.push(recording_id);
                    if found.len() == wanted {
                        return Ok(found);
                    }
                }
            }
        }
        if listed_all {
            return Ok(found);
        }
    }
}

/// The keys among `batch`'s that hold the words: the matches over the span of its keys, taken
/// apart for transcripts without a dated conference, whose keys sit far below the rest.
fn matches_among(
    conn: &Connection,
    fts: &str,
    batch: &[(String, i64)],
) -> Result<HashSet<i64>, DbError> {
    let (undated, dated): (Vec<i64>, Vec<i64>) = batch
        .iter()
        .map(|(_, key)| *key)
        .partition(|key| key >> 20 == NO_START_SECOND);
    let mut stmt = conn.prepare_cached(
        "SELECT rowid FROM transcript_search
         WHERE transcript_search MATCH ?1 AND rowid BETWEEN ?2 AND ?3",
    )?;
    let mut found = HashSet::new();
    for keys in [undated, dated] {
        let (Some(low), Some(high)) = (keys.iter().min(), keys.iter().max()) else {
            continue;
        };
        for key in stmt.query_map(params![fts, low, high], |r| r.get::<_, i64>(0))? {
            found.insert(key?);
        }
    }
    Ok(found)
}

/// The named values `stmt` uses, of `values`: a walk is given every value of the page it
/// serves, some of which (its limit, say) it has no place for.
fn used_by<'a>(
    stmt: &Statement<'_>,
    values: &[(&'a str, &'a dyn ToSql)],
) -> Result<Vec<(&'a str, &'a dyn ToSql)>, DbError> {
    let mut used = Vec::with_capacity(values.len());
    for &(name, value) in values {
        if stmt.parameter_index(name)?.is_some() {
            used.push((name, value));
        }
    }
    Ok(used)
}

#[cfg(test)]
#[path = "said_tests.rs"]
mod tests;

//! Finding conferences by what was said in them: the newest matches of the transcript index,
//! whose keys follow the conference list's order (migration 0016), read until a page is certain.

use std::collections::HashSet;

use rusqlite::Connection;
use rusqlite::types::Value;

use crate::db::DbError;

/// Conditions that narrow the walk to the seconds a time filter allows: a key's high bits are
/// its conference's start second (see migration 0016, which shifts it by 20 bits), and the start
/// second never decreases as the start does, so these only skip matches the filters would drop.
pub(super) const SINCE_BOUND: &str = "s.rowid >= CAST(strftime('%s', :since) AS INTEGER) * 1048576";
pub(super) const UNTIL_BOUND: &str =
    "s.rowid < (CAST(strftime('%s', :until) AS INTEGER) + 1) * 1048576";
pub(super) const AFTER_BOUND: &str =
    "s.rowid < (CAST(strftime('%s', :after_at) AS INTEGER) + 1) * 1048576";

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
    values: &[(&str, Value)],
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
    let mut params: Vec<(&str, &dyn rusqlite::ToSql)> = Vec::new();
    for (name, value) in values {
        // The page's own values (its limit, say) are not all used here.
        if stmt.parameter_index(name)?.is_some() {
            params.push((name, value));
        }
    }
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

#[cfg(test)]
#[path = "said_tests.rs"]
mod tests;

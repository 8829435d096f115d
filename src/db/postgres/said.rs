//! Finding conferences by what was said in them on PostgreSQL: the newest matches of
//! `transcript_search`, which keeps each transcript's words beside its conference's start
//! (migration 0010), read until the page is certain.

use tokio_postgres::types::ToSql;

use super::tx::PgTx;
use crate::db::DbError;

/// The conferences that mention every one of `words` in one transcript and meet `conditions`
/// (written over `c`, the conference, and `s`, the transcript's row, numbered for `params`),
/// newest first: the first `wanted` of them, or all there are.
///
/// Rows come in the list's exact order, one per transcript, so a conference with several
/// transcripts can take several: when the rows read hold too few conferences, more are read.
pub(super) fn newest_conferences(
    tx: &PgTx<'_>,
    conditions: &[String],
    params: &[&(dyn ToSql + Sync)],
    words: &[String],
    wanted: usize,
) -> Result<Vec<String>, DbError> {
    let said = words.join(" ");
    let mut params = params.to_vec();
    params.push(&said);
    let mut filter = format!("s.words @@ plainto_tsquery('simple', ${})", params.len());
    for condition in conditions {
        filter.push_str(" AND ");
        filter.push_str(condition);
    }
    let mut rows_to_read = wanted;
    loop {
        let sql = format!(
            "SELECT s.conference_uuid FROM transcript_search s
             JOIN conferences c ON c.conference_uuid = s.conference_uuid
             WHERE {filter}
             ORDER BY s.started_at DESC NULLS LAST, s.conference_uuid DESC
             LIMIT {rows_to_read}"
        );
        let rows = tx.query_unprepared(&sql, &params)?;
        let mut found: Vec<String> = Vec::with_capacity(wanted);
        for row in &rows {
            let uuid: String = row.try_get(0)?;
            if !found.contains(&uuid) {
                found.push(uuid);
            }
        }
        if found.len() >= wanted || rows.len() < rows_to_read {
            found.truncate(wanted);
            return Ok(found);
        }
        rows_to_read *= 4;
    }
}

//! Asking SQLite's full-text indexes: what people type, quoted so it is never query syntax, and
//! whether a query's matches are few enough to collect rather than walk.

use rusqlite::{Connection, params};

use crate::db::DbError;

/// The FTS5 indexes a search probes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Index {
    /// Conference names, by trigram (migration 0003).
    ConferenceNames,
    /// Transcripts, keyed by recency (migration 0016).
    Transcripts,
}

/// A user's text as one FTS5 phrase: quotes doubled, so no query syntax leaks through.
pub(super) fn phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// An FTS5 query for documents holding every one of `words`, each as a phrase of its own.
pub(super) fn all_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| phrase(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The row ids of `index`'s matches for `query`, or `None` when there are `limit` or more: then
/// walking in the list's order finds a page sooner than collecting and sorting them.
pub(super) fn fewer_matches_than(
    conn: &Connection,
    index: Index,
    query: &str,
    limit: usize,
) -> Result<Option<Vec<i64>>, DbError> {
    let sql = match index {
        Index::ConferenceNames => {
            "SELECT rowid FROM conference_names WHERE conference_names MATCH ?1 LIMIT ?2"
        }
        Index::Transcripts => {
            "SELECT rowid FROM transcript_search WHERE transcript_search MATCH ?1 LIMIT ?2"
        }
    };
    let rowids: Vec<i64> = conn
        .prepare_cached(sql)?
        .query_map(params![query, limit as i64], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok((rowids.len() < limit).then_some(rowids))
}

//! Finding conferences: filters, newest first, keyset pagination. Used by the API and the CLI.

use rusqlite::{Connection, named_params};
use serde::Serialize;

use super::DbError;
use super::conferences::{Status, instant};
use crate::time::Instant;

/// What to look for. Every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Part of the conference name (case-insensitive).
    pub q: Option<String>,
    /// A participant's number, already normalised.
    pub participant: Option<String>,
    /// Started at or after (database text form).
    pub since: Option<String>,
    /// Started before (database text form).
    pub until: Option<String>,
    pub status: Option<Status>,
    pub has_recording: Option<bool>,
    /// Continue after this (started_at, conference_uuid).
    pub after: Option<(String, String)>,
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConferenceRow {
    pub conference_uuid: String,
    pub name: String,
    pub status: Status,
    pub started_at: Option<Instant>,
    pub ended_at: Option<Instant>,
    pub participants: i64,
    pub recordings: i64,
}

/// One page, and the key to continue after it (when there may be more).
pub struct Page {
    pub rows: Vec<ConferenceRow>,
    pub next: Option<(String, String)>,
}

pub fn conferences(conn: &Connection, f: &Filter) -> Result<Page, DbError> {
    // Trigram search needs three characters; shorter text falls back to a substring scan.
    let (fts, like) = match f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) if q.chars().count() >= 3 => (Some(fts_phrase(q)), None),
        Some(q) => (None, Some(like_pattern(q))),
        None => (None, None),
    };
    let status = f.status.map(|s| match s {
        Status::Active => "active",
        Status::Ended => "ended",
    });
    let (after_at, after_uuid) = f.after.clone().unzip();
    let mut stmt = conn.prepare_cached(
        "SELECT c.conference_uuid, c.name, c.status, c.started_at, c.ended_at,
                (SELECT COUNT(*) FROM participants p WHERE p.conference_uuid = c.conference_uuid),
                (SELECT COUNT(*) FROM recordings r WHERE r.conference_uuid = c.conference_uuid)
         FROM conferences c
         WHERE (:fts IS NULL OR c.rowid IN (SELECT rowid FROM conference_names WHERE conference_names MATCH :fts))
           AND (:like IS NULL OR c.name LIKE :like ESCAPE '\\')
           AND (:participant IS NULL OR c.conference_uuid IN
                   (SELECT p.conference_uuid FROM participants p WHERE p.from_normalized = :participant))
           AND (:since IS NULL OR c.started_at >= :since)
           AND (:until IS NULL OR c.started_at < :until)
           AND (:status IS NULL OR c.status = :status)
           AND (:has_recording IS NULL
                OR EXISTS (SELECT 1 FROM recordings r WHERE r.conference_uuid = c.conference_uuid) = :has_recording)
           AND (:after_at IS NULL OR (c.started_at, c.conference_uuid) < (:after_at, :after_uuid))
         ORDER BY c.started_at DESC, c.conference_uuid DESC
         LIMIT :limit",
    )?;
    let limit = f.limit.clamp(1, 200);
    let rows = stmt.query_map(
        named_params! {
            ":fts": fts, ":like": like, ":participant": f.participant, ":since": f.since,
            ":until": f.until, ":status": status, ":has_recording": f.has_recording,
            ":after_at": after_at, ":after_uuid": after_uuid, ":limit": limit + 1,
        },
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (uuid, name, status, started, ended, participants, recordings) = row?;
        out.push(ConferenceRow {
            conference_uuid: uuid,
            name,
            status: if status == "ended" {
                Status::Ended
            } else {
                Status::Active
            },
            started_at: instant(started)?,
            ended_at: instant(ended)?,
            participants,
            recordings,
        });
    }
    // One row more than asked for says whether there is a next page.
    let more = out.len() > limit as usize;
    out.truncate(limit as usize);
    let next = if more {
        out.last().map(|r| {
            (
                r.started_at.map(crate::time::to_db).unwrap_or_default(),
                r.conference_uuid.clone(),
            )
        })
    } else {
        None
    };
    Ok(Page { rows: out, next })
}

/// A user's text as one FTS5 phrase: quotes doubled, so no query syntax leaks through.
fn fts_phrase(q: &str) -> String {
    format!("\"{}\"", q.replace('"', "\"\""))
}

/// A LIKE pattern matching `q` anywhere, with `%`, `_` and `\` taken literally.
fn like_pattern(q: &str) -> String {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

//! Finding conferences: filters, newest first, keyset pagination. Used by the API and the CLI.

use rusqlite::Connection;
use rusqlite::types::Value;

use super::access::visible_condition;
use super::conferences::instant;
use super::fts::{self, Index};
use super::said;
use crate::db::DbError;
use crate::db::access::Visibility;
use crate::db::derived::{After, conferences_after, like_pattern};
use crate::db::model::{ConferenceRow, Filter, Page, Status};
use crate::time::to_db;

pub fn conferences(conn: &Connection, f: &Filter, visible: &Visibility) -> Result<Page, DbError> {
    conferences_after(f, |after, wanted| matching(conn, f, visible, after, wanted))
}

/// The first `wanted` conferences after `after` that meet every filter, in the list's order.
fn matching(
    conn: &Connection,
    f: &Filter,
    visible: &Visibility,
    after: After<'_>,
    wanted: usize,
) -> Result<Vec<ConferenceRow>, DbError> {
    // Trigram search needs three characters; shorter text falls back to a substring scan.
    let (fts, like) = match f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) if q.chars().count() >= 3 => (Some(fts::phrase(q)), None),
        Some(q) => (None, Some(like_pattern(q))),
        None => (None, None),
    };
    // Only the filters in use go into the statement, so that SQLite can pick the index that
    // fits each combination; values are always bound, never spliced into the SQL.
    let mut conditions: Vec<&str> = Vec::new();
    let mut values: Vec<(&str, Value)> = Vec::new();
    // A rare term: fetch its few matches from the trigram index and sort them. A common one:
    // walk the newest-first index comparing names, which finds a page within a few hundred
    // rows instead of collecting and sorting tens of thousands of matches. (LIKE folds case
    // for ASCII only; the trigram index folds all scripts.)
    let mut like = like;
    // A filter that leaves few conferences, which then lead a said search (see below).
    let mut narrow = f.participant.is_some();
    if let (Some(fts), Some(q)) = (fts, f.q.as_deref()) {
        match rare_term_matches(conn, &fts)? {
            // The matches found by the probe are the filter: the index is read once.
            Some(rowids) => {
                narrow = true;
                conditions.push("c.rowid IN (SELECT value FROM json_each(:rowids))");
                values.push((
                    ":rowids",
                    Value::Text(serde_json::Value::from(rowids).to_string()),
                ));
            }
            None => like = Some(like_pattern(q.trim())),
        }
    }
    if let Some(like) = like {
        conditions.push("c.name LIKE :like ESCAPE '\\'");
        values.push((":like", Value::Text(like)));
    }
    if let Some(participant) = &f.participant {
        conditions.push(
            "c.conference_uuid IN (SELECT p.conference_uuid FROM participants p
                                   WHERE p.from_normalized = :participant)",
        );
        values.push((":participant", Value::Text(participant.clone())));
    }
    // The time filters, as bounds on the transcript index's keys, for a walk by what was said.
    let mut said_bounds: Vec<&str> = Vec::new();
    if let Some(since) = f.since {
        conditions.push("c.started_at >= :since");
        said_bounds.push(said::SINCE_BOUND);
        values.push((":since", Value::Text(to_db(since))));
    }
    if let Some(until) = f.until {
        conditions.push("c.started_at < :until");
        said_bounds.push(said::UNTIL_BOUND);
        values.push((":until", Value::Text(to_db(until))));
    }
    // Literal, not bound: only then can SQLite use the partial index of running conferences.
    match f.status {
        Some(Status::Active) => conditions.push("c.status = 'active'"),
        Some(Status::Ended) => conditions.push("c.status = 'ended'"),
        None => {}
    }
    match f.has_recording {
        Some(true) => conditions.push(
            "EXISTS (SELECT 1 FROM recordings r WHERE r.conference_uuid = c.conference_uuid)",
        ),
        Some(false) => conditions.push(
            "NOT EXISTS (SELECT 1 FROM recordings r WHERE r.conference_uuid = c.conference_uuid)",
        ),
        None => {}
    }
    match after {
        After::Nothing => {}
        After::Dated(at, uuid) => {
            conditions.push("(c.started_at, c.conference_uuid) < (:after_at, :after_uuid)");
            said_bounds.push(said::AFTER_BOUND);
            values.push((":after_at", Value::Text(to_db(*at))));
            values.push((":after_uuid", Value::Text(uuid.to_owned())));
        }
        After::Undated(uuid) => {
            conditions.push("c.started_at IS NULL");
            said_bounds.push(said::UNDATED_BOUND);
            if let Some(uuid) = uuid {
                conditions.push("c.conference_uuid < :after_uuid");
                values.push((":after_uuid", Value::Text(uuid.to_owned())));
            }
        }
    }
    let visibility = visible_condition(visible, "c.conference_uuid", Some("c.name"));
    if let Some((condition, vis_values)) = &visibility {
        conditions.push(condition);
        values.extend(vis_values.iter().cloned());
    }
    if let Some(words) = &f.said {
        let said = (":said", Value::Text(fts::all_words(words)));
        if narrow {
            // The few conferences the other filters leave are each asked about the words.
            conditions.push(said::MENTIONED);
            values.push(said);
        } else if f.has_recording != Some(false) {
            // The newest conferences that mention the words and meet every other filter,
            // from the index's own order; the page below sorts them and adds the counts.
            let walk: Vec<&str> = said_bounds.iter().chain(&conditions).copied().collect();
            let walk_values: Vec<(&str, &dyn rusqlite::ToSql)> = values
                .iter()
                .chain([&said])
                .map(|(name, value)| (*name, value as &dyn rusqlite::ToSql))
                .collect();
            let found = said::newest_conferences(conn, &walk, &walk_values, wanted)?;
            conditions.push("c.conference_uuid IN (SELECT value FROM json_each(:said_found))");
            values.push((
                ":said_found",
                Value::Text(serde_json::Value::from(found).to_string()),
            ));
        } else {
            // Words are said only in recordings.
            conditions.push("FALSE");
        }
    }
    values.push((":limit", Value::Integer(wanted as i64)));
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT c.conference_uuid, c.name, c.status, c.started_at, c.ended_at,
                (SELECT COUNT(DISTINCT COALESCE(p.from_normalized, 'call:' || p.call_uuid))
                 FROM participants p WHERE p.conference_uuid = c.conference_uuid),
                (SELECT COUNT(*) FROM recordings r WHERE r.conference_uuid = c.conference_uuid)
         FROM conferences c
         {filter}
         ORDER BY c.started_at DESC, c.conference_uuid DESC
         LIMIT :limit"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let params: Vec<(&str, &dyn rusqlite::ToSql)> = values
        .iter()
        .map(|(k, v)| (*k, v as &dyn rusqlite::ToSql))
        .collect();
    let rows = stmt.query_map(params.as_slice(), |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Status>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, i64>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (uuid, name, status, started, ended, participants, recordings) = row?;
        out.push(ConferenceRow {
            conference_uuid: uuid,
            name,
            status,
            started_at: instant(started)?,
            ended_at: instant(ended)?,
            participants,
            recordings,
        });
    }
    Ok(out)
}

/// Matches above which walking the index beats sorting the matches (measured on 1M rows).
const COMMON_TERM_MATCHES: usize = 2000;

/// The rowids of every name matching `fts`, or `None` if there are too many to be worth it.
fn rare_term_matches(conn: &Connection, fts: &str) -> Result<Option<Vec<i64>>, DbError> {
    fts::fewer_matches_than(conn, Index::ConferenceNames, fts, COMMON_TERM_MATCHES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(common: usize) -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::sqlite::migrate::run(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        for i in 0..common {
            tx.execute(
                "INSERT INTO conferences (conference_uuid, name, status, started_at, created_at, updated_at)
                 VALUES (?1, ?2, 'ended', ?3, 'x', 'x')",
                rusqlite::params![
                    format!("c{i:05}"),
                    format!("Weekly Standup {i}"),
                    format!("2026-01-01T00:00:{:02}.{:06}Z", i % 60, i)
                ],
            )
            .unwrap();
        }
        tx.execute(
            "INSERT INTO conferences (conference_uuid, name, status, started_at, created_at, updated_at)
             VALUES ('rare', 'Board meeting', 'ended', '2025-01-01T00:00:00.000000Z', 'x', 'x')",
            [],
        )
        .unwrap();
        tx.commit().unwrap();
        conn
    }

    fn search(conn: &Connection, q: &str, limit: u32) -> Vec<String> {
        conferences(
            conn,
            &Filter {
                q: Some(q.into()),
                limit,
                ..Filter::default()
            },
            &Visibility::Everything,
        )
        .unwrap()
        .rows
        .into_iter()
        .map(|r| r.conference_uuid)
        .collect()
    }

    #[test]
    fn common_and_rare_terms_give_the_same_newest_first_answers() {
        let conn = database(COMMON_TERM_MATCHES + 500);
        assert!(
            rare_term_matches(&conn, &fts::phrase("standup"))
                .unwrap()
                .is_none(),
            "common"
        );
        assert!(
            rare_term_matches(&conn, &fts::phrase("board"))
                .unwrap()
                .is_some(),
            "rare"
        );
        let page = search(&conn, "standup", 5);
        let mut expected: Vec<(String, String)> = (0..COMMON_TERM_MATCHES + 500)
            .map(|i| {
                (
                    format!("2026-01-01T00:00:{:02}.{:06}Z", i % 60, i),
                    format!("c{i:05}"),
                )
            })
            .collect();
        expected.sort();
        expected.reverse();
        let expected: Vec<String> = expected.into_iter().take(5).map(|(_, id)| id).collect();
        assert_eq!(page, expected);
        assert_eq!(search(&conn, "BOARD MEET", 5), vec!["rare"]);
        assert_eq!(search(&conn, "standup 2499", 5), vec!["c02499"]);
    }
}

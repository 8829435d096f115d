//! Finding conferences and recordings on PostgreSQL: the same filters, order and keyset pages
//! as SQLite's. A name matches as a case-insensitive substring (ILIKE, served by the pg_trgm
//! index from three characters on), which is what SQLite's trigram index answers.

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::recordings::parse_status;
use super::said;
use super::tx::PgTx;
use super::visibility;
use crate::db::DbError;
use crate::db::access::Visibility;
use crate::db::catalog::{RecordingDetail, RecordingEntry, RecordingFilter, RecordingPage};
use crate::db::derived::{ARCHIVE_JOB_JOIN, STATUS_SQL};
use crate::db::derived::{After, conferences_after};
use crate::db::derived::{like_pattern, recording_entry_columns, recording_page};
use crate::db::model::{ConferenceRow, Filter, Page, Status};

/// A statement's conditions and the values they bind, numbered as they are added.
#[derive(Default)]
struct Conditions {
    sql: Vec<String>,
    values: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Conditions {
    /// Adds `condition`, in which `$?` stands for the next value (each `$?` the same one).
    fn bind(&mut self, condition: &str, value: impl ToSql + Sync + Send + 'static) {
        self.values.push(Box::new(value));
        self.sql
            .push(condition.replace("$?", &format!("${}", self.values.len())));
    }

    fn push(&mut self, condition: &str) {
        self.sql.push(condition.to_owned());
    }

    /// The last condition, about the conference's start and id, written over a transcript's
    /// copy of them (`s`, in `transcript_search`), with the same values.
    fn on_said_copy(&self) -> String {
        let last = self.sql.last().map(String::as_str).unwrap_or("TRUE");
        last.replace("c.started_at", "s.started_at")
            .replace("c.conference_uuid", "s.conference_uuid")
    }

    /// The next placeholder, for a value bound outside the conditions (the limit).
    fn placeholder(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.values.push(Box::new(value));
        format!("${}", self.values.len())
    }

    /// Keeps what `visible` allows.
    fn visible(&mut self, visible: &Visibility, uuid_column: &str, name_column: Option<&str>) {
        if let Visibility::Only(scope) = visible {
            let (numbers, names) = visibility::values(scope);
            let numbers = self.placeholder(numbers);
            let names = self.placeholder(names);
            let condition = visibility::condition(uuid_column, name_column, &numbers, &names);
            self.sql.push(condition);
        }
    }

    fn filter(&self) -> String {
        if self.sql.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.sql.join(" AND "))
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|v| v.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

pub fn conferences(tx: &PgTx<'_>, f: &Filter, visible: &Visibility) -> Result<Page, DbError> {
    conferences_after(f, |after, wanted| matching(tx, f, visible, after, wanted))
}

/// The first `wanted` conferences after `after` that meet every filter, in the list's order.
fn matching(
    tx: &PgTx<'_>,
    f: &Filter,
    visible: &Visibility,
    after: After<'_>,
    wanted: usize,
) -> Result<Vec<ConferenceRow>, DbError> {
    let mut c = Conditions::default();
    c.visible(visible, "c.conference_uuid", Some("c.name"));
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        c.bind("c.name ILIKE $? ESCAPE '\\'", like_pattern(q));
    }
    if let Some(participant) = &f.participant {
        c.bind(
            "c.conference_uuid IN (SELECT p.conference_uuid FROM participants p
                                   WHERE p.from_normalized = $?)",
            participant.clone(),
        );
    }
    // The time filters again, over a transcript's copy of its conference's start, so that a
    // said search can walk only the times they allow.
    let mut said_bounds = Vec::new();
    if let Some(since) = f.since {
        c.bind("c.started_at >= $?", since);
        said_bounds.push(c.on_said_copy());
    }
    if let Some(until) = f.until {
        c.bind("c.started_at < $?", until);
        said_bounds.push(c.on_said_copy());
    }
    match f.status {
        Some(Status::Active) => c.push("c.status = 'active'"),
        Some(Status::Ended) => c.push("c.status = 'ended'"),
        None => {}
    }
    match f.has_recording {
        Some(true) => c.push(
            "EXISTS (SELECT 1 FROM recordings r WHERE r.conference_uuid = c.conference_uuid)",
        ),
        Some(false) => c.push(
            "NOT EXISTS (SELECT 1 FROM recordings r WHERE r.conference_uuid = c.conference_uuid)",
        ),
        None => {}
    }
    match after {
        After::Nothing => {}
        After::Dated(at, uuid) => {
            c.bind("(c.started_at, c.conference_uuid) < ($?", *at);
            let last = c.sql.len() - 1;
            let uuid = c.placeholder(uuid.to_owned());
            c.sql[last].push_str(&format!(", {uuid})"));
            said_bounds.push(c.on_said_copy());
        }
        After::Undated(uuid) => {
            c.push("c.started_at IS NULL");
            said_bounds.push(c.on_said_copy());
            if let Some(uuid) = uuid {
                c.bind("c.conference_uuid < $?", uuid.to_owned());
                said_bounds.push(c.on_said_copy());
            }
        }
    }
    // Last, as it reads the transcripts under every other filter: the newest conferences that
    // match all of them and mention the words; the page below sorts them and adds the counts.
    if let Some(words) = &f.said {
        if f.has_recording == Some(false) {
            // Words are said only in recordings.
            c.push("FALSE");
        } else {
            let walk: Vec<String> = said_bounds.into_iter().chain(c.sql.clone()).collect();
            let found = said::newest_conferences(tx, &walk, &c.params(), words, wanted)?;
            c.bind("c.conference_uuid = ANY($?)", found);
        }
    }
    let limit_at = c.placeholder(wanted as i64);
    let sql = format!(
        "SELECT c.conference_uuid, c.name, c.status, c.started_at, c.ended_at,
                (SELECT COUNT(DISTINCT COALESCE(p.from_normalized, 'call:' || p.call_uuid))
                 FROM participants p WHERE p.conference_uuid = c.conference_uuid),
                (SELECT COUNT(*) FROM recordings r WHERE r.conference_uuid = c.conference_uuid)
         FROM conferences c
         {}
         ORDER BY c.started_at DESC NULLS LAST, c.conference_uuid DESC
         LIMIT {limit_at}",
        c.filter()
    );
    tx.query_unprepared(&sql, &c.params())?
        .iter()
        .map(|r| {
            Ok(ConferenceRow {
                conference_uuid: r.try_get(0)?,
                name: r.try_get(1)?,
                status: r.try_get(2)?,
                started_at: r.try_get(3)?,
                ended_at: r.try_get(4)?,
                participants: r.try_get(5)?,
                recordings: r.try_get(6)?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()
}

fn entry(r: &Row) -> Result<RecordingEntry, DbError> {
    let duration_ms: Option<i64> = r.try_get(6)?;
    Ok(RecordingEntry {
        recording_id: r.try_get(0)?,
        conference_uuid: r.try_get(1)?,
        status: parse_status(r.try_get(2)?)?,
        format: r.try_get(3)?,
        size_bytes: r.try_get(4)?,
        sha256: r.try_get(5)?,
        duration_seconds: duration_ms.map(|ms| ms as f64 / 1000.0),
        recorded_at: r.try_get(7)?,
        from: r.try_get(8)?,
        to: r.try_get(9)?,
        source_deleted_at: r.try_get(10)?,
    })
}

pub fn recordings(
    tx: &PgTx<'_>,
    f: &RecordingFilter,
    visible: &Visibility,
) -> Result<RecordingPage, DbError> {
    let mut c = Conditions::default();
    c.visible(visible, "r.conference_uuid", None);
    if let Some(since) = f.since {
        c.bind("r.recorded_at >= $?", since);
    }
    if let Some(until) = f.until {
        c.bind("r.recorded_at < $?", until);
    }
    match f.linked {
        Some(true) => c.push("r.conference_uuid IS NOT NULL"),
        Some(false) => c.push("r.conference_uuid IS NULL"),
        None => {}
    }
    if let Some(words) = &f.said {
        c.bind(
            "r.recording_id IN (SELECT t.recording_id FROM transcripts t
                                WHERE to_tsvector('simple', COALESCE(t.text, ''))
                                      @@ plainto_tsquery('simple', $?))",
            words.join(" "),
        );
    }
    if let Some(number) = &f.participant {
        c.bind(
            "(r.from_normalized = $? OR r.to_normalized = $?
              OR r.call_uuid IN (SELECT call_uuid FROM participants WHERE from_normalized = $?))",
            number.clone(),
        );
    }
    if let Some(status) = f.status {
        c.bind(&format!("{STATUS_SQL} = $?"), status.as_str());
    }
    if let Some(after) = &f.after {
        c.bind("(r.recorded_at, r.recording_id) < ($?", after.recorded_at);
        let last = c.sql.len() - 1;
        let id = c.placeholder(after.recording_id.clone());
        c.sql[last].push_str(&format!(", {id})"));
    }
    let limit_at = c.placeholder(i64::from(f.limit) + 1);
    let sql = format!(
        "SELECT {} FROM recordings r {ARCHIVE_JOB_JOIN}
         {}
         ORDER BY r.recorded_at DESC, r.recording_id DESC
         LIMIT {limit_at}",
        recording_entry_columns(),
        c.filter()
    );
    let entries = tx
        .query_unprepared(&sql, &c.params())?
        .iter()
        .map(entry)
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(recording_page(entries, f.limit))
}

pub fn recording(
    tx: &PgTx<'_>,
    recording_id: &str,
    visible: &Visibility,
) -> Result<Option<RecordingDetail>, DbError> {
    let found: Option<RecordingDetail> = tx
        .opt(
            &format!(
                "SELECT {}, r.source, r.call_uuid, r.location, r.archived_at,
                    COALESCE(j.attempts, 0), j.last_error
             FROM recordings r {ARCHIVE_JOB_JOIN}
             WHERE r.recording_id = $1",
                recording_entry_columns()
            ),
            &[&recording_id],
        )?
        .map(|r| {
            Ok::<_, DbError>(RecordingDetail {
                entry: entry(&r)?,
                source: r.try_get(11)?,
                call_uuid: r.try_get(12)?,
                location: r.try_get(13)?,
                archived_at: r.try_get(14)?,
                attempts: i64::from(r.try_get::<_, i32>(15)?),
                last_error: r.try_get(16)?,
                transcript: None,
            })
        })
        .transpose()?;
    match found {
        Some(detail)
            if visibility::may_see(tx, visible, detail.entry.conference_uuid.as_deref())? =>
        {
            Ok(Some(RecordingDetail {
                transcript: super::transcripts::get(tx, recording_id)?,
                ..detail
            }))
        }
        _ => Ok(None),
    }
}

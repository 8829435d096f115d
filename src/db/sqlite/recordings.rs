//! Recordings Vobiz made, where they came from, and how far their archiving has got.

use rusqlite::{Connection, named_params};

use super::conferences::instant;
use crate::db::DbError;
use crate::db::ingest_tx::NewRecording;
use crate::db::model::{Archived, ArchivedObject, ArchivedRecording, Recording, ToArchive};
use crate::time::to_db;

use crate::db::derived::{ARCHIVE_JOB_JOIN, STATUS_SQL};

/// Stores a recording once; `false` if its id was seen before.
pub fn add(conn: &Connection, r: &NewRecording<'_>, now: &str) -> Result<bool, DbError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO recordings
                 (recording_id, conference_uuid, call_uuid, source, source_url, duration_ms,
                  created_at, recorded_at, started_at)
             VALUES (:id, :conf, :call, :source, :url, :duration, :now, COALESCE(:started, :now),
                     :started)
             ON CONFLICT (recording_id) DO NOTHING",
        )?
        .execute(named_params! {
            ":id": r.recording_id, ":conf": r.conference_uuid, ":call": r.call_uuid,
            ":source": r.source, ":url": r.source_url, ":duration": r.duration_ms,
            ":now": now, ":started": r.started_at.map(to_db),
        })?;
    Ok(inserted == 1)
}

/// Attaches recordings of `call_uuid` that were waiting for their conference to be known.
pub fn link_waiting(
    conn: &Connection,
    call_uuid: &str,
    conference_uuid: &str,
) -> Result<usize, DbError> {
    // Almost every enter finds nothing waiting. A read answers that without the UPDATE's
    // statement savepoint, which makes FTS5 flush its pending rows (the conference names
    // written earlier in the batch) to disk: half the cost of an enter's write when it ran
    // every time.
    let waiting: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM recordings
                            WHERE call_uuid = :call AND conference_uuid IS NULL)",
        )?
        .query_row(named_params! {":call": call_uuid}, |r| r.get(0))?;
    if !waiting {
        return Ok(0);
    }
    Ok(conn
        .prepare_cached(
            "UPDATE recordings SET conference_uuid = :conf
             WHERE call_uuid = :call AND conference_uuid IS NULL",
        )?
        .execute(named_params! {":conf": conference_uuid, ":call": call_uuid})?)
}

pub fn for_conference(conn: &Connection, uuid: &str) -> Result<Vec<Recording>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT r.recording_id, r.source, r.source_url, r.call_uuid, r.duration_ms, {STATUS_SQL},
                r.format, r.size_bytes, r.sha256, r.location, r.archived_at,
                COALESCE(j.attempts, 0), j.last_error, r.started_at
         FROM recordings r {ARCHIVE_JOB_JOIN}
         WHERE r.conference_uuid = :uuid
         ORDER BY r.created_at, r.recording_id"
    ))?;
    let rows = stmt.query_map(named_params! {":uuid": uuid}, |r| {
        Ok((
            Recording {
                recording_id: r.get(0)?,
                source: r.get(1)?,
                source_url: r.get(2)?,
                call_uuid: r.get(3)?,
                started_at: None,
                duration_ms: r.get(4)?,
                duration_seconds: r.get::<_, Option<i64>>(4)?.map(|ms| ms as f64 / 1000.0),
                status: r.get(5)?,
                format: r.get(6)?,
                size_bytes: r.get(7)?,
                sha256: r.get(8)?,
                location: r.get(9)?,
                archived_at: None,
                attempts: r.get(11)?,
                last_error: r.get(12)?,
                transcript: None,
            },
            r.get::<_, Option<String>>(10)?,
            r.get::<_, Option<String>>(13)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (recording, archived_at, started_at) = row?;
        out.push(Recording {
            archived_at: instant(archived_at)?,
            started_at: instant(started_at)?,
            ..recording
        });
    }
    Ok(out)
}

/// Records where the recording was archived and what it is; from then on it is `archived`.
pub fn mark_archived(conn: &Connection, recording_id: &str, a: &Archived) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE recordings SET format = :format, size_bytes = :size, sha256 = :sha256,
                               location = :location, archived_at = :at, object_key = :key,
                               duration_ms = COALESCE(duration_ms, :duration)
         WHERE recording_id = :id",
    )?
    .execute(named_params! {
        ":id": recording_id, ":format": a.format, ":key": a.object_key, ":size": a.size_bytes,
        ":sha256": a.sha256, ":location": a.location, ":at": to_db(a.archived_at),
        ":duration": a.duration_ms,
    })?;
    Ok(())
}

pub fn to_archive(conn: &Connection, recording_id: &str) -> Result<Option<ToArchive>, DbError> {
    type Times = (String, String, Option<String>);
    super::optional(
        conn.prepare_cached(
            "SELECT recording_id, conference_uuid, source, source_url, call_uuid, duration_ms,
                    created_at, vobiz_object, recorded_at, started_at, from_number, to_number
             FROM recordings WHERE recording_id = :id",
        )?
        .query_row(named_params! {":id": recording_id}, |r| {
            let times: Times = (r.get(6)?, r.get(8)?, r.get(9)?);
            Ok((
                ToArchive {
                    recording_id: r.get(0)?,
                    conference_uuid: r.get(1)?,
                    source: r.get(2)?,
                    source_url: r.get(3)?,
                    call_uuid: r.get(4)?,
                    duration_ms: r.get(5)?,
                    created_at: chrono::DateTime::UNIX_EPOCH,
                    recorded_at: chrono::DateTime::UNIX_EPOCH,
                    started_at: None,
                    from: r.get(10)?,
                    to: r.get(11)?,
                    vobiz_object: r.get(7)?,
                },
                times,
            ))
        }),
    )?
    .map(|(recording, (created, recorded, started))| {
        let created_at = instant(Some(created))?.unwrap_or(chrono::DateTime::UNIX_EPOCH);
        Ok(ToArchive {
            created_at,
            recorded_at: instant(Some(recorded))?.unwrap_or(created_at),
            started_at: instant(started)?,
            ..recording
        })
    })
    .transpose()
}

/// `None` if the recording is unknown.
pub fn archived_object(
    conn: &Connection,
    recording_id: &str,
) -> Result<Option<ArchivedObject>, DbError> {
    super::optional(
        conn.prepare_cached(
            "SELECT CASE WHEN archived_at IS NOT NULL THEN object_key END, format, size_bytes,
                    sha256
             FROM recordings WHERE recording_id = :id",
        )?
        .query_row(named_params! {":id": recording_id}, |r| {
            Ok(ArchivedObject {
                object_key: r.get(0)?,
                format: r.get(1)?,
                size_bytes: r.get(2)?,
                sha256: r.get(3)?,
            })
        }),
    )
}

/// How many recordings are archived.
pub fn count_archived(conn: &Connection) -> Result<u64, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM recordings
             WHERE archived_at IS NOT NULL AND object_key IS NOT NULL AND sha256 IS NOT NULL",
        )?
        .query_row([], |r| r.get::<_, i64>(0))?
        .max(0) as u64)
}

/// Up to `limit` archived recordings after `after` in id order: a page at a time, so that a
/// large archive is never read into memory whole.
pub fn archived_after(
    conn: &Connection,
    after: &str,
    limit: usize,
) -> Result<Vec<ArchivedRecording>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT recording_id, object_key, format, size_bytes, sha256 FROM recordings
         WHERE archived_at IS NOT NULL AND object_key IS NOT NULL AND sha256 IS NOT NULL
           AND recording_id > :after
         ORDER BY recording_id LIMIT :limit",
    )?;
    let rows = stmt.query_map(
        named_params! {":after": after, ":limit": limit as i64},
        |r| {
            Ok(ArchivedRecording {
                recording_id: r.get(0)?,
                object_key: r.get(1)?,
                format: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                size_bytes: r.get::<_, Option<i64>>(3)?.unwrap_or(0).max(0) as u64,
                sha256: r.get(4)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Points an archived recording at where it is stored now.
pub fn set_location(conn: &Connection, recording_id: &str, location: &str) -> Result<(), DbError> {
    conn.prepare_cached("UPDATE recordings SET location = :location WHERE recording_id = :id")?
        .execute(named_params! {":location": location, ":id": recording_id})?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::model::Source;

    fn database_with(recordings: &[(&str, bool)]) -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::sqlite::migrate::run(&mut conn).unwrap();
        for (id, archived) in recordings {
            let new = NewRecording {
                recording_id: id,
                conference_uuid: None,
                call_uuid: None,
                source: Source::RecordStop,
                source_url: "https://media.vobiz.ai/r.mp3",
                duration_ms: None,
                started_at: None,
            };
            assert!(add(&conn, &new, "2026-01-01T00:00:00.000000Z").unwrap());
            if *archived {
                let archived = Archived {
                    object_key: format!("calls/{id}.mp3"),
                    format: "mp3".into(),
                    size_bytes: 1000,
                    sha256: "ab".into(),
                    location: "/old".into(),
                    archived_at: crate::time::from_db("2026-01-01T00:01:00.000000Z").unwrap(),
                    duration_ms: None,
                };
                mark_archived(&conn, id, &archived).unwrap();
            }
        }
        conn
    }

    #[test]
    fn archived_recordings_come_a_page_at_a_time_and_only_once() {
        let conn = database_with(&[("r1", true), ("r2", false), ("r3", true), ("r4", true)]);

        let first = archived_after(&conn, "", 2).unwrap();
        let second = archived_after(&conn, &first[1].recording_id, 2).unwrap();
        let third = archived_after(&conn, &second[0].recording_id, 2).unwrap();

        let ids = |page: &[ArchivedRecording]| {
            page.iter()
                .map(|r| r.recording_id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&first), ["r1", "r3"]);
        assert_eq!(ids(&second), ["r4"]);
        assert!(third.is_empty());
        assert_eq!(count_archived(&conn).unwrap(), 3);
        assert_eq!(second[0].object_key, "calls/r4.mp3");
        assert_eq!(second[0].size_bytes, 1000);
    }

    #[test]
    fn a_new_location_changes_nothing_else() {
        let conn = database_with(&[("r1", true)]);

        set_location(&conn, "r1", "s3://bucket/calls/r1.mp3").unwrap();

        let (location, archived_at, key): (String, String, String) = conn
            .query_row(
                "SELECT location, archived_at, object_key FROM recordings WHERE recording_id = 'r1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(location, "s3://bucket/calls/r1.mp3");
        assert_eq!(archived_at, "2026-01-01T00:01:00.000000Z");
        assert_eq!(key, "calls/r1.mp3");
    }
}

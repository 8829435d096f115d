//! Recordings on PostgreSQL: where they came from and how far their archiving has got. The
//! status is derived from the archive job by the same expression as on SQLite.

use super::tx::PgTx;
use crate::db::DbError;
use crate::db::ingest_tx::NewRecording;
use crate::db::model::{Archived, ArchivedObject, ArchivedRecording, Recording, ToArchive};
use crate::time::Instant;

use crate::db::derived::{ARCHIVE_JOB_JOIN, STATUS_SQL};

/// A count as PostgreSQL's bigint holds it (saturating: no real count reaches the limit).
pub(super) fn non_negative(n: Option<u64>) -> Option<i64> {
    n.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

pub fn add(tx: &PgTx<'_>, r: &NewRecording<'_>, now: Instant) -> Result<bool, DbError> {
    let inserted = tx.execute(
        "INSERT INTO recordings
             (recording_id, conference_uuid, call_uuid, source, source_url, duration_ms,
              created_at, recorded_at, started_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz, COALESCE($8::timestamptz, $7), $8)
         ON CONFLICT (recording_id) DO NOTHING",
        &[
            &r.recording_id,
            &r.conference_uuid,
            &r.call_uuid,
            &r.source,
            &r.source_url,
            &non_negative(r.duration_ms),
            &now,
            &r.started_at,
        ],
    )?;
    Ok(inserted == 1)
}

pub fn for_conference(tx: &PgTx<'_>, uuid: &str) -> Result<Vec<Recording>, DbError> {
    tx.query(
        &format!(
            "SELECT r.recording_id, r.source, r.source_url, r.call_uuid, r.duration_ms,
                    {STATUS_SQL}, r.format, r.size_bytes, r.sha256, r.location, r.archived_at,
                    COALESCE(j.attempts, 0), j.last_error, r.started_at
             FROM recordings r {ARCHIVE_JOB_JOIN}
             WHERE r.conference_uuid = $1
             ORDER BY r.created_at, r.recording_id"
        ),
        &[&uuid],
    )?
    .iter()
    .map(|r| {
        let duration_ms: Option<i64> = r.try_get(4)?;
        let status: String = r.try_get(5)?;
        Ok(Recording {
            recording_id: r.try_get(0)?,
            source: r.try_get(1)?,
            source_url: r.try_get(2)?,
            call_uuid: r.try_get(3)?,
            started_at: r.try_get(13)?,
            duration_ms,
            duration_seconds: duration_ms.map(|ms| ms as f64 / 1000.0),
            status: parse_status(&status)?,
            format: r.try_get(6)?,
            size_bytes: r.try_get(7)?,
            sha256: r.try_get(8)?,
            location: r.try_get(9)?,
            archived_at: r.try_get(10)?,
            attempts: i64::from(r.try_get::<_, i32>(11)?),
            last_error: r.try_get(12)?,
            transcript: None,
        })
    })
    .collect()
}

pub(crate) fn parse_status(text: &str) -> Result<crate::db::model::RecordingStatus, DbError> {
    crate::db::model::RecordingStatus::parse(text)
        .ok_or_else(|| DbError::Corrupt(format!("recording status {text:?}")))
}

pub fn mark_archived(tx: &PgTx<'_>, recording_id: &str, a: &Archived) -> Result<(), DbError> {
    tx.execute(
        "UPDATE recordings SET format = $2, size_bytes = $3, sha256 = $4, location = $5,
                               archived_at = $6, object_key = $7,
                               duration_ms = COALESCE(duration_ms, $8)
         WHERE recording_id = $1",
        &[
            &recording_id,
            &a.format,
            &non_negative(Some(a.size_bytes)),
            &a.sha256,
            &a.location,
            &a.archived_at,
            &a.object_key,
            &non_negative(a.duration_ms),
        ],
    )?;
    Ok(())
}

pub fn to_archive(tx: &PgTx<'_>, recording_id: &str) -> Result<Option<ToArchive>, DbError> {
    tx.opt(
        "SELECT recording_id, conference_uuid, source, source_url, call_uuid, duration_ms,
                created_at, vobiz_object::text, recorded_at, started_at, from_number, to_number
         FROM recordings WHERE recording_id = $1",
        &[&recording_id],
    )?
    .map(|r| {
        Ok(ToArchive {
            recording_id: r.try_get(0)?,
            conference_uuid: r.try_get(1)?,
            source: r.try_get(2)?,
            source_url: r.try_get(3)?,
            call_uuid: r.try_get(4)?,
            duration_ms: r.try_get(5)?,
            created_at: r.try_get(6)?,
            vobiz_object: r.try_get(7)?,
            recorded_at: r.try_get(8)?,
            started_at: r.try_get(9)?,
            from: r.try_get(10)?,
            to: r.try_get(11)?,
        })
    })
    .transpose()
}

pub fn archived_object(
    tx: &PgTx<'_>,
    recording_id: &str,
) -> Result<Option<ArchivedObject>, DbError> {
    tx.opt(
        "SELECT CASE WHEN archived_at IS NOT NULL THEN object_key END, format, size_bytes, sha256
         FROM recordings WHERE recording_id = $1",
        &[&recording_id],
    )?
    .map(|r| {
        Ok(ArchivedObject {
            object_key: r.try_get(0)?,
            format: r.try_get(1)?,
            size_bytes: r.try_get(2)?,
            sha256: r.try_get(3)?,
        })
    })
    .transpose()
}

pub fn count_archived(tx: &PgTx<'_>) -> Result<u64, DbError> {
    let n: i64 = tx
        .one(
            "SELECT COUNT(*) FROM recordings
             WHERE archived_at IS NOT NULL AND object_key IS NOT NULL AND sha256 IS NOT NULL",
            &[],
        )?
        .try_get(0)?;
    Ok(n.max(0) as u64)
}

pub fn archived_after(
    tx: &PgTx<'_>,
    after: &str,
    limit: usize,
) -> Result<Vec<ArchivedRecording>, DbError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    tx.query(
        "SELECT recording_id, object_key, format, size_bytes, sha256 FROM recordings
         WHERE archived_at IS NOT NULL AND object_key IS NOT NULL AND sha256 IS NOT NULL
           AND recording_id > $1
         ORDER BY recording_id LIMIT $2",
        &[&after, &limit],
    )?
    .iter()
    .map(|r| {
        Ok(ArchivedRecording {
            recording_id: r.try_get(0)?,
            object_key: r.try_get(1)?,
            format: r.try_get::<_, Option<String>>(2)?.unwrap_or_default(),
            size_bytes: r.try_get::<_, Option<i64>>(3)?.unwrap_or(0).max(0) as u64,
            sha256: r.try_get(4)?,
        })
    })
    .collect()
}

pub fn set_location(tx: &PgTx<'_>, recording_id: &str, location: &str) -> Result<(), DbError> {
    tx.execute(
        "UPDATE recordings SET location = $2 WHERE recording_id = $1",
        &[&recording_id, &location],
    )?;
    Ok(())
}

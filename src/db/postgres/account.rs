//! The account sync's rows on PostgreSQL: recordings found by listing the Vobiz account, the
//! named leases, and what a delete at source checks and records.

use tokio_postgres::Row;

use super::jobs;
use super::tx::{PgTx, call_key, conference_key, lock_order};
use crate::db::DbError;
use crate::db::catalog::{ArchivePlan, Discovered, Found, LeaseRequest, SourceCopy};
use crate::db::model::JobKind;
use crate::time::Instant;

/// Records one page of discovered recordings. Their call legs and conferences are locked
/// first, in the one global order, so that a callback linking the same leg or ending the same
/// conference on another replica either sees these rows or is seen by them.
pub fn record_all(
    tx: &PgTx<'_>,
    found: &[Discovered],
    now: Instant,
    unlinked_archive_at: Instant,
) -> Result<Vec<Found>, DbError> {
    let calls: Vec<&str> = found
        .iter()
        .filter_map(|d| d.call_uuid.as_deref())
        .collect();
    tx.lock(&lock_order(calls.iter().map(|c| call_key(c)).collect()))?;
    let mut conferences = Vec::new();
    for call in &calls {
        if let Some(conf) = super::conferences::conference_of_call(tx, call)? {
            conferences.push(conference_key(&conf));
        }
    }
    tx.lock(&lock_order(conferences))?;
    found
        .iter()
        .map(|d| record(tx, d, now, unlinked_archive_at))
        .collect()
}

fn record(
    tx: &PgTx<'_>,
    d: &Discovered,
    now: Instant,
    unlinked_archive_at: Instant,
) -> Result<Found, DbError> {
    let conference_uuid = match &d.call_uuid {
        Some(call) => super::conferences::conference_of_call(tx, call)?,
        None => None,
    };
    let duration = super::recordings::non_negative(d.duration_ms);
    let inserted = tx.execute(
        "INSERT INTO recordings
             (recording_id, conference_uuid, call_uuid, source, source_url, duration_ms,
              created_at, recorded_at, from_number, to_number, from_normalized,
              to_normalized, vobiz_object, started_at)
         VALUES ($1, $2, $3, 'sync', $4, $5, $6::timestamptz, COALESCE($7::timestamptz, $6), $8, $9, $10, $11,
                 $12::text::jsonb, $13::timestamptz)
         ON CONFLICT (recording_id) DO NOTHING",
        &[
            &d.recording_id,
            &conference_uuid,
            &d.call_uuid,
            &d.source_url,
            &duration,
            &now,
            &d.recorded_at,
            &d.from,
            &d.to,
            &d.from_normalized,
            &d.to_normalized,
            &d.vobiz_object,
            &d.started_at,
        ],
    )? == 1;
    if !inserted {
        tx.execute(
            "UPDATE recordings
             SET duration_ms = COALESCE(duration_ms, $2),
                 from_number = COALESCE(from_number, $3), to_number = COALESCE(to_number, $4),
                 from_normalized = COALESCE(from_normalized, $5),
                 to_normalized = COALESCE(to_normalized, $6), vobiz_object = $7::text::jsonb,
                 started_at = COALESCE(started_at, $8::timestamptz)
             WHERE recording_id = $1 AND vobiz_object IS NULL",
            &[
                &d.recording_id,
                &duration,
                &d.from,
                &d.to,
                &d.from_normalized,
                &d.to_normalized,
                &d.vobiz_object,
                &d.started_at,
            ],
        )?;
    }
    let archive = match (&conference_uuid, inserted) {
        (_, false) => None,
        (Some(conf), true) => Some(if jobs::enqueue_archives_if_ended(tx, conf, now)? > 0 {
            ArchivePlan::Now
        } else {
            ArchivePlan::WhenConferenceEnds
        }),
        (None, true) => {
            jobs::enqueue(
                tx,
                JobKind::ArchiveRecording,
                &d.recording_id,
                unlinked_archive_at,
                now,
            )?;
            Some(ArchivePlan::AfterGrace)
        }
    };
    Ok(Found {
        recording_id: d.recording_id.clone(),
        new: inserted,
        conference_uuid,
        archive,
    })
}

pub fn known(tx: &PgTx<'_>, ids: &[String]) -> Result<Vec<String>, DbError> {
    let known: Vec<String> = tx
        .query(
            // One index probe per id (see `read_ahead.rs` on why not `= ANY`).
            "SELECT r.recording_id FROM unnest($1::text[]) AS k(id),
                 LATERAL (SELECT recording_id FROM recordings
                          WHERE recording_id = k.id OFFSET 0) AS r",
            &[&ids],
        )?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    // In the order asked, as on SQLite.
    Ok(ids
        .iter()
        .filter(|id| known.contains(id))
        .cloned()
        .collect())
}

pub fn take_lease(tx: &PgTx<'_>, l: &LeaseRequest) -> Result<bool, DbError> {
    Ok(tx.execute(
        "INSERT INTO leases AS l (name, owner, until) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET owner = $2, until = $3
         WHERE (l.owner IS NULL OR l.owner = $2 OR l.until <= $4)
           AND (l.owner = $2 OR $5::timestamptz IS NULL
                OR l.completed_at IS NULL OR l.completed_at <= $5)",
        &[
            &l.name,
            &l.owner,
            &l.until,
            &l.now,
            &l.unless_completed_after,
        ],
    )? == 1)
}

pub fn end_lease(
    tx: &PgTx<'_>,
    name: &str,
    owner: &str,
    completed_at: Option<Instant>,
) -> Result<(), DbError> {
    tx.execute(
        "UPDATE leases SET owner = NULL, until = NULL, completed_at = COALESCE($3, completed_at)
         WHERE name = $1 AND owner = $2",
        &[&name, &owner, &completed_at],
    )?;
    Ok(())
}

pub fn lease_holder(tx: &PgTx<'_>, name: &str, now: Instant) -> Result<Option<String>, DbError> {
    tx.opt(
        "SELECT owner FROM leases WHERE name = $1 AND owner IS NOT NULL AND until > $2",
        &[&name, &now],
    )?
    .map(|r| Ok(r.try_get(0)?))
    .transpose()
}

pub fn running_jobs(tx: &PgTx<'_>, kind: JobKind, now: Instant) -> Result<i64, DbError> {
    Ok(tx
        .one(
            "SELECT COUNT(*) FROM jobs WHERE kind = $1 AND state = 'running' AND lease_until > $2",
            &[&kind, &now],
        )?
        .try_get(0)?)
}

const COPY_COLUMNS: &str = "recording_id, CASE WHEN archived_at IS NOT NULL THEN object_key END,
     size_bytes, sha256, archived_at, source_deleted_at";

fn copy(r: &Row) -> Result<SourceCopy, DbError> {
    Ok(SourceCopy {
        recording_id: r.try_get(0)?,
        object_key: r.try_get(1)?,
        size_bytes: r.try_get::<_, Option<i64>>(2)?.map(|s| s.max(0) as u64),
        sha256: r.try_get(3)?,
        archived_at: r.try_get(4)?,
        source_deleted_at: r.try_get(5)?,
    })
}

pub fn source_copy(tx: &PgTx<'_>, recording_id: &str) -> Result<Option<SourceCopy>, DbError> {
    tx.opt(
        &format!("SELECT {COPY_COLUMNS} FROM recordings WHERE recording_id = $1"),
        &[&recording_id],
    )?
    .as_ref()
    .map(copy)
    .transpose()
}

pub fn source_deletes_due(
    tx: &PgTx<'_>,
    archived_before: Instant,
    after: &str,
    limit: u32,
) -> Result<Vec<SourceCopy>, DbError> {
    tx.query(
        &format!(
            "SELECT {COPY_COLUMNS} FROM recordings
             WHERE archived_at IS NOT NULL AND source_deleted_at IS NULL AND archived_at < $1
               AND recording_id > $2
             ORDER BY recording_id LIMIT $3"
        ),
        &[&archived_before, &after, &i64::from(limit)],
    )?
    .iter()
    .map(copy)
    .collect()
}

pub fn enqueue_source_deletes(
    tx: &PgTx<'_>,
    archived_before: Instant,
    now: Instant,
) -> Result<u64, DbError> {
    let queued = tx.execute(
        "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
         SELECT $1, recording_id, 'pending', $3, $3, $3 FROM recordings
         WHERE archived_at IS NOT NULL AND source_deleted_at IS NULL AND archived_at < $2
         ON CONFLICT (kind, subject) DO NOTHING",
        &[&JobKind::DeleteSource, &archived_before, &now],
    )?;
    if queued > 0 {
        tx.queued_job();
    }
    Ok(queued)
}

pub fn record_source_deleted(
    tx: &PgTx<'_>,
    recording_id: &str,
    at: Instant,
) -> Result<(), DbError> {
    tx.execute(
        "UPDATE recordings SET source_deleted_at = COALESCE(source_deleted_at, $2)
         WHERE recording_id = $1",
        &[&recording_id, &at],
    )?;
    Ok(())
}

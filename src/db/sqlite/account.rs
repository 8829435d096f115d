//! The account sync's rows: recordings found by listing the Vobiz account, the named leases that
//! keep one sync at a time, and what a delete at source checks and records.

use rusqlite::{Connection, named_params};

use super::conferences::instant;
use super::jobs;
use crate::db::DbError;
use crate::db::catalog::{ArchivePlan, Discovered, Found, LeaseRequest, SourceCopy};
use crate::db::model::JobKind;
use crate::time::to_db;

/// Records one discovered recording; see [`crate::db::AccountStore::record_discovered`].
pub fn record(
    conn: &Connection,
    d: &Discovered,
    now: &str,
    unlinked_archive_at: &str,
) -> Result<Found, DbError> {
    let conference_uuid: Option<String> = match &d.call_uuid {
        Some(call) => super::conferences::conference_of_call(conn, call)?,
        None => None,
    };
    let inserted =
        conn.prepare_cached(
            "INSERT INTO recordings
                 (recording_id, conference_uuid, call_uuid, source, source_url, duration_ms,
                  created_at, recorded_at, from_number, to_number, from_normalized,
                  to_normalized, vobiz_object, started_at)
             VALUES (:id, :conf, :call, 'sync', :url, :duration, :now, :recorded, :from, :to,
                     :from_n, :to_n, :object, :started)
             ON CONFLICT (recording_id) DO NOTHING",
        )?
        .execute(named_params! {
            ":id": d.recording_id, ":conf": conference_uuid, ":call": d.call_uuid,
            ":url": d.source_url, ":duration": d.duration_ms, ":now": now,
            ":recorded": d.recorded_at.map(to_db).unwrap_or_else(|| now.to_owned()),
            ":from": d.from, ":to": d.to, ":from_n": d.from_normalized,
            ":to_n": d.to_normalized, ":object": d.vobiz_object,
            ":started": d.started_at.map(to_db),
        })? == 1;
    if !inserted {
        // Known from a callback: it keeps what it has and gains the REST object's facts, once.
        conn.prepare_cached(
            "UPDATE recordings
             SET duration_ms = COALESCE(duration_ms, :duration),
                 from_number = COALESCE(from_number, :from), to_number = COALESCE(to_number, :to),
                 from_normalized = COALESCE(from_normalized, :from_n),
                 to_normalized = COALESCE(to_normalized, :to_n), vobiz_object = :object,
                 started_at = COALESCE(started_at, :started)
             WHERE recording_id = :id AND vobiz_object IS NULL",
        )?
        .execute(named_params! {
            ":id": d.recording_id, ":duration": d.duration_ms, ":from": d.from, ":to": d.to,
            ":from_n": d.from_normalized, ":to_n": d.to_normalized, ":object": d.vobiz_object,
            ":started": d.started_at.map(to_db),
        })?;
    }
    let archive = match (&conference_uuid, inserted) {
        (_, false) => None,
        (Some(conf), true) => Some(if jobs::enqueue_archives_if_ended(conn, conf, now)? > 0 {
            ArchivePlan::Now
        } else {
            ArchivePlan::WhenConferenceEnds
        }),
        (None, true) => {
            jobs::enqueue_archive_at(conn, &d.recording_id, unlinked_archive_at, now)?;
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

pub fn known(conn: &Connection, ids: &[String]) -> Result<Vec<String>, DbError> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM recordings WHERE recording_id = :id")?;
    let mut out = Vec::new();
    for id in ids {
        if stmt.exists(named_params! {":id": id})? {
            out.push(id.clone());
        }
    }
    Ok(out)
}

pub fn take_lease(conn: &Connection, l: &LeaseRequest) -> Result<bool, DbError> {
    let changed = conn
        .prepare_cached(
            "INSERT INTO leases (name, owner, until) VALUES (:name, :owner, :until)
             ON CONFLICT (name) DO UPDATE SET owner = :owner, until = :until
             WHERE (leases.owner IS NULL OR leases.owner = :owner OR leases.until <= :now)
               AND (leases.owner = :owner OR :done_after IS NULL
                    OR leases.completed_at IS NULL OR leases.completed_at <= :done_after)",
        )?
        .execute(named_params! {
            ":name": l.name, ":owner": l.owner, ":until": to_db(l.until), ":now": to_db(l.now),
            ":done_after": l.unless_completed_after.map(to_db),
        })?;
    Ok(changed == 1)
}

pub fn end_lease(
    conn: &Connection,
    name: &str,
    owner: &str,
    completed_at: Option<&str>,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE leases SET owner = NULL, until = NULL,
                           completed_at = COALESCE(:done, completed_at)
         WHERE name = :name AND owner = :owner",
    )?
    .execute(named_params! {":name": name, ":owner": owner, ":done": completed_at})?;
    Ok(())
}

pub fn lease_holder(conn: &Connection, name: &str, now: &str) -> Result<Option<String>, DbError> {
    super::optional(
        conn.prepare_cached(
            "SELECT owner FROM leases WHERE name = :name AND owner IS NOT NULL AND until > :now",
        )?
        .query_row(named_params! {":name": name, ":now": now}, |r| r.get(0)),
    )
}

pub fn running_jobs(conn: &Connection, kind: JobKind, now: &str) -> Result<i64, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM jobs
             WHERE kind = :kind AND state = 'running' AND lease_until > :now",
        )?
        .query_row(named_params! {":kind": kind, ":now": now}, |r| r.get(0))?)
}

const COPY_COLUMNS: &str = "recording_id, CASE WHEN archived_at IS NOT NULL THEN object_key END,
     size_bytes, sha256, archived_at, source_deleted_at";

type CopyRow = (
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn copy_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CopyRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn copy(
    (recording_id, object_key, size, sha256, archived, deleted): CopyRow,
) -> Result<SourceCopy, DbError> {
    Ok(SourceCopy {
        recording_id,
        object_key,
        size_bytes: size.map(|s| s.max(0) as u64),
        sha256,
        archived_at: instant(archived)?,
        source_deleted_at: instant(deleted)?,
    })
}

pub fn source_copy(conn: &Connection, recording_id: &str) -> Result<Option<SourceCopy>, DbError> {
    super::optional(
        conn.prepare_cached(&format!(
            "SELECT {COPY_COLUMNS} FROM recordings WHERE recording_id = :id"
        ))?
        .query_row(named_params! {":id": recording_id}, copy_row),
    )?
    .map(copy)
    .transpose()
}

pub fn source_deletes_due(
    conn: &Connection,
    archived_before: &str,
    after: &str,
    limit: u32,
) -> Result<Vec<SourceCopy>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COPY_COLUMNS} FROM recordings
         WHERE archived_at IS NOT NULL AND source_deleted_at IS NULL AND archived_at < :before
           AND recording_id > :after
         ORDER BY recording_id LIMIT :limit"
    ))?;
    let rows = stmt.query_map(
        named_params! {":before": archived_before, ":after": after, ":limit": i64::from(limit)},
        copy_row,
    )?;
    rows.map(|r| copy(r?)).collect()
}

/// Queues a delete-at-source job for every archived recording older than `archived_before`
/// whose Vobiz copy is still there. Unique per recording: a job that failed stays failed
/// until an operator retries it.
pub fn enqueue_source_deletes(
    conn: &Connection,
    archived_before: &str,
    now: &str,
) -> Result<usize, DbError> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
             SELECT :kind, recording_id, 'pending', :now, :now, :now FROM recordings
             WHERE archived_at IS NOT NULL AND source_deleted_at IS NULL
               AND archived_at < :before
             ON CONFLICT (kind, subject) DO NOTHING",
        )?
        .execute(named_params! {
            ":kind": JobKind::DeleteSource, ":before": archived_before, ":now": now,
        })?)
}

pub fn record_source_deleted(
    conn: &Connection,
    recording_id: &str,
    at: &str,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE recordings SET source_deleted_at = COALESCE(source_deleted_at, :at)
         WHERE recording_id = :id",
    )?
    .execute(named_params! {":id": recording_id, ":at": at})?;
    Ok(())
}

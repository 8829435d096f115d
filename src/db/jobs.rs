//! The job queue: rows written in the same transaction as the event that causes them.

use rusqlite::{Connection, named_params};

use super::DbError;

pub const ARCHIVE_RECORDING: &str = "archive_recording";

/// Queues an archive job for every recording of `conference_uuid` once it has ended. Jobs are
/// unique per recording, so calling this again queues nothing twice.
pub fn enqueue_archives_if_ended(
    conn: &Connection,
    conference_uuid: &str,
    now: &str,
) -> Result<usize, DbError> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
             SELECT :kind, r.recording_id, 'pending', :now, :now, :now
             FROM recordings r JOIN conferences c ON c.conference_uuid = r.conference_uuid
             WHERE c.conference_uuid = :conf AND c.status = 'ended'
             ON CONFLICT (kind, subject) DO NOTHING",
        )?
        .execute(
            named_params! {":kind": ARCHIVE_RECORDING, ":conf": conference_uuid, ":now": now},
        )?)
}

/// Jobs of one kind, any state (for tests and the CLI).
pub fn count_of_kind(conn: &Connection, kind: &str) -> Result<i64, DbError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM jobs WHERE kind = :kind")?
        .query_row(named_params! {":kind": kind}, |r| r.get(0))?)
}

//! Transcriptions of recordings: kept as they arrive, read for the API and the sidecar, and
//! the job that writes one into its recording's sidecar.

use rusqlite::{Connection, named_params};

use super::conferences::instant;
use crate::db::DbError;
use crate::db::ingest_tx::NewTranscript;
use crate::db::model::{JobKind, Transcript};
use crate::time::to_db;

/// Keeps `t` unless a text is kept already (a text replaces a failure, never the reverse);
/// true if what is kept changed.
pub fn keep(conn: &Connection, t: &NewTranscript<'_>) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO transcripts (recording_id, transcription_id, text, error, received_at)
             VALUES (:id, :tid, :text, :error, :at)
             ON CONFLICT (recording_id) DO UPDATE SET
                 transcription_id = excluded.transcription_id, text = excluded.text,
                 error = excluded.error, received_at = excluded.received_at
             WHERE transcripts.text IS NULL AND excluded.text IS NOT NULL",
        )?
        .execute(named_params! {
            ":id": t.recording_id, ":tid": t.transcription_id, ":text": t.text,
            ":error": t.error, ":at": to_db(t.received_at),
        })?
        == 1)
}

/// Queues the sidecar's transcript job, or makes it due again (a text that replaced a failure
/// must be written too, even over a run in progress that read the failure).
pub fn queue_archive(conn: &Connection, recording_id: &str, now: &str) -> Result<(), DbError> {
    super::jobs::rearm(conn, JobKind::ArchiveTranscript, recording_id, now)
}

pub fn get(conn: &Connection, recording_id: &str) -> Result<Option<Transcript>, DbError> {
    let row = super::optional(
        conn.prepare_cached(
            "SELECT transcription_id, text, error, received_at FROM transcripts
             WHERE recording_id = :id",
        )?
        .query_row(named_params! {":id": recording_id}, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?))
        }),
    )?;
    row.map(|(transcription_id, text, error, received_at)| {
        Ok(Transcript {
            transcription_id,
            text,
            error,
            received_at: instant(Some(received_at))?.unwrap_or(chrono::DateTime::UNIX_EPOCH),
        })
    })
    .transpose()
}

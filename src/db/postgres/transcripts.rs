//! Transcriptions of recordings: kept as they arrive, read for the API and the sidecar, and
//! the job that writes one into its recording's sidecar.

use super::tx::PgTx;
use crate::db::DbError;
use crate::db::ingest_tx::NewTranscript;
use crate::db::model::{JobKind, Transcript};
use crate::time::Instant;

/// Keeps `t` unless a text is kept already (a text replaces a failure, never the reverse);
/// true if what is kept changed.
pub fn keep(tx: &PgTx<'_>, t: &NewTranscript<'_>) -> Result<bool, DbError> {
    Ok(tx.execute(
        "INSERT INTO transcripts AS t (recording_id, transcription_id, text, error, received_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (recording_id) DO UPDATE SET
             transcription_id = excluded.transcription_id, text = excluded.text,
             error = excluded.error, received_at = excluded.received_at
         WHERE t.text IS NULL AND excluded.text IS NOT NULL",
        &[
            &t.recording_id,
            &t.transcription_id,
            &t.text,
            &t.error,
            &t.received_at,
        ],
    )? == 1)
}

/// Queues the sidecar's transcript job, or makes it due again (a text that replaced a failure
/// must be written too, even over a run in progress that read the failure).
pub fn queue_archive(tx: &PgTx<'_>, recording_id: &str, now: Instant) -> Result<(), DbError> {
    super::jobs::rearm(tx, JobKind::ArchiveTranscript, recording_id, now)
}

pub fn get(tx: &PgTx<'_>, recording_id: &str) -> Result<Option<Transcript>, DbError> {
    tx.opt(
        "SELECT transcription_id, text, error, received_at FROM transcripts
         WHERE recording_id = $1",
        &[&recording_id],
    )?
    .map(|r| {
        Ok(Transcript {
            transcription_id: r.try_get(0)?,
            text: r.try_get(1)?,
            error: r.try_get(2)?,
            received_at: r.try_get(3)?,
        })
    })
    .transpose()
}

//! [`Postgres`] as the [`RestoreStore`]: archived recordings restored from their sidecars, a
//! batch in one transaction. The conferences and call legs are locked first, in the one global
//! order, so that a replica taking callbacks for the same ones meanwhile waits for the batch
//! or is waited for.

use async_trait::async_trait;

use super::Postgres;
use super::tx::{PgTx, call_key, conference_key, lock_order};
use crate::db::model::{Conference, Instant, JobKind, Status};
use crate::db::restore::{RestoreOutcome, Restored, RestoredLeg};
use crate::db::{DbError, RestoreStore};

#[async_trait]
impl RestoreStore for Postgres {
    async fn restore_archived(
        &self,
        restored: Vec<Restored>,
        now: Instant,
    ) -> Result<Vec<RestoreOutcome>, DbError> {
        self.write(move |tx| {
            let mut keys = Vec::new();
            for r in &restored {
                keys.extend(
                    r.conference
                        .iter()
                        .map(|c| conference_key(&c.conference_uuid)),
                );
                keys.extend(r.recording.call_uuid.iter().map(|call| call_key(call)));
            }
            tx.lock(&lock_order(keys))?;
            restored.iter().map(|r| restore(tx, r, now)).collect()
        })
        .await
    }
}

/// Restores one recording unless it is known.
fn restore(tx: &PgTx<'_>, r: &Restored, now: Instant) -> Result<RestoreOutcome, DbError> {
    let id = &r.recording.recording_id;
    let known = tx
        .opt("SELECT 1 FROM recordings WHERE recording_id = $1", &[id])?
        .is_some();
    if known {
        return Ok(RestoreOutcome::Known);
    }
    let (mut conference, mut legs) = (false, 0);
    if let Some(c) = &r.conference {
        conference = insert_conference(tx, c, now)?;
        // A restored conference's summary went out, or was due, long ago: counting it done
        // keeps a rebuild from mailing every meeting in the archive again.
        if conference && c.status == Status::Ended {
            done_job(tx, JobKind::NotifyConference, &c.conference_uuid, now)?;
        }
        for leg in &r.legs {
            legs += insert_leg(tx, &c.conference_uuid, leg)?;
        }
    }
    let rec = &r.recording;
    let conference_uuid = r.conference.as_ref().map(|c| &c.conference_uuid);
    let size = super::recordings::non_negative(Some(rec.size_bytes));
    tx.execute(
        "INSERT INTO recordings
             (recording_id, conference_uuid, call_uuid, source, source_url, duration_ms, format,
              size_bytes, sha256, location, archived_at, created_at, object_key, recorded_at,
              from_number, to_number, from_normalized, to_normalized, vobiz_object,
              source_deleted_at, started_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                 $19::text::jsonb, $20, $21)",
        &[
            id,
            &conference_uuid,
            &rec.call_uuid,
            &rec.source,
            &rec.source_url,
            &rec.duration_ms,
            &rec.format,
            &size,
            &rec.sha256,
            &rec.location,
            &rec.archived_at,
            &now,
            &rec.object_key,
            &rec.recorded_at,
            &rec.from,
            &rec.to,
            &rec.from_normalized,
            &rec.to_normalized,
            &rec.vobiz_object,
            &rec.source_deleted_at,
            &rec.started_at,
        ],
    )?;
    done_job(tx, JobKind::ArchiveRecording, id, now)?;
    Ok(RestoreOutcome::Restored { conference, legs })
}

/// False if the conference was known.
fn insert_conference(tx: &PgTx<'_>, c: &Conference, now: Instant) -> Result<bool, DbError> {
    let peak = c.peak_size.map(|p| i32::try_from(p).unwrap_or(i32::MAX));
    Ok(tx.execute(
        "INSERT INTO conferences
             (conference_uuid, name, status, started_at, ended_at, end_reason, peak_size,
              created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
         ON CONFLICT (conference_uuid) DO NOTHING",
        &[
            &c.conference_uuid,
            &c.name,
            &c.status,
            &c.started_at,
            &c.ended_at,
            &c.end_reason,
            &peak,
            &now,
        ],
    )? == 1)
}

/// 1 if the leg was missing, else 0.
fn insert_leg(tx: &PgTx<'_>, conference: &str, leg: &RestoredLeg) -> Result<u64, DbError> {
    let p = &leg.participant;
    tx.execute(
        "INSERT INTO participants
             (conference_uuid, call_uuid, member_id, from_number, to_number, from_normalized,
              direction, joined_at, left_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (conference_uuid, call_uuid, member_id) DO NOTHING",
        &[
            &conference,
            &p.call_uuid,
            &p.member_id.as_deref().unwrap_or_default(),
            &p.from,
            &p.to,
            &leg.from_normalized,
            &p.direction,
            &p.joined_at,
            &p.left_at,
        ],
    )
}

fn done_job(tx: &PgTx<'_>, kind: JobKind, subject: &str, now: Instant) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
         VALUES ($1, $2, 'done', $3, $3, $3)
         ON CONFLICT (kind, subject) DO NOTHING",
        &[&kind, &subject, &now],
    )?;
    Ok(())
}

//! [`Postgres`] as the [`RestoreStore`]: archived recordings restored from their sidecars, a
//! batch in one transaction, by the rules in [`crate::db::restore`]. The conferences and call
//! legs are locked first, in the one global order, so that a replica taking callbacks for the
//! same ones meanwhile waits for the batch or is waited for.

use async_trait::async_trait;

use super::Postgres;
use super::tx::{PgTx, call_key, conference_key, lock_order};
use crate::db::model::{Conference, Instant, JobKind};
use crate::db::restore::{
    RestoreOutcome, RestoreTx, Restored, RestoredLeg, RestoredRecording, restore,
};
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
                // A restored leg takes its call's waiting recordings: a record stop for that
                // call taken meanwhile must wait, or neither would see the other.
                keys.extend(
                    r.legs
                        .iter()
                        .map(|leg| call_key(&leg.participant.call_uuid)),
                );
            }
            tx.lock(&lock_order(keys))?;
            restored.iter().map(|r| restore(tx, r, now)).collect()
        })
        .await
    }
}

impl RestoreTx for PgTx<'_> {
    fn recording_known(&self, recording_id: &str) -> Result<bool, DbError> {
        Ok(self
            .opt(
                "SELECT 1 FROM recordings WHERE recording_id = $1",
                &[&recording_id],
            )?
            .is_some())
    }

    fn insert_conference(&self, c: &Conference, now: Instant) -> Result<bool, DbError> {
        let peak = c.peak_size.map(|p| i32::try_from(p).unwrap_or(i32::MAX));
        Ok(self.execute(
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

    fn insert_leg(&self, conference_uuid: &str, leg: &RestoredLeg) -> Result<bool, DbError> {
        let p = &leg.participant;
        Ok(self.execute(
            "INSERT INTO participants
                 (conference_uuid, call_uuid, member_id, from_number, to_number, from_normalized,
                  direction, joined_at, left_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (conference_uuid, call_uuid, member_id) DO NOTHING",
            &[
                &conference_uuid,
                &p.call_uuid,
                &p.member_id.as_deref().unwrap_or_default(),
                &p.from,
                &p.to,
                &leg.from_normalized,
                &p.direction,
                &p.joined_at,
                &p.left_at,
            ],
        )? == 1)
    }

    fn insert_recording(
        &self,
        conference_uuid: Option<&str>,
        rec: &RestoredRecording,
        now: Instant,
    ) -> Result<(), DbError> {
        let size = super::recordings::non_negative(Some(rec.size_bytes));
        self.execute(
            "INSERT INTO recordings
                 (recording_id, conference_uuid, call_uuid, source, source_url, duration_ms,
                  format, size_bytes, sha256, location, archived_at, created_at, object_key,
                  recorded_at, from_number, to_number, from_normalized, to_normalized,
                  vobiz_object, source_deleted_at, started_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                     $18, $19::text::jsonb, $20, $21)",
            &[
                &rec.recording_id,
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
        Ok(())
    }

    fn count_done(&self, kind: JobKind, subject: &str, now: Instant) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
             VALUES ($1, $2, 'done', $3, $3, $3)
             ON CONFLICT (kind, subject) DO NOTHING",
            &[&kind, &subject, &now],
        )?;
        Ok(())
    }
}

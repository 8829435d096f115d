//! [`Sqlite`] as the [`RestoreStore`]: archived recordings restored from their sidecars, a
//! batch in one write, by the rules in [`crate::db::restore`].

use async_trait::async_trait;
use rusqlite::named_params;

use super::Sqlite;
use super::tx::SqliteTx;
use crate::db::model::{Conference, Instant, JobKind};
use crate::db::restore::{
    RestoreOutcome, RestoreTx, Restored, RestoredLeg, RestoredRecording, restore,
};
use crate::db::{DbError, RestoreStore};
use crate::time::to_db;

#[async_trait]
impl RestoreStore for Sqlite {
    async fn restore_archived(
        &self,
        restored: Vec<Restored>,
        now: Instant,
    ) -> Result<Vec<RestoreOutcome>, DbError> {
        let nonces = self.nonces.clone();
        self.writer
            .run(move |conn| {
                let tx = SqliteTx(conn, &nonces);
                restored.iter().map(|r| restore(&tx, r, now)).collect()
            })
            .await
    }
}

impl RestoreTx for SqliteTx<'_> {
    fn recording_known(&self, recording_id: &str) -> Result<bool, DbError> {
        Ok(self
            .0
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM recordings WHERE recording_id = :id)")?
            .query_row(named_params! {":id": recording_id}, |row| row.get(0))?)
    }

    fn insert_conference(&self, c: &Conference, now: Instant) -> Result<bool, DbError> {
        Ok(self
            .0
            .prepare_cached(
                "INSERT INTO conferences
                     (conference_uuid, name, status, started_at, ended_at, end_reason,
                      peak_size, created_at, updated_at)
                 VALUES (:uuid, :name, :status, :started, :ended, :reason, :peak, :now, :now)
                 ON CONFLICT (conference_uuid) DO NOTHING",
            )?
            .execute(named_params! {
                ":uuid": c.conference_uuid,
                ":name": c.name,
                ":status": c.status,
                ":started": c.started_at.map(to_db),
                ":ended": c.ended_at.map(to_db),
                ":reason": c.end_reason,
                ":peak": c.peak_size,
                ":now": to_db(now),
            })?
            == 1)
    }

    fn insert_leg(&self, conference_uuid: &str, leg: &RestoredLeg) -> Result<bool, DbError> {
        let p = &leg.participant;
        Ok(self
            .0
            .prepare_cached(
                "INSERT INTO participants
                     (conference_uuid, call_uuid, member_id, from_number, to_number,
                      from_normalized, direction, joined_at, left_at)
                 VALUES (:conf, :call, :member, :from, :to, :from_n, :direction, :joined, :left)
                 ON CONFLICT (conference_uuid, call_uuid, member_id) DO NOTHING",
            )?
            .execute(named_params! {
                ":conf": conference_uuid,
                ":call": p.call_uuid,
                ":member": p.member_id.as_deref().unwrap_or_default(),
                ":from": p.from,
                ":to": p.to,
                ":from_n": leg.from_normalized,
                ":direction": p.direction,
                ":joined": p.joined_at.map(to_db),
                ":left": p.left_at.map(to_db),
            })?
            == 1)
    }

    fn insert_recording(
        &self,
        conference_uuid: Option<&str>,
        rec: &RestoredRecording,
        now: Instant,
    ) -> Result<(), DbError> {
        self.0
            .prepare_cached(
                "INSERT INTO recordings
                     (recording_id, conference_uuid, call_uuid, source, source_url, duration_ms,
                      format, size_bytes, sha256, location, archived_at, created_at, object_key,
                      recorded_at, from_number, to_number, from_normalized, to_normalized,
                      vobiz_object, source_deleted_at, started_at)
                 VALUES (:id, :conf, :call, :source, :url, :duration, :format, :size, :sha256,
                         :location, :archived_at, :now, :key, :recorded_at, :from, :to, :from_n,
                         :to_n, :vobiz, :deleted_at, :started_at)",
            )?
            .execute(named_params! {
                ":id": rec.recording_id,
                ":conf": conference_uuid,
                ":call": rec.call_uuid,
                ":source": rec.source,
                ":url": rec.source_url,
                ":duration": rec.duration_ms,
                ":format": rec.format,
                ":size": i64::try_from(rec.size_bytes).unwrap_or(i64::MAX),
                ":sha256": rec.sha256,
                ":location": rec.location,
                ":archived_at": to_db(rec.archived_at),
                ":now": to_db(now),
                ":key": rec.object_key,
                ":recorded_at": to_db(rec.recorded_at),
                ":from": rec.from,
                ":to": rec.to,
                ":from_n": rec.from_normalized,
                ":to_n": rec.to_normalized,
                ":vobiz": rec.vobiz_object,
                ":deleted_at": rec.source_deleted_at.map(to_db),
                ":started_at": rec.started_at.map(to_db),
            })?;
        Ok(())
    }

    fn count_done(&self, kind: JobKind, subject: &str, now: Instant) -> Result<(), DbError> {
        self.0
            .prepare_cached(
                "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
                 VALUES (:kind, :subject, 'done', :now, :now, :now)
                 ON CONFLICT (kind, subject) DO NOTHING",
            )?
            .execute(named_params! {":kind": kind, ":subject": subject, ":now": to_db(now)})?;
        Ok(())
    }
}

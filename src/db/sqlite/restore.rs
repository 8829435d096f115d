//! [`Sqlite`] as the [`RestoreStore`]: archived recordings restored from their sidecars, a
//! batch in one write.

use async_trait::async_trait;
use rusqlite::{Connection, named_params};

use super::Sqlite;
use crate::db::model::{Conference, Instant, JobKind, Status};
use crate::db::restore::{RestoreOutcome, Restored, RestoredLeg};
use crate::db::{DbError, RestoreStore};
use crate::time::to_db;

#[async_trait]
impl RestoreStore for Sqlite {
    async fn restore_archived(
        &self,
        restored: Vec<Restored>,
        now: Instant,
    ) -> Result<Vec<RestoreOutcome>, DbError> {
        self.writer
            .run(move |conn| {
                let now = to_db(now);
                restored.iter().map(|r| restore(conn, r, &now)).collect()
            })
            .await
    }
}

/// Restores one recording unless it is known.
pub fn restore(conn: &Connection, r: &Restored, now: &str) -> Result<RestoreOutcome, DbError> {
    let id = &r.recording.recording_id;
    let known: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM recordings WHERE recording_id = :id)")?
        .query_row(named_params! {":id": id}, |row| row.get(0))?;
    if known {
        return Ok(RestoreOutcome::Known);
    }
    let (mut conference, mut legs) = (false, 0);
    if let Some(c) = &r.conference {
        conference = insert_conference(conn, c, now)?;
        // A restored conference's summary went out, or was due, long ago: counting it done
        // keeps a rebuild from mailing every meeting in the archive again.
        if conference && c.status == Status::Ended {
            done_job(conn, JobKind::NotifyConference, &c.conference_uuid, now)?;
        }
        for leg in &r.legs {
            legs += insert_leg(conn, &c.conference_uuid, leg)?;
        }
    }
    let rec = &r.recording;
    conn.prepare_cached(
        "INSERT INTO recordings
             (recording_id, conference_uuid, call_uuid, source, source_url, duration_ms, format,
              size_bytes, sha256, location, archived_at, created_at, object_key, recorded_at,
              from_number, to_number, from_normalized, to_normalized, vobiz_object,
              source_deleted_at, started_at)
         VALUES (:id, :conf, :call, :source, :url, :duration, :format, :size, :sha256,
                 :location, :archived_at, :now, :key, :recorded_at, :from, :to, :from_n, :to_n,
                 :vobiz, :deleted_at, :started_at)",
    )?
    .execute(named_params! {
        ":id": id,
        ":conf": r.conference.as_ref().map(|c| &c.conference_uuid),
        ":call": rec.call_uuid,
        ":source": rec.source,
        ":url": rec.source_url,
        ":duration": rec.duration_ms,
        ":format": rec.format,
        ":size": i64::try_from(rec.size_bytes).unwrap_or(i64::MAX),
        ":sha256": rec.sha256,
        ":location": rec.location,
        ":archived_at": to_db(rec.archived_at),
        ":now": now,
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
    done_job(conn, JobKind::ArchiveRecording, id, now)?;
    Ok(RestoreOutcome::Restored { conference, legs })
}

/// False if the conference was known.
fn insert_conference(conn: &Connection, c: &Conference, now: &str) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO conferences
                 (conference_uuid, name, status, started_at, ended_at, end_reason, peak_size,
                  created_at, updated_at)
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
            ":now": now,
        })?
        == 1)
}

/// 1 if the leg was missing, else 0.
fn insert_leg(conn: &Connection, conference: &str, leg: &RestoredLeg) -> Result<u64, DbError> {
    let p = &leg.participant;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO participants
                 (conference_uuid, call_uuid, member_id, from_number, to_number,
                  from_normalized, direction, joined_at, left_at)
             VALUES (:conf, :call, :member, :from, :to, :from_n, :direction, :joined, :left)
             ON CONFLICT (conference_uuid, call_uuid, member_id) DO NOTHING",
        )?
        .execute(named_params! {
            ":conf": conference,
            ":call": p.call_uuid,
            ":member": p.member_id.as_deref().unwrap_or_default(),
            ":from": p.from,
            ":to": p.to,
            ":from_n": leg.from_normalized,
            ":direction": p.direction,
            ":joined": p.joined_at.map(to_db),
            ":left": p.left_at.map(to_db),
        })?;
    Ok(inserted as u64)
}

fn done_job(conn: &Connection, kind: JobKind, subject: &str, now: &str) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
         VALUES (:kind, :subject, 'done', :now, :now, :now)
         ON CONFLICT (kind, subject) DO NOTHING",
    )?
    .execute(named_params! {":kind": kind, ":subject": subject, ":now": now})?;
    Ok(())
}

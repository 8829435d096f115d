//! Conferences and their roster (one row per call leg) on PostgreSQL: the same rules as
//! SQLite's, each as one statement where SQLite reads before it writes (a round trip costs more
//! here than a row version); writes whose answer decides nothing are sent without waiting.

use tokio_postgres::Row;

use super::tx::PgTx;
use crate::db::DbError;
use crate::db::ingest_tx::{Caller, Leg, Touched};
use crate::db::model::{Conference, Participant};
use crate::time::Instant;

/// See [`crate::db::ingest_tx::IngestTx::touch_conference`]. LEAST and GREATEST skip NULLs,
/// which is the rule: an unknown start or size never wins.
pub fn touch(
    tx: &PgTx<'_>,
    uuid: &str,
    name: Option<&str>,
    at: Instant,
    size: Option<u32>,
    now: Instant,
) -> Result<Touched, DbError> {
    let size = size.map(|s| i32::try_from(s).unwrap_or(i32::MAX));
    let row = tx.one(
        "INSERT INTO conferences AS c
             (conference_uuid, name, status, started_at, peak_size, created_at, updated_at)
         VALUES ($1, COALESCE($2, ''), 'active', $3, $4, $5, $5)
         ON CONFLICT (conference_uuid) DO UPDATE SET
             name = CASE WHEN c.name = '' THEN COALESCE($2, '') ELSE c.name END,
             started_at = LEAST(c.started_at, $3),
             peak_size = GREATEST(c.peak_size, $4),
             updated_at = $5
         RETURNING status = 'ended', last_member_exit_at IS NOT NULL",
        &[&uuid, &name, &at, &size, &now],
    )?;
    Ok(Touched {
        ended: row.try_get(0)?,
        last_member_left: row.try_get(1)?,
    })
}

pub fn end_by_event(tx: &PgTx<'_>, uuid: &str, at: Instant, now: Instant) -> Result<(), DbError> {
    tx.send(
        "UPDATE conferences SET
             status = 'ended',
             ended_at = COALESCE(ended_at, $2),
             end_reason = COALESCE(end_reason, 'end_event'),
             end_due_at = NULL,
             updated_at = $3
         WHERE conference_uuid = $1",
        vec![Box::new(uuid.to_owned()), Box::new(at), Box::new(now)],
    )
}

pub fn note_last_member_exit(
    tx: &PgTx<'_>,
    uuid: &str,
    at: Instant,
    now: Instant,
) -> Result<(), DbError> {
    tx.send(
        "UPDATE conferences SET last_member_exit_at = GREATEST(last_member_exit_at, $2),
                                updated_at = $3
         WHERE conference_uuid = $1",
        vec![Box::new(uuid.to_owned()), Box::new(at), Box::new(now)],
    )
}

pub fn schedule_inferred_end(
    tx: &PgTx<'_>,
    uuid: &str,
    due: Instant,
    now: Instant,
) -> Result<(), DbError> {
    tx.send(
        "UPDATE conferences SET
             end_due_at = CASE
                 WHEN EXISTS (SELECT 1 FROM participants p
                              WHERE p.conference_uuid = $1 AND p.left_at IS NULL)
                 THEN NULL ELSE $2::timestamptz END,
             updated_at = $3
         WHERE conference_uuid = $1 AND status = 'active'
           AND last_member_exit_at IS NOT NULL",
        vec![Box::new(uuid.to_owned()), Box::new(due), Box::new(now)],
    )
}

/// The conferences whose inferred end is due: housekeeping locks them before ending them.
pub fn due_ends(tx: &PgTx<'_>, now: Instant) -> Result<Vec<String>, DbError> {
    tx.query(
        "SELECT conference_uuid FROM conferences
         WHERE end_due_at IS NOT NULL AND end_due_at <= $1 AND status = 'active'",
        &[&now],
    )?
    .iter()
    .map(|r| Ok(r.try_get(0)?))
    .collect()
}

pub fn confirm_due_ends(tx: &PgTx<'_>, now: Instant) -> Result<Vec<String>, DbError> {
    tx.query(
        "UPDATE conferences SET
             status = 'ended',
             ended_at = last_member_exit_at,
             end_reason = 'last_member_left',
             end_due_at = NULL,
             updated_at = $1
         WHERE end_due_at IS NOT NULL AND end_due_at <= $1 AND status = 'active'
         RETURNING conference_uuid",
        &[&now],
    )?
    .iter()
    .map(|r| Ok(r.try_get(0)?))
    .collect()
}

/// The earliest join wins, and is never later than a known leave.
pub fn record_enter(
    tx: &PgTx<'_>,
    leg: &Leg<'_>,
    caller: &Caller<'_>,
    at: Instant,
) -> Result<(), DbError> {
    tx.send(
        "INSERT INTO participants AS p
             (conference_uuid, call_uuid, member_id, from_number, from_normalized,
              to_number, direction, joined_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (conference_uuid, call_uuid, member_id) DO UPDATE SET
             from_number = COALESCE(p.from_number, excluded.from_number),
             from_normalized = COALESCE(p.from_normalized, excluded.from_normalized),
             to_number = COALESCE(p.to_number, excluded.to_number),
             direction = COALESCE(p.direction, excluded.direction),
             joined_at = LEAST(p.joined_at, excluded.joined_at, p.left_at)",
        vec![
            Box::new(leg.conference_uuid.to_owned()),
            Box::new(leg.call_uuid.to_owned()),
            Box::new(leg.member_id.unwrap_or("").to_owned()),
            Box::new(caller.from.map(str::to_owned)),
            Box::new(caller.from_normalized.map(str::to_owned)),
            Box::new(caller.to.map(str::to_owned)),
            Box::new(caller.direction.map(str::to_owned)),
            Box::new(at),
        ],
    )
}

/// The latest leave wins; a join (if known) is never later than it.
pub fn record_exit(tx: &PgTx<'_>, leg: &Leg<'_>, at: Instant) -> Result<(), DbError> {
    tx.send(
        "INSERT INTO participants AS p (conference_uuid, call_uuid, member_id, left_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (conference_uuid, call_uuid, member_id) DO UPDATE SET
             left_at = GREATEST(p.left_at, excluded.left_at),
             joined_at = CASE WHEN p.joined_at IS NULL THEN NULL
                              ELSE LEAST(p.joined_at, GREATEST(p.left_at, excluded.left_at))
                         END",
        vec![
            Box::new(leg.conference_uuid.to_owned()),
            Box::new(leg.call_uuid.to_owned()),
            Box::new(leg.member_id.unwrap_or("").to_owned()),
            Box::new(at),
        ],
    )
}

pub fn conference_of_call(tx: &PgTx<'_>, call_uuid: &str) -> Result<Option<String>, DbError> {
    tx.opt(
        "SELECT conference_uuid FROM participants WHERE call_uuid = $1 ORDER BY id LIMIT 1",
        &[&call_uuid],
    )?
    .map(|r| Ok(r.try_get(0)?))
    .transpose()
}

pub fn get(tx: &PgTx<'_>, uuid: &str) -> Result<Option<Conference>, DbError> {
    tx.opt(
        "SELECT conference_uuid, name, status, started_at, ended_at, end_reason, peak_size
         FROM conferences WHERE conference_uuid = $1",
        &[&uuid],
    )?
    .map(|r| {
        Ok(Conference {
            conference_uuid: r.try_get(0)?,
            name: r.try_get(1)?,
            status: r.try_get(2)?,
            started_at: r.try_get(3)?,
            ended_at: r.try_get(4)?,
            end_reason: r.try_get(5)?,
            peak_size: r.try_get::<_, Option<i32>>(6)?.map(i64::from),
        })
    })
    .transpose()
}

pub fn participants(tx: &PgTx<'_>, uuid: &str) -> Result<Vec<Participant>, DbError> {
    tx.query(
        "SELECT call_uuid, member_id, from_number, to_number, direction, joined_at, left_at
         FROM participants WHERE conference_uuid = $1
         ORDER BY joined_at IS NULL, joined_at, id",
        &[&uuid],
    )?
    .iter()
    .map(participant)
    .collect()
}

fn participant(r: &Row) -> Result<Participant, DbError> {
    let member: String = r.try_get(1)?;
    Ok(Participant {
        call_uuid: r.try_get(0)?,
        member_id: (!member.is_empty()).then_some(member),
        from: r.try_get(2)?,
        to: r.try_get(3)?,
        direction: r.try_get(4)?,
        joined_at: r.try_get(5)?,
        left_at: r.try_get(6)?,
    })
}

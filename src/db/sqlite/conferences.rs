//! Conferences and their roster (one row per call leg): the state the rules in `ingest` keep.

use rusqlite::{Connection, Row, named_params};

use super::optional;
use crate::db::DbError;
use crate::db::ingest_tx::{Caller, Leg, Touched};
use crate::db::model::{Conference, Participant, Status};
use crate::time::{Instant, from_db};

/// Creates the conference if it is new and records activity at `at`: the name if it had none,
/// `started_at` moved earlier, the largest room size seen.
pub fn touch(
    conn: &Connection,
    uuid: &str,
    name: Option<&str>,
    at: &str,
    size: Option<u32>,
    now: &str,
) -> Result<Touched, DbError> {
    // Most callbacks change nothing about their conference: read first, and write only what
    // changes, so that the common case is one indexed read.
    let current = optional(
        conn.prepare_cached(
            "SELECT status = 'ended', last_member_exit_at IS NOT NULL, name, started_at, peak_size
             FROM conferences WHERE conference_uuid = :uuid",
        )?
        .query_row(named_params! {":uuid": uuid}, |r| {
            Ok((
                Touched {
                    ended: r.get(0)?,
                    last_member_left: r.get(1)?,
                },
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        }),
    )?;
    let Some((touched, old_name, started_at, peak_size)) = current else {
        conn.prepare_cached(
            "INSERT INTO conferences
                 (conference_uuid, name, status, started_at, peak_size, created_at, updated_at)
             VALUES (:uuid, COALESCE(:name, ''), 'active', :at, :size, :now, :now)",
        )?
        .execute(
            named_params! {":uuid": uuid, ":name": name, ":at": at, ":size": size, ":now": now},
        )?;
        return Ok(Touched {
            ended: false,
            last_member_left: false,
        });
    };
    let names_it = old_name.is_empty() && name.is_some_and(|n| !n.is_empty());
    let earlier = started_at.as_deref().is_none_or(|s| at < s);
    let larger = size.is_some_and(|n| peak_size.is_none_or(|p| i64::from(n) > p));
    // One statement per column that changes, naming only that column: a SET that lists
    // `started_at` or `name` rewrites their index entries and runs their triggers (and the
    // statement savepoint those need) even when the value stays, and most of these updates
    // only raise the room size.
    if names_it {
        conn.prepare_cached(
            "UPDATE conferences SET name = :name, updated_at = :now
             WHERE conference_uuid = :uuid AND name = ''",
        )?
        .execute(named_params! {":uuid": uuid, ":now": now, ":name": name})?;
    }
    if earlier {
        conn.prepare_cached(
            "UPDATE conferences SET started_at = :at, updated_at = :now
             WHERE conference_uuid = :uuid AND (started_at IS NULL OR :at < started_at)",
        )?
        .execute(named_params! {":uuid": uuid, ":now": now, ":at": at})?;
    }
    if larger {
        conn.prepare_cached(
            "UPDATE conferences SET peak_size = :size, updated_at = :now
             WHERE conference_uuid = :uuid AND (peak_size IS NULL OR :size > peak_size)",
        )?
        .execute(named_params! {":uuid": uuid, ":now": now, ":size": size})?;
    }
    Ok(touched)
}

/// Records a documented `end`. The first end wins; redeliveries change nothing.
pub fn end_by_event(conn: &Connection, uuid: &str, at: &str, now: &str) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE conferences SET
             status = 'ended',
             ended_at = COALESCE(ended_at, :at),
             end_reason = COALESCE(end_reason, 'end_event'),
             end_due_at = NULL,
             updated_at = :now
         WHERE conference_uuid = :uuid",
    )?
    .execute(named_params! {":uuid": uuid, ":at": at, ":now": now})?;
    Ok(())
}

/// Live shape: notes that an exit said the room was empty at `at`.
pub fn note_last_member_exit(
    conn: &Connection,
    uuid: &str,
    at: &str,
    now: &str,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE conferences SET
             last_member_exit_at = CASE WHEN last_member_exit_at IS NULL
                                             OR :at > last_member_exit_at
                                        THEN :at ELSE last_member_exit_at END,
             updated_at = :now
         WHERE conference_uuid = :uuid",
    )?
    .execute(named_params! {":uuid": uuid, ":at": at, ":now": now})?;
    Ok(())
}

/// Live shape: once the last member has left and no leg is still open, the end is due at
/// `due`; while a leg is open it is not due. Ended conferences are left alone.
pub fn schedule_inferred_end(
    conn: &Connection,
    uuid: &str,
    due: &str,
    now: &str,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE conferences SET
             end_due_at = CASE
                 WHEN EXISTS (SELECT 1 FROM participants p
                              WHERE p.conference_uuid = :uuid AND p.left_at IS NULL)
                 THEN NULL ELSE :due END,
             updated_at = :now
         WHERE conference_uuid = :uuid AND status = 'active'
           AND last_member_exit_at IS NOT NULL",
    )?
    .execute(named_params! {":uuid": uuid, ":due": due, ":now": now})?;
    Ok(())
}

/// Ends every conference whose inferred end has come due; returns their ids.
pub fn confirm_due_ends(conn: &Connection, now: &str) -> Result<Vec<String>, DbError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE conferences SET
             status = 'ended',
             ended_at = last_member_exit_at,
             end_reason = 'last_member_left',
             end_due_at = NULL,
             updated_at = :now
         WHERE end_due_at IS NOT NULL AND end_due_at <= :now AND status = 'active'
         RETURNING conference_uuid",
    )?;
    let ids = stmt
        .query_map(named_params! {":now": now}, |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Records a join at `at`; the earliest join wins. With receive-time stamps an enter
/// delivered after its exit looks later than it, and a leg cannot end before it began, so the
/// join is never later than a known leave.
pub fn record_enter(
    conn: &Connection,
    leg: &Leg<'_>,
    caller: &Caller<'_>,
    at: &str,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO participants
             (conference_uuid, call_uuid, member_id, from_number, from_normalized,
              to_number, direction, joined_at)
         VALUES (:conf, :call, :member, :from, :norm, :to, :direction, :at)
         ON CONFLICT (conference_uuid, call_uuid, member_id) DO UPDATE SET
             from_number = COALESCE(from_number, excluded.from_number),
             from_normalized = COALESCE(from_normalized, excluded.from_normalized),
             to_number = COALESCE(to_number, excluded.to_number),
             direction = COALESCE(direction, excluded.direction),
             joined_at = MIN(COALESCE(joined_at, excluded.joined_at), excluded.joined_at,
                             COALESCE(left_at, excluded.joined_at))",
    )?
    .execute(named_params! {
        ":conf": leg.conference_uuid, ":call": leg.call_uuid, ":member": leg.member_id.unwrap_or(""),
        ":from": caller.from, ":norm": caller.from_normalized, ":to": caller.to,
        ":direction": caller.direction, ":at": at,
    })?;
    Ok(())
}

/// Records a leave at `at`; the latest leave wins, and a join is never later than it.
pub fn record_exit(conn: &Connection, leg: &Leg<'_>, at: &str) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO participants (conference_uuid, call_uuid, member_id, left_at)
         VALUES (:conf, :call, :member, :at)
         ON CONFLICT (conference_uuid, call_uuid, member_id) DO UPDATE SET
             left_at = MAX(COALESCE(left_at, excluded.left_at), excluded.left_at),
             joined_at = MIN(joined_at, MAX(COALESCE(left_at, excluded.left_at), excluded.left_at))",
    )?
    .execute(named_params! {
        ":conf": leg.conference_uuid, ":call": leg.call_uuid, ":member": leg.member_id.unwrap_or(""), ":at": at,
    })?;
    Ok(())
}

/// The conference a call leg took part in, if known.
pub fn conference_of_call(conn: &Connection, call_uuid: &str) -> Result<Option<String>, DbError> {
    optional(
        conn.prepare_cached(
            "SELECT conference_uuid FROM participants WHERE call_uuid = :call
             ORDER BY id LIMIT 1",
        )?
        .query_row(named_params! {":call": call_uuid}, |r| r.get(0)),
    )
}

pub fn get(conn: &Connection, uuid: &str) -> Result<Option<Conference>, DbError> {
    let row = optional(
        conn.prepare_cached(
            "SELECT conference_uuid, name, status, started_at, ended_at, end_reason, peak_size
             FROM conferences WHERE conference_uuid = :uuid",
        )?
        .query_row(named_params! {":uuid": uuid}, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Status>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<i64>>(6)?,
            ))
        }),
    )?;
    row.map(
        |(uuid, name, status, started, ended, end_reason, peak_size)| {
            Ok(Conference {
                conference_uuid: uuid,
                name,
                status,
                started_at: instant(started)?,
                ended_at: instant(ended)?,
                end_reason,
                peak_size,
            })
        },
    )
    .transpose()
}

pub fn participants(conn: &Connection, uuid: &str) -> Result<Vec<Participant>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT call_uuid, member_id, from_number, to_number, direction, joined_at, left_at
         FROM participants WHERE conference_uuid = :uuid
         ORDER BY joined_at IS NULL, joined_at, id",
    )?;
    let rows = stmt.query_map(named_params! {":uuid": uuid}, participant_row)?;
    let mut out = Vec::new();
    for row in rows {
        let (p, joined, left) = row?;
        out.push(Participant {
            joined_at: instant(joined)?,
            left_at: instant(left)?,
            ..p
        });
    }
    Ok(out)
}

type ParticipantRow = (Participant, Option<String>, Option<String>);

fn participant_row(r: &Row<'_>) -> rusqlite::Result<ParticipantRow> {
    let member: String = r.get(1)?;
    Ok((
        Participant {
            call_uuid: r.get(0)?,
            member_id: (!member.is_empty()).then_some(member),
            from: r.get(2)?,
            to: r.get(3)?,
            direction: r.get(4)?,
            joined_at: None,
            left_at: None,
        },
        r.get(5)?,
        r.get(6)?,
    ))
}

pub(crate) fn instant(text: Option<String>) -> Result<Option<Instant>, DbError> {
    text.map(|t| from_db(&t).map_err(|e| DbError::Corrupt(format!("timestamp {t:?}: {e}"))))
        .transpose()
}

//! Sign-in requests and links, sessions and the audit log; and the visibility rule as SQL.

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, named_params};

use super::conferences::instant;
use super::optional;
use crate::db::DbError;
use crate::db::access::{
    AccessUpkeep, AuditEvent, AuditQuery, NewSession, Redeemed, SessionRow, SigninRequest,
    SigninRequested, Visibility,
};
use crate::db::model::Instant;
use crate::time::to_db;

/// The SQL function the visibility rule matches conference names with:
/// `confvault_name_matches(name, globs_json)`, with the same glob rules as the mail routes.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "confvault_name_matches",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let globs =
                ctx.get_or_create_aux(1, |value| -> Result<globset::GlobSet, BoxError> {
                    let patterns: Vec<String> = serde_json::from_str(value.as_str()?)?;
                    let mut set = globset::GlobSetBuilder::new();
                    for pattern in patterns {
                        set.add(globset::Glob::new(&pattern)?);
                    }
                    Ok(set.build()?)
                })?;
            let name = ctx.get_raw(0).as_str_or_null()?.unwrap_or_default();
            Ok(globs.is_match(name))
        },
    )
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The condition that keeps what `visible` allows, over a conference id column (and the
/// conference's name column, when the query has one), and its values; `None` when everything
/// is visible.
pub fn visible_condition(
    visible: &Visibility,
    uuid_column: &str,
    name_column: Option<&str>,
) -> Option<(String, Vec<(&'static str, rusqlite::types::Value)>)> {
    let Visibility::Only(scope) = visible else {
        return None;
    };
    let by_name = match name_column {
        Some(name) => format!("confvault_name_matches({name}, :vis_names)"),
        None => format!(
            "{uuid_column} IN (SELECT vc.conference_uuid FROM conferences vc
                               WHERE confvault_name_matches(vc.name, :vis_names))"
        ),
    };
    let condition = format!(
        "({uuid_column} IN (SELECT vp.conference_uuid FROM participants vp
                            WHERE vp.from_normalized IN (SELECT value FROM json_each(:vis_numbers)))
          OR {by_name})"
    );
    let json = |v: &[String]| serde_json::Value::from(v.to_vec()).to_string();
    Some((
        condition,
        vec![
            (
                ":vis_numbers",
                rusqlite::types::Value::Text(json(&scope.numbers)),
            ),
            (
                ":vis_names",
                rusqlite::types::Value::Text(json(&scope.names)),
            ),
        ],
    ))
}

/// Whether `visible` allows the conference `uuid` (false for none).
pub fn may_see(
    conn: &Connection,
    visible: &Visibility,
    uuid: Option<&str>,
) -> Result<bool, DbError> {
    let Some((condition, mut values)) = visible_condition(visible, ":uuid", None) else {
        return Ok(true);
    };
    let Some(uuid) = uuid else {
        return Ok(false);
    };
    values.push((":uuid", rusqlite::types::Value::Text(uuid.to_owned())));
    let params: Vec<(&str, &dyn rusqlite::ToSql)> = values
        .iter()
        .map(|(k, v)| (*k, v as &dyn rusqlite::ToSql))
        .collect();
    Ok(conn
        .prepare_cached(&format!("SELECT {condition}"))?
        .query_row(params.as_slice(), |r| r.get(0))?)
}

pub fn request_signin(conn: &Connection, r: &SigninRequest) -> Result<SigninRequested, DbError> {
    conn.prepare_cached("INSERT INTO signin_requests (email, client, at) VALUES (?1, ?2, ?3)")?
        .execute(rusqlite::params![r.email, r.client, to_db(r.at)])?;
    let Some(link) = &r.link else {
        return Ok(SigninRequested::NoLink);
    };
    let recent: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM signin_links WHERE email = ?1 AND created_at >= ?2")?
        .query_row(rusqlite::params![r.email, to_db(r.window_start)], |row| {
            row.get(0)
        })?;
    if recent >= i64::from(r.links_per_window) {
        return Ok(SigninRequested::Limited);
    }
    conn.prepare_cached(
        "INSERT INTO signin_links (token_hash, email, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(rusqlite::params![
        link.token_hash,
        r.email,
        to_db(r.at),
        to_db(link.expires_at)
    ])?;
    Ok(SigninRequested::LinkStored)
}

pub fn redeem(
    conn: &Connection,
    token_hash: &[u8],
    session: &NewSession,
) -> Result<Redeemed, DbError> {
    let found = optional(
        conn.prepare_cached(
            "SELECT email, expires_at, used_at FROM signin_links WHERE token_hash = ?1",
        )?
        .query_row([token_hash], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        }),
    )?;
    let Some((email, expires_at, used_at)) = found else {
        return Ok(Redeemed::Unknown);
    };
    if used_at.is_some() {
        return Ok(Redeemed::Used);
    }
    if instant(Some(expires_at))?.is_some_and(|t| t <= session.created_at) {
        return Ok(Redeemed::Expired);
    }
    let now = to_db(session.created_at);
    conn.prepare_cached("UPDATE signin_links SET used_at = ?2 WHERE token_hash = ?1")?
        .execute(rusqlite::params![token_hash, now])?;
    conn.prepare_cached(
        "INSERT INTO sessions (id_hash, email, client, created_at, expires_at, last_used_at)
         VALUES (:id, :email, :client, :now, :expires, :now)",
    )?
    .execute(named_params! {
        ":id": session.id_hash, ":email": email, ":client": session.client, ":now": now,
        ":expires": to_db(session.expires_at),
    })?;
    conn.prepare_cached(
        "INSERT INTO audit_events (at, actor, action, client) VALUES (?1, ?2, 'sign_in', ?3)",
    )?
    .execute(rusqlite::params![now, email, session.client])?;
    Ok(Redeemed::SignedIn { email })
}

pub fn session(conn: &Connection, id_hash: &[u8]) -> Result<Option<SessionRow>, DbError> {
    let row = optional(
        conn.prepare_cached(
            "SELECT email, expires_at, last_used_at, ended_at FROM sessions WHERE id_hash = ?1",
        )?
        .query_row([id_hash], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        }),
    )?;
    row.map(|(email, expires, used, ended)| {
        Ok(SessionRow {
            email,
            expires_at: required(expires)?,
            last_used_at: required(used)?,
            ended_at: instant(ended)?,
        })
    })
    .transpose()
}

fn required(text: String) -> Result<Instant, DbError> {
    instant(Some(text))?.ok_or_else(|| DbError::Corrupt("a missing timestamp".into()))
}

pub fn touch_session(conn: &Connection, id_hash: &[u8], now: Instant) -> Result<(), DbError> {
    conn.prepare_cached("UPDATE sessions SET last_used_at = ?2 WHERE id_hash = ?1")?
        .execute(rusqlite::params![id_hash, to_db(now)])?;
    Ok(())
}

pub fn end_session(conn: &Connection, id_hash: &[u8], now: Instant) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE sessions SET ended_at = ?2 WHERE id_hash = ?1 AND ended_at IS NULL",
    )?
    .execute(rusqlite::params![id_hash, to_db(now)])?;
    Ok(())
}

pub fn end_sessions_of(conn: &Connection, email: &str, now: Instant) -> Result<u64, DbError> {
    let ended = conn
        .prepare_cached(
            "UPDATE sessions SET ended_at = ?2
             WHERE email = ?1 AND ended_at IS NULL AND expires_at > ?2",
        )?
        .execute(rusqlite::params![email, to_db(now)])?;
    Ok(ended as u64)
}

pub fn record_audit(conn: &Connection, e: &AuditEvent) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO audit_events
             (at, actor, action, conference_uuid, recording_id, client, subject)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(rusqlite::params![
        to_db(e.at),
        e.actor,
        e.action,
        e.conference_uuid,
        e.recording_id,
        e.client,
        e.subject
    ])?;
    Ok(())
}

/// The audit log's newest first, filtered as asked: the statement and its parameters. Each
/// filter is written into the statement only when it is set, so that SQLite can walk
/// `audit_by_conference` or `audit_by_actor`: with `(:x IS NULL OR column = :x)` it could use
/// neither and read the log from its newest end until enough rows matched, which for a rare
/// conference is the whole log.
pub(super) fn audit_statement<'a>(
    q: &'a AuditQuery,
    limit: &'a u32,
) -> (String, Vec<(&'static str, &'a dyn rusqlite::ToSql)>) {
    let mut conditions = Vec::new();
    let mut params: Vec<(&str, &dyn rusqlite::ToSql)> = vec![(":limit", limit)];
    for (column, name, value) in q.filters() {
        conditions.push(format!("{column} = {name}"));
        params.push((name, value));
    }
    let sql = crate::db::access::audit_sql(&conditions, ":limit");
    (sql, params)
}

pub fn audit_events(conn: &Connection, q: &AuditQuery) -> Result<Vec<AuditEvent>, DbError> {
    let limit = q.limit.clamp(1, 10_000);
    let (sql, params) = audit_statement(q, &limit);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params.as_slice(), |r| {
        Ok((
            r.get::<_, String>(0)?,
            AuditEvent {
                at: chrono::DateTime::UNIX_EPOCH,
                actor: r.get(1)?,
                action: r.get(2)?,
                conference_uuid: r.get(3)?,
                recording_id: r.get(4)?,
                client: r.get(5)?,
                subject: r.get(6)?,
            },
        ))
    })?;
    let mut events = Vec::new();
    for row in rows {
        let (at, mut event) = row?;
        event.at = required(at)?;
        events.push(event);
    }
    Ok(events)
}

pub fn prune(conn: &Connection, u: &AccessUpkeep) -> Result<(), DbError> {
    let before = to_db(u.requests_before);
    let now = to_db(u.now);
    conn.prepare_cached("DELETE FROM signin_requests WHERE at < ?1")?
        .execute([&before])?;
    conn.prepare_cached("DELETE FROM signin_links WHERE created_at < ?1 AND expires_at < ?2")?
        .execute([&before, &now])?;
    conn.prepare_cached("DELETE FROM sessions WHERE expires_at < ?1 OR ended_at < ?2")?
        .execute([&now, &before])?;
    conn.prepare_cached("DELETE FROM audit_events WHERE at < ?1")?
        .execute([to_db(u.audit_before)])?;
    Ok(())
}

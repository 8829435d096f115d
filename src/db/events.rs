//! The raw callback log: every accepted callback, verbatim, recognised again on redelivery.

use rusqlite::{Connection, named_params};

use super::DbError;

/// One callback as received.
pub struct NewEvent<'a> {
    pub endpoint: &'static str,
    pub dedupe_key: &'a [u8],
    pub method: &'a str,
    pub raw_body: &'a str,
    pub kind: &'a str,
    pub conference_uuid: Option<&'a str>,
    pub call_uuid: Option<&'a str>,
    pub received_at: &'a str,
}

/// Stores the event; `false` when the same callback was stored before.
pub fn insert(conn: &Connection, e: &NewEvent<'_>) -> Result<bool, DbError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO callback_events
                 (endpoint, dedupe_key, method, raw_body, kind,
                  conference_uuid, call_uuid, received_at)
             VALUES (:endpoint, :dedupe_key, :method, :raw_body, :kind,
                     :conference_uuid, :call_uuid, :received_at)
             ON CONFLICT (dedupe_key) DO NOTHING",
        )?
        .execute(named_params! {
            ":endpoint": e.endpoint,
            ":dedupe_key": e.dedupe_key,
            ":method": e.method,
            ":raw_body": e.raw_body,
            ":kind": e.kind,
            ":conference_uuid": e.conference_uuid,
            ":call_uuid": e.call_uuid,
            ":received_at": e.received_at,
        })?;
    Ok(inserted == 1)
}

#[cfg(test)]
pub fn count(conn: &Connection) -> Result<i64, DbError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM callback_events")?
        .query_row([], |r| r.get(0))?)
}

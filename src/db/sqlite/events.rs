//! The raw callback log: every accepted callback, verbatim, recognised again on redelivery.

use rusqlite::{Connection, named_params};

use crate::db::DbError;
use crate::db::ingest_tx::NewEvent;

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
            ":received_at": crate::time::to_db(e.received_at),
        })?;
    Ok(inserted == 1)
}

#[cfg(test)]
pub fn count(conn: &Connection) -> Result<i64, DbError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM callback_events")?
        .query_row([], |r| r.get(0))?)
}

//! Signature nonces seen recently, to refuse a captured signature replayed with another body.

use rusqlite::{Connection, named_params};

use super::optional;
use crate::db::DbError;
use crate::db::ingest_tx::NonceSeen as Seen;

pub fn remember(
    conn: &Connection,
    nonce: &str,
    body_hash: &[u8],
    now: &str,
) -> Result<Seen, DbError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO seen_nonces (nonce, body_hash, seen_at) VALUES (:nonce, :body_hash, :now)
             ON CONFLICT (nonce) DO NOTHING",
        )?
        .execute(named_params! {":nonce": nonce, ":body_hash": body_hash, ":now": now})?;
    if inserted == 1 {
        return Ok(Seen::New);
    }
    let earlier: Option<Vec<u8>> = optional(
        conn.prepare_cached("SELECT body_hash FROM seen_nonces WHERE nonce = :nonce")?
            .query_row(named_params! {":nonce": nonce}, |r| r.get(0)),
    )?;
    Ok(if earlier.as_deref() == Some(body_hash) {
        Seen::SameBody
    } else {
        Seen::OtherBody
    })
}

/// Forgets nonces seen before `cutoff`; returns how many.
pub fn forget_before(conn: &Connection, cutoff: &str) -> Result<usize, DbError> {
    Ok(conn
        .prepare_cached("DELETE FROM seen_nonces WHERE seen_at < :cutoff")?
        .execute(named_params! {":cutoff": cutoff})?)
}

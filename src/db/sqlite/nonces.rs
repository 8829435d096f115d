//! Signature nonces seen recently, to refuse a captured signature replayed with another body.
//!
//! Two halves: `seen_nonces`, on disk, a log kept in the order nonces arrive (a rowid table, so
//! a new one is written at its end, not into a random page: Vobiz's nonces are random), and
//! [`RecentNonces`], the writer's in-memory index of that log by nonce, which answers "seen
//! before?". The index follows the writer's transactions like everything else a callback
//! writes: what a transaction adds or forgets is staged, and lands in the index only when the
//! writer reports the commit ([`Transactional`]); a rollback drops it, so a batch that is
//! rolled back and replayed does not find its own nonces already "seen". The index is rebuilt
//! from the log whenever the database opens, so it survives restarts exactly as the log does.
//!
//! A hash map, not SQLite: the index used to be an attached in-memory (`memdb`) table, which
//! got the transactions for free but took a fifth of the writer's time per callback (random
//! inserts into its B-tree, and its pages' bookkeeping at every commit). Its size is capped
//! ([`INDEX_LIMIT`]); past the cap a new nonce fails and the callback gets 503, to be
//! delivered again once old nonces have been forgotten.
//!
//! Only the writer that holds the index can check nonces, which holds because only the
//! server's one writer thread ingests callbacks; two servers on one SQLite file (not a
//! supported set-up: replicas share PostgreSQL) would not see each other's nonces until restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, named_params};

use super::writer::Transactional;
use crate::db::DbError;
use crate::db::ingest_tx::NonceSeen as Seen;

/// The most nonces the index holds: about 130 bytes each (measured: 265 MB for two million),
/// about 1 GiB at the cap; 15 minutes of callbacks (the default window) at 8,800 a second.
pub const INDEX_LIMIT: usize = 8_000_000;

/// A body's hash, as the ingest rules compute it.
type BodyHash = [u8; 32];

/// The writer's index of recent nonces; cheap to clone (one index behind every clone).
#[derive(Clone)]
pub struct RecentNonces(Arc<Mutex<Index>>);

struct Index {
    /// Committed: each nonce with the body it was first seen with.
    seen: HashMap<Box<str>, BodyHash>,
    /// What the open transaction changed: a nonce seen with this body, or forgotten (`None`).
    staged: HashMap<Box<str>, Option<BodyHash>>,
    limit: usize,
}

impl Index {
    fn lookup(&self, nonce: &str) -> Option<&BodyHash> {
        match self.staged.get(nonce) {
            Some(staged) => staged.as_ref(),
            None => self.seen.get(nonce),
        }
    }
}

impl RecentNonces {
    fn lock(&self) -> MutexGuard<'_, Index> {
        // Nothing runs under the lock that could leave the maps half changed.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many nonces the index holds, committed ones only.
    pub fn len(&self) -> usize {
        self.lock().seen.len()
    }
}

impl Transactional for RecentNonces {
    fn committed(&self) {
        let mut index = self.lock();
        let Index { seen, staged, .. } = &mut *index;
        for (nonce, change) in staged.drain() {
            match change {
                Some(body_hash) => seen.insert(nonce, body_hash),
                None => seen.remove(&nonce),
            };
        }
    }

    fn rolled_back(&self) {
        self.lock().staged.clear();
    }
}

/// Builds the index of the nonces in the log, admitting new ones while it holds fewer than
/// `limit`. Run once when the database opens, after the migrations.
pub fn index_recent(conn: &Connection, limit: usize) -> Result<RecentNonces, DbError> {
    let mut seen: HashMap<Box<str>, BodyHash> = HashMap::new();
    // In arrival order, so that where the log holds a nonce twice (two processes writing it at
    // once) the first body seen is the one that counts, as it was for the first process.
    let mut rows = conn.prepare("SELECT nonce, body_hash FROM main.seen_nonces ORDER BY id")?;
    let mut rows = rows.query([])?;
    while let Some(row) = rows.next()? {
        let nonce: String = row.get(0)?;
        let body_hash: Vec<u8> = row.get(1)?;
        let body_hash = BodyHash::try_from(body_hash.as_slice())
            .map_err(|_| DbError::Corrupt(format!("the body hash logged with nonce {nonce:?}")))?;
        seen.entry(nonce.into_boxed_str()).or_insert(body_hash);
    }
    Ok(RecentNonces(Arc::new(Mutex::new(Index {
        seen,
        staged: HashMap::new(),
        limit,
    }))))
}

/// Whether `nonce` was seen before, and with which body; a new one is logged and staged in
/// the index, to count from the commit of the transaction `conn` is in.
pub fn remember(
    conn: &Connection,
    recent: &RecentNonces,
    nonce: &str,
    body_hash: &BodyHash,
    now: &str,
) -> Result<Seen, DbError> {
    {
        let mut index = recent.lock();
        if let Some(earlier) = index.lookup(nonce) {
            return Ok(if earlier == body_hash {
                Seen::SameBody
            } else {
                Seen::OtherBody
            });
        }
        if index.seen.len() + index.staged.len() >= index.limit {
            return Err(DbError::NoncesFull);
        }
        index.staged.insert(nonce.into(), Some(*body_hash));
    }
    // If this fails, the writer rolls the transaction back, and the staged nonce with it.
    conn.prepare_cached(
        "INSERT INTO main.seen_nonces (nonce, body_hash, seen_at)
         VALUES (:nonce, :body_hash, :now)",
    )?
    .execute(named_params! {":nonce": nonce, ":body_hash": body_hash, ":now": now})?;
    Ok(Seen::New)
}

const FORGET_BEFORE: &str = "DELETE FROM main.seen_nonces
     WHERE id < coalesce(
         (SELECT id FROM main.seen_nonces WHERE seen_at >= :cutoff ORDER BY id LIMIT 1),
         (SELECT max(id) + 1 FROM main.seen_nonces))
     RETURNING nonce";

/// Forgets nonces seen before `cutoff`, from the log and (once the transaction commits) from
/// the index; returns how many.
///
/// The log is in arrival order, so this deletes from its start up to the first nonce seen at
/// or after `cutoff`, reading only what it deletes. Should the clock have stepped back, a few
/// nonces behind that one are kept a little longer than the window, never forgotten early.
pub fn forget_before(
    conn: &Connection,
    recent: &RecentNonces,
    cutoff: &str,
) -> Result<usize, DbError> {
    let forgotten = conn
        .prepare_cached(FORGET_BEFORE)?
        .query_map(named_params! {":cutoff": cutoff}, |row| {
            row.get::<_, String>(0)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut index = recent.lock();
    for nonce in &forgotten {
        index.staged.insert(nonce.as_str().into(), None);
    }
    Ok(forgotten.len())
}

#[cfg(test)]
#[path = "nonces_tests.rs"]
mod tests;

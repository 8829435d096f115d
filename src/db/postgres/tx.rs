//! A PostgreSQL transaction as the synchronous statements of this backend see it: each call
//! blocks its (blocking-pool) thread on the driver, whose connection runs on the runtime. This
//! lets the ingest rules, written once against the synchronous [`IngestTx`], run here as on
//! SQLite; statements are prepared once per connection and kept.

use std::cell::Cell;

use tokio::runtime::Handle;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::db::DbError;

/// Parameters of one statement.
pub type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// One open transaction.
pub struct PgTx<'c> {
    tx: deadpool_postgres::Transaction<'c>,
    rt: Handle,
    /// Set when the transaction queued a job, so that its commit wakes the workers.
    queued_jobs: Cell<bool>,
}

impl<'c> PgTx<'c> {
    pub fn new(tx: deadpool_postgres::Transaction<'c>, rt: Handle) -> Self {
        Self {
            tx,
            rt,
            queued_jobs: Cell::new(false),
        }
    }

    fn statement(&self, sql: &str) -> Result<tokio_postgres::Statement, DbError> {
        Ok(self.rt.block_on(self.tx.prepare_cached(sql))?)
    }

    pub fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, DbError> {
        let statement = self.statement(sql)?;
        Ok(self.rt.block_on(self.tx.execute(&statement, params))?)
    }

    pub fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, DbError> {
        let statement = self.statement(sql)?;
        Ok(self.rt.block_on(self.tx.query(&statement, params))?)
    }

    pub fn opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>, DbError> {
        let statement = self.statement(sql)?;
        Ok(self.rt.block_on(self.tx.query_opt(&statement, params))?)
    }

    pub fn one(&self, sql: &str, params: Params<'_>) -> Result<Row, DbError> {
        let statement = self.statement(sql)?;
        Ok(self.rt.block_on(self.tx.query_one(&statement, params))?)
    }

    /// Statements built per call (a search's filters): prepared, not kept.
    pub fn query_unprepared(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, DbError> {
        Ok(self.rt.block_on(self.tx.query(sql, params))?)
    }

    /// Notes that this transaction queued a job.
    pub fn queued_job(&self) {
        self.queued_jobs.set(true);
    }

    /// Waits for the advisory locks `keys`, in the order given (callers sort them, so that
    /// two transactions never wait for each other).
    pub fn lock(&self, keys: &[i64]) -> Result<(), DbError> {
        if !keys.is_empty() {
            self.execute(
                "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) WITH ORDINALITY AS t(k, n)",
                &[&keys],
            )?;
        }
        Ok(())
    }

    /// Takes the advisory lock `key` if no one holds it; false otherwise.
    pub fn try_lock(&self, key: i64) -> Result<bool, DbError> {
        Ok(self
            .one("SELECT pg_try_advisory_xact_lock($1)", &[&key])?
            .try_get(0)?)
    }

    /// Commits; a transaction that queued a job tells every replica's workers as it does.
    pub fn commit(self) -> Result<(), DbError> {
        if self.queued_jobs.get() {
            self.execute("SELECT pg_notify($1, '')", &[&super::listen::CHANNEL])?;
        }
        Ok(self.rt.block_on(self.tx.commit())?)
    }
}

/// The advisory-lock key of a conference or a call leg: the first 8 bytes of a SHA-256 of the
/// kind and the id, the same on every replica.
pub fn lock_key(kind: &str, id: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(kind)
        .chain_update([0])
        .chain_update(id)
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// The lock key of a conference.
pub fn conference_key(uuid: &str) -> i64 {
    lock_key("conference", uuid)
}

/// The lock key of a call leg.
pub fn call_key(uuid: &str) -> i64 {
    lock_key("call", uuid)
}

/// Sorted and without repeats: the order every transaction takes locks in.
pub fn lock_order(mut keys: Vec<i64>) -> Vec<i64> {
    keys.sort_unstable();
    keys.dedup();
    keys
}

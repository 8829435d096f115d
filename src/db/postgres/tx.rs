//! A PostgreSQL transaction as the synchronous statements of this backend see it: each call
//! blocks its thread (a blocking-pool thread, or a callback writer's own) on the driver, whose
//! connection runs on a runtime (see `waiter.rs`). This
//! lets the ingest rules, written once against the synchronous [`IngestTx`], run here as on
//! SQLite; statements are prepared once per connection and kept.
//!
//! A round trip to the server costs far more than running a small statement, so writes whose
//! answer decides nothing ([`PgTx::send`]) are sent at once and their answers read along with
//! the next statement that is waited for, or with the commit: several writes and a read share
//! one round trip. `BEGIN` travels with the first statement and `COMMIT` with the last writes,
//! so a batch that reads once costs two round trips. Under load a writer's `COMMIT` also
//! carries the next batch's `BEGIN` ([`PgTx::commit_and_begin`]), which saves the server an
//! answer, and the writer a wake, per batch. The server runs them in the order sent; a
//! write that failed fails the transaction at that next wait, so nothing is reported committed
//! after an error (PostgreSQL answers a `COMMIT` in a failed transaction by rolling it back).

use std::cell::{Cell, RefCell, RefMut};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use deadpool_postgres::ClientWrapper;
use futures_util::future::{join, try_join_all};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::read_ahead::{self, Answers, READ_AHEAD};
use super::types::Owned;
use super::waiter::Waiter;
use super::working_set::{Ahead, WorkingSet};
use crate::db::DbError;

/// Parameters of one statement.
pub type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// A write sent and not yet answered.
type InFlight<'c> = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + 'c>>;

/// One open transaction on a pooled connection, opened and committed by [`super::run`];
/// rolled back when dropped uncommitted.
pub struct PgTx<'c> {
    tx: &'c ClientWrapper,
    rt: Waiter<'c>,
    /// Until the commit is answered: a `ROLLBACK` is owed if this is dropped.
    open: Cell<bool>,
    /// Set when the transaction queued a job, so that its commit wakes the workers.
    queued_jobs: Cell<bool>,
    in_flight: RefCell<Vec<InFlight<'c>>>,
    /// What a callback batch read ahead and the writes it holds back; see [`PgTx::read_ahead`].
    working: RefCell<WorkingSet>,
}

/// What kind of transaction a unit of work needs: what it may see and do.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// Read committed, as writes need for their locks to see each other's commits.
    Write,
    /// One snapshot, read-only: a detail page reads consistent rows.
    Read,
}

impl<'c> PgTx<'c> {
    /// Opens a transaction on `client`: `BEGIN` is sent, and its answer read with the first
    /// statement's.
    pub fn begin(client: &'c ClientWrapper, rt: Waiter<'c>, how: Access) -> Result<Self, DbError> {
        let tx = Self::continuing(client, rt);
        tx.send_simple(match how {
            Access::Write => "BEGIN",
            Access::Read => "START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        })?;
        Ok(tx)
    }

    /// Takes up the transaction that the last [`PgTx::commit_and_begin`] on `client` opened.
    pub fn continuing(client: &'c ClientWrapper, rt: Waiter<'c>) -> Self {
        Self {
            tx: client,
            rt,
            open: Cell::new(true),
            queued_jobs: Cell::new(false),
            in_flight: RefCell::new(Vec::new()),
            working: RefCell::new(WorkingSet::default()),
        }
    }

    /// Reads, in one statement, what a batch's rules will ask: it stores the batch's nonces
    /// and reads which of its events are stored, its conferences' facts and its call legs'
    /// rows (see `read_ahead.rs`). Run after the batch's locks, so the answers stay true.
    pub fn read_ahead(&self, ahead: &Ahead<'_>) -> Result<(), DbError> {
        self.flush_behind()?;
        let statement = self.statement(READ_AHEAD)?;
        let params = read_ahead::Params::of(ahead);
        let rows = self.wait(self.tx.query(&statement, &params.as_sql()))?;
        let answers = Answers::from_rows(&rows)?;
        let mut working = self.working.borrow_mut();
        for (nonce, hash) in params.nonces() {
            working.note_fresh_nonce(nonce.to_owned(), hash.to_vec());
        }
        working.learn(
            ahead,
            answers.stored_events,
            answers.conferences,
            answers.legs,
        );
        Ok(())
    }

    /// The batch's working set, which the rules' statements consult before running their own.
    pub fn working(&self) -> RefMut<'_, WorkingSet> {
        self.working.borrow_mut()
    }

    /// Sends the writes the working set holds back, so that the next statement sees them.
    fn flush_behind(&self) -> Result<(), DbError> {
        let flush = self.working.borrow_mut().take_flush();
        match flush {
            Some((sql, params)) => self.send_now(sql, params),
            None => Ok(()),
        }
    }

    /// Waits for `work`, reading the answers of every write sent before it as they arrive.
    fn wait<T>(
        &self,
        work: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, DbError> {
        let sent = std::mem::take(&mut *self.in_flight.borrow_mut());
        let (written, value) = self.rt.block_on(join(try_join_all(sent), work));
        written?;
        Ok(value?)
    }

    fn statement(&self, sql: &str) -> Result<tokio_postgres::Statement, DbError> {
        self.wait(self.tx.prepare_cached(sql))
    }

    /// Sends a write whose answer decides nothing; its outcome is read at the next wait.
    pub fn send(&self, sql: &str, params: Vec<Owned>) -> Result<(), DbError> {
        self.flush_behind()?;
        self.send_now(sql, params)
    }

    fn send_now(&self, sql: &str, params: Vec<Owned>) -> Result<(), DbError> {
        let statement = self.statement(sql)?;
        let tx = self.tx;
        self.start(Box::pin(async move {
            let params: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            tx.execute(&statement, &params).await
        }))
    }

    /// Sends a statement without parameters (`BEGIN`, `COMMIT`), its answer read at the next
    /// wait.
    fn send_simple(&self, sql: &'static str) -> Result<(), DbError> {
        let tx = self.tx;
        self.start(Box::pin(
            async move { tx.batch_execute(sql).await.map(|()| 0) },
        ))
    }

    /// Polls `write` once, which hands it to the connection to send, and keeps it to be
    /// waited for with the next statement.
    fn start(&self, mut write: InFlight<'c>) -> Result<(), DbError> {
        match write.as_mut().poll(&mut Context::from_waker(
            futures_util::task::noop_waker_ref(),
        )) {
            Poll::Ready(done) => done.map(drop).map_err(DbError::from),
            Poll::Pending => {
                self.in_flight.borrow_mut().push(write);
                Ok(())
            }
        }
    }

    pub fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, DbError> {
        self.flush_behind()?;
        let statement = self.statement(sql)?;
        self.wait(self.tx.execute(&statement, params))
    }

    pub fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, DbError> {
        self.flush_behind()?;
        let statement = self.statement(sql)?;
        self.wait(self.tx.query(&statement, params))
    }

    pub fn opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>, DbError> {
        self.flush_behind()?;
        let statement = self.statement(sql)?;
        self.wait(self.tx.query_opt(&statement, params))
    }

    pub fn one(&self, sql: &str, params: Params<'_>) -> Result<Row, DbError> {
        self.flush_behind()?;
        let statement = self.statement(sql)?;
        self.wait(self.tx.query_one(&statement, params))
    }

    /// Statements built per call (a search's filters): prepared, not kept.
    pub fn query_unprepared(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, DbError> {
        self.flush_behind()?;
        self.wait(self.tx.query(sql, params))
    }

    /// Notes that this transaction queued a job.
    pub fn queued_job(&self) {
        self.queued_jobs.set(true);
    }

    /// Takes the advisory locks `keys`, in the order given (callers sort them, so that two
    /// transactions never wait for each other). Sent, not waited for: the statements after it
    /// run once the locks are held.
    pub fn lock(&self, keys: &[i64]) -> Result<(), DbError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.send(
            "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) WITH ORDINALITY AS t(k, n)",
            vec![Box::new(keys.to_vec())],
        )
    }

    /// Takes the advisory lock `key` if no one holds it; false otherwise.
    pub fn try_lock(&self, key: i64) -> Result<bool, DbError> {
        Ok(self
            .one("SELECT pg_try_advisory_xact_lock($1)", &[&key])?
            .try_get(0)?)
    }

    /// Commits, with the writes held back and, if the transaction queued a job, a word to
    /// every replica's workers (delivered when it commits), all in one round trip.
    pub fn commit(self) -> Result<(), DbError> {
        self.finish("COMMIT")
    }

    /// Commits as [`PgTx::commit`] does and opens the connection's next transaction in the
    /// same simple query, for [`PgTx::continuing`]. When it fails, the connection is left
    /// outside any transaction: a `COMMIT` that fails skips the `BEGIN` after it, and one that
    /// rolled back a failed transaction is followed by the `ROLLBACK` this owes.
    pub fn commit_and_begin(self) -> Result<(), DbError> {
        self.finish("COMMIT; BEGIN")
    }

    fn finish(self, commit: &'static str) -> Result<(), DbError> {
        self.flush_behind()?;
        if self.queued_jobs.get() {
            self.send(
                "SELECT pg_notify($1, '')",
                vec![Box::new(super::listen::CHANNEL)],
            )?;
        }
        self.send_simple(commit)?;
        self.wait(async { Ok(()) })?;
        self.open.set(false);
        Ok(())
    }
}

impl Drop for PgTx<'_> {
    /// Rolls back a transaction left uncommitted (a failed statement, a failed rule), so the
    /// connection goes back to the pool outside any transaction. As the driver's own
    /// transactions do, the `ROLLBACK` is handed to the connection and not waited for: the
    /// connection sends it before anything its next user sends, and a server that no longer
    /// answers cannot hold this thread. Answers still outstanding are dropped unread; the
    /// connection discards them.
    fn drop(&mut self) {
        if self.open.get() {
            self.in_flight.get_mut().clear();
            let rollback = std::pin::pin!(self.tx.batch_execute("ROLLBACK"));
            let _ = rollback.poll(&mut Context::from_waker(
                futures_util::task::noop_waker_ref(),
            ));
        }
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

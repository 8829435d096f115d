//! A PostgreSQL transaction as the synchronous statements of this backend see it: each call
//! blocks its (blocking-pool) thread on the driver, whose connection runs on the runtime. This
//! lets the ingest rules, written once against the synchronous [`IngestTx`], run here as on
//! SQLite; statements are prepared once per connection and kept.
//!
//! A round trip to the server costs far more than running a small statement, so writes whose
//! answer decides nothing ([`PgTx::send`]) are sent at once and their answers read along with
//! the next statement that is waited for, or before the commit: several writes and a read
//! share one round trip. The server runs them in the order sent; a write that failed fails the
//! transaction at that next wait, so nothing is committed after an unread error.

use std::cell::{Cell, RefCell, RefMut};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::future::{join, try_join_all};
use futures_util::try_join;
use tokio::runtime::Handle;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::types::Owned;
use super::working_set::{Ahead, Facts, LegRow, WorkingSet};
use crate::db::DbError;

/// Parameters of one statement.
pub type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// A write sent and not yet answered.
type InFlight<'c> = Pin<Box<dyn Future<Output = Result<u64, tokio_postgres::Error>> + 'c>>;

/// One open transaction, borrowed from [`super::run`], which commits it.
pub struct PgTx<'c> {
    tx: &'c deadpool_postgres::Transaction<'c>,
    rt: Handle,
    /// Set when the transaction queued a job, so that its commit wakes the workers.
    queued_jobs: Cell<bool>,
    in_flight: RefCell<Vec<InFlight<'c>>>,
    /// What a callback batch read ahead and the writes it holds back; see [`PgTx::read_ahead`].
    working: RefCell<WorkingSet>,
}

impl<'c> PgTx<'c> {
    pub fn new(tx: &'c deadpool_postgres::Transaction<'c>, rt: Handle) -> Self {
        Self {
            tx,
            rt,
            queued_jobs: Cell::new(false),
            in_flight: RefCell::new(Vec::new()),
            working: RefCell::new(WorkingSet::default()),
        }
    }

    /// Reads, in one round trip, what a batch's rules will ask: it stores the batch's nonces
    /// (the first of each nonce only, as one at a time would; a nonce already known is left to
    /// the rules' own check), and reads which of its events are stored, its conferences' facts
    /// and its call legs' rows. Run after the batch's locks, so the answers stay true.
    pub fn read_ahead(&self, ahead: &Ahead<'_>) -> Result<(), DbError> {
        self.flush_behind()?;
        let mut seen = HashSet::new();
        let first: Vec<_> = ahead
            .nonces
            .iter()
            .filter(|(n, _, _)| seen.insert(*n))
            .collect();
        let names: Vec<&str> = first.iter().map(|(n, _, _)| *n).collect();
        let hashes: Vec<&[u8]> = first.iter().map(|(_, h, _)| h.as_slice()).collect();
        let times: Vec<crate::time::Instant> = first.iter().map(|(_, _, t)| *t).collect();
        let nonces = self.statement(
            "INSERT INTO seen_nonces (nonce, body_hash, seen_at)
             SELECT * FROM unnest($1::text[], $2::bytea[], $3::timestamptz[])
             ON CONFLICT (nonce) DO NOTHING
             RETURNING nonce, body_hash",
        )?;
        // One index lookup per key, as a lateral subquery the planner cannot flatten: `= ANY`
        // over a whole array gets a sequential scan in a prepared statement's generic plan
        // while the table has no statistics yet (a new database, its first minute).
        let events = self.statement(
            "SELECT e.dedupe_key FROM unnest($1::bytea[]) AS k(key),
                 LATERAL (SELECT dedupe_key FROM callback_events
                          WHERE dedupe_key = k.key OFFSET 0) AS e",
        )?;
        let conferences = self.statement(
            "SELECT c.* FROM unnest($1::text[]) AS k(uuid),
                 LATERAL (SELECT conference_uuid, status = 'ended', last_member_exit_at IS NOT NULL
                          FROM conferences WHERE conference_uuid = k.uuid OFFSET 0) AS c",
        )?;
        let legs = self.statement(
            "SELECT p.* FROM unnest($1::text[]) AS k(call),
                 LATERAL (SELECT conference_uuid, call_uuid, member_id, from_number,
                                 from_normalized, to_number, direction, joined_at, left_at
                          FROM participants WHERE call_uuid = k.call OFFSET 0) AS p",
        )?;
        let tx = self.tx;
        let nonce_params: [&(dyn ToSql + Sync); 3] = [&names, &hashes, &times];
        let event_params: [&(dyn ToSql + Sync); 1] = [&ahead.event_keys];
        let conference_params: [&(dyn ToSql + Sync); 1] = [&ahead.conferences];
        let leg_params: [&(dyn ToSql + Sync); 1] = [&ahead.calls];
        let (nonces, events, conferences, legs) = self.wait(async {
            try_join!(
                unless_empty(names.is_empty(), tx.query(&nonces, &nonce_params)),
                unless_empty(
                    ahead.event_keys.is_empty(),
                    tx.query(&events, &event_params)
                ),
                unless_empty(
                    ahead.conferences.is_empty(),
                    tx.query(&conferences, &conference_params)
                ),
                unless_empty(ahead.calls.is_empty(), tx.query(&legs, &leg_params)),
            )
        })?;
        let mut working = self.working.borrow_mut();
        for row in nonces {
            working.note_fresh_nonce(row.try_get(0)?, row.try_get(1)?);
        }
        let events = events
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        let conferences = conferences
            .iter()
            .map(|r| {
                let facts = Facts {
                    ended: r.try_get(1)?,
                    last_member_left: r.try_get(2)?,
                };
                Ok((r.try_get(0)?, facts))
            })
            .collect::<Result<_, tokio_postgres::Error>>()?;
        let legs = legs
            .iter()
            .map(|r| {
                let key = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
                let row = LegRow {
                    from: r.try_get(3)?,
                    from_normalized: r.try_get(4)?,
                    to: r.try_get(5)?,
                    direction: r.try_get(6)?,
                    joined_at: r.try_get(7)?,
                    left_at: r.try_get(8)?,
                };
                Ok((key, row))
            })
            .collect::<Result<_, tokio_postgres::Error>>()?;
        working.learn(ahead, events, conferences, legs);
        Ok(())
    }

    /// The batch's working set, which the rules' statements consult before running their own.
    pub fn working(&self) -> RefMut<'_, WorkingSet> {
        self.working.borrow_mut()
    }

    /// Sends the writes the working set holds back, so that the next statement sees them.
    fn flush_behind(&self) -> Result<(), DbError> {
        let writes = self.working.borrow_mut().take_writes();
        for (sql, params) in writes {
            self.send_now(sql, params)?;
        }
        Ok(())
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
        let mut write: InFlight<'c> = Box::pin(async move {
            let params: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            tx.execute(&statement, &params).await
        });
        // The first poll encodes the statement and hands it to the connection, which sends it;
        // only the answer is left to wait for.
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

    /// Reads every answer still outstanding, and tells every replica's workers if the
    /// transaction queued a job (delivered when it commits). After this the caller commits.
    pub fn finish(self) -> Result<(), DbError> {
        self.flush_behind()?;
        if self.queued_jobs.get() {
            self.execute("SELECT pg_notify($1, '')", &[&super::listen::CHANNEL])?;
        }
        self.wait(async { Ok(()) })
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

/// A query's rows, or none without asking when it has nothing to look for.
async fn unless_empty(
    empty: bool,
    query: impl Future<Output = Result<Vec<Row>, tokio_postgres::Error>>,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    if empty { Ok(Vec::new()) } else { query.await }
}

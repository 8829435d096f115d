//! The PostgreSQL backend, for several replicas on one database: a bounded pool of
//! connections (deadpool), the schema migrated at start under an advisory lock, callbacks
//! group-committed by a few writer tasks under per-conference advisory locks, jobs claimed
//! with `FOR UPDATE SKIP LOCKED`, and workers woken by LISTEN/NOTIFY. The statements are
//! synchronous calls on the blocking pool (see `tx.rs`), so the ingest rules run unchanged.

mod access;
mod account;
mod batch;
mod combined;
mod conferences;
pub mod connect;
mod database;
mod ingest;
mod jobs;
pub mod listen;
mod mail;
pub mod migrate;
#[cfg(test)]
mod plans_tests;
mod read_ahead;
mod recordings;
mod restore;
mod run;
mod said;
mod search;
mod transcripts;
mod tx;
mod types;
mod visibility;
mod waiter;
mod webhooks;
mod working_set;

use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::Notify;
use tokio_util::task::AbortOnDropHandle;

use connect::Plans;
pub use connect::Settings;
use tx::Access;
use tx::PgTx;

use super::DbError;
use super::batch_metrics::BatchMetrics;

/// Writers committing callbacks at once, each a thread with a connection of its own, carved
/// out of `pool_size`. A batch costs a few round trips and statements whatever its size (its rules
/// read ahead and write behind: see `working_set.rs`), so fewer, larger batches are cheaper
/// than many small ones: on two shared cores, one or two writers took 2.7-3.1k callbacks/s
/// where eight took 2.2-2.3k. Two, so that one batch's round trips overlap the other's work;
/// never more than half the pool, so jobs and reads keep connections. Batches of one
/// conference still take turns (its advisory lock). Once a batch was down to two statements
/// of its own, one writer cost the server about a fifth less CPU per callback than two (16
/// callbacks per commit against 9) but took about as many callbacks/s over five pairs of
/// runs: the round trips, not the server, bound a lone writer. Measured again once each writer
/// had a thread of its own (2026-12-07, three rounds each, side by side): one writer 8,179/s
/// against two's 9,048/s; three 1.64x Express against two's 1.81x (the machine is then busy).
fn writers(pool_size: usize) -> usize {
    (pool_size / 2).clamp(1, 2)
}

/// The PostgreSQL backend of [`crate::db::Database`].
pub struct Postgres {
    pool: Pool,
    callbacks: batch::Queues,
    wake: Arc<Notify>,
    _listener: AbortOnDropHandle<()>,
}

/// The writer threads behind an open [`Postgres`]; [`Writers::join`] waits for them to commit
/// what was queued once every handle to the database is dropped.
pub struct Writers(Vec<std::thread::JoinHandle<()>>);

impl Writers {
    /// Blocks until the writers have stopped; call off the async runtime.
    pub fn join(self) {
        for writer in self.0 {
            if writer.join().is_err() {
                tracing::error!("a PostgreSQL writer thread panicked");
            }
        }
    }
}

/// One connection to `url` outside any pool, with default timeouts: for tools and tests.
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, DbError> {
    let url = crate::config::PostgresUrl::parse(url).map_err(DbError::Unavailable)?;
    connect::single(&Settings {
        url,
        pool_size: 2,
        connect_timeout: std::time::Duration::from_secs(5),
        statement_timeout: std::time::Duration::from_secs(60),
    })
    .await
}

impl Postgres {
    /// Connects, migrates (waiting for a replica that migrates at the same moment) and
    /// starts the writers and the listener.
    pub async fn open(
        settings: &Settings,
        max_batch: usize,
        batches: BatchMetrics,
    ) -> Result<(Arc<Self>, Writers), DbError> {
        let mut client = connect::single(settings).await?;
        for name in migrate::run(&mut client).await? {
            tracing::info!(migration = name, "migration applied");
        }
        drop(client);
        let writers = writers(settings.pool_size);
        let pool = connect::pool(
            settings,
            settings.pool_size.saturating_sub(writers).max(1),
            Plans::Auto,
        )?;
        let writer_pools = (0..writers)
            .map(|_| connect::pool(settings, 1, Plans::Generic))
            .collect::<Result<_, _>>()?;
        let (callbacks, writer_threads) = batch::start(writer_pools, max_batch, batches)?;
        let wake = Arc::new(Notify::new());
        let listener = tokio::spawn(listen::run(settings.clone(), Arc::clone(&wake)));
        tracing::info!(database = settings.url.shown(), "PostgreSQL open");
        Ok((
            Arc::new(Self {
                pool,
                callbacks,
                wake,
                _listener: AbortOnDropHandle::new(listener),
            }),
            Writers(writer_threads),
        ))
    }

    async fn write<R, F>(&self, work: F) -> Result<R, DbError>
    where
        R: Send + 'static,
        F: Fn(&PgTx<'_>) -> Result<R, DbError> + Send + 'static,
    {
        run::transaction(&self.pool, Access::Write, work).await
    }

    async fn read<R, F>(&self, work: F) -> Result<R, DbError>
    where
        R: Send + 'static,
        F: Fn(&PgTx<'_>) -> Result<R, DbError> + Send + 'static,
    {
        run::transaction(&self.pool, Access::Read, work).await
    }
}

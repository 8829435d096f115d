//! Group commit on PostgreSQL: callbacks that arrive together are applied in one transaction,
//! by a few writers at once, each taking the callbacks of its share of the conferences, so
//! that callbacks of one conference arriving together are committed together rather than
//! queueing for its lock batch after batch. Each batch first takes the advisory locks of the
//! conferences and call legs it touches, in one global order, so batches on different replicas
//! that share a conference run one after the other (and see each other's rows), while unrelated
//! batches run side by side and never deadlock each other.
//!
//! Each writer is a thread of its own with a current-thread runtime that drives its one
//! connection: a batch waits on the server twice (its reads, then its writes with the
//! commit), and each wait wakes only this thread, where a task on the shared runtime handing
//! its statements to a blocking thread woke three threads a round trip, each of which waits
//! for a core on a busy machine. While callbacks wait, a batch's `COMMIT` opens the next
//! batch's transaction too, and the writer keeps that connection for it.
//!
//! A write that fails rolls its whole batch back, and the batch is replayed one callback per
//! transaction, so one bad callback never undoes its neighbours (as on SQLite). Nobody hears
//! "stored" before the transaction holding their callback has committed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;
use std::time::Instant;

use deadpool_postgres::{Object, Pool};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

use super::conferences::conference_of_call;
use super::run::{Opened, once, once_chained};
use super::tx::{Access, PgTx, call_key, conference_key, lock_order};
use super::waiter::Waiter;
use super::working_set::Ahead;
use crate::db::DbError;
use crate::db::batch_metrics::BatchMetrics;
use crate::ingest::rules::{self, Accepted, Outcome, Rules};

/// One callback waiting for its batch, and who hears how it went.
pub struct Queued {
    pub work: Work,
    pub reply: oneshot::Sender<Result<Outcome, DbError>>,
}

/// A callback and the rules it is applied with.
pub struct Work {
    pub callback: Accepted,
    pub rules: Rules,
}

/// How many callbacks may wait before callers wait to hand theirs over.
const QUEUE_CAPACITY: usize = 8192;

/// The writers' queues; a callback goes to the one its conference (or, without one, its call
/// leg) belongs to.
#[derive(Clone)]
pub struct Queues(Vec<mpsc::Sender<Queued>>);

impl Queues {
    pub async fn send(&self, queued: Queued) -> Result<(), DbError> {
        let key = match queued.work.callback.subjects() {
            (Some(conference), _) => conference_key(conference),
            (None, Some(call)) => call_key(call),
            (None, None) => 0,
        };
        let shard = (key.unsigned_abs() % self.0.len() as u64) as usize;
        self.0[shard]
            .send(queued)
            .await
            .map_err(|_| DbError::WriterGone)
    }
}

/// Starts `writers` writer threads, each taking batches of at most `max_batch` from its queue
/// and committing them through its own pool of one connection (`pools` gives one per writer),
/// and telling `batches` of each.
pub fn start(
    pools: Vec<Pool>,
    max_batch: usize,
    batches: BatchMetrics,
) -> Result<(Queues, Vec<JoinHandle<()>>), DbError> {
    let writers = pools.len().max(1);
    let mut queues = Vec::with_capacity(writers);
    let mut threads = Vec::with_capacity(writers);
    for (i, pool) in pools.into_iter().enumerate() {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY / writers);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(DbError::Thread)?;
        let batches = batches.clone();
        let thread = std::thread::Builder::new()
            .name(format!("pg-writer-{i}"))
            .spawn(move || write_batches(&runtime, pool, receiver, max_batch, &batches))
            .map_err(DbError::Thread)?;
        queues.push(queue);
        threads.push(thread);
    }
    Ok((Queues(queues), threads))
}

/// Until every sender is gone and the queue is drained.
fn write_batches(
    runtime: &Runtime,
    pool: Pool,
    mut receiver: mpsc::Receiver<Queued>,
    max_batch: usize,
    batches: &BatchMetrics,
) {
    let rt = Waiter::Own(runtime);
    // The connection the last commit opened a transaction on, kept for the next batch: a
    // connection from the pool may be a new one, outside any transaction.
    let mut opened: Option<Object> = None;
    loop {
        let mut batch = Vec::new();
        if rt.block_on(receiver.recv_many(&mut batch, max_batch)) == 0 {
            return;
        }
        // Connected on this thread's runtime, which then drives the connection.
        let (client, open) = match opened.take() {
            Some(client) => (client, Opened::ByLastCommit),
            None => match rt.block_on(pool.get()) {
                Ok(client) => (client, Opened::No),
                Err(e) => {
                    let e = DbError::from(e);
                    tracing::warn!(error = %e, callbacks = batch.len(), "no database connection for a batch");
                    for queued in batch {
                        let _ = queued.reply.send(Err(DbError::Unavailable(e.to_string())));
                    }
                    continue;
                }
            },
        };
        let began = Instant::now();
        let (work, replies): (Vec<Work>, Vec<_>) =
            batch.into_iter().map(|q| (q.work, q.reply)).unzip();
        let more_waiting = || !receiver.is_empty();
        match catch_unwind(AssertUnwindSafe(|| {
            commit(client, &rt, open, &more_waiting, &work)
        })) {
            Ok((results, next)) => {
                if results.iter().any(Result::is_ok) {
                    batches.committed(work.len(), began.elapsed());
                }
                opened = next;
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(_) => {
                tracing::error!(
                    callbacks = work.len(),
                    "a PostgreSQL writer panicked on a batch"
                );
                for reply in replies {
                    let _ = reply.send(Err(DbError::Panicked));
                }
            }
        }
    }
}

/// The batch in one transaction, or, if any callback failed, each in its own; with the
/// connection when its commit opened the next batch's transaction.
fn commit(
    mut client: Object,
    rt: &Waiter<'_>,
    opened: Opened,
    more_waiting: &dyn Fn() -> bool,
    batch: &[Work],
) -> (Vec<Result<Outcome, DbError>>, Option<Object>) {
    let work = |tx: &PgTx<'_>| {
        lock_for(tx, batch)?;
        tx.read_ahead(&ahead_of(batch))?;
        batch
            .iter()
            .map(|q| rules::apply(tx, &q.callback, &q.rules))
            .collect::<Result<Vec<_>, _>>()
    };
    let whole = match once_chained(&mut client, rt, opened, more_waiting, &work) {
        Err(e) if e.is_transient() => run_transient(&mut client, rt, work).map(|v| (v, Opened::No)),
        other => other,
    };
    let results = match whole {
        Ok((outcomes, Opened::ByLastCommit)) => {
            return (outcomes.into_iter().map(Ok).collect(), Some(client));
        }
        Ok((outcomes, Opened::No)) => outcomes.into_iter().map(Ok).collect(),
        // The server went away: the same would happen to each alone.
        Err(e) if e.is_unavailable() => batch
            .iter()
            .map(|_| Err(DbError::Unavailable(e.to_string())))
            .collect(),
        Err(_) if batch.len() == 1 => vec![run_one(&mut client, rt, &batch[0])],
        Err(e) => {
            tracing::debug!(error = %e, callbacks = batch.len(), "batch failed; one at a time");
            batch.iter().map(|q| run_one(&mut client, rt, q)).collect()
        }
    };
    (results, None)
}

/// What the batch's rules will ask, so that it is read in one round trip before they run.
fn ahead_of(batch: &[Work]) -> Ahead<'_> {
    let mut ahead = Ahead::default();
    for q in batch {
        let callback = &q.callback;
        if let Some((nonce, hash)) = callback.nonce_record() {
            ahead.nonces.push((nonce, hash, callback.received_at));
        }
        ahead.event_keys.push(callback.dedupe_key().to_vec());
        if let (Some(conference), call) = callback.subjects() {
            ahead.conferences.push(conference);
            ahead.calls.extend(call);
        }
    }
    ahead
}

fn run_one(client: &mut Object, rt: &Waiter<'_>, queued: &Work) -> Result<Outcome, DbError> {
    run_transient(client, rt, |tx| {
        lock_for(tx, std::slice::from_ref(queued))?;
        rules::apply(tx, &queued.callback, &queued.rules)
    })
}

/// Runs again a transaction that lost a deadlock to another replica's.
fn run_transient<R>(
    client: &mut Object,
    rt: &Waiter<'_>,
    work: impl Fn(&PgTx<'_>) -> Result<R, DbError>,
) -> Result<R, DbError> {
    let mut attempt = 1;
    loop {
        match once(client, rt, Access::Write, &work) {
            Err(e) if e.is_transient() && attempt < 5 => attempt += 1,
            other => return other,
        }
    }
}

/// Locks what the batch's callbacks touch: their conferences and call legs, then the
/// conferences that legs named alone (a recording's stop) belong to. The second set comes out
/// of the global order only when a leg's conference is known to be new to this batch, which
/// PostgreSQL resolves, if it must, by failing one transaction (run again above).
fn lock_for(tx: &PgTx<'_>, batch: &[Work]) -> Result<(), DbError> {
    let mut keys = Vec::new();
    let mut legs_alone = Vec::new();
    for q in batch {
        let (conference, call) = q.callback.subjects();
        if let Some(conference) = conference {
            keys.push(conference_key(conference));
        }
        if let Some(call) = call {
            keys.push(call_key(call));
            if conference.is_none() {
                legs_alone.push(call);
            }
        }
    }
    let keys = lock_order(keys);
    tx.lock(&keys)?;
    let mut more = Vec::new();
    for call in legs_alone {
        if let Some(conference) = conference_of_call(tx, call)? {
            let key = conference_key(&conference);
            if keys.binary_search(&key).is_err() {
                more.push(key);
            }
        }
    }
    tx.lock(&lock_order(more))
}

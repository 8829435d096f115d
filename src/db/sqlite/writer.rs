//! The one thread that writes SQLite. Concurrent writes are batched into one transaction (group
//! commit) and each caller hears back only after that transaction is durably committed.
//!
//! The write-ahead log is made durable by a second thread rather than inside COMMIT: the
//! connection commits without waiting for the disk (`synchronous = NORMAL`), hands the batch to
//! the sync thread, which forces the log to disk (`fdatasync`) and only then answers the
//! callers. What a caller hears "committed" is on disk, as with `synchronous = FULL`.
//!
//! Writes run as they arrive, in one open transaction, and that transaction is committed as
//! soon as the sync thread is free: while the disk works on one batch the next one runs and
//! grows, so a batch holds what arrived during a sync. Committing then, rather than after
//! every handful of writes, writes each page a batch touches to the log once instead of once
//! per handful (the tail pages of the growing tables and indexes above all), which was most
//! of the writer's time on the ingest path.
//!
//! A write that fails may have changed rows before failing, so a failure rolls the whole batch
//! back and replays its writes one transaction each: one bad write never undoes its
//! neighbours. This costs nothing on the normal path, unlike a savepoint per write, which
//! copies every touched page. Writes must therefore be safe to run twice after a rollback,
//! which holds for closures that only touch the database, and for state kept beside it in
//! memory that is told how each transaction ends ([`Transactional`]).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::db::DbError;
use crate::db::batch_metrics::BatchMetrics;

/// State kept in memory beside the database that must end each of the writer's transactions
/// as the database does: what a transaction staged is kept when it commits and dropped when it
/// rolls back (the nonce index).
pub trait Transactional: Send + 'static {
    fn committed(&self);
    fn rolled_back(&self);
}

/// Nothing beside the database.
#[cfg(test)]
impl Transactional for () {
    fn committed(&self) {}
    fn rolled_back(&self) {}
}

/// The writer's connection and what ends its transactions with it.
struct Store {
    conn: Connection,
    beside: Box<dyn Transactional>,
}

/// One queued write.
trait Write: Send {
    /// Runs the write in the open transaction; false if it failed.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Reports the outcome of the last run, given how its transaction ended.
    fn finish(self: Box<Self>, commit: Result<(), &str>);
}

struct Pending<F, R, E> {
    f: F,
    outcome: Option<Result<R, E>>,
    reply: oneshot::Sender<Result<R, E>>,
}

impl<F, R, E> Write for Pending<F, R, E>
where
    F: Fn(&Connection) -> Result<R, E> + Send,
    R: Send,
    E: From<DbError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let outcome = catch_unwind(AssertUnwindSafe(|| (self.f)(conn)))
            .unwrap_or_else(|_| Err(E::from(DbError::Panicked)));
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), &str>) {
        let result = match (self.outcome, commit) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(why)) => Err(E::from(DbError::CommitFailed(why.to_owned()))),
            (None, Ok(())) => Err(E::from(DbError::CommitFailed("write never ran".into()))),
        };
        let _ = self.reply.send(result);
    }
}

/// How many writes may wait for the thread before callers wait to hand theirs over.
const QUEUE_CAPACITY: usize = 8192;

/// What the writer thread hears.
enum Message {
    Write(Box<dyn Write>),
    /// The sync thread has answered this many of the batches handed to it.
    Synced(usize),
}

/// A handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Message>,
}

/// Owns the writer thread; dropping every [`Writer`] ends it, and `join` waits for that.
pub struct WriterThread {
    handle: JoinHandle<()>,
    syncer: JoinHandle<()>,
}

impl WriterThread {
    pub fn join(self) {
        if self.handle.join().is_err() {
            tracing::error!("the database writer thread panicked");
        }
        if self.syncer.join().is_err() {
            tracing::error!("the database sync thread panicked");
        }
    }
}

/// When callers hear that their write is committed.
#[derive(Debug, Clone)]
pub enum Durability {
    /// Once the log holding it is on disk (`fdatasync` of this file, the `-wal` beside the
    /// database): survives power loss.
    Synced { wal: PathBuf },
    /// At once: survives a crash of the process, not of the machine.
    Committed,
    /// Tests: each sync waits for a word on this channel, so a test can hold the disk busy.
    #[cfg(test)]
    Gated(std::sync::Arc<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>),
}

/// A committed batch on its way to its callers: each write with its transaction's outcome.
type Committed = Vec<(Box<dyn Write>, Result<(), String>)>;

/// A batch handed to the sync thread, with when its transaction began if it was a group commit
/// (writes replayed one transaction each are not one).
type Handed = (Committed, Option<Instant>);

impl Writer {
    /// Starts the writer thread on `conn` (which must not sync at commit itself), committing at
    /// most `max_batch` writes together and answering as `durability` says; `beside` hears
    /// how each transaction ends, `batches` of each group commit once it is durable.
    pub fn start(
        conn: Connection,
        beside: Box<dyn Transactional>,
        max_batch: usize,
        durability: Durability,
        batches: BatchMetrics,
    ) -> std::io::Result<(Writer, WriterThread)> {
        let (queue, inbox) = mpsc::channel(QUEUE_CAPACITY);
        let (to_syncer, committed) = std::sync::mpsc::channel::<Handed>();
        // Weak, so that the writer thread still ends once every handle is dropped.
        let report = queue.downgrade();
        let syncer = std::thread::Builder::new()
            .name("sqlite-sync".into())
            .spawn(move || sync_loop(committed, durability, report, batches))?;
        let handle = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(Store { conn, beside }, inbox, max_batch, to_syncer))?;
        Ok((Writer { queue }, WriterThread { handle, syncer }))
    }

    /// Runs `f` inside a write transaction and returns its result once that transaction is
    /// committed. If `f` fails, none of its changes are kept and no other write is affected.
    /// `f` may run more than once (after a rollback); only its last result counts.
    pub async fn run<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: Fn(&Connection) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<R, E>>();
        let pending = Pending {
            f,
            outcome: None,
            reply,
        };
        self.queue
            .send(Message::Write(Box::new(pending)))
            .await
            .map_err(|_| E::from(DbError::WriterGone))?;
        answer.await.map_err(|_| E::from(DbError::WriterGone))?
    }
}

fn write_loop(
    store: Store,
    mut inbox: mpsc::Receiver<Message>,
    max_batch: usize,
    to_syncer: std::sync::mpsc::Sender<Handed>,
) {
    let mut open = Open::default();
    // Batches handed to the sync thread that it has not answered yet: while there are any, the
    // disk is busy, and writes gather in the open transaction (up to `max_batch`).
    let mut syncing = 0usize;
    let hand_over = |handed: Handed, syncing: &mut usize| match to_syncer.send(handed) {
        Ok(()) => *syncing += 1,
        Err(lost) => {
            // The sync thread is gone (it panicked): answer without the sync rather than never.
            for (write, _) in lost.0.0 {
                write.finish(Err("the database sync thread has stopped"));
            }
        }
    };
    loop {
        let due = !open.is_empty() && (syncing == 0 || open.len() >= max_batch);
        let message = if !due {
            match inbox.blocking_recv() {
                Some(message) => Some(message),
                None => break,
            }
        } else if open.len() < max_batch {
            // Due: what has already arrived still joins the batch.
            inbox.try_recv().ok()
        } else {
            None
        };
        match message {
            Some(Message::Write(write)) => {
                if let Some(replayed) = open.run(&store, write) {
                    hand_over((replayed, None), &mut syncing);
                }
            }
            Some(Message::Synced(batches)) => syncing = syncing.saturating_sub(batches),
            None => {
                let committed = open.commit(&store);
                hand_over(committed, &mut syncing);
            }
        }
    }
    if !open.is_empty() {
        let committed = open.commit(&store);
        hand_over(committed, &mut syncing);
    }
    tracing::debug!("database writer stopped: no handles left");
}

/// Makes committed batches durable, then answers their callers and tells the writer. Every
/// batch waiting when a sync starts is covered by it (several only when a batch filled up, or
/// writes were replayed one at a time, while the disk was busy).
fn sync_loop(
    committed: std::sync::mpsc::Receiver<Handed>,
    durability: Durability,
    report: mpsc::WeakSender<Message>,
    metrics: BatchMetrics,
) {
    // Opened once and kept: SQLite keeps the log file (the same inode, truncated in place)
    // while any connection to the database is open, and the checkpoint thread's stays open
    // until after this thread has answered everyone. After a failure it is opened afresh.
    let mut wal_file: Option<std::fs::File> = None;
    while let Ok(first) = committed.recv() {
        let mut batches = vec![first];
        batches.extend(committed.try_iter());
        let synced = match &durability {
            Durability::Committed => Ok(()),
            #[cfg(test)]
            Durability::Gated(gate) => gate
                .lock()
                .map_err(|_| "gate poisoned".to_owned())
                .and_then(|gate| gate.recv().map_err(|_| "gate closed".to_owned())),
            Durability::Synced { wal } => sync_wal(wal, &mut wal_file).map_err(|e| {
                wal_file = None;
                tracing::error!(error = %e, wal = %wal.display(), "could not sync the write-ahead log");
                format!("syncing the write-ahead log: {e}")
            }),
        };
        let answered = batches.len();
        for (batch, began) in batches {
            if let (Some(began), Ok(())) = (began, &synced) {
                metrics.committed(batch.len(), began.elapsed());
            }
            for (write, outcome) in batch {
                let outcome = match (&outcome, &synced) {
                    (Err(why), _) | (Ok(()), Err(why)) => Err(why.as_str()),
                    (Ok(()), Ok(())) => Ok(()),
                };
                write.finish(outcome);
            }
        }
        // Gone only once every handle is: the writer is then finishing anyway.
        if let Some(writer) = report.upgrade() {
            let _ = writer.blocking_send(Message::Synced(answered));
        }
    }
}

/// Forces the log's written bytes to disk, opening it first if need be.
fn sync_wal(wal: &std::path::Path, file: &mut Option<std::fs::File>) -> std::io::Result<()> {
    let file = match file {
        Some(file) => file,
        None => file.insert(std::fs::OpenOptions::new().write(true).open(wal)?),
    };
    file.sync_data()
}

/// The writes run since the last commit, inside one open transaction.
#[derive(Default)]
struct Open {
    writes: Vec<Box<dyn Write>>,
    /// When the open transaction began; `None` while none is open.
    began: Option<Instant>,
}

impl Open {
    fn len(&self) -> usize {
        self.writes.len()
    }

    fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Runs `write` in the open transaction, beginning one if none is open. `None` while all
    /// is well. If the write fails, the transaction is rolled back and the writes before it
    /// run again one transaction each; their outcomes and the failed write's (its failure is
    /// its own result) are returned, ready for the sync.
    fn run(&mut self, store: &Store, mut write: Box<dyn Write>) -> Option<Committed> {
        if self.writes.is_empty() {
            if let Err(e) = store.conn.execute_batch("BEGIN IMMEDIATE") {
                tracing::warn!(error = %e, "could not begin a write transaction");
                return Some(one_at_a_time(store, vec![write]));
            }
            self.began = Some(Instant::now());
        }
        if write.run(&store.conn) {
            self.writes.push(write);
            return None;
        }
        let rolled_back = rollback(store);
        self.began = None;
        if !self.writes.is_empty() {
            tracing::debug!(
                batch = self.writes.len() + 1,
                "a write failed; replaying the batch one by one"
            );
        }
        let mut outcomes = one_at_a_time(store, std::mem::take(&mut self.writes));
        outcomes.push((write, rolled_back));
        Some(outcomes)
    }

    /// Commits the open transaction, with when it began; if that fails, its writes run again
    /// one transaction each.
    fn commit(&mut self, store: &Store) -> Handed {
        let began = self.began.take();
        match commit(store) {
            Ok(()) => (self.writes.drain(..).map(|w| (w, Ok(()))).collect(), began),
            Err(e) => {
                tracing::warn!(error = %e, batch = self.writes.len(), "group commit failed; replaying one by one");
                (one_at_a_time(store, std::mem::take(&mut self.writes)), None)
            }
        }
    }
}

fn one_at_a_time(store: &Store, writes: Vec<Box<dyn Write>>) -> Committed {
    writes
        .into_iter()
        .map(|mut write| {
            let commit = run_alone(store, &mut write);
            (write, commit)
        })
        .collect()
}

/// Runs one write in a transaction of its own. Ok: committed, or rolled back because the write
/// failed (its failure is its own result). Err: the transaction itself failed.
fn run_alone(store: &Store, write: &mut Box<dyn Write>) -> Result<(), String> {
    store
        .conn
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| e.to_string())?;
    if !write.run(&store.conn) {
        return rollback(store);
    }
    commit(store).map_err(|e| {
        tracing::error!(error = %e, "COMMIT failed");
        e.to_string()
    })
}

/// Commits the open transaction, or rolls it back if the commit fails.
fn commit(store: &Store) -> rusqlite::Result<()> {
    match store.conn.execute_batch("COMMIT") {
        Ok(()) => {
            store.beside.committed();
            Ok(())
        }
        Err(e) => {
            let _ = rollback(store);
            Err(e)
        }
    }
}

/// Rolls the open transaction back, unless SQLite already did: it does so by itself after
/// some errors (a full disk, out of memory), and a second ROLLBACK would fail.
fn rollback(store: &Store) -> Result<(), String> {
    // Whatever happens to the ROLLBACK, nothing the transaction staged was committed.
    store.beside.rolled_back();
    if store.conn.is_autocommit() {
        return Ok(());
    }
    store.conn.execute_batch("ROLLBACK").map_err(|e| {
        tracing::error!(error = %e, "ROLLBACK failed");
        e.to_string()
    })
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;

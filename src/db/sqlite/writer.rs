//! The one thread that writes SQLite. Concurrent writes are batched into one transaction (group
//! commit) and each caller hears back only after that transaction is durably committed.
//!
//! The write-ahead log is made durable by a second thread rather than inside COMMIT: the
//! connection commits without waiting for the disk (`synchronous = NORMAL`), hands the batch to
//! the sync thread and goes on with the next batch while that thread forces the log to disk
//! (`fdatasync`, one for every batch committed meanwhile) and only then answers the callers.
//! What a caller hears "committed" is on disk, as with `synchronous = FULL`; the disk's wait
//! just no longer stops the next batch from running.
//!
//! A write that fails may have changed rows before failing, so a failure rolls the whole batch
//! back and replays its writes one transaction each: one bad write never undoes its
//! neighbours. This costs nothing on the normal path, unlike a savepoint per write, which
//! copies every touched page. Writes must therefore be safe to run twice after a rollback,
//! which holds for closures that only touch the database.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::db::DbError;

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

/// A handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Box<dyn Write>>,
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
}

/// A committed batch on its way to its callers: each write with its transaction's outcome.
type Committed = Vec<(Box<dyn Write>, Result<(), String>)>;

impl Writer {
    /// Starts the writer thread on `conn` (which must not sync at commit itself), committing at
    /// most `max_batch` writes together and answering as `durability` says.
    pub fn start(
        conn: Connection,
        max_batch: usize,
        durability: Durability,
    ) -> std::io::Result<(Writer, WriterThread)> {
        let (queue, inbox) = mpsc::channel(QUEUE_CAPACITY);
        let (to_syncer, committed) = std::sync::mpsc::channel::<Committed>();
        let syncer = std::thread::Builder::new()
            .name("sqlite-sync".into())
            .spawn(move || sync_loop(committed, durability))?;
        let handle = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(conn, inbox, max_batch, to_syncer))?;
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
            .send(Box::new(pending))
            .await
            .map_err(|_| E::from(DbError::WriterGone))?;
        answer.await.map_err(|_| E::from(DbError::WriterGone))?
    }
}

fn write_loop(
    conn: Connection,
    mut inbox: mpsc::Receiver<Box<dyn Write>>,
    max_batch: usize,
    to_syncer: std::sync::mpsc::Sender<Committed>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while let Some(first) = inbox.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match inbox.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        let committed = commit_batch(&conn, &mut batch);
        if let Err(lost) = to_syncer.send(committed) {
            // The sync thread is gone (it panicked): answer without the sync rather than never.
            for (write, _) in lost.0 {
                write.finish(Err("the database sync thread has stopped"));
            }
        }
    }
    tracing::debug!("database writer stopped: no handles left");
}

/// Makes committed batches durable, then answers their callers. Every batch waiting when a
/// sync starts is covered by it, so under load one `fdatasync` serves several batches.
fn sync_loop(committed: std::sync::mpsc::Receiver<Committed>, durability: Durability) {
    // Opened once and kept: SQLite keeps the log file (the same inode, truncated in place)
    // while any connection to the database is open, and the checkpoint thread's stays open
    // until after this thread has answered everyone. After a failure it is opened afresh.
    let mut wal_file: Option<std::fs::File> = None;
    while let Ok(first) = committed.recv() {
        let mut batches = vec![first];
        batches.extend(committed.try_iter());
        let synced = match &durability {
            Durability::Committed => Ok(()),
            Durability::Synced { wal } => sync_wal(wal, &mut wal_file).map_err(|e| {
                wal_file = None;
                tracing::error!(error = %e, wal = %wal.display(), "could not sync the write-ahead log");
                format!("syncing the write-ahead log: {e}")
            }),
        };
        for batch in batches {
            for (write, outcome) in batch {
                let outcome = match (&outcome, &synced) {
                    (Err(why), _) | (Ok(()), Err(why)) => Err(why.as_str()),
                    (Ok(()), Ok(())) => Ok(()),
                };
                write.finish(outcome);
            }
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

fn commit_batch(conn: &Connection, batch: &mut Vec<Box<dyn Write>>) -> Committed {
    if batch.len() > 1 {
        match run_in_transaction(conn, batch.iter_mut()) {
            Ok(true) => {
                return batch.drain(..).map(|write| (write, Ok(()))).collect();
            }
            Ok(false) => {
                tracing::debug!(
                    batch = batch.len(),
                    "a write failed; replaying the batch one by one"
                );
            }
            Err(why) => {
                tracing::warn!(error = %why, batch = batch.len(), "group commit failed; replaying one by one");
            }
        }
    }
    batch
        .drain(..)
        .map(|mut write| {
            let commit = run_in_transaction(conn, std::iter::once(&mut write)).map(|_| ());
            (write, commit)
        })
        .collect()
}

/// Runs the writes in one transaction. Ok(true): all succeeded and are committed. Ok(false):
/// one failed and everything was rolled back (a lone write's failure is its own result).
/// Err: the transaction itself failed and was rolled back.
fn run_in_transaction<'a>(
    conn: &Connection,
    writes: impl Iterator<Item = &'a mut Box<dyn Write>>,
) -> Result<bool, String> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| e.to_string())?;
    let mut all_ok = true;
    for write in writes {
        if !write.run(conn) {
            all_ok = false;
            break;
        }
    }
    let end = if all_ok { "COMMIT" } else { "ROLLBACK" };
    match conn.execute_batch(end) {
        Ok(()) => Ok(all_ok),
        Err(e) => {
            let why = e.to_string();
            tracing::error!(error = %why, "{end} failed");
            if all_ok {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (Writer, WriterThread) {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")
            .unwrap();
        Writer::start(conn, 64, Durability::Committed).unwrap()
    }

    async fn insert(writer: &Writer, v: i64) -> Result<usize, DbError> {
        writer
            .run(move |conn| Ok(conn.execute("INSERT INTO t (v) VALUES (?1)", [v])?))
            .await
    }

    async fn count(writer: &Writer) -> i64 {
        writer
            .run(|conn| {
                Ok::<_, DbError>(conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn concurrent_writes_all_commit() {
        let (writer, thread) = writer();
        let writes = (0..200).map(|v| insert(&writer, v));
        let results = futures_util::future::join_all(writes).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(count(&writer).await, 200);
        drop(writer);
        thread.join();
    }

    #[tokio::test]
    async fn a_failing_write_in_a_batch_fails_alone() {
        let (writer, _thread) = writer();
        insert(&writer, 7).await.unwrap();
        let writes = (0..50).map(|v| insert(&writer, v));
        let results = futures_util::future::join_all(writes).await;
        let failed: Vec<_> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_err())
            .collect();
        assert_eq!(failed.len(), 1, "only the duplicate of 7 fails");
        assert_eq!(failed[0].0, 7);
        assert_eq!(count(&writer).await, 50);
    }

    #[tokio::test]
    async fn a_write_that_fails_after_changing_rows_leaves_no_trace() {
        let (writer, _thread) = writer();
        let half_done = writer
            .run(|conn| {
                conn.execute("INSERT INTO t (v) VALUES (1)", [])?;
                conn.execute("INSERT INTO t (v) VALUES (1)", [])?;
                Ok::<_, DbError>(())
            })
            .await;
        assert!(half_done.is_err());
        assert_eq!(count(&writer).await, 0);
    }

    #[tokio::test]
    async fn no_one_hears_committed_until_the_log_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")
            .unwrap();
        let synced = Durability::Synced {
            wal: super::super::wal_path(&path),
        };
        let (writer, thread) = Writer::start(conn, 64, synced).unwrap();
        let results = futures_util::future::join_all((0..20).map(|v| insert(&writer, v))).await;
        assert!(results.iter().all(Result::is_ok));
        drop(writer);
        thread.join();

        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE IF NOT EXISTS u (v)")
            .unwrap();
        let unsyncable = Durability::Synced {
            wal: dir.path().join("no-such-dir").join("t.db-wal"),
        };
        let (writer, _thread) = Writer::start(conn, 64, unsyncable).unwrap();
        let refused = writer
            .run(|conn| Ok::<_, DbError>(conn.execute("INSERT INTO u (v) VALUES (1)", [])?))
            .await;
        assert!(
            matches!(refused, Err(DbError::CommitFailed(_))),
            "a write whose log could not be synced is not reported committed: {refused:?}"
        );
    }

    #[tokio::test]
    async fn a_panicking_write_fails_without_killing_the_writer() {
        let (writer, _thread) = writer();
        let panicked = writer
            .run(|_| -> Result<(), DbError> { panic!("bug in a write") })
            .await;
        assert!(matches!(panicked, Err(DbError::Panicked)));
        insert(&writer, 1).await.unwrap();
        assert_eq!(count(&writer).await, 1);
    }
}

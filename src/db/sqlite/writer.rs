//! The one thread that writes SQLite. Concurrent writes are batched into one transaction (group
//! commit) and each caller hears back only after that transaction is durably committed.
//!
//! A write that fails may have changed rows before failing, so a failure rolls the whole batch
//! back and replays its writes one transaction each: one bad write never undoes its
//! neighbours. This costs nothing on the normal path, unlike a savepoint per write, which
//! copies every touched page. Writes must therefore be safe to run twice after a rollback,
//! which holds for closures that only touch the database.

use std::panic::{AssertUnwindSafe, catch_unwind};
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
}

impl WriterThread {
    pub fn join(self) {
        if self.handle.join().is_err() {
            tracing::error!("the database writer thread panicked");
        }
    }
}

impl Writer {
    /// Starts the writer thread on `conn`, committing at most `max_batch` writes together.
    pub fn start(conn: Connection, max_batch: usize) -> std::io::Result<(Writer, WriterThread)> {
        let (queue, inbox) = mpsc::channel(QUEUE_CAPACITY);
        let handle = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(conn, inbox, max_batch))?;
        Ok((Writer { queue }, WriterThread { handle }))
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

fn write_loop(conn: Connection, mut inbox: mpsc::Receiver<Box<dyn Write>>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    while let Some(first) = inbox.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match inbox.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        commit_batch(&conn, &mut batch);
    }
    tracing::debug!("database writer stopped: no handles left");
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Box<dyn Write>>) {
    if batch.len() > 1 {
        match run_in_transaction(conn, batch.iter_mut()) {
            Ok(true) => {
                for write in batch.drain(..) {
                    write.finish(Ok(()));
                }
                return;
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
    for mut write in batch.drain(..) {
        let commit = match run_in_transaction(conn, std::iter::once(&mut write)) {
            Ok(_) => Ok(()),
            Err(why) => Err(why),
        };
        write.finish(commit.as_ref().map(|_| ()).map_err(String::as_str));
    }
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
        Writer::start(conn, 64).unwrap()
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

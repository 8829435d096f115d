//! The one thread that writes SQLite. Concurrent writes are batched into one transaction (group
//! commit), each in its own savepoint so one failing write never undoes its neighbours, and each
//! caller hears back only after the batch is durably committed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::DbError;

/// What the thread calls after the commit, with its outcome.
type Completion = Box<dyn FnOnce(Result<(), &str>) + Send>;
/// One write: runs inside the batch's transaction (or is told why there is none); says whether
/// it succeeded.
type Work = Box<dyn FnOnce(Result<&Connection, &str>) -> (bool, Completion) + Send>;

/// How many writes may wait for the thread before callers wait to hand theirs over.
const QUEUE_CAPACITY: usize = 8192;

/// A handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Work>,
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
    /// committed. If `f` fails, its changes are rolled back and nothing else is affected.
    pub async fn run<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&Connection) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<R, E>>();
        let work: Work = Box::new(move |conn| {
            let outcome = match conn {
                Ok(conn) => catch_unwind(AssertUnwindSafe(|| f(conn)))
                    .unwrap_or_else(|_| Err(E::from(DbError::Panicked))),
                Err(why) => Err(E::from(DbError::CommitFailed(why.to_owned()))),
            };
            let ok = outcome.is_ok();
            let completion: Completion = Box::new(move |commit| {
                let result = match commit {
                    Ok(()) => outcome,
                    Err(why) if ok => Err(E::from(DbError::CommitFailed(why.to_owned()))),
                    Err(_) => outcome,
                };
                let _ = reply.send(result);
            });
            (ok, completion)
        });
        self.queue
            .send(work)
            .await
            .map_err(|_| E::from(DbError::WriterGone))?;
        answer.await.map_err(|_| E::from(DbError::WriterGone))?
    }
}

fn write_loop(conn: Connection, mut inbox: mpsc::Receiver<Work>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    while let Some(first) = inbox.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match inbox.try_recv() {
                Ok(work) => batch.push(work),
                Err(_) => break,
            }
        }
        commit_batch(&conn, &mut batch);
    }
    tracing::debug!("database writer stopped: no handles left");
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Work>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let why = e.to_string();
        tracing::error!(error = %why, "could not begin a write transaction");
        for work in batch.drain(..) {
            let (_, completion) = work(Err(&why));
            completion(Err(&why));
        }
        return;
    }
    let mut completions = Vec::with_capacity(batch.len());
    for work in batch.drain(..) {
        let savepoint = run_stmt(conn, "SAVEPOINT write");
        let (ok, completion) = work(Ok(conn));
        let closed = if ok && savepoint.is_ok() {
            run_stmt(conn, "RELEASE write")
        } else {
            run_stmt(conn, "ROLLBACK TO write").and_then(|()| run_stmt(conn, "RELEASE write"))
        };
        if let Err(e) = savepoint.and(closed) {
            tracing::error!(error = %e, "savepoint handling failed");
        }
        completions.push(completion);
    }
    let commit = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
    if let Err(why) = &commit {
        tracing::error!(error = %why, batch = completions.len(), "group commit failed");
        let _ = conn.execute_batch("ROLLBACK");
    }
    for completion in completions {
        completion(commit.as_ref().map(|_| ()).map_err(String::as_str));
    }
}

fn run_stmt(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

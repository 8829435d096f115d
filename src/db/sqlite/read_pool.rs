//! Read-only connections for the query side, reused across requests; WAL lets them read while
//! the writer writes. At most `size` are open at once: a burst of reads waits for a free
//! connection instead of opening one per request.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::config::Synchronous;
use crate::db::DbError;

#[derive(Clone)]
pub struct ReadPool {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    mmap_bytes: u64,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl ReadPool {
    /// A pool of at most `size` connections, each mapping up to `mmap_bytes` of the file.
    pub fn new(path: PathBuf, size: usize, mmap_bytes: u64) -> Self {
        Self {
            inner: Arc::new(Inner {
                path,
                mmap_bytes,
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(size.max(1)),
            }),
        }
    }

    /// Runs `f` on a reader connection inside one read transaction (one snapshot), off the
    /// async runtime.
    pub async fn run<R, F>(&self, f: F) -> Result<R, DbError>
    where
        F: FnOnce(&Connection) -> Result<R, DbError> + Send + 'static,
        R: Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        // The semaphore is never closed, so acquiring only waits.
        let permit = inner
            .permits
            .acquire()
            .await
            .map_err(|_| DbError::WriterGone)?;
        let inner_for_task = Arc::clone(&inner);
        let result = tokio::task::spawn_blocking(move || {
            let conn = inner_for_task.take()?;
            let result = in_snapshot(&conn, f);
            inner_for_task.give_back(conn);
            result
        })
        .await
        .map_err(|e| {
            if e.is_panic() {
                DbError::Panicked
            } else {
                DbError::Blocking(e)
            }
        })?;
        drop(permit);
        result
    }
}

/// One read transaction around `f`: every query in it sees the same committed state.
fn in_snapshot<R>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<R, DbError>,
) -> Result<R, DbError> {
    conn.execute_batch("BEGIN DEFERRED")?;
    let result = f(conn);
    // A read transaction has nothing to keep; ending it releases the snapshot.
    conn.execute_batch("COMMIT")?;
    result
}

impl Inner {
    fn take(&self) -> Result<Connection, DbError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(conn) => Ok(conn),
            None => {
                let conn = super::open(&self.path, Synchronous::Normal)?;
                conn.pragma_update(None, "query_only", "ON")?;
                // A search reads hundreds of pages spread over a large file. Mapped, a page
                // no cache holds costs a memory access instead of a system call and a copy:
                // at a million conferences, the slowest filters took a third of the time.
                // (An I/O error while reading the mapping stops the process: see README.)
                conn.pragma_update(None, "mmap_size", super::mmap_size(self.mmap_bytes))?;
                Ok(conn)
            }
        }
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_more_connections_are_opened_than_the_pool_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        super::super::open(&path, Synchronous::Normal).unwrap();
        let pool = ReadPool::new(path, 2, 0);

        let reads = (0..20).map(|_| {
            pool.run(|conn| {
                std::thread::sleep(std::time::Duration::from_millis(5));
                Ok(conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)
            })
        });
        let results = futures_util::future::join_all(reads).await;

        assert!(results.iter().all(|r| matches!(r, Ok(1))));
        let idle = pool.inner.idle.lock().unwrap().len();
        assert!(idle <= 2, "{idle} connections were opened for a pool of 2");
    }

    #[tokio::test]
    async fn readers_map_as_much_of_the_file_as_the_setting_says() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        super::super::open(&path, Synchronous::Normal).unwrap();
        let pool = ReadPool::new(path, 1, 1 << 20);

        let mapped = pool
            .run(|conn| Ok(conn.query_row("PRAGMA mmap_size", [], |r| r.get::<_, i64>(0))?))
            .await
            .unwrap();

        assert_eq!(mapped, 1 << 20);
    }
}

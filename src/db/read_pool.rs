//! Read-only connections for the query side, reused across requests; WAL lets them read while
//! the writer writes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::DbError;
use crate::config::Synchronous;

/// Connections kept open between requests.
const MAX_IDLE: usize = 8;

#[derive(Clone)]
pub struct ReadPool {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    pub fn new(path: PathBuf) -> Self {
        Self {
            inner: Arc::new(Inner {
                path,
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Runs `f` on a reader connection, off the async runtime.
    pub async fn run<R, F>(&self, f: F) -> Result<R, DbError>
    where
        F: FnOnce(&Connection) -> Result<R, DbError> + Send + 'static,
        R: Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let conn = inner.take()?;
            let result = f(&conn);
            inner.give_back(conn);
            result
        })
        .await
        .map_err(|e| {
            if e.is_panic() {
                DbError::Panicked
            } else {
                DbError::Blocking(e.to_string())
            }
        })?
    }
}

impl Inner {
    fn take(&self) -> Result<Connection, DbError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(conn) => Ok(conn),
            None => {
                let conn = super::open(&self.path, Synchronous::Normal)?;
                conn.pragma_update(None, "query_only", "ON")?;
                Ok(conn)
            }
        }
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
    }
}

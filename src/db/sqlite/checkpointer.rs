//! Keeps the write-ahead log small without stalling writes. A background thread copies
//! committed pages into the database file (PASSIVE: it never waits for the writer or readers).
//! That alone never lets the log restart under sustained load, since the writer keeps
//! appending while it copies; so once the log passes a quarter of `database.wal_max_bytes`,
//! the writer's own commit finishes the checkpoint (only the frames the background thread has
//! not copied yet) and its next transaction starts the log again from the beginning. A log
//! reused in place is also cheaper to write than one that keeps growing the file.

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::config::Synchronous;
use crate::db::DbError;

/// How often the background checkpoint runs: often enough that the writer's share stays small.
const INTERVAL: Duration = Duration::from_millis(100);

/// Sets the writer's connection up for this: its automatic checkpoint at a quarter of the
/// bound, and the log file cut back to the bound whenever it restarts.
pub fn hand_over(writer: &Connection, wal_max_bytes: u64) -> Result<(), DbError> {
    let page_size: i64 = writer.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let quarter_pages = (wal_max_bytes / 4) as i64 / page_size.max(512);
    writer.pragma_update(None, "wal_autocheckpoint", quarter_pages.max(1))?;
    writer.pragma_update(None, "journal_size_limit", wal_max_bytes as i64)?;
    Ok(())
}

/// The checkpoint thread; stops (after one last checkpoint) when dropped.
pub struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(path: PathBuf, synchronous: Synchronous) -> Result<Self, DbError> {
        let conn = super::open(&path, synchronous)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                loop {
                    let last = !matches!(
                        stopped.recv_timeout(INTERVAL),
                        Err(RecvTimeoutError::Timeout)
                    );
                    // PASSIVE never waits for readers or the writer; it copies what it can.
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "background checkpoint failed");
                    }
                    if last {
                        break;
                    }
                }
            })
            .map_err(DbError::Thread)?;
        Ok(Self {
            stop: Some(stop),
            handle: Some(handle),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

//! Moves WAL checkpoints off the writer thread: the writer never checkpoints, and this thread
//! copies committed pages into the database file in the background, without blocking writes.

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::config::Synchronous;
use crate::db::DbError;

/// How often the background checkpoint runs.
const INTERVAL: Duration = Duration::from_millis(500);

/// Turns off automatic checkpoints on the writer's connection; [`Checkpointer`] takes over.
pub fn hand_over(writer: &Connection) -> Result<(), DbError> {
    writer.pragma_update(None, "wal_autocheckpoint", 0)?;
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

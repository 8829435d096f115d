//! All SQL lives below this module: connection set-up, migrations, the single writer with group
//! commit, the pool of readers, and one file per group of tables.

pub mod checkpointer;
pub mod conferences;
pub mod events;
pub mod jobs;
pub mod mail;
pub mod migrate;
pub mod nonces;
pub mod read_pool;
pub mod recordings;
pub mod search;
pub mod writer;

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::config::Synchronous;

pub use read_pool::ReadPool;
pub use writer::Writer;

/// A failure inside the database layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database writer has stopped")]
    WriterGone,
    #[error("migration {name} was changed after it was applied (checksum differs)")]
    MigrationChanged { name: String },
    #[error("the database was written by a newer confvault (migration {name} is unknown here)")]
    UnknownMigration { name: String },
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    #[error("the batch this write was in could not be committed: {0}")]
    CommitFailed(String),
    #[error("a database task panicked")]
    Panicked,
    #[error("blocking task failed: {0}")]
    Blocking(String),
}

/// How long a connection waits for another process's lock (the CLI beside the server).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a connection with the pragmas every confvault connection uses.
pub fn open(path: &Path, synchronous: Synchronous) -> Result<Connection, DbError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        match synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        },
    )?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Statement journals for savepoints would otherwise be temp files, created and unlinked
    // on the writer's hot path.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Keeps a WAL that grew during a burst from staying large on disk after it is reset.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Records that the database took a write at `at`: readiness's proof that it is writable.
pub fn heartbeat(conn: &Connection, at: &str) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO heartbeat (id, at) VALUES (1, :at)
         ON CONFLICT (id) DO UPDATE SET at = excluded.at",
    )?
    .execute(rusqlite::named_params! {":at": at})?;
    Ok(())
}

/// Maps "no row" to `None`, as `rusqlite::OptionalExtension` does, for our error type.
pub(crate) fn optional<T>(r: rusqlite::Result<T>) -> Result<Option<T>, DbError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

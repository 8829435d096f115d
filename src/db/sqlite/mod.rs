//! The embedded default backend: one SQLite file in WAL mode, a single writer thread that
//! commits concurrent writes together (group commit), a bounded pool of readers, and
//! checkpoints moved off the writer.

mod access;
mod access_store;
mod account;
mod catalog;
pub mod checkpointer;
mod conferences;
mod database;
mod events;
mod fts;
mod jobs;
mod mail;
pub mod migrate;
mod nonces;
mod read_pool;
mod recordings;
mod restore;
mod said;
mod search;
pub mod synthetic;
mod transcripts;
mod tx;
mod types;
mod webhook_store;
mod webhooks;
mod writer;

#[cfg(test)]
#[path = "plans_tests.rs"]
mod plans_tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use crate::config::Synchronous;
use crate::db::DbError;
use crate::db::batch_metrics::BatchMetrics;
use checkpointer::Checkpointer;
use nonces::RecentNonces;
use read_pool::ReadPool;
use writer::{Durability, Writer, WriterThread};

#[cfg(test)]
pub(crate) use tx::testing;

/// How long a connection waits for another process's lock (the CLI beside the server).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Readers open at once: enough for both cores and a few waiting on the disk.
const READERS: usize = 8;

/// What opening the database needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub path: PathBuf,
    pub synchronous: Synchronous,
    pub max_batch: usize,
    /// See `database.wal_max_bytes`.
    pub wal_max_bytes: u64,
    /// See `database.mmap_bytes`.
    pub mmap_bytes: u64,
    /// Where the writer reports its group commits.
    pub batches: BatchMetrics,
}

/// The SQLite backend of [`crate::db::Database`].
pub struct Sqlite {
    writer: Writer,
    /// The writer's index of recent signature nonces, for the writes that check them.
    nonces: RecentNonces,
    readers: ReadPool,
}

/// The threads behind an open [`Sqlite`]; [`Threads::join`] waits for them once every handle
/// to the database is dropped.
pub struct Threads {
    writer: WriterThread,
    checkpointer: Checkpointer,
}

impl Threads {
    /// Blocks until the writer has committed everything queued and stopped, then checkpoints.
    pub fn join(self) {
        self.writer.join();
        drop(self.checkpointer);
    }
}

/// Applies pending migrations to the database at `path`, creating it; returns their names.
pub fn migrate_file(path: &Path, synchronous: Synchronous) -> Result<Vec<&'static str>, DbError> {
    ensure_directory(path)?;
    let mut conn = open(path, synchronous)?;
    migrate::run(&mut conn)
}

impl Sqlite {
    /// Opens (and migrates) the database and starts its writer and checkpoint threads.
    pub fn open(settings: &Settings) -> Result<(Arc<Sqlite>, Threads), DbError> {
        ensure_directory(&settings.path)?;
        let mut conn = open(&settings.path, settings.synchronous)?;
        for name in migrate::run(&mut conn)? {
            tracing::info!(migration = name, "migration applied");
        }
        let nonces = nonces::index_recent(&conn, nonces::INDEX_LIMIT)?;
        tracing::debug!(nonces = nonces.len(), "recent signature nonces indexed");
        checkpointer::hand_over(&conn, settings.wal_max_bytes)?;
        let checkpointer = Checkpointer::start(settings.path.clone(), settings.synchronous)?;
        // The writer never waits for the disk inside COMMIT; with `full`, its sync thread makes
        // each batch durable before anyone hears it is committed (see writer.rs).
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let durability = match settings.synchronous {
            Synchronous::Full => Durability::Synced {
                wal: wal_path(&settings.path),
            },
            Synchronous::Normal => Durability::Committed,
        };
        // The writer's inserts land on index pages all over the file; mapped, fetching one it
        // does not cache costs no system call (measured: 8% less of its time per callback).
        conn.pragma_update(None, "mmap_size", mmap_size(settings.mmap_bytes))?;
        let (writer, writer_thread) = Writer::start(
            conn,
            Box::new(nonces.clone()),
            settings.max_batch,
            durability,
            settings.batches.clone(),
        )
        .map_err(DbError::Thread)?;
        let db = Sqlite {
            writer,
            nonces,
            readers: ReadPool::new(settings.path.clone(), READERS, settings.mmap_bytes),
        };
        Ok((
            Arc::new(db),
            Threads {
                writer: writer_thread,
                checkpointer,
            },
        ))
    }
}

/// `database.mmap_bytes` as the pragma takes it (SQLite lowers it to its own cap).
fn mmap_size(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

/// The write-ahead log beside the database file, as SQLite names it.
fn wal_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Creates the directory the database file lives in.
fn ensure_directory(path: &Path) -> Result<(), DbError> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => std::fs::create_dir_all(dir).map_err(|source| DbError::Directory {
            path: dir.to_owned(),
            source,
        }),
        None => Ok(()),
    }
}

/// Opens a connection with the pragmas every confvault connection uses.
fn open(path: &Path, synchronous: Synchronous) -> Result<Connection, DbError> {
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
    conn.set_prepared_statement_cache_capacity(64);
    access::register_functions(&conn)?;
    Ok(conn)
}

/// Records that the database took a write at `at`: readiness's proof that it is writable.
fn heartbeat(conn: &Connection, at: &str) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO heartbeat (id, at) VALUES (1, :at)
         ON CONFLICT (id) DO UPDATE SET at = excluded.at",
    )?
    .execute(rusqlite::named_params! {":at": at})?;
    Ok(())
}

/// Maps "no row" to `None`, as `rusqlite::OptionalExtension` does, for our error type.
fn optional<T>(r: rusqlite::Result<T>) -> Result<Option<T>, DbError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

//! What can go wrong below the database interface, with the backend's own error kept as the
//! source.

/// A failure inside the database layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error("no connection to PostgreSQL")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("PostgreSQL is unavailable: {0}")]
    Unavailable(String),
    #[error("TLS to PostgreSQL: {0}")]
    Tls(String),
    #[error("the database writer has stopped")]
    WriterGone,
    #[error("the index of recent signature nonces is full")]
    NoncesFull,
    #[error("migration {name} was changed after it was applied (checksum differs)")]
    MigrationChanged { name: String },
    #[error("the database was written by a newer confvault (migration {name} is unknown here)")]
    UnknownMigration { name: String },
    #[error("a migration left rows of {table} pointing at nothing; nothing was applied")]
    MigrationBrokeForeignKey { table: String },
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    #[error("the batch this write was in could not be committed: {0}")]
    CommitFailed(String),
    #[error("a database task panicked")]
    Panicked,
    #[error("a blocking database task did not finish")]
    Blocking(#[source] tokio::task::JoinError),
    #[error("creating the database's directory {path}")]
    Directory {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not start a database thread")]
    Thread(#[source] std::io::Error),
}

impl DbError {
    /// The database cannot be reached or is shutting down: the caller should answer "try
    /// again later" (503), and everything resumes once it is back.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Pool(_) | DbError::Unavailable(_) | DbError::WriterGone => true,
            // The disk, or the writer's in-memory nonce index, is full: room comes back as old
            // rows are forgotten or an operator frees space, and the same write then succeeds.
            DbError::NoncesFull => true,
            DbError::Sqlite(e) => e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
            DbError::Postgres(e) => {
                let io = std::error::Error::source(e)
                    .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some());
                e.is_closed()
                    || io
                    || e.code().is_some_and(|code| {
                        let code = code.code();
                        // Connection exceptions, and the server shutting down or starting.
                        code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
                    })
            }
            _ => false,
        }
    }

    /// Lost a deadlock or a serialisation check to another transaction: running the same
    /// work again is safe and will likely succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Postgres(e) => e
                .code()
                .is_some_and(|code| matches!(code.code(), "40001" | "40P01")),
            _ => false,
        }
    }
}

//! What can go wrong below the database interface, with the backend's own error kept as the
//! source.

/// A failure inside the database layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error("the database writer has stopped")]
    WriterGone,
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

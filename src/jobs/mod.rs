//! Background work: the worker that claims jobs from the queue, and the jobs themselves.

pub mod archive;
pub mod backoff;
pub mod context;
pub mod delete_source;
pub mod ending;
pub mod notify;
pub mod spool;
pub mod transcript;
pub mod worker;

/// How a job run failed, in the words its row keeps: built from the download, storage or
/// database error with that error's whole chain of causes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Try again later (network, 5xx, throttling, recording not ready).
    #[error("{0}")]
    Retryable(String),
    /// Trying again gives the same answer; goes straight to `failed`.
    #[error("{0}")]
    Permanent(String),
    /// The archived copy failed its check: the job fails, operators are alerted, and the
    /// recording is archived again from the source.
    #[error("{0}")]
    CopyDamaged(String),
    /// Not a failure: the job waits for other work and runs again later, without using up an
    /// attempt.
    #[error("{0}")]
    Wait(String),
}

impl From<crate::vobiz::download::DownloadError> for JobError {
    fn from(e: crate::vobiz::download::DownloadError) -> Self {
        use crate::vobiz::download::DownloadError;
        match e {
            DownloadError::Retryable(f) => JobError::Retryable(format!("download: {}", f.chain())),
            DownloadError::Permanent(f) => JobError::Permanent(format!("download: {}", f.chain())),
        }
    }
}

impl From<crate::storage::StoreError> for JobError {
    fn from(e: crate::storage::StoreError) -> Self {
        use crate::storage::StoreError;
        match e {
            StoreError::Retryable(f) => JobError::Retryable(format!("storage: {}", f.chain())),
            StoreError::Permanent(f) => JobError::Permanent(format!("storage: {}", f.chain())),
        }
    }
}

impl From<crate::db::DbError> for JobError {
    fn from(e: crate::db::DbError) -> Self {
        JobError::Retryable(format!("database: {:#}", anyhow::Error::new(e)))
    }
}

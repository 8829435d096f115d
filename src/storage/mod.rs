//! Where recordings are archived: one interface, two backends (a local directory and any
//! S3-compatible store), chosen by `storage.kind`.

pub mod fs;
pub mod keys;
pub mod s3;
mod tree;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::config::{Config, StorageKind};
use crate::failure::Failure;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Network trouble, throttling, a store that is down: try again later.
    #[error(transparent)]
    Retryable(Failure),
    /// Bad configuration or a refused request: trying again gives the same answer.
    #[error(transparent)]
    Permanent(Failure),
}

impl StoreError {
    /// What went wrong and every cause after it, for a log line.
    pub fn chain(&self) -> String {
        match self {
            StoreError::Retryable(f) | StoreError::Permanent(f) => f.chain(),
        }
    }
}

/// What a store knows of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    /// The SHA-256 recorded with the object, when there is one.
    pub sha256: Option<String>,
}

/// An object's size and SHA-256 as read back from the store, byte by byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDigest {
    pub size: u64,
    pub sha256: String,
}

/// One page of object keys, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    pub keys: Vec<String>,
    /// Where the next page starts; `None` on the last one.
    pub next: Option<String>,
}

/// A local file to store under `key`.
pub struct FileUpload<'a> {
    pub key: &'a str,
    pub path: &'a Path,
    pub size: u64,
    pub sha256: &'a str,
    pub content_type: &'a str,
}

/// A multipart upload in progress, checkpointed so that it can resume after a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadProgress {
    pub key: String,
    pub upload_id: String,
    pub part_size: u64,
    pub parts: Vec<PartDone>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartDone {
    pub number: i32,
    pub etag: String,
    pub crc32: Option<String>,
}

/// How a stored recording is played back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playback {
    /// A short-lived URL the client may fetch directly (a presigned S3 URL).
    Redirect(String),
    /// A local file the server streams.
    File(std::path::PathBuf),
}

/// How long a presigned playback URL works; the links in emails are confvault's own and mint
/// a fresh one on every click.
pub const PLAYBACK_URL_LIFETIME: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Receives upload progress to checkpoint it.
#[async_trait]
pub trait ProgressSink: Send + Sync {
    async fn save(&self, progress: Option<&UploadProgress>) -> Result<(), StoreError>;
}

#[async_trait]
pub trait Store: Send + Sync {
    /// How the archive names the object: `s3://bucket/key` or a file path.
    fn location(&self, key: &str) -> String;
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError>;
    /// Stores a file, resuming `resume` when it is an upload of the same key.
    async fn put_file(
        &self,
        upload: &FileUpload<'_>,
        resume: Option<UploadProgress>,
        progress: &dyn ProgressSink,
    ) -> Result<(), StoreError>;
    /// Stores a small object (a sidecar, a probe).
    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StoreError>;
    /// Reads a small object; `None` if there is none.
    async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Reads the whole object back, streaming, and hashes it; `None` if there is none. Not the
    /// store's own checksum (S3's multipart checksum is not a hash of the file).
    async fn digest(&self, key: &str) -> Result<Option<ObjectDigest>, StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// The keys that start with `prefix`, a page at a time (`page`: `None` for the first, then
    /// the last page's `next`), leaving out the store's own temporary and probe objects.
    async fn list(&self, prefix: &str, page: Option<String>) -> Result<KeyPage, StoreError>;
    /// Gives up an unfinished multipart upload, freeing its parts.
    async fn abort_upload(&self, progress: &UploadProgress) -> Result<(), StoreError>;
    /// Where a client can get the object now.
    async fn playback(&self, key: &str) -> Result<Playback, StoreError>;
    /// Whether the store can be reached and written to, for readiness; cheap enough to run
    /// every few seconds.
    async fn probe(&self) -> Result<(), StoreError>;
}

/// The configured store.
pub async fn from_config(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match config.storage.kind {
        StorageKind::Fs => Arc::new(
            fs::FsStore::new(config.archive_dir())
                .with_context(|| format!("archive directory {}", config.archive_dir().display()))?,
        ),
        StorageKind::S3 => Arc::new(s3::S3Store::new(&config.storage).await?),
    })
}

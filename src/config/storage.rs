//! `[storage]`: where recordings are archived, a local directory or an S3-compatible bucket.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

use super::ConfigError;
use super::key_template::KeyTemplate;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// A local directory: the embedded default.
    #[default]
    Fs,
    /// Any S3-compatible object store.
    S3,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub kind: StorageKind,
    /// `fs`: the archive directory; defaults to `<data_dir>/archive`.
    pub path: Option<PathBuf>,
    /// Object key of a recording; its sidecar is the same key with `.json`.
    pub key_template: KeyTemplate,
    /// Prepended to every key (`{prefix}` in the template).
    pub prefix: String,
    pub bucket: Option<String>,
    /// For S3-compatible stores (MinIO, R2, Garage, …); AWS when unset.
    pub endpoint: Option<Url>,
    pub region: String,
    /// Path-style URLs (`endpoint/bucket/key`), which most S3-compatible stores need.
    pub force_path_style: bool,
    /// `AES256` or `aws:kms`.
    pub server_side_encryption: Option<String>,
    pub kms_key_id: Option<String>,
    pub storage_class: Option<String>,
    /// Recordings at least this large are sent as a multipart upload.
    pub multipart_threshold_bytes: u64,
    pub part_size_bytes: u64,
    /// Parts uploaded at once. Parts stream from the spooled file, so this costs a read buffer
    /// each, not a whole part.
    pub parts_in_flight: usize,
}

pub const DEFAULT_KEY_TEMPLATE: &str =
    "{prefix}{yyyy}/{mm}/{dd}/{conference_name}/{conference_uuid}-{recording_id}.{ext}";

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            kind: StorageKind::Fs,
            path: None,
            key_template: KeyTemplate::parse(DEFAULT_KEY_TEMPLATE)
                .expect("the default key template parses"),
            prefix: String::new(),
            bucket: None,
            endpoint: None,
            region: "us-east-1".to_owned(),
            force_path_style: false,
            server_side_encryption: None,
            kms_key_id: None,
            storage_class: None,
            multipart_threshold_bytes: 16 * 1024 * 1024,
            part_size_bytes: 8 * 1024 * 1024,
            parts_in_flight: 8,
        }
    }
}

impl StorageConfig {
    /// `archive_max_bytes`: the largest recording, which the parts must be able to carry.
    pub(super) fn validate(&self, archive_max_bytes: u64) -> Result<(), ConfigError> {
        if self.kind == StorageKind::S3 && self.bucket.as_deref().unwrap_or("").is_empty() {
            return Err(ConfigError::invalid(
                "storage.bucket",
                "is required when self.kind = \"s3\"",
            ));
        }
        match self.server_side_encryption.as_deref() {
            None | Some("AES256") => {}
            Some("aws:kms") if self.kms_key_id.is_some() => {}
            Some("aws:kms") => {
                return Err(ConfigError::invalid(
                    "storage.kms_key_id",
                    "is required when self.server_side_encryption = \"aws:kms\"",
                ));
            }
            Some(other) => {
                return Err(ConfigError::invalid(
                    "storage.server_side_encryption",
                    format!("{other:?} is not AES256 or aws:kms"),
                ));
            }
        }
        // S3 refuses parts under 5 MiB (but the last) and more than 10,000 parts.
        if self.part_size_bytes < 5 * 1024 * 1024 {
            return Err(ConfigError::invalid(
                "storage.part_size_bytes",
                "must be at least 5 MiB",
            ));
        }
        if self.part_size_bytes.saturating_mul(10_000) < archive_max_bytes {
            return Err(ConfigError::invalid(
                "storage.part_size_bytes",
                "× 10,000 parts must cover archive.max_bytes",
            ));
        }
        if self.parts_in_flight == 0 {
            return Err(ConfigError::invalid(
                "storage.parts_in_flight",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

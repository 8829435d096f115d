//! The archive job: download a recording, check it is audio, store it with its checksum, and
//! write a JSON sidecar beside it that makes the archive understandable (and the database
//! rebuildable) from the bucket alone. Each step is idempotent and checkpointed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use url::Url;

use super::JobError;
use super::context::JobContext;
use crate::db::model::{ArchiveSubject, Archived, Conference, Participant, ToArchive};
use crate::failure::Failure;
use crate::sidecar::{SIDECAR_SCHEMA, Sidecar, SidecarRecording, sidecar_key};
use crate::storage::keys::{KeyTemplate, KeyValues};
use crate::storage::{FileUpload, ProgressSink, Store, StoreError, UploadProgress};
use crate::vobiz::download::{Downloaded, Downloader};
use crate::vobiz::sniff::AudioFormat;

/// Progress of one archive job, kept in the job row between runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Checkpoint {
    downloaded: Option<DownloadedFile>,
    upload: Option<UploadProgress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DownloadedFile {
    format: AudioFormat,
    size: u64,
    sha256: String,
}

impl From<Downloaded> for DownloadedFile {
    fn from(d: Downloaded) -> Self {
        Self {
            format: d.format,
            size: d.size,
            sha256: d.sha256,
        }
    }
}

pub struct Archiver {
    pub downloader: Downloader,
    pub store: Arc<dyn Store>,
    pub key_template: KeyTemplate,
    pub prefix: String,
    pub zone: Tz,
    pub spool_dir: PathBuf,
    pub max_attempts: u32,
}

impl Archiver {
    pub async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(ArchiveSubject {
            recording,
            conference,
            participants,
        }) = ctx.db.archive_subject(&ctx.job.subject).await?
        else {
            return Err(JobError::Permanent("the recording no longer exists".into()));
        };
        let mut checkpoint: Checkpoint = ctx
            .job
            .checkpoint
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        let spool = super::spool::path(&self.spool_dir, ctx.job.id, &recording.recording_id);
        let result = self
            .archive(
                ctx,
                &recording,
                conference,
                participants,
                &mut checkpoint,
                &spool,
            )
            .await;
        let last_attempt = ctx.job.attempts >= i64::from(self.max_attempts);
        match &result {
            Ok(()) => remove_quietly(&spool).await,
            Err(JobError::Permanent(_) | JobError::CopyDamaged(_)) => {
                self.give_up(&checkpoint, &spool).await
            }
            Err(JobError::Retryable(_)) if last_attempt => self.give_up(&checkpoint, &spool).await,
            Err(JobError::Retryable(_) | JobError::Wait(_)) => {}
        }
        result
    }

    async fn archive(
        &self,
        ctx: &JobContext,
        recording: &ToArchive,
        conference: Option<Conference>,
        participants: Vec<Participant>,
        checkpoint: &mut Checkpoint,
        spool: &Path,
    ) -> Result<(), JobError> {
        let downloaded = self.downloaded(ctx, recording, checkpoint, spool).await?;
        let date = conference
            .as_ref()
            .and_then(|c| c.started_at.or(c.ended_at))
            .unwrap_or(recording.created_at);
        let key = self.key_template.render(&KeyValues {
            prefix: &self.prefix,
            date,
            zone: self.zone,
            conference_name: conference
                .as_ref()
                .map(|c| c.name.as_str())
                .unwrap_or("unlinked"),
            conference_uuid: recording.conference_uuid.as_deref().unwrap_or("unlinked"),
            recording_id: &recording.recording_id,
            ext: downloaded.format.extension(),
        });
        let existing = self.store.head(&key).await?;
        if existing.as_ref().and_then(|o| o.sha256.as_deref()) == Some(downloaded.sha256.as_str()) {
            tracing::info!(%key, "already archived with the same SHA-256; not uploaded again");
        } else {
            if existing.is_some() {
                tracing::warn!(%key, "an object with another checksum exists at this key; replacing it");
            }
            let sink = CheckpointSink {
                ctx,
                downloaded: downloaded.clone(),
            };
            let upload = FileUpload {
                key: &key,
                path: spool,
                size: downloaded.size,
                sha256: &downloaded.sha256,
                content_type: downloaded.format.content_type(),
            };
            self.store
                .put_file(&upload, checkpoint.upload.take(), &sink)
                .await?;
        }
        let measured_ms = match recording.duration_ms {
            Some(_) => None,
            None => measured_length(spool, downloaded.format).await,
        };
        let duration_ms = recording.duration_ms.or(measured_ms.map(|ms| ms as i64));
        let archived_at = chrono::Utc::now();
        // Read now, not with the subject: one that comes later is written by its own job.
        let transcript = ctx.db.transcript(&recording.recording_id).await?;
        let sidecar = Sidecar {
            schema: SIDECAR_SCHEMA.to_owned(),
            recording: SidecarRecording {
                recording_id: recording.recording_id.clone(),
                source: recording.source,
                source_url: recording.source_url.clone(),
                call_uuid: recording.call_uuid.clone(),
                duration_ms,
                duration_seconds: duration_ms.map(|ms| ms as f64 / 1000.0),
                recorded_at: Some(recording.recorded_at),
                started_at: recording.started_at,
                from: recording.from.clone(),
                to: recording.to.clone(),
                format: downloaded.format,
                content_type: downloaded.format.content_type().to_owned(),
                size_bytes: downloaded.size,
                sha256: downloaded.sha256.clone(),
                object_key: key.clone(),
                archived_at,
                source_deleted_at: None,
            },
            conference,
            participants,
            vobiz: recording
                .vobiz_object
                .as_deref()
                .and_then(|o| serde_json::from_str(o).ok()),
            transcript,
            archived_by: concat!("confvault ", env!("CARGO_PKG_VERSION")).to_owned(),
        };
        let json = serde_json::to_vec_pretty(&sidecar)
            .map_err(|e| JobError::Permanent(format!("sidecar: {e}")))?;
        self.store
            .put_bytes(&sidecar_key(&key), json, "application/json")
            .await?;
        let archived = Archived {
            object_key: key.clone(),
            format: downloaded.format.extension().to_owned(),
            size_bytes: downloaded.size,
            sha256: downloaded.sha256.clone(),
            location: self.store.location(&key),
            archived_at,
            duration_ms: measured_ms,
        };
        ctx.db
            .record_archived(&recording.recording_id, archived)
            .await?;
        tracing::info!(%key, size = sidecar.recording.size_bytes, "recording archived");
        ctx.metrics.recording_archived(sidecar.recording.size_bytes);
        Ok(())
    }

    /// The spooled download: reused when a previous run left it complete, fetched otherwise.
    async fn downloaded(
        &self,
        ctx: &JobContext,
        recording: &ToArchive,
        checkpoint: &mut Checkpoint,
        spool: &Path,
    ) -> Result<DownloadedFile, JobError> {
        if let Some(done) = &checkpoint.downloaded {
            // The spool file is not fsynced, so after a crash its bytes are checked, not trusted.
            if sha256_of_file(spool).await.as_deref() == Some(done.sha256.as_str()) {
                tracing::info!("reusing the recording downloaded by an earlier run");
                return Ok(done.clone());
            }
        }
        let url = Url::parse(&recording.source_url)
            .map_err(|e| JobError::Permanent(format!("bad recording URL: {e}")))?;
        tokio::fs::create_dir_all(&self.spool_dir)
            .await
            .map_err(|e| JobError::Retryable(format!("creating the spool directory: {e}")))?;
        let started = std::time::Instant::now();
        let fresh = DownloadedFile::from(self.downloader.fetch(&url, spool).await?);
        tracing::info!(
            size = fresh.size,
            format = fresh.format.extension(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "recording downloaded"
        );
        if let Some(stale) = &checkpoint.downloaded
            && stale.sha256 != fresh.sha256
            && let Some(upload) = checkpoint.upload.take()
        {
            // Different bytes this time: the parts already sent belong to the old file.
            self.store.abort_upload(&upload).await?;
        }
        checkpoint.downloaded = Some(fresh.clone());
        ctx.checkpoint(Some(json(checkpoint)?)).await?;
        Ok(fresh)
    }

    async fn give_up(&self, checkpoint: &Checkpoint, spool: &Path) {
        if let Some(upload) = &checkpoint.upload
            && let Err(e) = self.store.abort_upload(upload).await
        {
            tracing::warn!(error = %e.chain(), upload_id = %upload.upload_id, "could not abort an abandoned multipart upload");
        }
        remove_quietly(spool).await;
    }
}

/// The length the file's headers give, in milliseconds.
async fn measured_length(path: &Path, format: AudioFormat) -> Option<u64> {
    let path = path.to_owned();
    let length =
        tokio::task::spawn_blocking(move || crate::vobiz::audio_length::length(&path, format))
            .await
            .ok()
            .flatten();
    if length.is_none() {
        tracing::info!("the recording's length is not known and its headers do not tell");
    }
    length.map(|d| d.as_millis() as u64)
}

fn json(checkpoint: &Checkpoint) -> Result<String, JobError> {
    serde_json::to_string(checkpoint).map_err(|e| JobError::Permanent(format!("checkpoint: {e}")))
}

/// The SHA-256 of a file, or `None` if it cannot be read.
async fn sha256_of_file(path: &std::path::Path) -> Option<String> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        use sha2::Digest;
        use std::io::Read;
        let mut file = std::fs::File::open(path).ok()?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0; 1 << 20];
        loop {
            let n = file.read(&mut buf).ok()?;
            if n == 0 {
                return Some(hex::encode(hasher.finalize()));
            }
            hasher.update(&buf[..n]);
        }
    })
    .await
    .ok()
    .flatten()
}

async fn remove_quietly(path: &Path) {
    if let Err(e) = tokio::fs::remove_file(path).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(error = %e, path = %path.display(), "could not remove a spool file");
    }
}

/// Saves multipart progress into the job's checkpoint.
struct CheckpointSink<'a> {
    ctx: &'a JobContext,
    downloaded: DownloadedFile,
}

#[async_trait]
impl ProgressSink for CheckpointSink<'_> {
    async fn save(&self, progress: Option<&UploadProgress>) -> Result<(), StoreError> {
        let checkpoint = Checkpoint {
            downloaded: Some(self.downloaded.clone()),
            upload: progress.cloned(),
        };
        let text = serde_json::to_string(&checkpoint)
            .map_err(|e| StoreError::Permanent(Failure::caused_by("checkpoint", e)))?;
        self.ctx
            .checkpoint(Some(text))
            .await
            .map_err(|e| StoreError::Retryable(Failure::caused_by("saving the checkpoint", e)))
    }
}

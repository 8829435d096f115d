//! Multipart uploads to S3: parts read one at a time from the spooled file with their CRC32,
//! a few in flight, each checkpointed as it finishes; a restarted upload resumes from the parts
//! the store confirms it holds (ListParts).

use std::path::Path;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{S3Store, SHA256_METADATA, classify};
use crate::failure::Failure;
use crate::storage::{FileUpload, PartDone, ProgressSink, Store, StoreError, UploadProgress};

impl S3Store {
    /// The checkpointed parts that the store confirms it holds, whole, or `None` if the upload
    /// no longer exists. A part counts only when the store lists it with the expected size and
    /// its ETag is known (from the listing, or else from the checkpoint: some stores list parts
    /// without ETags); any other part is sent again.
    pub(super) async fn confirmed_parts(
        &self,
        progress: &UploadProgress,
        total_size: u64,
    ) -> Result<Option<Vec<PartDone>>, StoreError> {
        let listed = match self.listed_parts(progress).await? {
            Some(listed) => listed,
            None => return Ok(None),
        };
        let expected_size = |number: i32| {
            let offset = (number as u64 - 1) * progress.part_size;
            progress.part_size.min(total_size.saturating_sub(offset))
        };
        let confirmed = listed
            .into_iter()
            .filter(|(number, size, _, _)| *number >= 1 && *size == expected_size(*number))
            .filter_map(|(number, _, etag, crc32)| {
                let ours = progress.parts.iter().find(|p| p.number == number);
                let etag = etag.or_else(|| ours.map(|p| p.etag.clone()))?;
                Some(PartDone {
                    number,
                    etag,
                    crc32: crc32.or_else(|| ours.and_then(|p| p.crc32.clone())),
                })
            })
            .collect();
        Ok(Some(confirmed))
    }

    /// (number, size, ETag, CRC32) of every part the store lists for an upload.
    #[allow(clippy::type_complexity)]
    pub(super) async fn listed_parts(
        &self,
        progress: &UploadProgress,
    ) -> Result<Option<Vec<(i32, u64, Option<String>, Option<String>)>>, StoreError> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(&progress.key)
                .upload_id(&progress.upload_id)
                .set_part_number_marker(marker.clone())
                .send()
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) if e.code() == Some("NoSuchUpload") => return Ok(None),
                Err(e) => return Err(classify("ListParts", e)),
            };
            for part in page.parts() {
                if let Some(number) = part.part_number() {
                    parts.push((
                        number,
                        part.size().unwrap_or(-1).max(0) as u64,
                        part.e_tag().map(str::to_owned),
                        part.checksum_crc32().map(str::to_owned),
                    ));
                }
            }
            match (page.is_truncated(), page.next_part_number_marker()) {
                (Some(true), Some(next)) => marker = Some(next.to_owned()),
                _ => return Ok(Some(parts)),
            }
        }
    }

    pub(super) async fn start_or_resume(
        &self,
        upload: &FileUpload<'_>,
        resume: Option<UploadProgress>,
        sink: &dyn ProgressSink,
    ) -> Result<UploadProgress, StoreError> {
        if let Some(previous) = resume {
            if previous.key == upload.key && previous.part_size == self.part_size {
                if let Some(parts) = self.confirmed_parts(&previous, upload.size).await? {
                    tracing::info!(upload_id = %previous.upload_id, parts_done = parts.len(), "resuming multipart upload");
                    return Ok(UploadProgress { parts, ..previous });
                }
            } else {
                // The key or part size changed since: that upload can never complete.
                self.abort_upload(&previous).await?;
            }
        }
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(upload.key)
            .content_type(upload.content_type)
            .metadata(SHA256_METADATA, upload.sha256)
            // Declared up front so that stores which check it (Garage) accept the per-part
            // CRC32 values listed at completion.
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .set_server_side_encryption(self.sse.clone())
            .set_ssekms_key_id(self.kms_key_id.clone())
            .set_storage_class(self.storage_class.clone())
            .send()
            .await
            .map_err(|e| classify("CreateMultipartUpload", e))?;
        let upload_id = created.upload_id().ok_or_else(|| {
            StoreError::Retryable("CreateMultipartUpload returned no UploadId".into())
        })?;
        let progress = UploadProgress {
            key: upload.key.to_owned(),
            upload_id: upload_id.to_owned(),
            part_size: self.part_size,
            parts: Vec::new(),
        };
        sink.save(Some(&progress)).await?;
        Ok(progress)
    }

    pub(super) async fn upload_part(
        &self,
        upload: &FileUpload<'_>,
        upload_id: &str,
        number: i32,
    ) -> Result<PartDone, StoreError> {
        let offset = (number as u64 - 1) * self.part_size;
        let len = self.part_size.min(upload.size - offset);
        // The checksum is computed here so that the body can stream from the file: memory
        // stays at a read buffer per part in flight rather than a whole part.
        let crc32 = crc32_of_range(upload.path, offset, len).await?;
        let body = ByteStream::read_from()
            .path(upload.path)
            .offset(offset)
            .length(aws_sdk_s3::primitives::Length::Exact(len))
            .buffer_size(256 * 1024)
            .build()
            .await
            .map_err(|e| {
                StoreError::Retryable(Failure::caused_by(
                    format!("reading {}", upload.path.display()),
                    e,
                ))
            })?;
        let sent = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(upload.key)
            .upload_id(upload_id)
            .part_number(number)
            .checksum_crc32(&crc32)
            .body(body)
            .customize()
            // The part's CRC32 (checked by the store) guards its integrity; signing the payload
            // too would hash every byte with SHA-256 once more on each side.
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| classify("UploadPart", e))?;
        Ok(PartDone {
            number,
            etag: sent
                .e_tag()
                .ok_or_else(|| StoreError::Retryable("UploadPart returned no ETag".into()))?
                .to_owned(),
            crc32: Some(sent.checksum_crc32().map_or(crc32, str::to_owned)),
        })
    }

    pub(super) async fn put_multipart(
        &self,
        upload: &FileUpload<'_>,
        resume: Option<UploadProgress>,
        sink: &dyn ProgressSink,
    ) -> Result<(), StoreError> {
        let mut progress = self.start_or_resume(upload, resume, sink).await?;
        let total = upload.size.div_ceil(self.part_size) as i32;
        let missing: Vec<i32> = (1..=total)
            .filter(|n| !progress.parts.iter().any(|p| p.number == *n))
            .collect();
        tracing::debug!(parts = total, to_send = missing.len(), "multipart upload");
        let started = std::time::Instant::now();
        let upload_id = progress.upload_id.clone();
        let mut sent = futures_util::stream::iter(missing)
            .map(|n| self.upload_part(upload, &upload_id, n))
            .buffer_unordered(self.parts_in_flight);
        while let Some(part) = sent.next().await {
            progress.parts.push(part?);
            sink.save(Some(&progress)).await?;
        }
        drop(sent);
        progress.parts.sort_by_key(|p| p.number);
        let completed: Vec<CompletedPart> = progress
            .parts
            .iter()
            .filter(|p| p.number <= total)
            .map(|p| {
                CompletedPart::builder()
                    .part_number(p.number)
                    .e_tag(&p.etag)
                    .set_checksum_crc32(p.crc32.clone())
                    .build()
            })
            .collect();
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "parts sent; completing the upload"
        );
        let completing = std::time::Instant::now();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(upload.key)
            .upload_id(&progress.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("CompleteMultipartUpload", e))?;
        tracing::debug!(
            elapsed_ms = completing.elapsed().as_millis() as u64,
            "multipart upload completed"
        );
        sink.save(None).await
    }
}

/// The base64 CRC32 of `len` bytes of `path` from `offset`, as S3 expects it.
async fn crc32_of_range(path: &Path, offset: u64, len: u64) -> Result<String, StoreError> {
    use base64::Engine;
    let io = |e: std::io::Error| {
        StoreError::Retryable(Failure::caused_by(format!("reading {}", path.display()), e))
    };
    let mut file = tokio::fs::File::open(path).await.map_err(io)?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(io)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0; 256 * 1024];
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(left as usize);
        let n = file.read(&mut buf[..want]).await.map_err(io)?;
        if n == 0 {
            return Err(StoreError::Retryable(
                format!("{} is shorter than expected", path.display()).into(),
            ));
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(hasher.finalize().to_be_bytes()))
}

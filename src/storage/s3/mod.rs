//! The S3-compatible store (AWS S3, MinIO, R2, Garage, …) with aws-sdk-s3. Large recordings go
//! up as a multipart upload read part by part from the spooled file, so memory stays near
//! part size × parts in flight; each finished part is checkpointed and a restarted upload
//! resumes from what the store confirms it has (ListParts).

use crate::failure::Failure;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ServerSideEncryption, StorageClass};

mod multipart;

use super::{FileUpload, ObjectInfo, ProgressSink, Store, StoreError, UploadProgress};
use crate::config::StorageConfig;

/// Object metadata key holding the full-object SHA-256 (`x-amz-meta-sha256`).
pub const SHA256_METADATA: &str = "sha256";

pub struct S3Store {
    client: Client,
    bucket: String,
    sse: Option<ServerSideEncryption>,
    kms_key_id: Option<String>,
    storage_class: Option<StorageClass>,
    multipart_threshold: u64,
    part_size: u64,
    parts_in_flight: usize,
}

impl S3Store {
    pub async fn new(config: &StorageConfig) -> anyhow::Result<Self> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()));
        if let Some(endpoint) = &config.endpoint {
            loader = loader.endpoint_url(endpoint.as_str().trim_end_matches('/'));
        }
        let shared = loader.load().await;
        let s3_config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(config.force_path_style)
            .build();
        Ok(Self {
            client: Client::from_conf(s3_config),
            bucket: config
                .bucket
                .clone()
                .ok_or_else(|| anyhow::anyhow!("storage.bucket is required for s3"))?,
            sse: config
                .server_side_encryption
                .as_deref()
                .map(ServerSideEncryption::from),
            kms_key_id: config.kms_key_id.clone(),
            storage_class: config.storage_class.as_deref().map(StorageClass::from),
            multipart_threshold: config.multipart_threshold_bytes,
            part_size: config.part_size_bytes,
            parts_in_flight: config.parts_in_flight,
        })
    }

    async fn put_whole(&self, upload: &FileUpload<'_>) -> Result<(), StoreError> {
        let bytes = tokio::fs::read(upload.path).await.map_err(|e| {
            StoreError::Retryable(Failure::caused_by(
                format!("reading {}", upload.path.display()),
                e,
            ))
        })?;
        self.put_object(upload.key, bytes, upload.content_type, Some(upload.sha256))
            .await
    }

    /// One PutObject with the configured encryption and storage class.
    async fn put_object(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        sha256: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .set_server_side_encryption(self.sse.clone())
            .set_ssekms_key_id(self.kms_key_id.clone())
            .set_storage_class(self.storage_class.clone())
            .body(ByteStream::from(bytes));
        if let Some(sha256) = sha256 {
            request = request.metadata(SHA256_METADATA, sha256);
        }
        request.send().await.map_err(|e| classify("PutObject", e))?;
        Ok(())
    }
}

/// Network trouble, throttling and server errors are worth retrying; other refusals (access
/// denied, no such bucket, bad request) mean the configuration is wrong.
fn classify<E>(
    operation: &str,
    error: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or("unknown");
            let message = service.err().message().unwrap_or("");
            let what = format!("{operation}: HTTP {status} {code} {message}");
            if status >= 500 || status == 429 || status == 408 || code == "SlowDown" {
                StoreError::Retryable(what.into())
            } else {
                StoreError::Permanent(what.into())
            }
        }
        SdkError::ConstructionFailure(_) => {
            StoreError::Permanent(Failure::caused_by(operation.to_owned(), error))
        }
        _ => StoreError::Retryable(Failure::caused_by(operation.to_owned(), error)),
    }
}

#[async_trait]
impl Store for S3Store {
    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    #[tracing::instrument(name = "s3.head", skip_all, fields(key))]
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(ObjectInfo {
                size: head.content_length().unwrap_or(0).max(0) as u64,
                sha256: head
                    .metadata()
                    .and_then(|m| m.get(SHA256_METADATA))
                    .cloned(),
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(classify("HeadObject", e)),
        }
    }

    #[tracing::instrument(name = "s3.put", skip_all, fields(key = upload.key, size = upload.size))]
    async fn put_file(
        &self,
        upload: &FileUpload<'_>,
        resume: Option<UploadProgress>,
        progress: &dyn ProgressSink,
    ) -> Result<(), StoreError> {
        if upload.size < self.multipart_threshold {
            if let Some(stale) = resume {
                self.abort_upload(&stale).await?;
                progress.save(None).await?;
            }
            self.put_whole(upload).await
        } else {
            self.put_multipart(upload, resume, progress).await
        }
    }

    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StoreError> {
        self.put_object(key, bytes, content_type, None).await
    }

    async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let object = match answer {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(classify("GetObject", e)),
        };
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Retryable(Failure::caused_by("GetObject body", e)))?;
        Ok(Some(body.into_bytes().to_vec()))
    }

    #[tracing::instrument(name = "s3.digest", skip(self))]
    async fn digest(&self, key: &str) -> Result<Option<super::ObjectDigest>, StoreError> {
        use sha2::Digest;
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let mut object = match answer {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(classify("GetObject", e)),
        };
        let mut hasher = sha2::Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = object.body.next().await {
            let chunk = chunk
                .map_err(|e| StoreError::Retryable(Failure::caused_by("GetObject body", e)))?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
        }
        Ok(Some(super::ObjectDigest {
            size,
            sha256: hex::encode(hasher.finalize()),
        }))
    }

    #[tracing::instrument(name = "s3.head_bucket", skip_all)]
    async fn probe(&self) -> Result<(), StoreError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| classify("HeadBucket", e))?;
        Ok(())
    }

    #[tracing::instrument(name = "s3.list", skip_all, fields(prefix))]
    async fn list(&self, prefix: &str, page: Option<String>) -> Result<super::KeyPage, StoreError> {
        let listed = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_continuation_token(page)
            .send()
            .await
            .map_err(|e| classify("ListObjectsV2", e))?;
        let keys = listed
            .contents()
            .iter()
            .filter_map(|object| object.key().map(str::to_owned))
            .collect();
        // A store that says "truncated" without a token would loop forever on the first page.
        let next = if listed.is_truncated() == Some(true) {
            listed.next_continuation_token().map(str::to_owned)
        } else {
            None
        };
        Ok(super::KeyPage { keys, next })
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify("DeleteObject", e))?;
        Ok(())
    }

    async fn playback(&self, key: &str) -> Result<super::Playback, StoreError> {
        let config =
            aws_sdk_s3::presigning::PresigningConfig::expires_in(super::PLAYBACK_URL_LIFETIME)
                .map_err(|e| StoreError::Permanent(Failure::caused_by("presigning", e)))?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| classify("GetObject (presign)", e))?;
        Ok(super::Playback::Redirect(presigned.uri().to_owned()))
    }

    async fn abort_upload(&self, progress: &UploadProgress) -> Result<(), StoreError> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&progress.key)
            .upload_id(&progress.upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("NoSuchUpload") => Ok(()),
            Err(e) => Err(classify("AbortMultipartUpload", e)),
        }
    }
}

//! Downloads a recording from Vobiz: only from allowed origins, with the auth headers only where
//! they belong, never to private addresses unless listed, streamed to a file while its format
//! is sniffed, its size capped and its SHA-256 computed.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

pub mod address_guard;
mod spool;

use super::sniff::{self, AudioFormat, MIN_RECORDING_BYTES};
use crate::config::AllowList;
use crate::failure::Failure;
pub use address_guard::is_public;
use address_guard::{GuardedResolver, PrivateAddress};
use spool::{Batch, SPOOL_QUEUE_BATCHES, spool};

/// Redirect hops followed before giving up.
const MAX_REDIRECTS: usize = 5;
/// Bytes kept from the start of a body, to sniff it and to describe it if it is not audio.
const HEAD_LEN: usize = 512;

/// Why a download did not produce a recording.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// Worth trying again later: not ready yet, network trouble, a cut-off body.
    #[error(transparent)]
    Retryable(Failure),
    /// Trying again would give the same answer: not allowed, not audio, too large.
    #[error(transparent)]
    Permanent(Failure),
}

impl DownloadError {
    /// What went wrong and every cause after it, for a log line.
    pub fn chain(&self) -> String {
        match self {
            DownloadError::Retryable(f) | DownloadError::Permanent(f) => f.chain(),
        }
    }
}

/// A recording on disk, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub format: AudioFormat,
    pub size: u64,
    pub sha256: String,
}

pub struct DownloadSettings {
    pub allow: AllowList,
    pub auth_id: Option<String>,
    pub auth_token: Option<SecretString>,
    pub max_bytes: u64,
    /// Private addresses allowed for every origin, not only those listed exactly.
    pub allow_private_addresses: bool,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

#[derive(Clone)]
pub struct Downloader {
    /// For origins listed exactly: their names may resolve to private addresses.
    listed_client: reqwest::Client,
    /// For every other origin: private addresses are refused at resolution.
    strict_client: reqwest::Client,
    settings: Arc<DownloadSettings>,
}

impl Downloader {
    pub fn new(settings: DownloadSettings) -> Result<Self, reqwest::Error> {
        let client = |allow_private: bool| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .connect_timeout(settings.connect_timeout)
                .read_timeout(settings.read_timeout)
                .dns_resolver(GuardedResolver {
                    allow_private,
                    hint: address_guard::DOWNLOAD_HINT,
                })
                .user_agent(concat!("confvault/", env!("CARGO_PKG_VERSION")))
                .build()
        };
        Ok(Self {
            listed_client: client(true)?,
            strict_client: client(settings.allow_private_addresses)?,
            settings: Arc::new(settings),
        })
    }

    fn may_be_private(&self, url: &Url) -> bool {
        self.settings.allow_private_addresses || self.settings.allow.lists_exactly(url)
    }

    /// Fetches `url` into `dest` (replaced if it exists).
    #[tracing::instrument(name = "vobiz.download", skip_all, fields(host = url.host_str().unwrap_or("")))]
    pub async fn fetch(&self, url: &Url, dest: &Path) -> Result<Downloaded, DownloadError> {
        if !self.settings.allow.allows(url) {
            return Err(DownloadError::Permanent(
                format!(
                    "origin {} is not in vobiz.recording_hosts; not fetched",
                    url.origin().ascii_serialization()
                )
                .into(),
            ));
        }
        let mut url = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            self.refuse_private_literal(&url)?;
            let client = if self.may_be_private(&url) {
                &self.listed_client
            } else {
                &self.strict_client
            };
            let mut request = client.get(url.clone());
            // Credentials go only to listed origins: a redirect elsewhere loses them.
            if self.settings.allow.allows(&url)
                && let (Some(id), Some(token)) = (&self.settings.auth_id, &self.settings.auth_token)
            {
                request = request
                    .header("X-Auth-ID", id)
                    .header("X-Auth-Token", token.expose_secret());
            }
            let response = request.send().await.map_err(classify)?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        DownloadError::Permanent(format!("HTTP {status} without a Location").into())
                    })?;
                url = url
                    .join(location)
                    .map_err(|e| DownloadError::Permanent(Failure::caused_by("bad redirect", e)))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(DownloadError::Permanent(
                        "redirect to a non-HTTP URL".into(),
                    ));
                }
                tracing::debug!(to = %url.origin().ascii_serialization(), "following redirect");
                continue;
            }
            if !status.is_success() {
                return Err(status_error(status));
            }
            return self.save(response, dest).await;
        }
        Err(DownloadError::Permanent(
            format!("more than {MAX_REDIRECTS} redirects").into(),
        ))
    }

    fn refuse_private_literal(&self, url: &Url) -> Result<(), DownloadError> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        if is_public(ip) || self.may_be_private(url) {
            Ok(())
        } else {
            Err(DownloadError::Permanent(format!(
                "{ip} is a private address and its origin is not listed in vobiz.recording_hosts"
            )
.into()))
        }
    }

    async fn save(
        &self,
        response: reqwest::Response,
        dest: &Path,
    ) -> Result<Downloaded, DownloadError> {
        let max = self.settings.max_bytes;
        let declared = response.content_length();
        if declared.is_some_and(|n| n > max) {
            return Err(DownloadError::Permanent(
                format!(
                    "recording is {} bytes, over archive.max_bytes ({max})",
                    declared.unwrap_or_default()
                )
                .into(),
            ));
        }
        let io = |e: std::io::Error| {
            DownloadError::Retryable(Failure::caused_by(format!("writing {}", dest.display()), e))
        };
        let file = std::fs::File::create(dest).map_err(io)?;
        // Hashing and writing run on their own thread, so that receiving the next bytes
        // overlaps them: in line, the three took four times as long as the network alone.
        let (batches, received) = tokio::sync::mpsc::channel::<Batch>(SPOOL_QUEUE_BATCHES);
        let spooler = tokio::task::spawn_blocking(move || spool(file, received));
        let mut head = Vec::with_capacity(HEAD_LEN);
        let mut format = None;
        let mut size: u64 = 0;
        let mut batch = Batch::default();
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                DownloadError::Retryable(Failure::caused_by(
                    format!("download broke off after {size} bytes"),
                    e.without_url(),
                ))
            })?;
            size += chunk.len() as u64;
            if size > max {
                return Err(DownloadError::Permanent(
                    format!("recording exceeds archive.max_bytes ({max})").into(),
                ));
            }
            if format.is_none() {
                let take = (HEAD_LEN - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
                if head.len() >= sniff::SNIFF_LEN {
                    format = Some(sniff::detect(&head).ok_or_else(|| not_audio(&head, size))?);
                }
            }
            // Handed over a batch at a time: a hand-over per network chunk (often a few KiB)
            // cost more than the rest of the work on it.
            batch.push(chunk);
            if batch.is_full() && batches.send(std::mem::take(&mut batch)).await.is_err() {
                // The spooler stopped: its error says why.
                break;
            }
        }
        if !batch.is_empty() {
            let _ = batches.send(batch).await;
        }
        drop(batches);
        let sha256 = spooler
            .await
            .map_err(|e| DownloadError::Retryable(Failure::caused_by("spooling the download", e)))?
            .map_err(io)?;
        if let Some(expected) = declared
            && size < expected
        {
            return Err(DownloadError::Retryable(
                format!("body ended after {size} of {expected} bytes").into(),
            ));
        }
        let format = match format {
            Some(format) => format,
            None => return Err(not_audio(&head, size)),
        };
        if size < MIN_RECORDING_BYTES {
            return Err(DownloadError::Permanent(
                format!("only {size} bytes: too small to be a recording").into(),
            ));
        }
        Ok(Downloaded {
            format,
            size,
            sha256,
        })
    }
}

fn not_audio(head: &[u8], size: u64) -> DownloadError {
    DownloadError::Permanent(
        format!(
            "not a recording: received {} ({size} bytes or more); expected MP3 or WAV",
            sniff::describe_non_audio(head)
        )
        .into(),
    )
}

fn status_error(status: StatusCode) -> DownloadError {
    let retryable = status == StatusCode::NOT_FOUND
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    if retryable {
        DownloadError::Retryable(
            format!("HTTP {status} (recording not ready or host unavailable)").into(),
        )
    } else {
        DownloadError::Permanent(format!("HTTP {status}").into())
    }
}

fn classify(e: reqwest::Error) -> DownloadError {
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<PrivateAddress>() {
            return DownloadError::Permanent(refused.to_string().into());
        }
        source = err.source();
    }
    // Without the URL: it may carry a signed query string.
    let e = e.without_url();
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    DownloadError::Retryable(Failure::caused_by(what, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_and_permanent_statuses_are_told_apart() {
        assert!(matches!(
            status_error(StatusCode::NOT_FOUND),
            DownloadError::Retryable(_)
        ));
        assert!(matches!(
            status_error(StatusCode::BAD_GATEWAY),
            DownloadError::Retryable(_)
        ));
        assert!(matches!(
            status_error(StatusCode::TOO_MANY_REQUESTS),
            DownloadError::Retryable(_)
        ));
        assert!(matches!(
            status_error(StatusCode::FORBIDDEN),
            DownloadError::Permanent(_)
        ));
        assert!(matches!(
            status_error(StatusCode::GONE),
            DownloadError::Permanent(_)
        ));
    }
}

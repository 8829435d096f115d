//! Downloads a recording from Vobiz: only from allowed origins, with the auth headers only where
//! they belong, never to private addresses unless listed, streamed to a file while its format
//! is sniffed, its size capped and its SHA-256 computed.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use url::Url;

use super::sniff::{self, AudioFormat, MIN_RECORDING_BYTES};

/// Redirect hops followed before giving up.
const MAX_REDIRECTS: usize = 5;
/// Bytes kept from the start of a body, to sniff it and to describe it if it is not audio.
const HEAD_LEN: usize = 512;

/// One entry of `vobiz.recording_hosts`: an origin, with a leading `*.` for subdomains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: String,
    host: String,
    subdomains: bool,
    port: u16,
}

impl OriginPattern {
    pub fn parse(entry: &str) -> Result<Self, String> {
        let (scheme, rest) = entry
            .split_once("://")
            .ok_or("must look like https://host[:port] or https://*.domain")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            return Err("scheme must be https or http".into());
        }
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('?') || rest.contains('@') {
            return Err("an origin has no path, query or user".into());
        }
        let (subdomains, rest) = match rest.strip_prefix("*.") {
            Some(domain) => (true, domain),
            None => (false, rest),
        };
        // Let the URL parser handle IPv6 brackets, ports and normalisation.
        let parsed = Url::parse(&format!("{scheme}://{rest}/")).map_err(|e| e.to_string())?;
        let host = parsed.host_str().ok_or("no host")?.to_ascii_lowercase();
        if subdomains && (host.contains('*') || !host.contains('.')) {
            return Err("a wildcard must name a domain, like *.vobiz.ai".into());
        }
        Ok(Self {
            port: parsed.port_or_known_default().ok_or("no port")?,
            scheme,
            host,
            subdomains,
        })
    }

    fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        let host_ok = if self.subdomains {
            host.strip_suffix(&self.host)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
        } else {
            host == self.host
        };
        host_ok && url.scheme() == self.scheme && url.port_or_known_default() == Some(self.port)
    }
}

/// The origins recordings may come from.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    patterns: Vec<OriginPattern>,
}

impl AllowList {
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| OriginPattern::parse(e).map_err(|why| format!("{e:?}: {why}")))
            .collect::<Result<_, _>>()
            .map(|patterns| Self { patterns })
    }

    pub fn allows(&self, url: &Url) -> bool {
        self.patterns.iter().any(|p| p.matches(url))
    }

    /// Whether the URL's origin is listed exactly (no wildcard): the only origins that may be
    /// private addresses.
    pub fn lists_exactly(&self, url: &Url) -> bool {
        self.patterns
            .iter()
            .any(|p| !p.subdomains && p.matches(url))
    }
}

/// Why a download did not produce a recording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    /// Worth trying again later: not ready yet, network trouble, a cut-off body.
    #[error("{0}")]
    Retryable(String),
    /// Trying again would give the same answer: not allowed, not audio, too large.
    #[error("{0}")]
    Permanent(String),
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
                .dns_resolver(GuardedResolver { allow_private })
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
            return Err(DownloadError::Permanent(format!(
                "origin {} is not in vobiz.recording_hosts; not fetched",
                url.origin().ascii_serialization()
            )));
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
                        DownloadError::Permanent(format!("HTTP {status} without a Location"))
                    })?;
                url = url
                    .join(location)
                    .map_err(|e| DownloadError::Permanent(format!("bad redirect: {e}")))?;
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
        Err(DownloadError::Permanent(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
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
            )))
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
            return Err(DownloadError::Permanent(format!(
                "recording is {} bytes, over archive.max_bytes ({max})",
                declared.unwrap_or_default()
            )));
        }
        let io = |e: std::io::Error| {
            DownloadError::Retryable(format!("writing {}: {e}", dest.display()))
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
                DownloadError::Retryable(format!("download broke off after {size} bytes: {e}"))
            })?;
            size += chunk.len() as u64;
            if size > max {
                return Err(DownloadError::Permanent(format!(
                    "recording exceeds archive.max_bytes ({max})"
                )));
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
        if !batch.chunks.is_empty() {
            let _ = batches.send(batch).await;
        }
        drop(batches);
        let sha256 = spooler
            .await
            .map_err(|e| DownloadError::Retryable(format!("spooling the download: {e}")))?
            .map_err(io)?;
        if let Some(expected) = declared
            && size < expected
        {
            return Err(DownloadError::Retryable(format!(
                "body ended after {size} of {expected} bytes"
            )));
        }
        let format = match format {
            Some(format) => format,
            None => return Err(not_audio(&head, size)),
        };
        if size < MIN_RECORDING_BYTES {
            return Err(DownloadError::Permanent(format!(
                "only {size} bytes: too small to be a recording"
            )));
        }
        Ok(Downloaded {
            format,
            size,
            sha256,
        })
    }
}

/// Bytes handed to the spool thread at a time.
const SPOOL_BATCH_BYTES: usize = 1 << 20;
/// Chunks handed over at most at a time, whatever their size: a server sending tiny chunks
/// cannot make a batch's bookkeeping grow, and one `writev` takes them all (`IOV_MAX`).
const SPOOL_BATCH_CHUNKS: usize = 1024;

/// Batches queued between the network, the disk and the hash: bounds memory to a few MiB
/// while absorbing jitter on either side.
const SPOOL_QUEUE_BATCHES: usize = 4;

/// Network chunks as received, handed over together. They are not copied into one buffer:
/// at a GiB, that copy and the fresh pages it touched cost more than writing the chunks with
/// one vectored write.
#[derive(Clone, Default)]
struct Batch {
    chunks: Vec<bytes::Bytes>,
    len: usize,
}

impl Batch {
    fn push(&mut self, chunk: bytes::Bytes) {
        self.len += chunk.len();
        self.chunks.push(chunk);
    }

    fn is_full(&self) -> bool {
        self.len >= SPOOL_BATCH_BYTES || self.chunks.len() >= SPOOL_BATCH_CHUNKS
    }

    fn write_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let mut slices: Vec<std::io::IoSlice<'_>> = self
            .chunks
            .iter()
            .map(|c| std::io::IoSlice::new(c))
            .collect();
        let mut unwritten = &mut slices[..];
        while !unwritten.is_empty() {
            match out.write_vectored(unwritten) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => std::io::IoSlice::advance_slices(&mut unwritten, n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Writes and hashes what arrives until the sender is dropped; returns the SHA-256 in hex.
/// Hashing has a thread of its own (batches are shared, not copied), so the disk and the hash
/// each take their time side by side. Not fsynced: the spool file is an intermediate, and a
/// run that reuses it after a crash checks its SHA-256 first; forcing a large file to disk here
/// would double the time.
fn spool(
    mut file: std::fs::File,
    mut received: tokio::sync::mpsc::Receiver<Batch>,
) -> std::io::Result<String> {
    let (to_hasher, for_hasher) = std::sync::mpsc::sync_channel::<Batch>(SPOOL_QUEUE_BATCHES);
    let hasher = std::thread::Builder::new()
        .name("spool-sha256".into())
        .spawn(move || {
            let mut hasher = Sha256::new();
            for batch in for_hasher {
                for chunk in &batch.chunks {
                    hasher.update(chunk);
                }
            }
            hex::encode(hasher.finalize())
        })?;
    let written = (|| {
        while let Some(batch) = received.blocking_recv() {
            // The hasher only stops when this sender is dropped, so sending cannot fail.
            let _ = to_hasher.send(batch.clone());
            batch.write_to(&mut file)?;
        }
        Ok(())
    })();
    drop(to_hasher);
    let sha256 = hasher
        .join()
        .map_err(|_| std::io::Error::other("the SHA-256 thread panicked"))?;
    written.map(|()| sha256)
}

fn not_audio(head: &[u8], size: u64) -> DownloadError {
    DownloadError::Permanent(format!(
        "not a recording: received {} ({size} bytes or more); expected MP3 or WAV",
        sniff::describe_non_audio(head)
    ))
}

fn status_error(status: StatusCode) -> DownloadError {
    let retryable = status == StatusCode::NOT_FOUND
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    if retryable {
        DownloadError::Retryable(format!(
            "HTTP {status} (recording not ready or host unavailable)"
        ))
    } else {
        DownloadError::Permanent(format!("HTTP {status}"))
    }
}

fn classify(e: reqwest::Error) -> DownloadError {
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<PrivateAddress>() {
            return DownloadError::Permanent(refused.to_string());
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
    DownloadError::Retryable(format!("{what}: {e}"))
}

/// Drops private, loopback and link-local addresses from what a name resolves to (unless
/// `allow_private`), and refuses names left with none. Checking here, at resolution, leaves no
/// gap for DNS rebinding between the check and the connection.
struct GuardedResolver {
    allow_private: bool,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{host} resolves only to private addresses and its origin is not listed in vobiz.recording_hosts"
)]
struct PrivateAddress {
    host: String,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let listed = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| listed || is_public(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(
                    Box::new(PrivateAddress { host }) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most a few bytes per call, as a disk or pipe may.
    struct Trickle(Vec<u8>);

    impl std::io::Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = buf.len().min(3);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_batch_is_written_whole_and_in_order_even_by_short_writes() {
        let mut batch = Batch::default();
        for chunk in ["ab", "", "cdefg", "h", "ijklmnopq"] {
            batch.push(bytes::Bytes::from_static(chunk.as_bytes()));
        }
        let mut out = Trickle(Vec::new());

        batch.write_to(&mut out).unwrap();

        assert_eq!(out.0, b"abcdefghijklmnopq");
        assert_eq!(batch.len, 17);
    }

    #[test]
    fn a_batch_is_handed_over_at_a_mebibyte_or_at_a_thousand_tiny_chunks() {
        let mut big = Batch::default();
        big.push(bytes::Bytes::from(vec![0; SPOOL_BATCH_BYTES - 1]));
        assert!(!big.is_full());
        big.push(bytes::Bytes::from_static(b"x"));
        assert!(big.is_full());

        let mut tiny = Batch::default();
        for _ in 0..SPOOL_BATCH_CHUNKS - 1 {
            tiny.push(bytes::Bytes::from_static(b"x"));
        }
        assert!(!tiny.is_full());
        tiny.push(bytes::Bytes::from_static(b"x"));
        assert!(tiny.is_full());
    }

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn a_wildcard_origin_matches_subdomains_over_https_only() {
        let allow = list(&["https://*.vobiz.ai"]);
        assert!(allow.allows(&url("https://media.vobiz.ai/x.mp3")));
        assert!(allow.allows(&url("https://a.b.vobiz.ai:443/x.mp3")));
        assert!(!allow.allows(&url("https://vobiz.ai/x.mp3")));
        assert!(!allow.allows(&url("https://evilvobiz.ai/x.mp3")));
        assert!(!allow.allows(&url("https://media.vobiz.ai.evil.com/x.mp3")));
        assert!(!allow.allows(&url("http://media.vobiz.ai/x.mp3")));
        assert!(!allow.allows(&url("https://media.vobiz.ai:8443/x.mp3")));
    }

    #[test]
    fn an_http_origin_is_allowed_only_when_listed_with_its_port() {
        let allow = list(&["http://127.0.0.1:8081"]);
        assert!(allow.allows(&url("http://127.0.0.1:8081/r.mp3")));
        assert!(!allow.allows(&url("http://127.0.0.1:8082/r.mp3")));
        assert!(!allow.allows(&url("https://127.0.0.1:8081/r.mp3")));
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in [
            "media.vobiz.ai",
            "ftp://x",
            "https://x/path",
            "https://*.ai",
            "https://u@x",
        ] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

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

//! The Vobiz REST API's recordings: list a page, get one, delete one. Authenticated with
//! `X-Auth-ID`/`X-Auth-Token`; 429, 5xx and timeouts are retried with backoff (honouring
//! `Retry-After`); 401/403 are a permanent error naming the settings to check. The token is
//! never logged: it lives in a `SecretString` and only ever goes into a header.

mod listing;

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::config::AllowList;
use crate::failure::Failure;
pub use listing::{ListedRecording, RecordingsPage, Skipped};

/// The longest `Retry-After` honoured; a longer one is treated as this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Backoff between tries when Vobiz gives no `Retry-After`: base and cap, in seconds.
const BACKOFF_BASE_SECONDS: f64 = 0.5;
const BACKOFF_MAX_SECONDS: f64 = 30.0;
/// The page size the sync asks for; the API's maximum.
pub const PAGE_SIZE: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The account's id or token is wrong, or lacks access.
    #[error(
        "Vobiz refused the credentials (HTTP {status}): check vobiz.auth_id and vobiz.auth_token"
    )]
    Unauthorized { status: u16 },
    /// Still failing after every try: throttled, server errors, timeouts.
    #[error(transparent)]
    Unavailable(Failure),
    /// An answer that trying again would not change (400, 404 where none is expected, …).
    #[error(transparent)]
    Refused(Failure),
    /// An answer that is not what the API documents (not JSON, no `objects`).
    #[error(transparent)]
    BadAnswer(Failure),
}

/// What a delete found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Now,
    /// 404: Vobiz no longer had it.
    AlreadyGone,
}

pub struct RestSettings {
    pub api_url: Url,
    pub auth_id: String,
    pub auth_token: SecretString,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub max_attempts: u32,
    /// Where recordings may be downloaded from: listed objects pointing elsewhere are skipped.
    pub recording_hosts: AllowList,
}

pub struct RestClient {
    http: reqwest::Client,
    settings: RestSettings,
    account_path: String,
}

impl RestClient {
    pub fn new(settings: RestSettings) -> Result<Self, reqwest::Error> {
        let mut headers = HeaderMap::new();
        let mut token = HeaderValue::from_str(settings.auth_token.expose_secret())
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        token.set_sensitive(true);
        headers.insert("x-auth-token", token);
        if let Ok(id) = HeaderValue::from_str(&settings.auth_id) {
            headers.insert("x-auth-id", id);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout)
            .timeout(settings.read_timeout * 2)
            // The token goes only to the configured API: no redirects elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("confvault/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let base = settings.api_url.path().trim_end_matches('/');
        let account_path = format!(
            "{base}/Account/{}/Recording/",
            url::form_urlencoded::byte_serialize(settings.auth_id.as_bytes()).collect::<String>()
        );
        Ok(Self {
            http,
            settings,
            account_path,
        })
    }

    /// The first page of the account's recordings.
    pub fn first_page(&self) -> Url {
        let mut url = self.settings.api_url.clone();
        url.set_path(&self.account_path);
        url.set_query(Some(&format!("limit={PAGE_SIZE}&offset=0")));
        url
    }

    /// The page at `offset`, when a page could not be read and its `next` is unknown.
    pub fn page_at(&self, offset: u64, limit: u64) -> Url {
        let mut url = self.first_page();
        url.set_query(Some(&format!("limit={limit}&offset={offset}")));
        url
    }

    /// The page `next` names (path and query, or a full URL on the API's own origin).
    pub fn next_page(&self, next: &str) -> Result<Url, RestError> {
        let url = self.settings.api_url.join(next).map_err(|e| {
            RestError::BadAnswer(Failure::caused_by(format!("meta.next {next:?}"), e))
        })?;
        if url.origin() != self.settings.api_url.origin() {
            // The credentials go with every request: never to another host.
            return Err(RestError::BadAnswer(Failure::new(format!(
                "meta.next points at another origin ({}); not followed",
                url.origin().ascii_serialization()
            ))));
        }
        Ok(url)
    }

    /// One page of the list. Objects that cannot be used are skipped with a reason.
    #[tracing::instrument(name = "vobiz.recordings.list", skip_all, fields(url = %url.path(), query = url.query().unwrap_or("")))]
    pub async fn list(&self, url: &Url) -> Result<RecordingsPage, RestError> {
        let body = self.send(reqwest::Method::GET, url).await?;
        listing::parse_page(&body, &self.settings.recording_hosts)
    }

    /// One recording; `None` on 404.
    #[tracing::instrument(name = "vobiz.recordings.get", skip(self))]
    pub async fn get(&self, recording_id: &str) -> Result<Option<ListedRecording>, RestError> {
        let url = self.recording_url(recording_id);
        match self.send_status(reqwest::Method::GET, &url).await? {
            (status, _) if status == StatusCode::NOT_FOUND => Ok(None),
            (_, body) => listing::parse_one(&body, &self.settings.recording_hosts).map(Some),
        }
    }

    /// Deletes Vobiz's copy. Permanent: Vobiz has no trash.
    #[tracing::instrument(name = "vobiz.recordings.delete", skip(self))]
    pub async fn delete(&self, recording_id: &str) -> Result<Deleted, RestError> {
        let url = self.recording_url(recording_id);
        match self.send_status(reqwest::Method::DELETE, &url).await? {
            (status, _) if status == StatusCode::NOT_FOUND => Ok(Deleted::AlreadyGone),
            _ => Ok(Deleted::Now),
        }
    }

    fn recording_url(&self, recording_id: &str) -> Url {
        let mut url = self.settings.api_url.clone();
        let id: String = url::form_urlencoded::byte_serialize(recording_id.as_bytes()).collect();
        url.set_path(&format!("{}{id}/", self.account_path));
        url
    }

    async fn send(&self, method: reqwest::Method, url: &Url) -> Result<Vec<u8>, RestError> {
        match self.send_status(method, url).await? {
            (status, _) if status == StatusCode::NOT_FOUND => Err(RestError::Refused(
                Failure::new(format!("{} answered 404", url.path())),
            )),
            (_, body) => Ok(body),
        }
    }

    /// Sends until an answer that is not worth retrying; a success or a 404 comes back with
    /// its body.
    async fn send_status(
        &self,
        method: reqwest::Method,
        url: &Url,
    ) -> Result<(StatusCode, Vec<u8>), RestError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.settings.max_attempts;
            let wait = match self.http.request(method.clone(), url.clone()).send().await {
                Err(e) if last => {
                    return Err(RestError::Unavailable(Failure::caused_by(
                        format!("{method} {} failed after {attempt} tries", url.path()),
                        e.without_url(),
                    )));
                }
                Err(e) => {
                    tracing::warn!(attempt, error = %e.without_url(), "Vobiz API unreachable; retrying");
                    None
                }
                Ok(answer) => {
                    let status = answer.status();
                    let retry_after = retry_after(answer.headers());
                    match status {
                        s if s.is_success() || s == StatusCode::NOT_FOUND => {
                            let body = answer.bytes().await.map_err(|e| {
                                RestError::Unavailable(Failure::caused_by(
                                    format!("reading the answer to {method} {}", url.path()),
                                    e.without_url(),
                                ))
                            })?;
                            return Ok((status, body.to_vec()));
                        }
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                            return Err(RestError::Unauthorized {
                                status: status.as_u16(),
                            });
                        }
                        s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => {
                            if last {
                                return Err(RestError::Unavailable(Failure::new(format!(
                                    "{method} {} answered HTTP {} after {attempt} tries",
                                    url.path(),
                                    s.as_u16()
                                ))));
                            }
                            tracing::warn!(
                                attempt,
                                status = s.as_u16(),
                                "Vobiz API busy or failing; retrying"
                            );
                            retry_after
                        }
                        s => {
                            return Err(RestError::Refused(Failure::new(format!(
                                "{method} {} answered HTTP {}",
                                url.path(),
                                s.as_u16()
                            ))));
                        }
                    }
                }
            };
            let pause = wait.unwrap_or_else(|| {
                crate::jobs::backoff::delay(attempt, BACKOFF_BASE_SECONDS, BACKOFF_MAX_SECONDS)
            });
            tokio::time::sleep(pause).await;
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from APIs and treated as absent).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::from_secs_f64(seconds).min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> RestClient {
        RestClient::new(RestSettings {
            api_url: Url::parse("https://api.vobiz.ai/api/v1").unwrap(),
            auth_id: "MA_TEST".into(),
            auth_token: SecretString::from("secret-token"),
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
            max_attempts: 3,
            recording_hosts: AllowList::parse(&["https://*.vobiz.ai".to_owned()]).unwrap(),
        })
        .unwrap()
    }

    #[test]
    fn paths_spell_account_and_recording_with_capitals_and_a_slash() {
        let c = client();
        assert_eq!(
            c.first_page().as_str(),
            "https://api.vobiz.ai/api/v1/Account/MA_TEST/Recording/?limit=100&offset=0"
        );
        assert_eq!(
            c.recording_url("r-1").as_str(),
            "https://api.vobiz.ai/api/v1/Account/MA_TEST/Recording/r-1/"
        );
    }

    #[test]
    fn the_next_page_is_followed_only_on_the_api_origin() {
        let c = client();
        assert_eq!(
            c.next_page("/api/v1/Account/MA_TEST/Recording/?limit=100&offset=100")
                .unwrap()
                .as_str(),
            "https://api.vobiz.ai/api/v1/Account/MA_TEST/Recording/?limit=100&offset=100"
        );
        assert!(
            c.next_page("https://evil.example/steal?offset=100")
                .is_err()
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn the_token_is_not_in_the_debug_form_of_anything_that_holds_it() {
        let c = client();
        assert!(!format!("{:?}", c.settings.auth_token).contains("secret-token"));
    }
}

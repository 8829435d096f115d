//! One delivery attempt: the Standard Webhooks headers, a POST with a deadline and no
//! redirects, the same address guard as downloads, and what the answer means.

use std::net::IpAddr;
use std::time::Duration;

use url::Url;

use super::schedule;
use super::signing::{SigningKey, signature_header};
use crate::config::WebhooksConfig;
use crate::vobiz::download::address_guard::{GuardedResolver, is_public};

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx.
    Delivered { status: u16 },
    /// Worth trying again: another status, a timeout, a refused connection.
    Failed {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
    /// `410 Gone`: the receiver asks never to be called again.
    Gone,
    /// Not sent, and sending again would not change that (a private address).
    Refused { error: String },
}

impl Outcome {
    /// For `confvault_webhook_attempts_total{outcome}`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Delivered { .. } => "delivered",
            Outcome::Failed { .. } => "failed",
            Outcome::Gone => "gone",
            Outcome::Refused { .. } => "refused",
        }
    }
}

const HINT: &str = "webhooks.allow_private_addresses is false";

/// Sends attempts; one client (and connection pool) for every endpoint.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
}

impl Sender {
    pub fn new(config: &WebhooksConfig) -> Result<Self, reqwest::Error> {
        let timeout = Duration::from_secs_f64(config.timeout_seconds);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeout)
            .timeout(timeout)
            .dns_resolver(GuardedResolver {
                allow_private: config.allow_private_addresses,
                hint: HINT,
            })
            .user_agent(concat!("confvault/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            allow_private: config.allow_private_addresses,
        })
    }

    /// POSTs `body` to `url` as message `id`, signed with `keys` at this moment.
    pub async fn send(&self, url: &Url, id: &str, body: &str, keys: &[SigningKey]) -> Outcome {
        // A literal address never reaches the resolver, so it is checked here.
        if let Some(ip) = literal_address(url)
            && !self.allow_private
            && !is_public(ip)
        {
            return Outcome::Refused {
                error: format!("{ip} is a private address and {HINT}"),
            };
        }
        let timestamp = chrono::Utc::now().timestamp();
        let sent = self
            .client
            .post(url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature_header(keys, id, timestamp, body.as_bytes()),
            )
            .body(body.to_owned())
            .send()
            .await;
        match sent {
            Ok(answer) => classify(answer),
            Err(e) if is_private_refusal(&e) => Outcome::Refused { error: chain(&e) },
            Err(e) => Outcome::Failed {
                status: None,
                error: if e.is_timeout() {
                    "timed out".to_owned()
                } else {
                    chain(&e)
                },
                retry_after: None,
            },
        }
    }
}

fn classify(answer: reqwest::Response) -> Outcome {
    let status = answer.status();
    if status.is_success() {
        return Outcome::Delivered {
            status: status.as_u16(),
        };
    }
    if status == reqwest::StatusCode::GONE {
        return Outcome::Gone;
    }
    let retry_after = answer
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| schedule::retry_after(v, chrono::Utc::now()));
    Outcome::Failed {
        status: Some(status.as_u16()),
        // Redirects are not followed: a 3xx is a failure like any other.
        error: format!("HTTP {status}"),
        retry_after,
    }
}

fn literal_address(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

fn is_private_refusal(e: &reqwest::Error) -> bool {
    chain(e).contains(HINT)
}

/// The error and its causes, with the URL shown without credentials or query.
fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    match e.url() {
        Some(url) => text.replace(url.as_str(), &crate::config::display_url(url)),
        None => text,
    }
}

//! `[webhooks]` and `[[webhooks.endpoints]]`: where confvault tells other systems what happened,
//! signed the Standard Webhooks way, how long an attempt may take and when it is retried.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{ConfigError, serialize_secret, serialize_secret_value};
use crate::webhooks::events::EventType;
use crate::webhooks::signing::SigningKey;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// How long one delivery attempt may take, in seconds.
    pub timeout_seconds: f64,
    /// Endpoints may resolve to private, loopback or link-local addresses.
    pub allow_private_addresses: bool,
    /// Attempts in flight to one endpoint at once: a slow endpoint holds only its own.
    pub concurrency_per_endpoint: usize,
    /// Waits before each retry, in seconds: the Standard Webhooks schedule by default (5 s,
    /// 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the first attempt, which is at once).
    pub retry_schedule_seconds: Vec<f64>,
    /// How long delivered and failed messages are kept in the delivery log, in days.
    pub keep_days: u32,
    pub endpoints: Vec<WebhookEndpoint>,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            timeout_seconds: 15.0,
            allow_private_addresses: false,
            concurrency_per_endpoint: 8,
            retry_schedule_seconds: vec![5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0],
            keep_days: 30,
            endpoints: Vec::new(),
        }
    }
}

impl WebhooksConfig {
    /// Some endpoint is configured: changes queue their messages and the dispatcher runs.
    pub fn enabled(&self) -> bool {
        !self.endpoints.is_empty()
    }
}

/// One receiver of messages.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpoint {
    pub url: Url,
    /// `whsec_` + base64 of 24 to 64 random bytes (`confvault webhooks new-secret`).
    #[serde(serialize_with = "serialize_secret_value")]
    pub secret: SecretString,
    /// The secret being rotated out: messages are signed with both until it is removed.
    #[serde(default, serialize_with = "serialize_secret")]
    pub previous_secret: Option<SecretString>,
    /// The event types sent here; all when absent.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
}

impl WebhookEndpoint {
    /// Whether messages of `event` go here.
    pub fn wants(&self, event: EventType) -> bool {
        self.events
            .as_ref()
            .is_none_or(|events| events.iter().any(|e| e == event.as_str()))
    }

    /// The signing keys: the secret, then the previous one.
    pub fn keys(&self) -> Vec<SigningKey> {
        std::iter::once(&self.secret)
            .chain(&self.previous_secret)
            .filter_map(|s| SigningKey::parse(s.expose_secret()).ok())
            .collect()
    }

    /// The URL without credentials or query: what logs, metrics and the delivery log show.
    pub fn display_url(&self) -> String {
        display_url(&self.url)
    }
}

/// `url` without user, password, query or fragment, which may carry credentials.
pub fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

impl WebhooksConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(self.timeout_seconds > 0.0 && self.timeout_seconds <= 300.0) {
            return Err(ConfigError::invalid(
                "webhooks.timeout_seconds",
                "must be more than 0 and at most 300",
            ));
        }
        if self.concurrency_per_endpoint == 0 {
            return Err(ConfigError::invalid(
                "webhooks.concurrency_per_endpoint",
                "must be at least 1",
            ));
        }
        if self.keep_days == 0 {
            return Err(ConfigError::invalid(
                "webhooks.keep_days",
                "must be at least 1",
            ));
        }
        if self
            .retry_schedule_seconds
            .iter()
            .any(|s| !(s.is_finite() && *s >= 0.0 && *s <= 7.0 * 86400.0))
        {
            return Err(ConfigError::invalid(
                "webhooks.retry_schedule_seconds",
                "each wait must be between 0 and 604800 seconds",
            ));
        }
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            endpoint.validate(i)?;
            // The delivery log keys endpoints by the URL without credentials or query.
            if self.endpoints[..i]
                .iter()
                .any(|e| e.display_url() == endpoint.display_url())
            {
                return Err(ConfigError::invalid(
                    format!("webhooks.endpoints[{i}].url"),
                    "is listed twice (URLs that differ only in credentials or query count as one)",
                ));
            }
        }
        Ok(())
    }
}

impl WebhookEndpoint {
    fn validate(&self, i: usize) -> Result<(), ConfigError> {
        let key = |field: &str| format!("webhooks.endpoints[{i}].{field}");
        if !matches!(self.url.scheme(), "http" | "https") || self.url.host_str().is_none() {
            return Err(ConfigError::invalid(
                key("url"),
                "must be an http:// or https:// URL with a host",
            ));
        }
        for (field, secret) in std::iter::once(("secret", &self.secret))
            .chain(self.previous_secret.iter().map(|s| ("previous_secret", s)))
        {
            // The reason names the format only: the value is never repeated.
            SigningKey::parse(secret.expose_secret())
                .map_err(|why| ConfigError::invalid(key(field), why.to_string()))?;
        }
        for event in self.events.iter().flatten() {
            if EventType::parse(event).is_none() {
                return Err(ConfigError::invalid(
                    key("events"),
                    format!(
                        "{event:?} is not an event; the events are {}",
                        EventType::ALL.map(EventType::as_str).join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str, secret: &str) -> WebhookEndpoint {
        WebhookEndpoint {
            url: url.parse().expect("a URL"),
            secret: SecretString::from(secret.to_owned()),
            previous_secret: None,
            events: None,
            description: None,
        }
    }

    #[test]
    fn a_malformed_secret_or_url_stops_the_start_naming_the_entry() {
        let good = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let cases = [
            (
                endpoint("https://a.example/hook", "whsec_c2hvcnQ="),
                "webhooks.endpoints[1].secret",
            ),
            (
                endpoint("ftp://a.example/hook", good),
                "webhooks.endpoints[1].url",
            ),
            (
                endpoint("https://a.example/hook", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                "webhooks.endpoints[1].secret",
            ),
        ];
        for (bad, named) in cases {
            let config = WebhooksConfig {
                endpoints: vec![endpoint("https://b.example/hook", good), bad],
                ..WebhooksConfig::default()
            };
            let err = config.validate().expect_err("refused").to_string();
            assert!(err.contains(named), "{err}");
            assert!(
                !err.contains("c2hvcnQ"),
                "the secret is never repeated: {err}"
            );
        }
    }

    #[test]
    fn an_endpoint_without_events_gets_every_event() {
        let mut e = endpoint(
            "https://a.example/hook?token=t",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        );
        assert!(e.wants(EventType::RecordingArchived));
        e.events = Some(vec!["conference.ended".into()]);
        assert!(!e.wants(EventType::RecordingArchived));
        assert!(e.wants(EventType::ConferenceEnded));
        assert_eq!(e.display_url(), "https://a.example/hook");
    }
}

//! `[vobiz]`: the account, signatures, the live shape's inferred ends, downloads, the REST API
//! and the account sync.

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use super::origins::AllowList;
use super::{ConfigError, serialize_secret};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct VobizConfig {
    pub auth_id: Option<String>,
    #[serde(serialize_with = "serialize_secret")]
    pub auth_token: Option<SecretString>,
    /// Key for the `-MA-` signature variants (the parent account's token).
    #[serde(serialize_with = "serialize_secret")]
    pub parent_auth_token: Option<SecretString>,
    /// Defaults to true when `auth_token` is set.
    pub verify_signatures: Option<bool>,
    /// How long a signature nonce is remembered, to refuse replays.
    pub nonce_window_seconds: u64,
    /// Live shape: quiet time after the last member left before the conference counts as ended.
    pub end_quiet_seconds: u64,
    /// Played to people waiting for a conference to start; silence when unset.
    pub wait_music_url: Option<Url>,
    /// Origins recordings may be downloaded from, and the only ones sent credentials.
    /// A leading `*.` matches subdomains; `http://` origins only when listed explicitly.
    pub recording_hosts: AllowList,
    /// Allow downloads from private, loopback and link-local addresses whatever the origin
    /// (private networks, test rigs). Credentials still go only to listed origins.
    pub allow_private_addresses: bool,
    pub download_connect_timeout_seconds: u64,
    /// Longest wait for the next bytes of a download.
    pub download_read_timeout_seconds: u64,
    /// Base of the Vobiz REST API (the account's recordings list, get and delete).
    pub api_url: Url,
    pub api_connect_timeout_seconds: u64,
    /// Longest wait for one REST answer.
    pub api_read_timeout_seconds: u64,
    /// Tries per REST request when Vobiz throttles (429), fails (5xx) or times out.
    pub api_max_attempts: u32,
    /// `serve` syncs the account's recordings this often (0: never). Needs `auth_id` and
    /// `auth_token`.
    pub sync_interval_minutes: u64,
    /// How far back the periodic sync looks.
    pub sync_lookback_days: u32,
    /// Delete Vobiz's copy of a recording archived this many days ago, after re-verifying
    /// ours. Unset: never.
    pub delete_source_after_days: Option<u32>,
}

impl Default for VobizConfig {
    fn default() -> Self {
        Self {
            auth_id: None,
            auth_token: None,
            parent_auth_token: None,
            verify_signatures: None,
            nonce_window_seconds: 900,
            end_quiet_seconds: 30,
            wait_music_url: None,
            recording_hosts: AllowList::parse(&["https://*.vobiz.ai".to_owned()])
                .expect("the default origin parses"),
            allow_private_addresses: false,
            download_connect_timeout_seconds: 10,
            download_read_timeout_seconds: 60,
            api_url: Url::parse("https://api.vobiz.ai/api/v1").expect("the default URL parses"),
            api_connect_timeout_seconds: 10,
            api_read_timeout_seconds: 30,
            api_max_attempts: 5,
            sync_interval_minutes: 60,
            sync_lookback_days: 3,
            delete_source_after_days: None,
        }
    }
}

impl VobizConfig {
    pub fn verifies_signatures(&self) -> bool {
        self.verify_signatures.unwrap_or(self.auth_token.is_some())
    }

    pub fn end_quiet(&self) -> Duration {
        Duration::from_secs(self.end_quiet_seconds)
    }

    pub fn nonce_window(&self) -> Duration {
        Duration::from_secs(self.nonce_window_seconds)
    }

    /// The account's id and token, when both are set: what the REST API needs.
    pub fn account(&self) -> Option<(&str, &SecretString)> {
        Some((self.auth_id.as_deref()?, self.auth_token.as_ref()?))
    }

    /// The periodic sync's period, when it is on (it needs the account).
    pub fn sync_interval(&self) -> Option<Duration> {
        (self.sync_interval_minutes > 0 && self.account().is_some())
            .then(|| Duration::from_secs(self.sync_interval_minutes.saturating_mul(60)))
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.api_url.scheme(), "https" | "http") {
            return Err(ConfigError::invalid(
                "vobiz.api_url",
                "must be an http:// or https:// URL",
            ));
        }
        if self.api_max_attempts == 0 {
            return Err(ConfigError::invalid(
                "vobiz.api_max_attempts",
                "must be at least 1",
            ));
        }
        if self.sync_lookback_days == 0 {
            return Err(ConfigError::invalid(
                "vobiz.sync_lookback_days",
                "must be at least 1",
            ));
        }
        if self.delete_source_after_days == Some(0) {
            return Err(ConfigError::invalid(
                "vobiz.delete_source_after_days",
                "must be at least 1 (leave it unset to never delete at source)",
            ));
        }
        if self.delete_source_after_days.is_some() && self.account().is_none() {
            return Err(ConfigError::invalid(
                "vobiz.delete_source_after_days",
                "needs vobiz.auth_id and vobiz.auth_token, to call the REST API",
            ));
        }
        if self.nonce_window_seconds < 600 {
            return Err(ConfigError::invalid(
                "vobiz.nonce_window_seconds",
                "must be at least 600 (Vobiz signatures can be replayed for minutes)",
            ));
        }
        Ok(())
    }
}

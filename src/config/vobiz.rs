//! `[vobiz]`: the account, signatures, the live shape's inferred ends, and downloads.

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

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.nonce_window_seconds < 600 {
            return Err(ConfigError::invalid(
                "vobiz.nonce_window_seconds",
                "must be at least 600 (Vobiz signatures can be replayed for minutes)",
            ));
        }
        Ok(())
    }
}

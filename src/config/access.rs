//! `[access]`: who administers confvault, how long sign-in links, sessions and the audit log
//! last, which proxies name the client, and `[[api.scoped_tokens]]`, the tokens that act as
//! one person.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{ConfigError, EmailAddress, TrustedProxies, serialize_secret_value};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// People who see every conference and the audit log.
    pub admins: Vec<EmailAddress>,
    /// How long a sign-in link works, in minutes; it works once.
    pub link_minutes: u32,
    /// How long a session lasts from sign-in, in days.
    pub session_days: u32,
    /// How long audit events are kept, in days.
    pub audit_days: u32,
    /// Sign-in links mailed to one address per hour, at most.
    pub links_per_hour: u32,
    /// Sign-in requests from one client address per minute, at most (per replica).
    pub requests_per_minute: u32,
    /// Proxies whose `X-Forwarded-For` names the client, for that limit and the audit log.
    pub trusted_proxies: TrustedProxies,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            admins: Vec::new(),
            link_minutes: 15,
            session_days: 30,
            audit_days: 365,
            links_per_hour: 5,
            requests_per_minute: 20,
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

impl AccessConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("access.link_minutes", self.link_minutes),
            ("access.session_days", self.session_days),
            ("access.audit_days", self.audit_days),
            ("access.links_per_hour", self.links_per_hour),
            ("access.requests_per_minute", self.requests_per_minute),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be at least 1"));
            }
        }
        Ok(())
    }

    pub fn link_lifetime(&self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.link_minutes))
    }

    pub fn session_lifetime(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.session_days))
    }

    pub fn audit_lifetime(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.audit_days))
    }
}

/// A token for scripts that sees what `person` sees, and nothing more.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScopedToken {
    #[serde(serialize_with = "serialize_secret_value")]
    pub token: SecretString,
    pub person: EmailAddress,
}

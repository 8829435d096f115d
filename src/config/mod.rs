//! Settings: embedded defaults, then a TOML file, then `CONFVAULT_*` environment variables,
//! parsed once at start into typed values (origins, the key template, the SMTP endpoint,
//! addresses, globs), one file per section. A leaf: it imports nothing else of confvault.

mod access;
mod addresses;
mod database;
pub mod key_template;
mod mail;
mod origins;
mod proxies;
mod service;
mod smtp;
pub mod storage;
mod vobiz;
mod webhooks;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use access::{AccessConfig, ScopedToken};
pub use addresses::{ConferenceGlob, EmailAddress};
pub use database::{DatabaseConfig, PostgresUrl, Synchronous, TlsMode};
pub use key_template::KeyTemplate;
pub use mail::{DirectoryEntry, Lifetime, MailConfig, MailRoute, MailTransport, Never, SmtpTls};
pub use origins::{AllowList, OriginPattern};
pub use proxies::TrustedProxies;
pub use service::{ApiConfig, ArchiveConfig, HealthConfig, JobsConfig};
pub use smtp::SmtpEndpoint;
pub use storage::{StorageConfig, StorageKind};
pub use vobiz::VobizConfig;
pub use webhooks::{WebhookEndpoint, WebhooksConfig, display_url};

use chrono_tz::Tz;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

/// Environment variables read by the command line itself rather than by the settings (each
/// `CONFVAULT_` and the rest in lower case); a test in `cli.rs` checks that none is missing.
pub const CLI_ONLY_VARIABLES: &[&str] = &["config", "log", "log_format", "db_copy_to"];

/// Why the configuration was refused. Each message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Load(Box<figment::Error>),
    #[error("`{key}`: {problem}")]
    Invalid {
        key: std::borrow::Cow<'static, str>,
        problem: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(
        key: impl Into<std::borrow::Cow<'static, str>>,
        problem: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Where the database (and, by default, the archive and outbox) live.
    pub data_dir: PathBuf,
    /// The base URL Vobiz calls; signatures are checked against it plus the request path.
    pub public_url: Option<Url>,
    /// IANA zone for provider timestamps that carry no offset.
    pub timezone: Tz,
    pub vobiz: VobizConfig,
    pub api: ApiConfig,
    pub database: DatabaseConfig,
    pub jobs: JobsConfig,
    pub archive: ArchiveConfig,
    pub storage: StorageConfig,
    pub mail: MailConfig,
    pub health: HealthConfig,
    pub access: AccessConfig,
    pub webhooks: WebhooksConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            public_url: None,
            timezone: Tz::UTC,
            vobiz: VobizConfig::default(),
            api: ApiConfig::default(),
            database: DatabaseConfig::default(),
            jobs: JobsConfig::default(),
            archive: ArchiveConfig::default(),
            storage: StorageConfig::default(),
            mail: MailConfig::default(),
            health: HealthConfig::default(),
            access: AccessConfig::default(),
            webhooks: WebhooksConfig::default(),
        }
    }
}

pub(crate) fn serialize_secret<S: serde::Serializer>(
    secret: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    secret.as_ref().map(|_| "[redacted]").serialize(s)
}

pub(crate) fn serialize_secret_value<S: serde::Serializer>(
    _: &SecretString,
    s: S,
) -> Result<S::Ok, S::Error> {
    "[redacted]".serialize(s)
}

pub(crate) fn serialize_secrets<S: serde::Serializer>(
    secrets: &[SecretString],
    s: S,
) -> Result<S::Ok, S::Error> {
    vec!["[redacted]"; secrets.len()].serialize(s)
}

impl Config {
    /// Defaults, then `file` (when given), then the `CONFVAULT_*` variables of the process.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_figment(Self::figment(file).merge(Self::environment()))
    }

    fn figment(file: Option<&Path>) -> Figment {
        let figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => figment.merge(Toml::file_exact(path)),
            None => figment,
        }
    }

    fn environment() -> Env {
        Env::prefixed("CONFVAULT_")
            .split("__")
            .ignore(CLI_ONLY_VARIABLES)
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks settings built in code (the demo's) as a loaded file would be checked.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.public_url {
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(ConfigError::invalid(
                    "public_url",
                    "must be an http:// or https:// URL with a host",
                ));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(ConfigError::invalid(
                    "public_url",
                    "must not carry a query or fragment",
                ));
            }
        }
        if self.vobiz.verifies_signatures() {
            if self.vobiz.auth_token.is_none() {
                return Err(ConfigError::invalid(
                    "vobiz.auth_token",
                    "is required when vobiz.verify_signatures is true",
                ));
            }
            if self.public_url.is_none() {
                return Err(ConfigError::invalid(
                    "public_url",
                    "is required to verify Vobiz signatures (set it to the URL Vobiz calls, \
                     or set vobiz.verify_signatures = false)",
                ));
            }
        }
        self.vobiz.validate()?;
        self.health.validate()?;
        self.jobs.validate()?;
        self.storage.validate(self.archive.max_bytes)?;
        self.mail.validate()?;
        self.access.validate()?;
        self.webhooks.validate()?;
        self.database.validate()
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.mail
            .outbox_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("outbox"))
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.archive
            .spool_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("spool"))
    }

    pub fn archive_dir(&self) -> PathBuf {
        self.storage
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("archive"))
    }

    pub fn database_path(&self) -> PathBuf {
        self.database
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("confvault.db"))
    }

    /// The URL Vobiz signed for a request whose path (as received) is `path`.
    pub fn signed_base_url(&self, path: &str) -> Option<String> {
        self.public_url
            .as_ref()
            .map(|u| format!("{}{}", u.as_str().trim_end_matches('/'), path))
    }
}

#[cfg(test)]
// figment's Jail closures return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;
    use secrecy::ExposeSecret;

    fn load_in(jail: &Jail, file: Option<&str>) -> Result<Config, ConfigError> {
        let path = file.map(|text| {
            jail.create_file("confvault.toml", text).unwrap();
            jail.directory().join("confvault.toml")
        });
        Config::load(path.as_deref())
    }

    #[test]
    fn with_nothing_configured_it_runs_on_embedded_defaults() {
        Jail::expect_with(|jail| {
            let config = load_in(jail, None).unwrap();
            assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
            assert_eq!(config.data_dir, PathBuf::from("./data"));
            assert_eq!(config.timezone, Tz::UTC);
            assert!(!config.vobiz.verifies_signatures());
            assert_eq!(config.vobiz.end_quiet_seconds, 30);
            Ok(())
        });
    }

    #[test]
    fn environment_variables_override_the_file_including_section_keys() {
        Jail::expect_with(|jail| {
            jail.set_env("CONFVAULT_TIMEZONE", "Asia/Kolkata");
            jail.set_env("CONFVAULT_VOBIZ__AUTH_TOKEN", "from-env");
            jail.set_env("CONFVAULT_API__TOKENS", "[\"a\", \"b\"]");
            jail.set_env("CONFVAULT_CONFIG", "ignored: read by the command line");
            let config = load_in(
                jail,
                Some("timezone = \"Europe/Berlin\"\npublic_url = \"https://calls.example.com\"\n[vobiz]\nauth_token = \"from-file\"\n"),
            )
            .unwrap();
            assert_eq!(config.timezone, chrono_tz::Asia::Kolkata);
            let token = config.vobiz.auth_token.as_ref().unwrap();
            assert_eq!(token.expose_secret(), "from-env");
            assert_eq!(config.api.tokens.len(), 2);
            assert!(config.vobiz.verifies_signatures());
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_names_its_key() {
        Jail::expect_with(|jail| {
            let err = load_in(jail, Some("timezone = \"Mars/Olympus\"")).unwrap_err();
            assert!(err.to_string().contains("timezone"), "{err}");
            let err = load_in(jail, Some("[vobiz]\nend_quiet_seconds = \"soon\"")).unwrap_err();
            assert!(err.to_string().contains("end_quiet_seconds"), "{err}");
            let err = load_in(jail, Some("listn = \"127.0.0.1:1\"")).unwrap_err();
            assert!(err.to_string().contains("listn"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn typed_values_are_parsed_as_the_settings_are_read_and_a_bad_one_names_its_key() {
        Jail::expect_with(|jail| {
            for (text, key) in [
                (
                    "[vobiz]\nrecording_hosts = [\"ftp://x\"]",
                    "recording_hosts",
                ),
                ("[storage]\nkey_template = \"{prefix}\"", "key_template"),
                ("[mail]\nto = [\"nobody\"]", "to"),
                ("[mail]\nfrom = \"nobody\"", "from"),
                (
                    "[[mail.routes]]\nconferences = \"[\"\nto = []",
                    "conferences",
                ),
            ] {
                let err = load_in(jail, Some(text)).unwrap_err().to_string();
                assert!(err.contains(key), "{text}: {err}");
            }
            let err = load_in(jail, Some("[mail]\nsmtp_url = \"smtps://u:hunter9@h\""))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("smtp_url") && !err.contains("hunter9"),
                "{err}"
            );
            let config =
                load_in(jail, Some("[mail]\nsmtp_url = \"smtp://u:hunter9@h:2525\"")).unwrap();
            let smtp = config.mail.smtp_url.as_ref().unwrap();
            assert_eq!((smtp.host.as_str(), smtp.port), ("h", Some(2525)));
            assert!(!serde_json::to_string(&config).unwrap().contains("hunter9"));
            Ok(())
        });
    }

    #[test]
    fn verifying_signatures_without_a_public_url_is_refused() {
        Jail::expect_with(|jail| {
            let err = load_in(jail, Some("[vobiz]\nauth_token = \"t\"")).unwrap_err();
            assert!(err.to_string().starts_with("`public_url`"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn secrets_are_redacted_when_the_settings_are_shown() {
        Jail::expect_with(|jail| {
            jail.set_env("CONFVAULT_VOBIZ__AUTH_TOKEN", "hunter2");
            jail.set_env("CONFVAULT_API__TOKENS", "[\"hunter3\"]");
            jail.set_env("CONFVAULT_VOBIZ__VERIFY_SIGNATURES", "false");
            let config = load_in(jail, None).unwrap();
            let shown = format!("{config:?} {}", serde_json::to_string(&config).unwrap());
            assert!(
                !shown.contains("hunter2") && !shown.contains("hunter3"),
                "{shown}"
            );
            Ok(())
        });
    }
}

//! Settings: embedded defaults, then a TOML file, then `CONFVAULT_*` environment variables,
//! validated once at start into typed values.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

/// Environment variables read by the command line itself rather than by the settings.
const CLI_ONLY_VARIABLES: &[&str] = &["config", "log", "log_format"];

/// Why the configuration was refused. Each message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Load(Box<figment::Error>),
    #[error("`{key}`: {problem}")]
    Invalid { key: &'static str, problem: String },
}

impl ConfigError {
    fn invalid(key: &'static str, problem: impl Into<String>) -> Self {
        Self::Invalid {
            key,
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
        }
    }
}

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
    pub recording_hosts: Vec<String>,
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
            recording_hosts: vec!["https://*.vobiz.ai".to_owned()],
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
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Bearer tokens accepted on the read API. None configured: every API request is refused.
    #[serde(serialize_with = "serialize_secrets")]
    pub tokens: Vec<SecretString>,
}

/// How hard SQLite works to keep a commit through a power cut.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// fsync at every commit: an acknowledged callback survives power loss.
    #[default]
    Full,
    /// fsync at checkpoints: survives a process crash, may lose the last commits on power loss.
    Normal,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Defaults to `<data_dir>/confvault.db`.
    pub path: Option<PathBuf>,
    pub synchronous: Synchronous,
    /// Most callbacks committed together in one transaction.
    pub max_batch: usize,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            path: None,
            synchronous: Synchronous::Full,
            max_batch: 256,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Jobs run at the same time.
    pub concurrency: usize,
    /// How long a claimed job is held; extended while it runs, taken again once it expires.
    pub lease_seconds: u64,
    /// First retry delay; doubles with each attempt (with jitter) up to `retry_max_seconds`.
    pub retry_base_seconds: f64,
    pub retry_max_seconds: f64,
    /// Attempts before a retryable failure becomes permanent.
    pub max_attempts: u32,
    /// How often idle workers look for due jobs.
    pub poll_interval_seconds: f64,
    /// At shutdown, how long running jobs may go on before they are stopped (their leases
    /// then lapse and they resume at the next start).
    pub shutdown_grace_seconds: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        // 30 s doubling to 1 h, 60 attempts: even with the shortest jitter that is more than a
        // day of trying, which outlasts a bucket outage or a recording that Vobiz serves late.
        Self {
            concurrency: 2,
            lease_seconds: 120,
            retry_base_seconds: 30.0,
            retry_max_seconds: 3600.0,
            max_attempts: 60,
            poll_interval_seconds: 1.0,
            shutdown_grace_seconds: 30,
        }
    }
}

impl JobsConfig {
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs_f64(self.poll_interval_seconds)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// How often `/readyz`'s checks (database write, storage probe, mail connection) and the
    /// job-queue metrics are refreshed.
    pub check_interval_seconds: f64,
    /// Longest one check may take before it counts as failing.
    pub check_timeout_seconds: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            check_interval_seconds: 15.0,
            check_timeout_seconds: 10.0,
        }
    }
}

impl HealthConfig {
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(self.check_interval_seconds)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.check_timeout_seconds)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// Largest recording accepted.
    pub max_bytes: u64,
    /// Where downloads are kept until stored; defaults to `<data_dir>/spool`.
    pub spool_dir: Option<PathBuf>,
    /// A recording whose conference never became known is archived on its own after this.
    pub unlinked_grace_seconds: u64,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self {
            max_bytes: 2 * 1024 * 1024 * 1024,
            spool_dir: None,
            unlinked_grace_seconds: 3600,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// A local directory: the embedded default.
    #[default]
    Fs,
    /// Any S3-compatible object store.
    S3,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub kind: StorageKind,
    /// `fs`: the archive directory; defaults to `<data_dir>/archive`.
    pub path: Option<PathBuf>,
    /// Object key of a recording; its sidecar is the same key with `.json`.
    pub key_template: String,
    /// Prepended to every key (`{prefix}` in the template).
    pub prefix: String,
    pub bucket: Option<String>,
    /// For S3-compatible stores (MinIO, R2, Garage, …); AWS when unset.
    pub endpoint: Option<Url>,
    pub region: String,
    /// Path-style URLs (`endpoint/bucket/key`), which most S3-compatible stores need.
    pub force_path_style: bool,
    /// `AES256` or `aws:kms`.
    pub server_side_encryption: Option<String>,
    pub kms_key_id: Option<String>,
    pub storage_class: Option<String>,
    /// Recordings at least this large are sent as a multipart upload.
    pub multipart_threshold_bytes: u64,
    pub part_size_bytes: u64,
    /// Parts uploaded at once. Parts stream from the spooled file, so this costs a read buffer
    /// each, not a whole part.
    pub parts_in_flight: usize,
}

pub const DEFAULT_KEY_TEMPLATE: &str =
    "{prefix}{yyyy}/{mm}/{dd}/{conference_name}/{conference_uuid}-{recording_id}.{ext}";

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            kind: StorageKind::Fs,
            path: None,
            key_template: DEFAULT_KEY_TEMPLATE.to_owned(),
            prefix: String::new(),
            bucket: None,
            endpoint: None,
            region: "us-east-1".to_owned(),
            force_path_style: false,
            server_side_encryption: None,
            kms_key_id: None,
            storage_class: None,
            multipart_threshold_bytes: 16 * 1024 * 1024,
            part_size_bytes: 8 * 1024 * 1024,
            parts_in_flight: 8,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// `.eml` files in `mail.outbox_dir`: the embedded default.
    #[default]
    Outbox,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Upgrade with STARTTLS, and refuse a server that does not offer it.
    #[default]
    Starttls,
    /// TLS from the first byte (usually port 465).
    Implicit,
    /// Plain text: only for a relay on the same host or a trusted network.
    None,
}

/// A days count, or `"never"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Lifetime {
    Days(u32),
    Never(Never),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Never {
    Never,
}

impl Lifetime {
    pub fn duration(self) -> Option<chrono::Duration> {
        match self {
            Lifetime::Days(days) => Some(chrono::Duration::days(i64::from(days))),
            Lifetime::Never(_) => None,
        }
    }
}

/// Conferences whose name matches `conferences` (a glob) are also mailed to `to`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailRoute {
    pub conferences: String,
    pub to: Vec<String>,
}

/// A known person: names a number in summaries, and may receive them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryEntry {
    pub number: String,
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    pub transport: MailTransport,
    /// Defaults to `<data_dir>/outbox`.
    pub outbox_dir: Option<PathBuf>,
    /// `smtp://user:password@host:port`.
    #[serde(serialize_with = "serialize_secret")]
    pub smtp_url: Option<SecretString>,
    pub tls: SmtpTls,
    /// A PEM certificate to trust besides the system's (a private CA).
    pub ca_file: Option<PathBuf>,
    /// Longest one message may take to send.
    pub timeout_seconds: u64,
    pub from: String,
    pub reply_to: Option<String>,
    /// Who gets every summary.
    pub to: Vec<String>,
    pub routes: Vec<MailRoute>,
    pub directory: Vec<DirectoryEntry>,
    /// A CSV file with columns `number,name,email` (header row first), added to `directory`.
    pub directory_csv: Option<PathBuf>,
    /// Also mail attendees whose number has an address in the directory.
    pub notify_attendees: bool,
    /// Addresses that never receive summaries.
    pub opt_out: Vec<String>,
    /// Who is told when a job fails for good.
    pub alerts_to: Vec<String>,
    /// Overrides the built-in templates (same file names as templates/email/).
    pub templates_dir: Option<PathBuf>,
    /// Also summarise conferences that had no recording.
    pub notify_without_recording: bool,
    /// How long to wait for a late recording before summarising a conference without one.
    pub no_recording_grace_seconds: u64,
    /// How long the recording links in summaries work: days, or "never".
    pub link_lifetime_days: Lifetime,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: MailTransport::Outbox,
            outbox_dir: None,
            smtp_url: None,
            tls: SmtpTls::Starttls,
            ca_file: None,
            timeout_seconds: 60,
            from: "confvault <confvault@localhost>".to_owned(),
            reply_to: None,
            to: Vec::new(),
            routes: Vec::new(),
            directory: Vec::new(),
            directory_csv: None,
            notify_attendees: false,
            opt_out: Vec::new(),
            alerts_to: Vec::new(),
            templates_dir: None,
            notify_without_recording: true,
            no_recording_grace_seconds: 120,
            link_lifetime_days: Lifetime::Days(90),
        }
    }
}

fn serialize_secret<S: serde::Serializer>(
    secret: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    secret.as_ref().map(|_| "[redacted]").serialize(s)
}

fn serialize_secrets<S: serde::Serializer>(
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
        if self.vobiz.nonce_window_seconds < 600 {
            return Err(ConfigError::invalid(
                "vobiz.nonce_window_seconds",
                "must be at least 600 (Vobiz signatures can be replayed for minutes)",
            ));
        }
        self.validate_jobs_and_storage()?;
        self.validate_mail()?;
        if self.database.max_batch == 0 {
            return Err(ConfigError::invalid(
                "database.max_batch",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    fn validate_jobs_and_storage(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            (
                "health.check_interval_seconds",
                self.health.check_interval_seconds,
            ),
            (
                "health.check_timeout_seconds",
                self.health.check_timeout_seconds,
            ),
        ] {
            if !(0.05..=86_400.0).contains(&value) {
                return Err(ConfigError::invalid(
                    key,
                    "must be between 0.05 and 86400 seconds",
                ));
            }
        }
        let jobs = &self.jobs;
        if jobs.concurrency == 0 {
            return Err(ConfigError::invalid(
                "jobs.concurrency",
                "must be at least 1",
            ));
        }
        if jobs.lease_seconds < 5 {
            return Err(ConfigError::invalid(
                "jobs.lease_seconds",
                "must be at least 5",
            ));
        }
        for (key, value) in [
            ("jobs.retry_base_seconds", jobs.retry_base_seconds),
            ("jobs.retry_max_seconds", jobs.retry_max_seconds),
            ("jobs.poll_interval_seconds", jobs.poll_interval_seconds),
        ] {
            if !(value.is_finite() && (0.0..=86_400.0 * 7.0).contains(&value)) {
                return Err(ConfigError::invalid(
                    key,
                    "must be between 0 and 604800 seconds",
                ));
            }
        }
        if jobs.retry_max_seconds < jobs.retry_base_seconds {
            return Err(ConfigError::invalid(
                "jobs.retry_max_seconds",
                "must not be below jobs.retry_base_seconds",
            ));
        }
        if jobs.max_attempts == 0 {
            return Err(ConfigError::invalid(
                "jobs.max_attempts",
                "must be at least 1",
            ));
        }
        for entry in &self.vobiz.recording_hosts {
            crate::vobiz::download::OriginPattern::parse(entry).map_err(|e| {
                ConfigError::invalid("vobiz.recording_hosts", format!("{entry:?}: {e}"))
            })?;
        }
        crate::storage::keys::KeyTemplate::parse(&self.storage.key_template)
            .map_err(|e| ConfigError::invalid("storage.key_template", e))?;
        let storage = &self.storage;
        if storage.kind == StorageKind::S3 && storage.bucket.as_deref().unwrap_or("").is_empty() {
            return Err(ConfigError::invalid(
                "storage.bucket",
                "is required when storage.kind = \"s3\"",
            ));
        }
        match storage.server_side_encryption.as_deref() {
            None | Some("AES256") => {}
            Some("aws:kms") if storage.kms_key_id.is_some() => {}
            Some("aws:kms") => {
                return Err(ConfigError::invalid(
                    "storage.kms_key_id",
                    "is required when storage.server_side_encryption = \"aws:kms\"",
                ));
            }
            Some(other) => {
                return Err(ConfigError::invalid(
                    "storage.server_side_encryption",
                    format!("{other:?} is not AES256 or aws:kms"),
                ));
            }
        }
        // S3 refuses parts under 5 MiB (but the last) and more than 10,000 parts.
        if storage.part_size_bytes < 5 * 1024 * 1024 {
            return Err(ConfigError::invalid(
                "storage.part_size_bytes",
                "must be at least 5 MiB",
            ));
        }
        if storage.part_size_bytes.saturating_mul(10_000) < self.archive.max_bytes {
            return Err(ConfigError::invalid(
                "storage.part_size_bytes",
                "× 10,000 parts must cover archive.max_bytes",
            ));
        }
        if storage.parts_in_flight == 0 {
            return Err(ConfigError::invalid(
                "storage.parts_in_flight",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    fn validate_mail(&self) -> Result<(), ConfigError> {
        let mail = &self.mail;
        if mail.transport == MailTransport::Smtp && mail.smtp_url.is_none() {
            return Err(ConfigError::invalid(
                "mail.smtp_url",
                "is required when mail.transport = \"smtp\"",
            ));
        }
        if let Some(url) = &mail.smtp_url {
            use secrecy::ExposeSecret;
            crate::mail::transport::SmtpEndpoint::parse(url.expose_secret())
                .map_err(|e| ConfigError::invalid("mail.smtp_url", e))?;
        }
        let address = |key: &'static str, value: &str| {
            value
                .parse::<lettre::message::Mailbox>()
                .map(|_| ())
                .map_err(|e| {
                    ConfigError::invalid(key, format!("{value:?} is not an email address: {e}"))
                })
        };
        address("mail.from", &mail.from)?;
        if let Some(reply_to) = &mail.reply_to {
            address("mail.reply_to", reply_to)?;
        }
        for a in &mail.to {
            address("mail.to", a)?;
        }
        for a in &mail.alerts_to {
            address("mail.alerts_to", a)?;
        }
        for route in &mail.routes {
            globset::Glob::new(&route.conferences).map_err(|e| {
                ConfigError::invalid("mail.routes", format!("{:?}: {e}", route.conferences))
            })?;
            for a in &route.to {
                address("mail.routes", a)?;
            }
        }
        for entry in &mail.directory {
            if let Some(email) = &entry.email {
                address("mail.directory", email)?;
            }
        }
        Ok(())
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

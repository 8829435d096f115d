//! `[database]`: the embedded SQLite file by default, or PostgreSQL when `url` is set. The URL
//! is parsed once, here, into a connection config and a TLS mode; it carries a password, so it
//! is never shown whole (its `Debug` and serialised forms name only user, host and database).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ConfigError;

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
    /// `postgres://user:password@host:5432/db[?sslmode=…]` selects PostgreSQL; without it,
    /// SQLite at `path`.
    pub url: Option<PostgresUrl>,
    /// SQLite's file; defaults to `<data_dir>/confvault.db`.
    pub path: Option<PathBuf>,
    pub synchronous: Synchronous,
    /// Most callbacks committed together in one transaction.
    pub max_batch: usize,
    /// The write-ahead log is checkpointed and restarted well before it reaches this, and
    /// cut back to it after a burst, so a sustained load cannot fill the disk.
    pub wal_max_bytes: u64,
    /// SQLite: how much of the database file the writer and each reader map into memory
    /// instead of reading it page by page with system calls (0: none). SQLite caps it at 2 GiB.
    pub mmap_bytes: u64,
    /// PostgreSQL: connections each replica keeps at most (the LISTEN connection is extra).
    pub pool_size: usize,
    /// PostgreSQL: how long opening a connection, or waiting for a free one, may take.
    pub connect_timeout_seconds: u64,
    /// PostgreSQL: the server cancels a statement running longer than this.
    pub statement_timeout_seconds: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            path: None,
            synchronous: Synchronous::Full,
            max_batch: 256,
            wal_max_bytes: 64 * 1024 * 1024,
            mmap_bytes: 2 * 1024 * 1024 * 1024,
            pool_size: 16,
            connect_timeout_seconds: 5,
            statement_timeout_seconds: 30,
        }
    }
}

impl DatabaseConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_batch == 0 {
            return Err(ConfigError::invalid(
                "database.max_batch",
                "must be at least 1",
            ));
        }
        if self.wal_max_bytes < 4 * 1024 * 1024 {
            return Err(ConfigError::invalid(
                "database.wal_max_bytes",
                "must be at least 4 MiB",
            ));
        }
        if self.pool_size < 2 {
            return Err(ConfigError::invalid(
                "database.pool_size",
                "must be at least 2 (callbacks and jobs each need a connection)",
            ));
        }
        if self.connect_timeout_seconds == 0 || self.statement_timeout_seconds == 0 {
            return Err(ConfigError::invalid(
                "database.connect_timeout_seconds",
                "the connect and statement timeouts must be at least 1 second",
            ));
        }
        Ok(())
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_seconds)
    }

    pub fn statement_timeout(&self) -> Duration {
        Duration::from_secs(self.statement_timeout_seconds)
    }
}

/// How the connection to PostgreSQL is protected, as libpq's `sslmode` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP.
    Disable,
    /// TLS if the server offers it, unverified (libpq's default).
    Prefer,
    /// TLS always, the certificate not verified: protects from eavesdropping only.
    Require,
    /// TLS always, the certificate chained to a trusted root and naming the host. `verify-ca`
    /// is taken as this (stricter: libpq's `verify-ca` skips the host name).
    VerifyFull,
}

/// A parsed `database.url`.
#[derive(Clone)]
pub struct PostgresUrl {
    pub config: tokio_postgres::Config,
    pub tls: TlsMode,
    /// `sslrootcert`: a PEM file of roots to trust instead of the built-in web roots (the
    /// bundle a managed service such as RDS publishes).
    pub root_cert: Option<PathBuf>,
    /// What logs and `config show` may print: user, hosts and database, no password.
    shown: String,
}

impl PostgresUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut url = url::Url::parse(text)
            .map_err(|e| format!("not a URL ({e}); expected postgres://user:password@host/db"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err("must start with postgres:// or postgresql://".into());
        }
        let mut tls = TlsMode::Prefer;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "sslmode" => {
                    tls = match value.as_ref() {
                        "disable" => TlsMode::Disable,
                        "prefer" | "allow" => TlsMode::Prefer,
                        "require" => TlsMode::Require,
                        "verify-ca" | "verify-full" => TlsMode::VerifyFull,
                        other => return Err(format!("unknown sslmode {other:?}")),
                    }
                }
                "sslrootcert" => root_cert = Some(PathBuf::from(value.as_ref())),
                _ => kept.push((key.into_owned(), value.into_owned())),
            }
        }
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        let mut config: tokio_postgres::Config = url
            .as_str()
            .parse()
            .map_err(|e| format!("not a PostgreSQL URL: {e}"))?;
        config.ssl_mode(match tls {
            TlsMode::Disable => tokio_postgres::config::SslMode::Disable,
            TlsMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        });
        if config.get_hosts().is_empty() {
            return Err("names no host".into());
        }
        let shown = format!(
            "postgres://{}@{}/{}",
            config.get_user().unwrap_or(""),
            url.host_str().unwrap_or("").to_owned()
                + &url.port().map(|p| format!(":{p}")).unwrap_or_default(),
            config.get_dbname().unwrap_or("")
        );
        Ok(Self {
            config,
            tls,
            root_cert,
            shown,
        })
    }

    /// The URL without its password, for logs.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (sslmode {:?})", self.shown, self.tls)
    }
}

impl<'de> Deserialize<'de> for PostgresUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PostgresUrl::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for PostgresUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        format!("{} [password redacted]", self.shown).serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_keeps_its_parts_and_shows_no_password() {
        let url =
            PostgresUrl::parse("postgres://cv:s3cret@db.example:6432/archive?sslmode=verify-full")
                .unwrap();

        assert_eq!(url.tls, TlsMode::VerifyFull);
        assert_eq!(url.config.get_user(), Some("cv"));
        assert_eq!(url.config.get_dbname(), Some("archive"));
        assert_eq!(url.config.get_ports(), [6432]);
        assert_eq!(url.shown(), "postgres://cv@db.example:6432/archive");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!(!serde_json::to_string(&url).unwrap().contains("s3cret"));
    }

    #[test]
    fn sslrootcert_is_ours_and_other_options_reach_the_driver() {
        let url = PostgresUrl::parse(
            "postgresql://cv@10.0.0.5/db?sslmode=require&sslrootcert=/etc/rds.pem&application_name=x",
        )
        .unwrap();

        assert_eq!(url.tls, TlsMode::Require);
        assert_eq!(url.root_cert, Some(PathBuf::from("/etc/rds.pem")));
        assert_eq!(url.config.get_application_name(), Some("x"));
    }

    #[test]
    fn a_bad_url_is_refused_without_echoing_it() {
        for bad in [
            "mysql://cv:pw@host/db",
            "postgres://cv:pw@host/db?sslmode=sometimes",
            "not a url at all",
        ] {
            let problem = PostgresUrl::parse(bad).unwrap_err();
            assert!(!problem.contains("pw@"), "{problem}");
        }
    }
}

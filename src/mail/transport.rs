//! Sending a message: SMTP with lettre, or `.eml` files in an outbox directory (the embedded
//! default). Each message goes to exactly one recipient.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::{Config, MailTransport, SmtpEndpoint, SmtpTls};

/// Why a message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// 4xx, a dropped connection, a server that is down: try again later.
    #[error("{0}")]
    Transient(String),
    /// 5xx for this recipient: trying again gives the same answer.
    #[error("{0}")]
    Permanent(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one message; returns the server's answer (or where the file went).
    async fn send(&self, message: Message) -> Result<String, SendError>;
    /// Whether messages could be handed over now, for readiness. Sends nothing.
    async fn probe(&self) -> Result<(), SendError>;
}

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// Longest a whole send may take, whatever the server does.
    timeout: std::time::Duration,
}

impl SmtpMailer {
    pub fn new(
        endpoint: &SmtpEndpoint,
        tls: SmtpTls,
        ca_file: Option<&PathBuf>,
        timeout: std::time::Duration,
    ) -> anyhow::Result<Self> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&endpoint.host)
            .timeout(Some(timeout));
        let parameters = || -> anyhow::Result<TlsParameters> {
            let mut params = TlsParameters::builder(endpoint.host.clone());
            if let Some(path) = ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("mail.ca_file {}: {e}", path.display()))?;
                params = params.add_root_certificate(Certificate::from_pem(&pem)?);
            }
            Ok(params.build_rustls()?)
        };
        let (tls, default_port) = match tls {
            SmtpTls::Starttls => (Tls::Required(parameters()?), 587),
            SmtpTls::Implicit => (Tls::Wrapper(parameters()?), 465),
            SmtpTls::None => (Tls::None, 25),
        };
        builder = builder.tls(tls).port(endpoint.port.unwrap_or(default_port));
        if let Some((user, password)) = &endpoint.credentials {
            builder = builder
                .credentials(Credentials::new(
                    user.clone(),
                    password.expose_secret().to_owned(),
                ))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(Self {
            transport: builder.build(),
            timeout,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    #[tracing::instrument(name = "smtp.send", skip_all)]
    async fn send(&self, message: Message) -> Result<String, SendError> {
        let sent = tokio::time::timeout(self.timeout, self.transport.send(message))
            .await
            .map_err(|_| SendError::Transient(format!("no answer within {:?}", self.timeout)))?;
        match sent {
            Ok(response) => Ok(format!(
                "{} {}",
                response.code(),
                response.message().collect::<Vec<_>>().join(" ")
            )),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Transient(e.to_string())),
        }
    }

    /// Connects, greets and, with credentials, authenticates: what a send would do first.
    #[tracing::instrument(name = "smtp.probe", skip_all)]
    async fn probe(&self) -> Result<(), SendError> {
        match tokio::time::timeout(self.timeout, self.transport.test_connection()).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(SendError::Transient(
                "the server did not answer NOOP".into(),
            )),
            Ok(Err(e)) => Err(SendError::Transient(e.to_string())),
            Err(_) => Err(SendError::Transient(format!(
                "no answer within {:?}",
                self.timeout
            ))),
        }
    }
}

pub struct OutboxMailer {
    dir: PathBuf,
}

impl OutboxMailer {
    pub fn new(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, message: Message) -> Result<String, SendError> {
        let name = format!(
            "{}-{:08x}.eml",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
            rand::random::<u32>()
        );
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{}.tmp", rand::random::<u64>()));
        let bytes = message.formatted();
        let written = tokio::task::spawn_blocking({
            let (path, tmp) = (path.clone(), tmp.clone());
            move || -> std::io::Result<()> {
                std::fs::write(&tmp, &bytes)?;
                std::fs::File::open(&tmp)?.sync_all()?;
                std::fs::rename(&tmp, &path)
            }
        })
        .await
        .map_err(|e| SendError::Transient(e.to_string()))?;
        written.map_err(|e| SendError::Transient(format!("writing {}: {e}", path.display())))?;
        Ok(format!("written to {}", path.display()))
    }

    async fn probe(&self) -> Result<(), SendError> {
        let probe = self
            .dir
            .join(format!(".probe-{:08x}.tmp", rand::random::<u32>()));
        tokio::task::spawn_blocking(move || {
            std::fs::write(&probe, b"probe").and_then(|()| std::fs::remove_file(&probe))
        })
        .await
        .map_err(|e| SendError::Transient(e.to_string()))?
        .map_err(|e| SendError::Transient(format!("outbox {}: {e}", self.dir.display())))
    }
}

/// The configured transport.
pub fn from_config(config: &Config) -> anyhow::Result<Arc<dyn Mailer>> {
    Ok(match config.mail.transport {
        MailTransport::Outbox => Arc::new(OutboxMailer::new(config.outbox_dir())?),
        MailTransport::Smtp => {
            let url = config
                .mail
                .smtp_url
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("mail.smtp_url is required for smtp"))?;
            if config.mail.tls == SmtpTls::None {
                tracing::warn!(
                    "mail.tls = \"none\": mail and SMTP credentials travel in clear text; use it only for a local relay"
                );
            }
            Arc::new(SmtpMailer::new(
                url,
                config.mail.tls,
                config.mail.ca_file.as_ref(),
                std::time::Duration::from_secs(config.mail.timeout_seconds),
            )?)
        }
    })
}

//! Connections to PostgreSQL: TLS as `sslmode` asks (rustls; `verify-full` checks the chain and
//! the host name against the web roots or `sslrootcert`), the pools the backend works through,
//! and single connections for the migrator and the listener, which live outside the pools.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::{PostgresUrl, TlsMode};
use crate::db::DbError;

/// What connecting needs besides the URL.
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: PostgresUrl,
    pub pool_size: usize,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
}

/// How the server plans the prepared statements of a pool's sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plans {
    /// The server's default: a parameter-specific plan until a generic one looks as good.
    Auto,
    /// One generic plan per statement, made once per session. For the ingest writers, whose
    /// statements are index probes however many rows their arrays carry: the server otherwise
    /// plans an `unnest` of a small array afresh on every run (its estimate of a short array
    /// stays below the generic plan's), which cost it a sixth of the ingest rate.
    Generic,
}

impl Settings {
    /// The driver's config: the URL's, with our timeouts and a name the server shows.
    pub(super) fn driver_config(&self) -> tokio_postgres::Config {
        self.driver_config_planning(Plans::Auto)
    }

    fn driver_config_planning(&self, plans: Plans) -> tokio_postgres::Config {
        let mut config = self.url.config.clone();
        config.connect_timeout(self.connect_timeout);
        let planning = match plans {
            Plans::Auto => "",
            Plans::Generic => " -c plan_cache_mode=force_generic_plan",
        };
        config.options(format!(
            "-c statement_timeout={}{planning}",
            self.statement_timeout.as_millis()
        ));
        if config.get_application_name().is_none() {
            config.application_name("confvault");
        }
        config
    }
}

/// The TLS connector for `url`'s `sslmode`.
pub fn tls(url: &PostgresUrl) -> Result<MakeRustlsConnect, DbError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError::Tls(e.to_string()))?;
    let config = match url.tls {
        TlsMode::VerifyFull => {
            let mut roots = rustls::RootCertStore::empty();
            match &url.root_cert {
                Some(path) => {
                    let pem = std::fs::read(path).map_err(|e| {
                        DbError::Tls(format!("reading sslrootcert {}: {e}", path.display()))
                    })?;
                    let certs = CertificateDer::pem_slice_iter(&pem)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| {
                            DbError::Tls(format!("sslrootcert {}: {e}", path.display()))
                        })?;
                    let (added, _) = roots.add_parsable_certificates(certs);
                    if added == 0 {
                        return Err(DbError::Tls(format!(
                            "sslrootcert {} holds no usable certificate",
                            path.display()
                        )));
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        // libpq's `prefer` and `require` encrypt without checking who answers.
        TlsMode::Disable | TlsMode::Prefer | TlsMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// A pool of at most `size` connections whose statements are planned as `plans` says.
/// Connections are opened lazily, so a server that is down at start delays nothing but the
/// first use.
pub fn pool(settings: &Settings, size: usize, plans: Plans) -> Result<Pool, DbError> {
    let manager = Manager::from_config(
        settings.driver_config_planning(plans),
        tls(&settings.url)?,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(settings.connect_timeout))
        .create_timeout(Some(settings.connect_timeout))
        .recycle_timeout(Some(settings.connect_timeout))
        .build()
        .map_err(|e| DbError::Tls(format!("building the connection pool: {e}")))
}

/// One connection outside the pool, its driver running on the runtime until the client drops.
pub async fn single(settings: &Settings) -> Result<Client, DbError> {
    let (client, connection) = settings
        .driver_config()
        .connect(tls(&settings.url)?)
        .await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection closed");
        }
    });
    Ok(client)
}

/// Accepts any certificate while still checking the handshake's signatures: TLS for privacy
/// on the wire, as libpq's `sslmode=require` gives, not proof of the server's identity.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

//! Wires the service together: database, writer thread, HTTP server, background tasks, and
//! their orderly shutdown.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{HttpResponse, web};
use anyhow::Context;
use tokio::sync::watch;

use crate::api::auth::ApiTokens;
use crate::config::Config;
use crate::db::{self, ReadPool, Writer};
use crate::error::ApiError;
use crate::ingest::rules::Rules;
use crate::jobs::archive::Archiver;
use crate::jobs::notify::Notifier;
use crate::jobs::worker::Worker;
use crate::mail::recipients::RecipientRules;
use crate::mail::templates::Templates;
use crate::ops::Metrics;
use crate::ops::readiness::{self, Report};
use crate::storage::Store;
use crate::storage::keys::KeyTemplate;
use crate::vobiz::download::{AllowList, DownloadSettings, Downloader};
use crate::vobiz::signature;

/// What every handler can reach.
pub struct AppState {
    pub config: Arc<Config>,
    pub writer: Writer,
    pub readers: ReadPool,
    pub store: Arc<dyn Store>,
    pub rules: Rules,
    /// Set when signatures are verified.
    pub signature_keys: Option<signature::Keys>,
    pub metrics: Arc<Metrics>,
}

/// Registers every route; the server and the tests both use this.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(crate::ops::routes)
        .route("/r/{token}", web::get().to(crate::links::play))
        .configure(crate::ingest::routes::routes)
        .configure(crate::api::routes)
        .configure(crate::web::routes)
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("route"))
}

/// Opens the database and applies pending migrations.
pub fn open_database(config: &Config) -> anyhow::Result<rusqlite::Connection> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data_dir {}", config.data_dir.display()))?;
    let path = config.database_path();
    let mut conn = db::open(&path, config.database.synchronous)
        .with_context(|| format!("opening the database {}", path.display()))?;
    let applied = db::migrate::run(&mut conn).context("applying migrations")?;
    for name in applied {
        tracing::info!(migration = name, "migration applied");
    }
    Ok(conn)
}

/// The archive job's collaborators, from the settings.
pub async fn archiver(config: &Config, readers: ReadPool) -> anyhow::Result<Archiver> {
    let downloader = Downloader::new(DownloadSettings {
        allow: AllowList::parse(&config.vobiz.recording_hosts)
            .map_err(|e| anyhow::anyhow!("vobiz.recording_hosts: {e}"))?,
        auth_id: config.vobiz.auth_id.clone(),
        auth_token: config.vobiz.auth_token.clone(),
        max_bytes: config.archive.max_bytes,
        allow_private_addresses: config.vobiz.allow_private_addresses,
        connect_timeout: std::time::Duration::from_secs(
            config.vobiz.download_connect_timeout_seconds,
        ),
        read_timeout: std::time::Duration::from_secs(config.vobiz.download_read_timeout_seconds),
    })
    .context("building the download client")?;
    Ok(Archiver {
        downloader,
        store: crate::storage::from_config(config)
            .await
            .context("opening the storage")?,
        readers,
        key_template: KeyTemplate::parse(&config.storage.key_template)
            .map_err(|e| anyhow::anyhow!("storage.key_template: {e}"))?,
        prefix: config.storage.prefix.clone(),
        zone: config.timezone,
        spool_dir: config.spool_dir(),
        max_attempts: config.jobs.max_attempts,
    })
}

/// The ingest rules, from the settings.
fn rules(config: &Config) -> anyhow::Result<Rules> {
    let seconds = |s: u64, key: &str| {
        chrono::Duration::from_std(std::time::Duration::from_secs(s))
            .with_context(|| format!("{key} is too large"))
    };
    Ok(Rules {
        end_quiet: seconds(config.vobiz.end_quiet_seconds, "vobiz.end_quiet_seconds")?,
        no_recording_summary_after: if config.mail.notify_without_recording {
            Some(seconds(
                config.mail.no_recording_grace_seconds,
                "mail.no_recording_grace_seconds",
            )?)
        } else {
            None
        },
    })
}

/// The notify jobs' collaborators, from the settings.
pub fn notifier(config: &Config, readers: ReadPool, link_base: String) -> anyhow::Result<Notifier> {
    let mailbox = |key: &str, value: &str| {
        value
            .parse::<lettre::message::Mailbox>()
            .with_context(|| format!("{key} {value:?}"))
    };
    Ok(Notifier {
        mailer: crate::mail::transport::from_config(config).context("setting up mail")?,
        templates: Templates::load(config.mail.templates_dir.as_deref())
            .context("loading email templates")?,
        rules: RecipientRules::from_config(&config.mail)?,
        from: mailbox("mail.from", &config.mail.from)?,
        reply_to: config
            .mail
            .reply_to
            .as_deref()
            .map(|r| mailbox("mail.reply_to", r))
            .transpose()?,
        alerts_to: config.mail.alerts_to.clone(),
        readers,
        zone: config.timezone,
        link_base,
        link_lifetime: config.mail.link_lifetime_days.duration(),
    })
}

/// A started service: serving HTTP and running jobs until it is stopped or gets SIGINT/SIGTERM.
pub struct Service {
    handle: actix_web::dev::ServerHandle,
    finished: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Service {
    /// Waits until a signal stops the service and everything has shut down.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.finished.await.context("the service task failed")?
    }

    /// Shuts down as a signal would, and waits for it.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.handle.stop(true).await;
        self.wait().await
    }
}

/// Runs the service until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    start(config).await?.wait().await
}

/// Opens everything, starts serving on `config.listen` and returns once the port is bound.
pub async fn start(config: Config) -> anyhow::Result<Service> {
    let listener =
        TcpListener::bind(config.listen).with_context(|| format!("binding {}", config.listen))?;
    start_on(config, listener).await
}

/// Like [`start`], on a socket the caller bound (to know the port before configuring).
pub async fn start_on(config: Config, listener: TcpListener) -> anyhow::Result<Service> {
    let config = Arc::new(config);
    let conn = open_database(&config)?;
    db::checkpointer::hand_over(&conn).context("configuring checkpoints")?;
    let checkpointer =
        db::checkpointer::Checkpointer::start(config.database_path(), config.database.synchronous)
            .context("starting the checkpoint thread")?;
    let (writer, writer_thread) =
        Writer::start(conn, config.database.max_batch).context("starting the database writer")?;
    let signature_keys = config.vobiz.verifies_signatures().then(|| signature::Keys {
        // Validation guarantees the token when verification is on.
        account: config.vobiz.auth_token.clone().unwrap_or_default(),
        parent: config.vobiz.parent_auth_token.clone(),
    });
    if signature_keys.is_none() {
        tracing::warn!(
            "Vobiz signature verification is off: anyone who can reach the callback URLs can write events"
        );
    }
    let tokens = ApiTokens::new(&config.api.tokens);
    if tokens.is_empty() {
        tracing::warn!("no [api] tokens configured: the read API refuses every request");
    }
    let address = listener.local_addr().context("reading the bound address")?;
    let link_base = match &config.public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None => {
            tracing::warn!("public_url is not set: links in emails point at http://{address}");
            format!("http://{address}")
        }
    };

    let readers = ReadPool::new(config.database_path());
    let metrics = Arc::new(Metrics::default());
    let archiver = archiver(&config, readers.clone()).await?;
    let store = Arc::clone(&archiver.store);
    let notifier = notifier(&config, readers.clone(), link_base)?;
    let mailer = Arc::clone(&notifier.mailer);
    let worker = Arc::new(Worker {
        writer: writer.clone(),
        config: config.jobs.clone(),
        archiver: Arc::new(archiver),
        notifier: Arc::new(notifier),
        owner: format!("{}-{}", std::process::id(), rand::random::<u32>()),
        metrics: Arc::clone(&metrics),
    });
    let rules = rules(&config)?;
    let (report, readiness_view) = watch::channel(Report::starting());
    let readiness_deps = readiness::Dependencies {
        writer: writer.clone(),
        readers: readers.clone(),
        store: Arc::clone(&store),
        mailer,
        metrics: Arc::clone(&metrics),
    };
    let state = web::Data::new(AppState {
        config: Arc::clone(&config),
        writer: writer.clone(),
        readers,
        store,
        rules,
        signature_keys,
        metrics: Arc::clone(&metrics),
    });
    let tokens = web::Data::new(tokens);
    let pages = web::Data::new(crate::web::Pages::load().context("loading the web templates")?);
    let readiness_view = web::Data::new(readiness_view);
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .wrap(actix_web::middleware::from_fn(
                crate::ops::request_id::middleware,
            ))
            .app_data(state.clone())
            .app_data(tokens.clone())
            .app_data(pages.clone())
            .app_data(readiness_view.clone())
            .configure(routes)
    })
    .listen(listener)
    .context("starting the HTTP server")?
    .shutdown_timeout(config.jobs.shutdown_grace_seconds)
    .run();
    let handle = server.handle();
    println!("listening on http://{address}");
    tracing::info!(%address, "listening");

    let (stop_tasks, stopped) = watch::channel(false);
    let sweeper = tokio::spawn(crate::ingest::end_sweeper::run(
        writer.clone(),
        rules,
        config.vobiz.nonce_window(),
        std::time::Duration::from_secs(config.archive.unlinked_grace_seconds),
        stopped.clone(),
    ));
    let checker = tokio::spawn(readiness::run(
        readiness_deps,
        config.health.interval(),
        config.health.timeout(),
        report,
        stopped.clone(),
    ));
    let grace = std::time::Duration::from_secs(config.jobs.shutdown_grace_seconds);
    let jobs = tokio::spawn(worker.run(stopped, grace));

    let finished = tokio::spawn(async move {
        // actix-web stops accepting on SIGINT/SIGTERM and finishes the requests in flight.
        let served = server.await.context("HTTP server failed");
        tracing::info!("no longer accepting requests; stopping background work");
        let _ = stop_tasks.send(true);
        let _ = sweeper.await;
        let _ = checker.await;
        let _ = jobs.await;
        drop(writer);
        // The server's state held writer handles; with them gone the writer drains and stops.
        tokio::task::spawn_blocking(move || writer_thread.join())
            .await
            .context("joining the database writer")?;
        drop(checkpointer);
        tracing::info!("stopped");
        served
    });
    Ok(Service { handle, finished })
}

//! Wires the service together: database, HTTP server, background tasks, and their orderly
//! shutdown. Imported only by the command line and the demo.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::web;
use anyhow::Context;
use tokio::sync::watch;

use crate::access::people::People;
use crate::access::signin::SignIn;
use crate::account::schedule::Schedule;
use crate::account::source_delete::SourceDeleter;
use crate::account::sync::Syncer;
use crate::api::tokens::ApiTokens;
use crate::config::Config;
use crate::db::Database;
use crate::ingest::rules::Rules;
use crate::jobs::archive::Archiver;
use crate::jobs::delete_source::SourceDeleteJob;
use crate::jobs::notify::Notifier;
use crate::jobs::worker::Worker;
use crate::mail::recipients::RecipientRules;
use crate::mail::templates::Templates;
use crate::ops::Metrics;
use crate::ops::readiness::{self, Report};
use crate::state::AppState;
use crate::vobiz::download::{DownloadSettings, Downloader};
use crate::vobiz::signature;

/// The archive job's collaborators, from the settings.
pub async fn archiver(config: &Config) -> anyhow::Result<Archiver> {
    let downloader = Downloader::new(DownloadSettings {
        allow: config.vobiz.recording_hosts.clone(),
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
        key_template: config.storage.key_template.clone(),
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
        webhooks: config.webhooks.enabled(),
    })
}

/// The notify jobs' collaborators, from the settings.
pub fn notifier(config: &Config, link_base: String) -> anyhow::Result<Notifier> {
    Ok(Notifier {
        mailer: crate::mail::transport::from_config(config).context("setting up mail")?,
        templates: Arc::new(
            Templates::load(config.mail.templates_dir.as_deref())
                .context("loading email templates")?,
        ),
        rules: RecipientRules::from_config(&config.mail)?,
        from: config.mail.from.mailbox().clone(),
        reply_to: config.mail.reply_to.as_ref().map(|r| r.mailbox().clone()),
        alerts_to: config
            .mail
            .alerts_to
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
        zone: config.timezone,
        link_base,
        link_lifetime: config.mail.link_lifetime_days.duration(),
    })
}

fn days(days: u32) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(days) * 86_400)
}

/// A started service: serving HTTP and running jobs until it is stopped or gets SIGINT/SIGTERM.
pub struct Service {
    handle: actix_web::dev::ServerHandle,
    /// Weak, so that holding the service does not keep the database from closing.
    db: std::sync::Weak<dyn Database>,
    finished: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Service {
    /// Waits until a signal stops the service and everything has shut down.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.finished.await.context("the service task failed")?
    }

    /// The running service's database, while it runs.
    pub fn database(&self) -> Option<Arc<dyn Database>> {
        self.db.upgrade()
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
    let database = crate::db::open(&config)
        .await
        .with_context(|| format!("opening the database {}", crate::db::describe(&config)))?;
    let db = Arc::clone(&database.db);
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
    let tokens = ApiTokens::new(&config.api.tokens, &config.api.scoped_tokens);
    let people = Arc::new(People::load(&config)?);
    let address = listener.local_addr().context("reading the bound address")?;
    let link_base = match &config.public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None => {
            tracing::warn!("public_url is not set: links in emails point at http://{address}");
            format!("http://{address}")
        }
    };

    let mut metrics = Metrics::default();
    metrics.database(&database.batches);
    let metrics = Arc::new(metrics);
    let archiver = archiver(&config).await?;
    let store = Arc::clone(&archiver.store);
    let notifier = notifier(&config, link_base.clone())?;
    let mailer = Arc::clone(&notifier.mailer);
    let dispatcher = match config.webhooks.enabled() {
        false => None,
        true => Some(Arc::new(
            crate::webhooks::dispatcher::Dispatcher::new(
                Arc::clone(&db),
                &config.webhooks,
                link_base.clone(),
                format!("webhooks-{}-{}", std::process::id(), rand::random::<u32>()),
                Arc::clone(&metrics),
            )
            .context("setting up webhook delivery")?,
        )),
    };
    let signin = SignIn::new(
        Arc::clone(&mailer),
        Arc::clone(&notifier.templates),
        config.mail.from.mailbox().clone(),
        link_base,
        config.access.clone(),
    );
    let owner = format!("{}-{}", std::process::id(), rand::random::<u32>());
    let rest = match config.vobiz.account() {
        Some(_) => Some(crate::account::client(&config)?),
        None => None,
    };
    let source_deletes = match (&rest, config.vobiz.delete_source_after_days) {
        (Some(client), Some(_)) => Some(Arc::new(SourceDeleteJob {
            deleter: Arc::new(SourceDeleter {
                client: Arc::clone(client),
                store: Arc::clone(&store),
                db: Arc::clone(&db),
                webhooks: config.webhooks.enabled(),
            }),
        })),
        _ => None,
    };
    let schedule = match (&rest, config.vobiz.sync_interval()) {
        (Some(client), Some(interval)) => Some(Schedule {
            syncer: Syncer {
                client: Arc::clone(client),
                db: Arc::clone(&db),
                owner: format!("sync-{owner}"),
                unlinked_grace: std::time::Duration::from_secs(
                    config.archive.unlinked_grace_seconds,
                ),
            },
            interval,
            lookback: days(config.vobiz.sync_lookback_days),
            metrics: Arc::clone(&metrics),
        }),
        _ => None,
    };
    let worker = Arc::new(Worker {
        db: Arc::clone(&db),
        config: config.jobs.clone(),
        archiver: Arc::new(archiver),
        notifier: Arc::new(notifier),
        source_deletes,
        owner,
        metrics: Arc::clone(&metrics),
        webhooks: config.webhooks.enabled(),
    });
    let rules = rules(&config)?;
    let (report, readiness_view) = watch::channel(Report::starting());
    let readiness_deps = readiness::Dependencies {
        db: Arc::clone(&db),
        store: Arc::clone(&store),
        mailer,
        metrics: Arc::clone(&metrics),
    };
    let state = web::Data::new(AppState {
        config: Arc::clone(&config),
        db: Arc::clone(&db),
        store,
        rules,
        signature_keys,
        metrics: Arc::clone(&metrics),
        tokens,
        people,
        signin,
        pages: crate::web::pages::Pages::load().context("loading the web templates")?,
        readiness: readiness_view,
    });
    let policy = crate::web::headers::content_security_policy(&config);
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .wrap(crate::web::headers::middleware(&policy))
            .wrap(actix_web::middleware::from_fn(
                crate::ops::request_id::middleware,
            ))
            .app_data(state.clone())
            .configure(crate::routes::routes)
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
        Arc::clone(&db),
        rules,
        config.vobiz.nonce_window(),
        std::time::Duration::from_secs(config.archive.unlinked_grace_seconds),
        config.vobiz.delete_source_after_days.map(days),
        stopped.clone(),
    ));
    let access_upkeep = tokio::spawn(crate::access::upkeep::run(
        Arc::clone(&db),
        config.access.audit_lifetime(),
        stopped.clone(),
    ));
    let syncs = schedule.map(|schedule| tokio::spawn(schedule.run(stopped.clone())));
    let checker = tokio::spawn(readiness::run(
        readiness_deps,
        config.health.clone(),
        report,
        stopped.clone(),
    ));
    let webhooks = dispatcher.map(|d| tokio::spawn(d.run(stopped.clone())));
    let grace = std::time::Duration::from_secs(config.jobs.shutdown_grace_seconds);
    let jobs = tokio::spawn(worker.run(stopped, grace));
    let weak = Arc::downgrade(&db);
    drop(db);

    let finished = tokio::spawn(async move {
        // actix-web stops accepting on SIGINT/SIGTERM and finishes the requests in flight.
        let served = server.await.context("HTTP server failed");
        tracing::info!("no longer accepting requests; stopping background work");
        let _ = stop_tasks.send(true);
        let _ = sweeper.await;
        let _ = access_upkeep.await;
        if let Some(syncs) = syncs {
            let _ = syncs.await;
        }
        if let Some(webhooks) = webhooks {
            let _ = webhooks.await;
        }
        let _ = checker.await;
        let _ = jobs.await;
        // With the server's state and the tasks gone, the writer drains and stops.
        tokio::task::spawn_blocking(move || database.close())
            .await
            .context("closing the database")?;
        tracing::info!("stopped");
        served
    });
    Ok(Service {
        handle,
        db: weak,
        finished,
    })
}

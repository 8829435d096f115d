//! `confvault webhooks …`: make a secret, read the delivery log, replay deliveries, send a
//! signed ping, and turn a disabled endpoint back on.

use std::io::Write;

use anyhow::Context;
use clap::Subcommand;

use super::with_database;
use crate::config::{Config, WebhookEndpoint};
use crate::db::webhooks::{DeliveryQuery, DeliveryRow, ReplaySelection, WebhookEvent};
use crate::webhooks::delivery::{Outcome, Sender};
use crate::webhooks::events::EventType;

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Print a new endpoint secret (`whsec_` + base64 of 32 random bytes).
    NewSecret,
    /// The delivery log, newest first.
    Deliveries {
        /// Only this endpoint's (its URL as configured).
        #[arg(long)]
        endpoint: Option<String>,
        /// Only deliveries that failed for good.
        #[arg(long)]
        failed: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Send a delivery again (the same webhook-id, a fresh timestamp and signature), or with
    /// `--since`, every delivery made since then.
    Replay {
        /// A delivery id from `webhooks deliveries`.
        #[arg(required_unless_present = "since", conflicts_with = "since")]
        id: Option<i64>,
        /// RFC 3339, or YYYY-MM-DD in the configured time zone.
        #[arg(long)]
        since: Option<String>,
    },
    /// Send a signed `ping` to a configured endpoint now and show the answer.
    Test { url: String },
    /// Turn an endpoint that answered 410 Gone back on.
    Enable { url: String },
}

pub async fn run(config: &Config, command: WebhooksCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        WebhooksCommand::NewSecret => {
            writeln!(out, "{}", crate::webhooks::signing::new_secret())?;
        }
        WebhooksCommand::Deliveries {
            endpoint,
            failed,
            limit,
            json,
        } => {
            let query = DeliveryQuery {
                endpoint: endpoint.map(|e| endpoint_key(config, &e)).transpose()?,
                failed_only: failed,
                limit,
            };
            let (rows, disabled) = with_database(config, async |db| {
                Ok((
                    db.webhook_deliveries(query).await?,
                    db.disabled_webhook_endpoints().await?,
                ))
            })
            .await?;
            if json {
                let shown = serde_json::json!({"deliveries": rows, "disabled_endpoints": disabled});
                serde_json::to_writer_pretty(&mut out, &shown)?;
                writeln!(out)?;
                return Ok(());
            }
            for d in &disabled {
                writeln!(
                    out,
                    "DISABLED {} since {}: {} (`confvault webhooks enable` turns it back on)",
                    d.endpoint,
                    crate::time::local(d.disabled_at, config.timezone, "%Y-%m-%d %H:%M"),
                    d.reason
                )?;
            }
            print_deliveries(&mut out, config, &rows)?;
        }
        WebhooksCommand::Replay { id, since } => {
            let selection = match (id, since) {
                (Some(id), _) => ReplaySelection::One(id),
                (None, Some(since)) => ReplaySelection::Since(
                    crate::search::parse_bound(&since, config.timezone, false).with_context(
                        || format!("--since {since:?}: not an RFC 3339 time or a YYYY-MM-DD date"),
                    )?,
                ),
                (None, None) => anyhow::bail!("name a delivery id or --since"),
            };
            let ids = with_database(config, async |db| {
                Ok(db.replay_webhooks(selection, chrono::Utc::now()).await?)
            })
            .await?;
            anyhow::ensure!(!ids.is_empty(), "no such delivery");
            writeln!(
                out,
                "queued {} replay(s): delivery id(s) {}",
                ids.len(),
                ids.iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        WebhooksCommand::Test { url } => {
            let endpoint = configured(config, &url)?;
            let id = WebhookEvent::new_message_id();
            let body = crate::webhooks::payload::envelope(
                EventType::Ping,
                chrono::Utc::now(),
                crate::webhooks::payload::ping(),
            )?;
            let sender = Sender::new(&config.webhooks)?;
            let outcome = sender
                .send(&endpoint.url, &id, &body, &endpoint.keys())
                .await;
            let shown = endpoint.display_url();
            match outcome {
                Outcome::Delivered { status } => {
                    writeln!(out, "{shown} answered {status}: delivered ({id})")?
                }
                Outcome::Gone => anyhow::bail!("{shown} answered 410 Gone"),
                Outcome::Failed { error, .. } | Outcome::Refused { error } => {
                    anyhow::bail!("{shown}: {error}")
                }
            }
        }
        WebhooksCommand::Enable { url } => {
            let key = endpoint_key(config, &url)?;
            let enabled = with_database(config, async |db| {
                Ok(db.enable_webhook_endpoint(key.clone()).await?)
            })
            .await?;
            match enabled {
                true => writeln!(out, "{key} is enabled again; its pending deliveries resume")?,
                false => writeln!(out, "{key} was not disabled")?,
            }
        }
    }
    Ok(())
}

/// The configured endpoint `url` names (as configured, or without credentials and query).
fn configured<'c>(config: &'c Config, url: &str) -> anyhow::Result<&'c WebhookEndpoint> {
    let parsed: url::Url = url
        .parse()
        .with_context(|| format!("{url:?} is not a URL"))?;
    let shown = crate::config::display_url(&parsed);
    config
        .webhooks
        .endpoints
        .iter()
        .find(|e| e.display_url() == shown)
        .with_context(|| format!("{shown} is not a configured endpoint ([[webhooks.endpoints]])"))
}

fn endpoint_key(config: &Config, url: &str) -> anyhow::Result<String> {
    Ok(configured(config, url)?.display_url())
}

fn print_deliveries(
    out: &mut impl Write,
    config: &Config,
    rows: &[DeliveryRow],
) -> anyhow::Result<()> {
    writeln!(
        out,
        "{:>6}  {:<16}  {:<24}  {:<9}  {:>3}  {:<6}  {:<36}  ENDPOINT / LAST ERROR",
        "ID", "CREATED", "EVENT", "STATE", "TRY", "STATUS", "MESSAGE"
    )?;
    for d in rows {
        writeln!(
            out,
            "{:>6}  {:<16}  {:<24}  {:<9}  {:>3}  {:<6}  {:<36}  {}{}",
            d.id,
            crate::time::local(d.created_at, config.timezone, "%Y-%m-%d %H:%M"),
            d.event_type,
            d.state,
            d.attempts,
            d.last_status.map(|s| s.to_string()).unwrap_or_default(),
            d.message_id,
            d.endpoint,
            d.last_error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default(),
        )?;
    }
    Ok(())
}

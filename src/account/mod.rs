//! The Vobiz account as a source of truth beside the callbacks: the sync that finds every
//! recording (`sync`), its schedule inside `serve` (`schedule`), and deleting Vobiz's copy once
//! ours is proven (`source_delete`).

pub mod schedule;
pub mod source_delete;
pub mod sync;

use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::db::DbError;
use crate::vobiz::rest::{RestClient, RestError, RestSettings};

/// The lease one sync or operator prune holds on the account at a time.
pub const ACCOUNT_LEASE: &str = "vobiz_account";

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Rest(#[from] RestError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("another process took the account lease over while this sync ran")]
    LeaseLost,
    #[error("{0} deletes at source are still running; try again in a minute")]
    DeletesRunning(i64),
    #[error("the recordings list did not end after {0} pages; stopped")]
    EndlessList(u64),
}

/// The REST client for the configured account; an error naming the settings if there is none.
pub fn client(config: &Config) -> anyhow::Result<Arc<RestClient>> {
    let (auth_id, auth_token) = config
        .vobiz
        .account()
        .context("the Vobiz REST API needs vobiz.auth_id and vobiz.auth_token")?;
    let seconds = std::time::Duration::from_secs;
    Ok(Arc::new(
        RestClient::new(RestSettings {
            api_url: config.vobiz.api_url.clone(),
            auth_id: auth_id.to_owned(),
            auth_token: auth_token.clone(),
            connect_timeout: seconds(config.vobiz.api_connect_timeout_seconds),
            read_timeout: seconds(config.vobiz.api_read_timeout_seconds),
            max_attempts: config.vobiz.api_max_attempts,
            recording_hosts: config.vobiz.recording_hosts.clone(),
        })
        .context("building the Vobiz REST client")?,
    ))
}

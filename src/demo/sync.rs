//! The demo's own turn of the account sync. The service syncs at start unless a sync completed
//! within `vobiz.sync_interval_minutes`, and a second demo run in the same directory comes
//! within it: without this turn, that run's call with no callback would never be found.

use std::sync::Arc;

use crate::account::sync::{NotRun, SyncOptions, Syncer};
use crate::db::Database;
use crate::db::model::Instant;
use crate::vobiz::rest::RestClient;

/// Syncs the account unless a sync completed since `started` (then it has seen this run's
/// recordings) or is running now (it will).
pub async fn unless_done_since(
    client: Arc<RestClient>,
    db: Arc<dyn Database>,
    unlinked_grace: std::time::Duration,
    started: Instant,
) -> anyhow::Result<()> {
    let syncer = Syncer {
        client,
        db,
        owner: format!("demo-{}", std::process::id()),
        unlinked_grace,
    };
    let options = SyncOptions {
        since: None,
        until: None,
        dry_run: false,
        unless_completed_after: Some(started),
    };
    match syncer.run(&options, &mut |_| {}).await? {
        Ok(_) | Err(NotRun::RecentlyDone | NotRun::Busy { .. }) => Ok(()),
    }
}

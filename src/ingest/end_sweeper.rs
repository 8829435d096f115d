//! The background task that confirms inferred conference ends once their quiet period has
//! passed, queues recordings whose conference never became known, forgets signature nonces
//! older than the replay window, and queues deletes at source that have come due.

use std::time::Duration;

use std::sync::Arc;

use tokio::sync::watch;

use crate::db::Database;
use crate::db::catalog::Upkeep;

/// Longest sleep between checks, so a due end is confirmed promptly even if the clock jumps.
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// How far each round looks back past where the previous one ended.
const UNLINKED_OVERLAP: chrono::Duration = chrono::Duration::minutes(5);

pub async fn run(
    db: Arc<dyn Database>,
    rules: super::rules::Rules,
    nonce_window: Duration,
    unlinked_grace: Duration,
    source_delete_after: Option<Duration>,
    mut shutdown: watch::Receiver<bool>,
) {
    let window = chrono::Duration::from_std(nonce_window).unwrap_or(chrono::Duration::MAX);
    let grace = chrono::Duration::from_std(unlinked_grace).unwrap_or(chrono::Duration::MAX);
    let source_kept =
        source_delete_after.map(|d| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX));
    // Where the previous round's look at unlinked recordings ended; a little overlap covers
    // clock steps and recordings committed just as a round ran.
    let mut unlinked_seen_to: Option<crate::time::Instant> = None;
    loop {
        let now = chrono::Utc::now();
        let upkeep = Upkeep {
            now,
            nonces_before: now - window,
            unlinked_before: now - grace,
            unlinked_since: unlinked_seen_to.map(|t| t - UNLINKED_OVERLAP),
            source_delete_before: source_kept.map(|kept| now - kept),
        };
        let result = db.housekeep(upkeep, rules).await;
        match result {
            Ok(ended) => {
                unlinked_seen_to = Some(upkeep.unlinked_before);
                for conference_uuid in ended {
                    tracing::info!(%conference_uuid, "conference ended (last member left, quiet period over)");
                }
            }
            Err(e) => tracing::error!(error = %e, "could not confirm due conference ends"),
        }
        tokio::select! {
            _ = tokio::time::sleep(MAX_SLEEP) => {}
            _ = shutdown.changed() => return,
        }
    }
}

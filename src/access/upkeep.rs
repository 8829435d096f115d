//! The background task that forgets what access no longer needs: sign-in requests and links
//! older than a day, ended or expired sessions, audit events past `access.audit_days`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::db::Database;
use crate::db::access::AccessUpkeep;

const EVERY: Duration = Duration::from_secs(600);
/// Long enough to answer "who asked for a link to this address?" for a day.
const REQUESTS_KEPT: chrono::Duration = chrono::Duration::days(1);

pub async fn run(
    db: Arc<dyn Database>,
    audit_kept: chrono::Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let now = chrono::Utc::now();
        let upkeep = AccessUpkeep {
            now,
            requests_before: now - REQUESTS_KEPT,
            audit_before: now - audit_kept,
        };
        if let Err(e) = db.prune_access(upkeep).await {
            tracing::warn!(error = %e, "could not forget old sign-ins, sessions and audit events");
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

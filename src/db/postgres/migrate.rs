//! Applies `migrations/postgres/*.sql` in order, once each, in one transaction under an
//! advisory lock: replicas that start together wait for each other instead of racing, and the
//! second finds nothing left to do. Refuses a database whose applied migrations were edited or
//! come from a newer build, as on SQLite.

use tokio_postgres::Client;

use crate::db::DbError;
use crate::db::migrations::{Migration, checksum, pending};

const MIGRATIONS: &[Migration] = &[
    (
        "0001_initial",
        include_str!("../../../migrations/postgres/0001_initial.sql"),
    ),
    (
        "0002_access",
        include_str!("../../../migrations/postgres/0002_access.sql"),
    ),
    (
        "0003_recording_start",
        include_str!("../../../migrations/postgres/0003_recording_start.sql"),
    ),
    (
        "0004_webhooks",
        include_str!("../../../migrations/postgres/0004_webhooks.sql"),
    ),
    (
        "0005_audit_subject",
        include_str!("../../../migrations/postgres/0005_audit_subject.sql"),
    ),
    (
        "0006_jobs_by_subject",
        include_str!("../../../migrations/postgres/0006_jobs_by_subject.sql"),
    ),
    (
        "0007_webhook_prune",
        include_str!("../../../migrations/postgres/0007_webhook_prune.sql"),
    ),
    (
        "0008_transcripts",
        include_str!("../../../migrations/postgres/0008_transcripts.sql"),
    ),
    (
        "0009_newest_nulls_last",
        include_str!("../../../migrations/postgres/0009_newest_nulls_last.sql"),
    ),
    (
        "0010_transcripts_by_recency",
        include_str!("../../../migrations/postgres/0010_transcripts_by_recency.sql"),
    ),
    (
        "0011_ingest_rows_by_natural_key",
        include_str!("../../../migrations/postgres/0011_ingest_rows_by_natural_key.sql"),
    ),
];

/// The advisory lock migrations run under: confvault's own key ("cv-migrate").
const MIGRATION_LOCK: i64 = 0x6376_2d6d_6967_7261;

/// Brings the schema up to date; returns the names applied now.
pub async fn run(client: &mut Client) -> Result<Vec<&'static str>, DbError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             name       text PRIMARY KEY,
             checksum   text NOT NULL,
             applied_at timestamptz NOT NULL
         )",
    )
    .await?;
    let applied: Vec<(String, String)> = tx
        .query(
            "SELECT name, checksum FROM schema_migrations ORDER BY name",
            &[],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut newly = Vec::new();
    for (name, sql) in pending(MIGRATIONS, &applied)? {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (name, checksum, applied_at) VALUES ($1, $2, $3)",
            &[&name, &checksum(sql), &chrono::Utc::now()],
        )
        .await?;
        newly.push(name);
    }
    tx.commit().await?;
    Ok(newly)
}

//! Applies `migrations/sqlite/*.sql` in order, once each, and refuses a database whose applied
//! migrations were edited or come from a newer build.

use rusqlite::{Connection, params};

use crate::db::DbError;
use crate::db::migrations::{Migration, checksum, pending};

/// The migrations compiled into this build, in order. Never edit one that has landed.
const MIGRATIONS: &[Migration] = &[
    (
        "0001_initial",
        include_str!("../../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        "0002_mail_and_links",
        include_str!("../../../migrations/sqlite/0002_mail_and_links.sql"),
    ),
    (
        "0003_search",
        include_str!("../../../migrations/sqlite/0003_search.sql"),
    ),
    (
        "0004_heartbeat",
        include_str!("../../../migrations/sqlite/0004_heartbeat.sql"),
    ),
    (
        "0005_recording_status_derived",
        include_str!("../../../migrations/sqlite/0005_recording_status_derived.sql"),
    ),
    (
        "0006_account_sync",
        include_str!("../../../migrations/sqlite/0006_account_sync.sql"),
    ),
    (
        "0007_unlinked_by_age",
        include_str!("../../../migrations/sqlite/0007_unlinked_by_age.sql"),
    ),
    (
        "0008_access",
        include_str!("../../../migrations/sqlite/0008_access.sql"),
    ),
    (
        "0009_recording_start",
        include_str!("../../../migrations/sqlite/0009_recording_start.sql"),
    ),
    (
        "0010_webhooks",
        include_str!("../../../migrations/sqlite/0010_webhooks.sql"),
    ),
    (
        "0011_audit_subject",
        include_str!("../../../migrations/sqlite/0011_audit_subject.sql"),
    ),
    (
        "0012_jobs_by_subject",
        include_str!("../../../migrations/sqlite/0012_jobs_by_subject.sql"),
    ),
    (
        "0013_webhook_prune",
        include_str!("../../../migrations/sqlite/0013_webhook_prune.sql"),
    ),
    (
        "0014_nonce_log",
        include_str!("../../../migrations/sqlite/0014_nonce_log.sql"),
    ),
    (
        "0015_transcripts",
        include_str!("../../../migrations/sqlite/0015_transcripts.sql"),
    ),
    (
        "0016_transcripts_by_recency",
        include_str!("../../../migrations/sqlite/0016_transcripts_by_recency.sql"),
    ),
    (
        "0017_nonce_log_by_rowid",
        include_str!("../../../migrations/sqlite/0017_nonce_log_by_rowid.sql"),
    ),
];

/// Brings the schema up to date; returns the names applied now. Foreign keys are off while
/// migrations run, as SQLite asks for a table rebuilt to change its constraints, and checked
/// before the commit: a migration that breaks one is refused whole.
pub fn run(conn: &mut Connection) -> Result<Vec<&'static str>, DbError> {
    let enforced: bool = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let result = apply_pending(conn);
    conn.pragma_update(None, "foreign_keys", enforced)?;
    result
}

fn apply_pending(conn: &mut Connection) -> Result<Vec<&'static str>, DbError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             name       TEXT PRIMARY KEY,
             checksum   TEXT NOT NULL,
             applied_at TEXT NOT NULL
         )",
    )?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let applied: Vec<(String, String)> = {
        let mut stmt = tx.prepare("SELECT name, checksum FROM schema_migrations ORDER BY name")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    let mut newly = Vec::new();
    for (name, sql) in pending(MIGRATIONS, &applied)? {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (name, checksum, applied_at) VALUES (?1, ?2, ?3)",
            params![name, checksum(sql), crate::time::to_db(chrono::Utc::now())],
        )?;
        newly.push(name);
    }
    let broken: Option<String> = super::optional(tx.query_row(
        "SELECT \"table\" FROM pragma_foreign_key_check LIMIT 1",
        [],
        |r| r.get(0),
    ))?;
    if let Some(table) = broken {
        return Err(DbError::MigrationBrokeForeignKey { table });
    }
    tx.commit()?;
    Ok(newly)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_then_nothing_is_left_to_do() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(run(&mut conn).unwrap().len(), MIGRATIONS.len());
        assert!(run(&mut conn).unwrap().is_empty());
    }

    #[test]
    fn an_edited_migration_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        run(&mut conn).unwrap();
        conn.execute("UPDATE schema_migrations SET checksum = 'x'", [])
            .unwrap();
        assert!(matches!(
            run(&mut conn),
            Err(DbError::MigrationChanged { .. })
        ));
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        run(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO schema_migrations VALUES ('9999_future', 'x', 'now')",
            [],
        )
        .unwrap();
        assert!(matches!(
            run(&mut conn),
            Err(DbError::UnknownMigration { .. })
        ));
    }
}

//! The PostgreSQL schema and its migrator against the throwaway cluster scripts/test.sh starts
//! (`CV_TEST_POSTGRES_URL`): each test in a database of its own.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use confvault::db::DbError;
use confvault::db::postgres::{connect, migrate};

/// A new, empty database on the test cluster; its URL.
async fn fresh_database() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let server = common::test_service("CV_TEST_POSTGRES_URL", "PostgreSQL");
    let name = format!(
        "cv_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = connect(&server).await.unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    match server.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("CV_TEST_POSTGRES_URL has no database: {server}"),
    }
}

#[tokio::test]
async fn the_schema_applies_once_and_then_nothing_is_left_to_do() {
    let url = fresh_database().await;
    let mut client = connect(&url).await.unwrap();

    let first = migrate::run(&mut client).await.unwrap();
    let second = migrate::run(&mut client).await.unwrap();

    assert_eq!(first, ["0001_initial"]);
    assert!(second.is_empty());
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public' ORDER BY table_name",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for table in [
        "callback_events",
        "conferences",
        "heartbeat",
        "jobs",
        "leases",
        "mail_sent",
        "participants",
        "recording_links",
        "recordings",
        "schema_migrations",
        "seen_nonces",
    ] {
        assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
    }
}

#[tokio::test]
async fn replicas_that_start_together_migrate_once_without_racing() {
    let url = fresh_database().await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(connect(&url).await.unwrap());
    }

    let results = futures_util::future::join_all(clients.iter_mut().map(migrate::run)).await;

    let applied: usize = results.into_iter().map(|r| r.unwrap().len()).sum();
    assert_eq!(
        applied, 1,
        "one replica applied the migration, the others found it done"
    );
}

#[tokio::test]
async fn a_database_whose_migration_was_edited_or_is_newer_is_refused() {
    let url = fresh_database().await;
    let mut client = connect(&url).await.unwrap();
    migrate::run(&mut client).await.unwrap();

    client
        .execute("UPDATE schema_migrations SET checksum = 'edited'", &[])
        .await
        .unwrap();
    let edited = migrate::run(&mut client).await;
    client
        .batch_execute(
            "DELETE FROM schema_migrations;
             INSERT INTO schema_migrations VALUES ('9999_future', 'x', now())",
        )
        .await
        .unwrap();
    let newer = migrate::run(&mut client).await;

    assert!(
        matches!(edited, Err(DbError::MigrationChanged { .. })),
        "{edited:?}"
    );
    assert!(
        matches!(newer, Err(DbError::UnknownMigration { .. })),
        "{newer:?}"
    );
}

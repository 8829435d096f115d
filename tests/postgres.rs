//! PostgreSQL against the throwaway cluster scripts/test.sh starts (`CV_TEST_POSTGRES_URL`),
//! each test in a database of its own: the schema and its migrator, the server riding out an
//! unreachable database, and TLS with `sslmode=verify-full`.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::callbacks::{end, enter, exit};
use common::database::fresh_postgres_database;
use common::media::{AUTH_ID, Answer, MediaServer};
use common::proxy::Proxy;
use common::web::WebClient;
use common::{AUTH_TOKEN, Server};
use confvault::db::DbError;
use confvault::db::postgres::{connect, migrate};
use serde_json::Value;

#[tokio::test]
async fn the_schema_applies_once_and_then_nothing_is_left_to_do() {
    let url = fresh_postgres_database();
    let mut client = connect(&url).await.unwrap();

    let first = migrate::run(&mut client).await.unwrap();
    let second = migrate::run(&mut client).await.unwrap();

    assert_eq!(
        first,
        [
            "0001_initial",
            "0002_access",
            "0003_recording_start",
            "0004_webhooks",
            "0005_audit_subject",
            "0006_jobs_by_subject",
            "0007_webhook_prune",
            "0008_transcripts",
            "0009_newest_nulls_last",
            "0010_transcripts_by_recency",
            "0011_ingest_rows_by_natural_key"
        ]
    );
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
        "sessions",
        "signin_links",
        "audit_events",
        "webhook_messages",
        "webhook_deliveries",
        "webhook_attempts",
        "webhook_endpoints",
    ] {
        assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
    }
}

#[tokio::test]
async fn replicas_that_start_together_migrate_once_without_racing() {
    let url = fresh_postgres_database();
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(connect(&url).await.unwrap());
    }

    let results = futures_util::future::join_all(clients.iter_mut().map(migrate::run)).await;

    let applied: Vec<usize> = results.into_iter().map(|r| r.unwrap().len()).collect();
    assert_eq!(
        applied.iter().filter(|n| **n > 0).count(),
        1,
        "one replica applied the migrations, the others found them done: {applied:?}"
    );
    assert_eq!(applied.iter().sum::<usize>(), 11, "{applied:?}");
}

#[tokio::test]
async fn a_database_whose_migration_was_edited_or_is_newer_is_refused() {
    let url = fresh_postgres_database();
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

/// The test cluster's `host:port`.
fn cluster_address() -> String {
    let cluster = common::test_service("CV_TEST_POSTGRES_URL", "PostgreSQL");
    let (_, rest) = cluster.split_once('@').unwrap();
    rest.split_once('/').unwrap().0.to_owned()
}

/// `database.url` for a fresh database reached through `origin` (`host:port`) instead of the
/// cluster's own address, with `query` appended.
fn url_via(origin: &str, query: &str) -> String {
    let url = fresh_postgres_database();
    let rest = url.split_once('@').unwrap().1;
    let (_, database) = rest.split_once('/').unwrap();
    format!("postgres://confvault:not-a-real-secret-pw@{origin}/{database}{query}")
}

async fn readyz(server: &Server) -> u16 {
    match server.client.get(server.url("/readyz")).send().await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

#[tokio::test]
async fn while_postgres_is_unreachable_callbacks_get_503_and_everything_resumes_when_it_is_back() {
    let address = cluster_address();
    let proxy = Proxy::start(&address);
    let url = url_via(
        proxy.origin.trim_start_matches("http://"),
        "?sslmode=disable",
    );
    let server = Server::start(&format!(
        "[health]\ncheck_interval_seconds = 0.1\ncheck_timeout_seconds = 1\n[database]\nurl = \"{url}\"\nconnect_timeout_seconds = 1\n"
    ));
    server.post_callbacks(&[enter("gone", "c1")]).await;
    server
        .eventually("ready", || async {
            (readyz(&server).await == 200).then_some(())
        })
        .await;

    proxy.set_down(true);
    let refused = server
        .eventually("a callback refused with 503", || async {
            let response = server
                .post_signed("/vobiz/conference", &enter("gone", "c2").body())
                .await;
            (response.status() == 503).then_some(response)
        })
        .await;
    let retry_after = refused.headers().get("retry-after").cloned();
    let body: Value = refused.json().await.unwrap();
    server
        .eventually("/readyz failing", || async {
            (readyz(&server).await == 503).then_some(())
        })
        .await;
    proxy.set_down(false);

    server
        .eventually("ready again", || async {
            (readyz(&server).await == 200).then_some(())
        })
        .await;
    server.post_callbacks(&[enter("gone", "c3")]).await;
    let conference = server.conference("gone").await;
    let legs: Vec<&str> = conference["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["call_uuid"].as_str().unwrap())
        .collect();
    assert_eq!(body["error"]["code"], "database_unavailable");
    assert!(retry_after.is_some(), "a 503 says when to come back");
    assert!(legs.contains(&"c1") && legs.contains(&"c3"), "{legs:?}");
    assert!(
        !legs.contains(&"c2") || server.count("participants") == 3,
        "a refused callback is either absent or was committed before the answer"
    );
    assert!(
        !server.log().contains("not-a-real-secret-pw"),
        "the password never reaches the log"
    );
}

#[tokio::test]
async fn verify_full_trusts_the_named_root_and_refuses_a_server_it_cannot_verify() {
    let ca = common::test_service("CV_TEST_POSTGRES_CA", "PostgreSQL with TLS");
    let address = cluster_address();
    let trusted = url_via(&address, &format!("?sslmode=verify-full&sslrootcert={ca}"));

    let server = Server::start(&format!("[database]\nurl = \"{trusted}\"\n"));
    server.post_callbacks(&[enter("tls", "c1")]).await;
    let encrypted = server.db.sql(
        "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
         WHERE a.application_name = 'confvault' AND a.datname = current_database()",
    );
    let (ok, out) = server.cli(&["migrate"]);
    let untrusted = url_via(&address, "?sslmode=verify-full");
    let settings = server.dir.path().join("untrusted.toml");
    std::fs::write(
        &settings,
        format!(
            "data_dir = \"{}\"\n[database]\nurl = \"{untrusted}\"\n",
            server.dir.path().display()
        ),
    )
    .unwrap();
    let (refused, why) = server.cli_with_settings(&settings, &["migrate"]);

    assert_eq!(
        encrypted[0][0].as_deref(),
        Some("t"),
        "every confvault connection uses TLS"
    );
    assert!(ok, "{out}");
    assert!(!refused, "{why}");
    assert!(why.to_lowercase().contains("certificate"), "{why}");
    assert!(!why.contains("not-a-real-secret-pw"), "{why}");
}

const ADMIN: &str = "boss@example.test";

#[tokio::test]
async fn db_copy_moves_a_sqlite_history_into_an_empty_postgres_and_the_api_answers_the_same() {
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(common::fixture("standup.mp3")).unwrap();
    media.script("/copy.mp3", vec![Answer::file("audio/mpeg", mp3)]);
    let settings = format!(
        "[vobiz]\nauth_token = \"{AUTH_TOKEN}\"\nauth_id = \"{AUTH_ID}\"\nrecording_hosts = [\"{}\"]\n[jobs]\npoll_interval_seconds = 0.05\n\
         [access]\nadmins = [\"{ADMIN}\"]\n",
        media.origin
    );
    let mut sqlite = Server::start(&settings);
    sqlite
        .post_callbacks(&[
            enter("copied", "c1"),
            enter("copied", "c2"),
            end("copied").recording(&media.url("/copy.mp3")),
            enter("still-on", "c3"),
        ])
        .await;
    sqlite
        .eventually("the recording archived and every job done", || async {
            let c = sqlite.conference("copied").await;
            let jobs = c["jobs"].as_array()?;
            let settled = jobs.iter().all(|j| j["state"] == "done")
                && jobs.iter().any(|j| j["kind"] == "notify_conference");
            (c["recordings"][0]["status"] == "archived" && settled).then_some(())
        })
        .await;
    let recording = sqlite.first_recording("copied").await;
    sqlite
        .transcribe(
            &recording,
            "transcription_id=t-9&transcription=Quarterly+figures+first",
        )
        .await;
    sqlite
        .eventually("the transcript archived", || async {
            let jobs = sqlite.conference("copied").await["jobs"].clone();
            jobs.as_array()?
                .iter()
                .any(|j| j["kind"] == "archive_transcript" && j["state"] == "done")
                .then_some(())
        })
        .await;
    let conference = sqlite.conference("copied").await;
    let found_by_words = sqlite.get_json("/api/v1/conferences?said=quarterly").await;
    let running = sqlite.conference("still-on").await;
    let recordings = sqlite.get_json("/api/v1/recordings").await;
    let admin = WebClient::sign_in(&sqlite, ADMIN).await;
    let (_, audit) = sqlite.cli(&["audit", "--json"]);
    assert!(sqlite.signal("TERM"), "stopped cleanly before the copy");
    let target = fresh_postgres_database();

    let (copied, out) = sqlite.cli(&["db", "copy", "--to", &target]);
    let (again, refusal) = sqlite.cli(&["db", "copy", "--to", &target]);

    assert!(copied, "{out}");
    assert!(out.contains("every table's count matches"), "{out}");
    assert!(out.contains("callback_events"), "{out}");
    assert!(!again, "a second copy into the same database is refused");
    assert!(refusal.contains("not empty"), "{refusal}");
    let postgres = Server::start(&format!("{settings}[database]\nurl = \"{target}\"\n"));
    assert_eq!(postgres.conference("copied").await, conference);
    assert_eq!(postgres.conference("still-on").await, running);
    assert_eq!(postgres.get_json("/api/v1/recordings").await, recordings);
    assert_eq!(
        conference["recordings"][0]["transcript"]["text"], "Quarterly figures first",
        "{conference}"
    );
    assert_eq!(
        found_by_words["conferences"][0]["conference_uuid"],
        "copied"
    );
    assert_eq!(
        postgres
            .get_json("/api/v1/conferences?said=quarterly")
            .await,
        found_by_words,
        "the transcript is found by its words on PostgreSQL too"
    );
    let signed_in = admin.get(&postgres, "/api/v1/conferences").await;
    assert_eq!(signed_in.status(), 200, "the session moved with the data");
    let (_, audit_after) = postgres.cli(&["audit", "--json"]);
    assert!(audit.contains("sign_in"), "{audit}");
    assert_eq!(audit_after, audit, "the audit log moved with the data");
    postgres
        .post_callbacks(&[exit("still-on", "c3"), enter("after-the-move", "c9")])
        .await;
    assert_eq!(
        postgres.count("callback_events"),
        sqlite.count("callback_events") + 2,
        "new rows take new ids after the copied ones"
    );
}

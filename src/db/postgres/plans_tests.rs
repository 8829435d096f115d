//! Generic plans of statements whose filters a careless rewrite would turn into a read of a
//! table that only grows: the server may settle on a statement's generic plan after a few runs,
//! and that plan must still reach the rows through their index.

use tokio_postgres::Client;

use crate::db::access::AuditQuery;
use crate::db::contract::postgres_settings;

/// A migrated, empty database, and a session that plans every statement generically.
async fn generic_planner() -> Client {
    let settings = postgres_settings().await;
    let mut client = super::connect::single(&settings).await.unwrap();
    super::migrate::run(&mut client).await.unwrap();
    client
        .batch_execute("SET plan_cache_mode = force_generic_plan")
        .await
        .unwrap();
    client
}

/// The generic plan of `sql` run with `args` (SQL literals; none if empty), one step per line.
async fn plan(client: &Client, sql: &str, args: &str) -> String {
    client.batch_execute("DEALLOCATE ALL").await.unwrap();
    client
        .batch_execute(&format!("PREPARE q AS {sql}"))
        .await
        .unwrap();
    let execute = if args.is_empty() {
        "EXECUTE q".to_owned()
    } else {
        format!("EXECUTE q({args})")
    };
    let rows = client
        .query(&format!("EXPLAIN {execute}"), &[])
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_audit_log_filtered_by_conference_or_person_walks_its_index_in_a_generic_plan_of_a_long_log()
 {
    let client = generic_planner().await;
    client
        .batch_execute(
            "INSERT INTO audit_events (at, actor, action, conference_uuid)
             SELECT now(), 'p' || (n % 100) || '@example.com', 'play', 'c' || (n % 5000)
             FROM generate_series(1, 50000) AS n;
             ANALYZE audit_events",
        )
        .await
        .unwrap();
    let by = |conference: Option<&str>, actor: Option<&str>| AuditQuery {
        conference_uuid: conference.map(str::to_owned),
        actor: actor.map(str::to_owned),
        limit: 50,
    };
    for (query, args, index) in [
        (by(Some("c1"), None), "50, 'c1'", "audit_by_conference"),
        (
            by(None, Some("ana@example.com")),
            "50, 'ana@example.com'",
            "audit_by_actor",
        ),
    ] {
        let (sql, _) = super::access::audit_statement(&query, &50);
        let steps = plan(&client, &sql, args).await;
        assert!(steps.contains(index), "{steps}");
    }
}

#[tokio::test]
async fn the_queue_gauges_count_the_live_jobs_through_the_state_index_of_a_long_history() {
    let client = generic_planner().await;
    client
        .batch_execute(
            "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
             SELECT 'archive_recording', 'r' || n,
                    CASE WHEN n % 1000 = 0 THEN 'pending' ELSE 'done' END, now(), now(), now()
             FROM generate_series(1, 50000) AS n;
             ANALYZE jobs",
        )
        .await
        .unwrap();

    let steps = plan(&client, crate::db::derived::LIVE_JOBS_BY_STATE, "").await;

    assert!(steps.contains("jobs_ready"), "{steps}");
    assert!(!steps.contains("Seq Scan"), "{steps}");
}

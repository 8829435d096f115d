//! Query plans of statements whose filters a careless rewrite would turn into a scan of a table
//! that only grows: each must reach its rows through an index.

use rusqlite::Connection;

use crate::db::access::AuditQuery;
use crate::db::webhooks::ReplaySelection;

fn migrated() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    super::migrate::run(&mut conn).unwrap();
    conn
}

/// The plan's steps (parameters unbound, as the plan does not depend on them).
fn plan(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let mut rows = stmt.raw_query();
    let mut steps = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        steps.push(row.get::<_, String>(3).unwrap());
    }
    steps
}

fn assert_no_scan_of(table: &str, steps: &[String]) {
    let scan = format!("SCAN {table}");
    assert!(
        steps
            .iter()
            .all(|s| s != &scan && !s.starts_with(&format!("{scan} "))),
        "{steps:?}"
    );
}

#[test]
fn a_conferences_jobs_are_found_by_subject_not_by_reading_every_job() {
    let conn = migrated();
    assert_no_scan_of("jobs", &plan(&conn, &super::jobs::for_conference_sql()));
}

#[test]
fn the_jobs_of_one_state_are_found_by_state_not_by_reading_every_job() {
    let conn = migrated();
    assert_no_scan_of("jobs", &plan(&conn, &super::jobs::list_sql(true)));
}

#[test]
fn the_queue_gauges_count_the_live_jobs_without_reading_the_done_history() {
    let conn = migrated();
    assert_no_scan_of("jobs", &plan(&conn, crate::db::derived::LIVE_JOBS_BY_STATE));
}

#[test]
fn the_audit_log_filtered_by_conference_or_person_walks_its_index() {
    let conn = migrated();
    let by = |conference: Option<&str>, actor: Option<&str>| AuditQuery {
        conference_uuid: conference.map(str::to_owned),
        actor: actor.map(str::to_owned),
        limit: 50,
    };
    for query in [
        by(Some("c1"), None),
        by(None, Some("ana@example.com")),
        by(Some("c1"), Some("ana@example.com")),
    ] {
        let (sql, _) = super::access::audit_statement(&query, &query.limit);
        let steps = plan(&conn, &sql);
        assert_no_scan_of("audit_events", &steps);
    }
}

#[test]
fn replaying_one_delivery_reads_that_delivery_only() {
    let conn = migrated();
    let steps = plan(
        &conn,
        &super::webhooks::replay_sql(&ReplaySelection::One(7)),
    );
    assert_no_scan_of("webhook_deliveries", &steps);
}

#[test]
fn pruning_old_webhook_messages_reads_neither_the_messages_nor_the_deliveries_whole() {
    let conn = migrated();
    let steps = plan(&conn, super::webhooks::PRUNE_MESSAGES);
    assert_no_scan_of("webhook_messages", &steps);
    assert_no_scan_of("webhook_deliveries", &steps);
}

#[test]
fn a_chunk_of_old_deliveries_is_found_through_their_age_without_sorting_them() {
    let conn = migrated();
    let steps = plan(&conn, super::webhooks::OLD_DELIVERIES);
    assert_no_scan_of("webhook_deliveries", &steps);
    assert!(
        steps.iter().all(|s| !s.contains("TEMP B-TREE")),
        "{steps:?}"
    );
}

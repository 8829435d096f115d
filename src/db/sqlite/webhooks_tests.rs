//! Pruning the webhook outbox in chunks: everything old and settled goes, a chunk at a time,
//! and nothing pending or recent does.

use chrono::{Duration, TimeZone, Utc};
use rusqlite::{Connection, params};

use super::*;

fn migrated() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    super::super::migrate::run(&mut conn).unwrap();
    conn.pragma_update(None, "foreign_keys", true).unwrap();
    conn
}

/// A message with one delivery in `state` and one attempt, all made at `at`.
fn delivery(conn: &Connection, id: &str, state: &str, at: Instant) {
    let at = to_db(at);
    conn.execute(
        "INSERT INTO webhook_messages (message_id, event_type, subject, created_at, fanned_out_at)
         VALUES (?1, 'conference.ended', 'c', ?2, ?2)",
        params![id, at],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO webhook_deliveries (message_id, endpoint, state, next_attempt_at, created_at)
         VALUES (?1, 'https://crm.example.test/hooks', ?2, ?3, ?3)",
        params![id, state, at],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO webhook_attempts (delivery_id, at, status, duration_ms)
         VALUES (last_insert_rowid(), ?1, 200, 5)",
        params![at],
    )
    .unwrap();
}

fn count(conn: &Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn old_settled_deliveries_go_a_chunk_at_a_time_and_pending_or_recent_ones_stay() {
    let conn = migrated();
    let long_ago = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    for i in 0..5 {
        let state = if i % 2 == 0 { "delivered" } else { "failed" };
        delivery(
            &conn,
            &format!("old-{i}"),
            state,
            long_ago + Duration::minutes(i),
        );
    }
    delivery(&conn, "old-pending", "pending", long_ago);
    delivery(&conn, "recent", "delivered", long_ago + Duration::days(40));
    let before = long_ago + Duration::days(30);

    let chunks: Vec<_> = std::iter::from_fn(|| {
        let pruned = prune_chunk(&conn, before, 2).unwrap();
        (pruned.deliveries + pruned.messages > 0).then_some(pruned.deliveries)
    })
    .collect();

    assert_eq!(
        chunks,
        [2, 2, 1],
        "five old settled deliveries, two at a time"
    );
    assert_eq!(
        count(&conn, "webhook_deliveries"),
        2,
        "the pending and the recent one"
    );
    assert_eq!(count(&conn, "webhook_attempts"), 2);
    let kept: Vec<String> = conn
        .prepare("SELECT message_id FROM webhook_messages ORDER BY message_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kept, ["old-pending", "recent"]);
}

#[test]
fn a_chunk_says_whether_it_may_have_left_more_behind() {
    let full = Pruned {
        deliveries: 2,
        messages: 0,
    };
    let messages_full = Pruned {
        deliveries: 0,
        messages: 2,
    };
    let short = Pruned {
        deliveries: 1,
        messages: 1,
    };
    assert!(full.filled(2) && messages_full.filled(2));
    assert!(!short.filled(2));
}

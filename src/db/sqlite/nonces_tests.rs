//! The nonce index and its log: sightings, transactions, restarts, expiry and the cap.

use super::*;

/// A migrated database and its index, as the writer holds them.
struct Writer {
    conn: Connection,
    recent: RecentNonces,
}

fn writer_connection(path: &std::path::Path) -> Writer {
    capped_writer_connection(path, INDEX_LIMIT)
}

fn capped_writer_connection(path: &std::path::Path, limit: usize) -> Writer {
    let mut conn = Connection::open(path).expect("open");
    super::super::migrate::run(&mut conn).expect("migrations apply");
    let recent = index_recent(&conn, limit).expect("index the log");
    Writer { conn, recent }
}

impl Writer {
    /// Runs `f` in a write transaction, committed if it succeeds and rolled back if it
    /// fails, telling the index as the writer thread does.
    fn in_transaction<R>(
        &self,
        f: impl FnOnce(&Connection, &RecentNonces) -> Result<R, DbError>,
    ) -> Result<R, DbError> {
        self.conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let result = f(&self.conn, &self.recent);
        if result.is_ok() {
            self.conn.execute_batch("COMMIT").unwrap();
            self.recent.committed();
        } else {
            self.conn.execute_batch("ROLLBACK").unwrap();
            self.recent.rolled_back();
        }
        result
    }

    fn remember(&self, nonce: &str, body: u8, now: &str) -> Seen {
        self.in_transaction(|conn, recent| remember(conn, recent, nonce, &[body; 32], now))
            .unwrap()
    }

    fn logged(&self) -> i64 {
        self.conn
            .query_row("SELECT COUNT(*) FROM seen_nonces", [], |r| r.get(0))
            .unwrap()
    }
}

#[test]
fn a_nonce_is_new_once_then_the_same_body_is_a_redelivery_and_another_body_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_connection(&dir.path().join("db"));

    let first = writer.remember("n1", 1, "2026-01-01T00:00:00Z");
    let again = writer.remember("n1", 1, "2026-01-01T00:00:01Z");
    let other = writer.remember("n1", 2, "2026-01-01T00:00:02Z");

    assert_eq!(
        (first, again, other),
        (Seen::New, Seen::SameBody, Seen::OtherBody)
    );
    assert_eq!(writer.logged(), 1, "only the first sighting is logged");
}

#[test]
fn a_nonce_counts_as_seen_within_its_own_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_connection(&dir.path().join("db"));

    let both = writer
        .in_transaction(|conn, recent| {
            let first = remember(conn, recent, "n1", &[1; 32], "2026-01-01T00:00:00Z")?;
            let second = remember(conn, recent, "n1", &[2; 32], "2026-01-01T00:00:00Z")?;
            Ok((first, second))
        })
        .unwrap();

    assert_eq!(both, (Seen::New, Seen::OtherBody));
}

#[test]
fn nonces_seen_before_a_restart_are_still_refused_with_another_body() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let before = writer_connection(&path);
    before.remember("n1", 1, "2026-01-01T00:00:00Z");
    drop(before);

    let after = writer_connection(&path);

    assert_eq!(after.recent.len(), 1);
    assert_eq!(
        after.remember("n1", 2, "2026-01-01T00:01:00Z"),
        Seen::OtherBody
    );
    assert_eq!(
        after.remember("n1", 1, "2026-01-01T00:01:00Z"),
        Seen::SameBody
    );
}

#[test]
fn a_nonce_logged_twice_keeps_the_body_it_was_logged_with_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let log = writer_connection(&path);
    // Two processes on one file, the second's clock behind: the log's order is what counts.
    log.conn
        .execute(
            "INSERT INTO main.seen_nonces (nonce, body_hash, seen_at) VALUES
                 ('n1', ?1, '2026-01-01T00:00:02Z'), ('n1', ?2, '2026-01-01T00:00:01Z')",
            rusqlite::params![[1u8; 32], [2u8; 32]],
        )
        .unwrap();
    drop(log);

    let after = writer_connection(&path);

    assert_eq!(
        after.remember("n1", 1, "2026-01-01T00:01:00Z"),
        Seen::SameBody
    );
}

#[test]
fn a_log_holding_a_hash_of_the_wrong_length_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let log = writer_connection(&path);
    log.conn
        .execute_batch(
            "INSERT INTO main.seen_nonces (nonce, body_hash, seen_at)
             VALUES ('n1', x'01', '2026-01-01T00:00:01Z')",
        )
        .unwrap();

    let indexed = index_recent(&log.conn, INDEX_LIMIT);

    assert!(matches!(indexed, Err(DbError::Corrupt(_))));
}

#[test]
fn a_rolled_back_sighting_leaves_the_nonce_new() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_connection(&dir.path().join("db"));

    let failed = writer.in_transaction(|conn, recent| {
        remember(conn, recent, "n1", &[1; 32], "2026-01-01T00:00:00Z")?;
        Err::<(), _>(DbError::Panicked)
    });

    // A batch replayed after a rollback meets its own nonce as new, not as a redelivery.
    assert!(failed.is_err());
    assert_eq!(writer.remember("n1", 1, "2026-01-01T00:00:00Z"), Seen::New);
    assert_eq!(writer.logged(), 1);
}

#[test]
fn forgotten_nonces_leave_the_log_and_the_index_and_later_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_connection(&dir.path().join("db"));
    writer.remember("old", 1, "2026-01-01T00:00:00Z");
    writer.remember("recent", 1, "2026-01-01T00:20:00Z");

    let forgotten = writer
        .in_transaction(|conn, recent| forget_before(conn, recent, "2026-01-01T00:10:00Z"))
        .unwrap();

    assert_eq!(forgotten, 1);
    assert_eq!(writer.remember("old", 2, "2026-01-01T00:30:00Z"), Seen::New);
    assert_eq!(
        writer.remember("recent", 2, "2026-01-01T00:30:00Z"),
        Seen::OtherBody
    );
}

#[test]
fn a_rolled_back_expiry_keeps_the_nonces_it_would_have_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_connection(&dir.path().join("db"));
    writer.remember("old", 1, "2026-01-01T00:00:00Z");

    let failed = writer.in_transaction(|conn, recent| {
        forget_before(conn, recent, "2026-01-01T00:10:00Z")?;
        Err::<(), _>(DbError::Panicked)
    });

    assert!(failed.is_err());
    assert_eq!(writer.logged(), 1);
    assert_eq!(
        writer.remember("old", 2, "2026-01-01T00:30:00Z"),
        Seen::OtherBody
    );
}

#[test]
fn a_full_index_refuses_new_nonces_with_an_error_until_old_ones_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let writer = capped_writer_connection(&dir.path().join("db"), 3);
    for nonce in ["a", "b", "c"] {
        writer.remember(nonce, 1, "2026-01-01T00:00:00Z");
    }

    let refused = writer
        .in_transaction(|conn, recent| {
            remember(conn, recent, "d", &[1; 32], "2026-01-01T00:00:00Z")
        })
        .unwrap_err();

    assert!(
        refused.is_unavailable(),
        "answered 503, to be sent again: {refused}"
    );
    assert_eq!(
        writer.remember("a", 1, "2026-01-01T00:00:01Z"),
        Seen::SameBody,
        "nonces already seen are still checked"
    );
    writer
        .in_transaction(|conn, recent| forget_before(conn, recent, "2026-01-01T00:00:01Z"))
        .unwrap();
    assert_eq!(writer.remember("d", 1, "2026-01-01T00:20:00Z"), Seen::New);
}

#[test]
fn after_the_clock_stepped_back_expiry_keeps_nonces_longer_never_shorter() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_connection(&dir.path().join("db"));
    writer.remember("first", 1, "2026-01-01T00:00:00Z");
    writer.remember("young", 1, "2026-01-01T00:20:00Z");
    writer.remember("stepped-back", 1, "2026-01-01T00:05:00Z");

    let forget = |cutoff| {
        writer
            .in_transaction(|conn, recent| forget_before(conn, recent, cutoff))
            .unwrap()
    };

    assert_eq!(
        forget("2026-01-01T00:10:00Z"),
        1,
        "only the nonce before the young one"
    );
    assert_eq!(
        writer.remember("stepped-back", 2, "2026-01-01T00:21:00Z"),
        Seen::OtherBody
    );
    assert_eq!(forget("2026-01-01T00:30:00Z"), 2);
    assert_eq!(writer.logged(), 0);
}

#[test]
fn expiry_walks_the_log_by_row_id_and_the_log_has_no_second_index() {
    let dir = tempfile::tempdir().unwrap();
    let writer = writer_connection(&dir.path().join("db"));

    let plan: Vec<String> = writer
        .conn
        .prepare(&format!(
            "EXPLAIN QUERY PLAN {}",
            FORGET_BEFORE.replace(":cutoff", "'x'")
        ))
        .unwrap()
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();

    assert!(
        plan[0] == "SEARCH main.seen_nonces USING INTEGER PRIMARY KEY (rowid<?)",
        "the delete takes a range of row ids: {plan:?}"
    );
    let indexes: i64 = writer
        .conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'seen_nonces'
             AND sql IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexes, 0, "no second B-tree to update per callback");
}

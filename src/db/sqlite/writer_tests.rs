//! The writer thread: group commit, a failure kept to its own write, durability before the answer.

use super::*;

fn writer() -> (Writer, WriterThread) {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")
        .unwrap();
    Writer::start(
        conn,
        Box::new(()),
        64,
        Durability::Committed,
        Default::default(),
    )
    .unwrap()
}

async fn insert(writer: &Writer, v: i64) -> Result<usize, DbError> {
    writer
        .run(move |conn| Ok(conn.execute("INSERT INTO t (v) VALUES (?1)", [v])?))
        .await
}

async fn count(writer: &Writer) -> i64 {
    writer
        .run(|conn| Ok::<_, DbError>(conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?))
        .await
        .unwrap()
}

#[tokio::test]
async fn concurrent_writes_all_commit() {
    let (writer, thread) = writer();
    let writes = (0..200).map(|v| insert(&writer, v));
    let results = futures_util::future::join_all(writes).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(count(&writer).await, 200);
    drop(writer);
    thread.join();
}

#[tokio::test]
async fn a_failing_write_in_a_batch_fails_alone() {
    let (writer, _thread) = writer();
    insert(&writer, 7).await.unwrap();
    let writes = (0..50).map(|v| insert(&writer, v));
    let results = futures_util::future::join_all(writes).await;
    let failed: Vec<_> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_err())
        .collect();
    assert_eq!(failed.len(), 1, "only the duplicate of 7 fails");
    assert_eq!(failed[0].0, 7);
    assert_eq!(count(&writer).await, 50);
}

/// Values staged beside the database by each write, kept as the writer reports commits and
/// dropped as it reports rollbacks, as the nonce index does.
#[derive(Clone, Default)]
struct Beside(std::sync::Arc<std::sync::Mutex<(Vec<i64>, Vec<i64>)>>);

impl Transactional for Beside {
    fn committed(&self) {
        let mut state = self.0.lock().unwrap();
        let (staged, kept) = &mut *state;
        kept.append(staged);
    }
    fn rolled_back(&self) {
        self.0.lock().unwrap().0.clear();
    }
}

#[tokio::test]
async fn state_beside_the_database_keeps_exactly_what_committed_when_a_batch_is_replayed() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t (v INTEGER UNIQUE); INSERT INTO t (v) VALUES (7)")
        .unwrap();
    let beside = Beside::default();
    let (writer, thread) = Writer::start(
        conn,
        Box::new(beside.clone()),
        64,
        Durability::Committed,
        Default::default(),
    )
    .unwrap();

    // The duplicate 7 fails in whatever batch it lands in: that batch rolls back and the
    // writes before it run again, one transaction each, staging their values again.
    let writes = (0..50).map(|v| {
        let beside = beside.clone();
        writer.run(move |conn| {
            beside.0.lock().unwrap().0.push(v);
            Ok::<_, DbError>(conn.execute("INSERT INTO t (v) VALUES (?1)", [v])?)
        })
    });
    let results = futures_util::future::join_all(writes).await;
    drop(writer);
    thread.join();

    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    let (staged, mut kept) = beside.0.lock().unwrap().clone();
    kept.sort_unstable();
    let expected: Vec<i64> = (0..50).filter(|&v| v != 7).collect();
    assert_eq!(
        kept, expected,
        "each committed value kept once, the failed one dropped"
    );
    assert!(staged.is_empty());
}

#[tokio::test]
async fn a_write_that_fails_after_changing_rows_leaves_no_trace() {
    let (writer, _thread) = writer();
    let half_done = writer
        .run(|conn| {
            conn.execute("INSERT INTO t (v) VALUES (1)", [])?;
            conn.execute("INSERT INTO t (v) VALUES (1)", [])?;
            Ok::<_, DbError>(())
        })
        .await;
    assert!(half_done.is_err());
    assert_eq!(count(&writer).await, 0);
}

#[tokio::test]
async fn a_write_that_fills_a_database_fails_alone_though_sqlite_rolled_the_batch_back_itself() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (v INTEGER UNIQUE);
         ATTACH DATABASE 'file:small?vfs=memdb' AS small;
         PRAGMA small.max_page_count = 4;
         CREATE TABLE small.b (v BLOB);",
    )
    .unwrap();
    let (writer, _thread) = Writer::start(
        conn,
        Box::new(()),
        64,
        Durability::Committed,
        Default::default(),
    )
    .unwrap();
    let overflow = writer.run(|conn| {
        Ok::<_, DbError>(conn.execute("INSERT INTO small.b VALUES (zeroblob(100000))", [])?)
    });
    let before = futures_util::future::join_all((0..25).map(|v| insert(&writer, v)));
    let after = futures_util::future::join_all((25..50).map(|v| insert(&writer, v)));

    // Queued in this order, so the overflow runs in the middle of an open batch.
    let (before, overflow, after) = tokio::join!(before, overflow, after);

    assert!(overflow.is_err_and(|e| e.is_unavailable()));
    assert!(before.iter().chain(&after).all(Result::is_ok));
    assert_eq!(count(&writer).await, 50);
}

/// A database file in `dir`, in WAL mode, with table `t`.
fn file_database(dir: &tempfile::TempDir) -> (std::path::PathBuf, Connection) {
    let path = dir.path().join("t.db");
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")
        .unwrap();
    (path, conn)
}

#[tokio::test]
async fn no_one_hears_committed_until_the_log_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (path, conn) = file_database(&dir);
    let synced = Durability::Synced {
        wal: super::super::wal_path(&path),
    };
    let (writer, thread) =
        Writer::start(conn, Box::new(()), 64, synced, Default::default()).unwrap();
    let results = futures_util::future::join_all((0..20).map(|v| insert(&writer, v))).await;
    assert!(results.iter().all(Result::is_ok));
    drop(writer);
    thread.join();

    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch("CREATE TABLE IF NOT EXISTS u (v)")
        .unwrap();
    let unsyncable = Durability::Synced {
        wal: dir.path().join("no-such-dir").join("t.db-wal"),
    };
    let (writer, _thread) =
        Writer::start(conn, Box::new(()), 64, unsyncable, Default::default()).unwrap();
    let refused = writer
        .run(|conn| Ok::<_, DbError>(conn.execute("INSERT INTO u (v) VALUES (1)", [])?))
        .await;
    assert!(
        matches!(refused, Err(DbError::CommitFailed(_))),
        "a write whose log could not be synced is not reported committed: {refused:?}"
    );
}

// Several threads: the test blocks its own while it waits for the writes to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_arrive_during_a_sync_are_committed_together_once_it_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let (path, conn) = file_database(&dir);
    let (open_gate, gate) = std::sync::mpsc::channel();
    let gated = Durability::Gated(std::sync::Arc::new(std::sync::Mutex::new(gate)));
    let (writer, _thread) =
        Writer::start(conn, Box::new(()), 64, gated, Default::default()).unwrap();
    let reader = Connection::open(&path).unwrap();
    let visible = || -> i64 {
        reader
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap()
    };

    // The first write is committed and its sync now waits on the gate.
    let first = tokio::spawn({
        let writer = writer.clone();
        async move { insert(&writer, 0).await }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while visible() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first write commits"
        );
        std::thread::yield_now();
    }
    let (ran, runs) = std::sync::mpsc::channel();
    let later: Vec<_> = (1..=10)
        .map(|v| {
            let (writer, ran) = (writer.clone(), ran.clone());
            tokio::spawn(async move {
                writer
                    .run(move |conn| {
                        let n = conn.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
                        let _ = ran.send(v);
                        Ok::<_, DbError>(n)
                    })
                    .await
            })
        })
        .collect();
    let mut run = std::collections::HashSet::new();
    while run.len() < 10 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        run.insert(
            runs.recv_timeout(left)
                .expect("the later writes run meanwhile"),
        );
    }

    assert_eq!(
        visible(),
        1,
        "the later writes wait, uncommitted, for the disk"
    );
    open_gate.send(()).unwrap();
    first.await.unwrap().unwrap();
    for _ in 1..=10 {
        // However many syncs the later writes take: the check above is the one that counts.
        open_gate.send(()).unwrap();
    }
    for write in later {
        write.await.unwrap().unwrap();
    }
    assert_eq!(visible(), 11);
}

#[tokio::test]
async fn a_panicking_write_fails_without_killing_the_writer() {
    let (writer, _thread) = writer();
    let panicked = writer
        .run(|_| -> Result<(), DbError> { panic!("bug in a write") })
        .await;
    assert!(matches!(panicked, Err(DbError::Panicked)));
    insert(&writer, 1).await.unwrap();
    assert_eq!(count(&writer).await, 1);
}

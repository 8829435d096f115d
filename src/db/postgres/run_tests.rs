//! Transactions whose `BEGIN` and `COMMIT` travel with their statements: what fails leaves
//! nothing behind, on the connection or in the tables, whichever thread waits.

use super::{Opened, once, once_chained, transaction};
use crate::db::DbError;
use crate::db::contract::postgres_settings;
use crate::db::postgres::connect::{self, Plans};
use crate::db::postgres::tx::{Access, PgTx};
use crate::db::postgres::waiter::Waiter;

/// A migrated, empty database behind a pool of one connection, so every transaction below
/// runs on the connection the one before it used.
async fn one_connection() -> deadpool_postgres::Pool {
    let settings = postgres_settings().await;
    let mut client = connect::single(&settings).await.unwrap();
    super::super::migrate::run(&mut client).await.unwrap();
    client
        .batch_execute("CREATE TABLE notes (text text NOT NULL)")
        .await
        .unwrap();
    connect::pool(&settings, 1, Plans::Generic).unwrap()
}

fn note(tx: &PgTx<'_>, text: &str) -> Result<u64, DbError> {
    tx.execute("INSERT INTO notes (text) VALUES ($1)", &[&text])
}

fn notes(tx: &PgTx<'_>) -> Result<Vec<String>, DbError> {
    tx.query("SELECT text FROM notes ORDER BY text", &[])?
        .iter()
        .map(|r| r.try_get(0).map_err(DbError::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_unit_of_work_that_fails_is_rolled_back_and_the_connection_is_left_clean() {
    let pool = one_connection().await;

    let failed = transaction(&pool, Access::Write, |tx| {
        note(tx, "written before the failure")?;
        Err::<(), _>(DbError::Unavailable("the rule said no".into()))
    })
    .await;
    // Had the next BEGIN joined the failed transaction, this one would commit its insert.
    transaction(&pool, Access::Write, |tx| note(tx, "committed"))
        .await
        .unwrap();

    assert!(failed.is_err());
    let kept = transaction(&pool, Access::Read, notes).await.unwrap();
    assert_eq!(kept, ["committed"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_statement_that_fails_with_writes_in_flight_fails_its_transaction_and_commits_nothing() {
    let pool = one_connection().await;

    let failed = transaction(&pool, Access::Write, |tx| {
        tx.send(
            "INSERT INTO notes (text) VALUES ($1)",
            vec![Box::new("sent, not waited for")],
        )?;
        tx.send("INSERT INTO notes (text) VALUES (NULL)", vec![])
    })
    .await;
    let after = transaction(&pool, Access::Read, notes).await.unwrap();

    assert!(failed.is_err(), "the NULL breaks a NOT NULL column");
    assert!(after.is_empty(), "{after:?}");
}

/// What a writer thread has: a current-thread runtime, and the one connection of a pool of
/// one, made on that runtime (which drives it while the thread waits).
fn writer_thread() -> (tokio::runtime::Runtime, deadpool_postgres::Object) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pool = runtime.block_on(one_connection());
    let client = runtime.block_on(pool.get()).unwrap();
    (runtime, client)
}

#[test]
fn a_writer_thread_with_its_own_runtime_commits_and_rolls_back_on_its_connection() {
    let (runtime, mut client) = writer_thread();
    let rt = Waiter::Own(&runtime);

    once(&mut client, &rt, Access::Write, &|tx| note(tx, "kept")).unwrap();
    let failed = once(&mut client, &rt, Access::Write, &|tx| {
        note(tx, "undone")?;
        Err::<(), _>(DbError::Unavailable("the rule said no".into()))
    });
    let kept = once(&mut client, &rt, Access::Read, &notes).unwrap();

    assert!(failed.is_err());
    assert_eq!(kept, ["kept"]);
}

fn advisory_locks_held(tx: &PgTx<'_>) -> Result<i64, DbError> {
    Ok(tx
        .one(
            "SELECT count(*) FROM pg_locks
             WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted",
            &[],
        )?
        .try_get(0)?)
}

#[tokio::test(flavor = "multi_thread")]
async fn advisory_locks_last_as_long_as_their_transaction() {
    let pool = one_connection().await;

    let held = transaction(&pool, Access::Write, |tx| {
        tx.lock(&[-5, 1, 2])?;
        advisory_locks_held(tx)
    })
    .await
    .unwrap();
    let failed = transaction(&pool, Access::Write, |tx| {
        tx.lock(&[7])?;
        note(tx, "undone")?;
        Err::<(), _>(DbError::Unavailable("the rule said no".into()))
    })
    .await;
    let (after, kept) = transaction(&pool, Access::Read, |tx| {
        Ok((advisory_locks_held(tx)?, notes(tx)?))
    })
    .await
    .unwrap();

    assert_eq!(held, 3);
    assert!(failed.is_err());
    assert_eq!(after, 0, "transaction locks end with their transaction");
    assert!(kept.is_empty(), "{kept:?}");
}

/// Whether the connection is inside a transaction block: the server refuses a savepoint
/// outside one.
fn in_transaction(rt: &Waiter<'_>, client: &deadpool_postgres::Object) -> bool {
    let inside = rt.block_on(client.batch_execute("SAVEPOINT probe")).is_ok();
    if inside {
        rt.block_on(client.batch_execute("RELEASE SAVEPOINT probe"))
            .unwrap();
    }
    inside
}

#[test]
fn a_commit_that_opens_the_next_transaction_hands_it_to_the_next_batch() {
    let (runtime, mut client) = writer_thread();
    let rt = Waiter::Own(&runtime);

    let ((), opened) = once_chained(&mut client, &rt, Opened::No, &|| true, &|tx| {
        note(tx, "first").map(drop)
    })
    .unwrap();
    let open_between = in_transaction(&rt, &client);
    let failed = once_chained(&mut client, &rt, opened, &|| true, &|tx| {
        note(tx, "undone")?;
        Err::<(), _>(DbError::Unavailable("the rule said no".into()))
    });
    let open_after_the_failure = in_transaction(&rt, &client);
    let kept = once(&mut client, &rt, Access::Read, &notes).unwrap();

    assert_eq!(opened, Opened::ByLastCommit);
    assert!(open_between, "the commit opened the next transaction");
    assert!(failed.is_err());
    assert!(
        !open_after_the_failure,
        "the failed batch's transaction was rolled back"
    );
    assert_eq!(
        kept,
        ["first"],
        "the second batch ran inside the transaction it was handed"
    );
}

#[test]
fn a_chained_commit_of_a_failed_transaction_leaves_no_transaction_open() {
    let (runtime, mut client) = writer_thread();
    let rt = Waiter::Own(&runtime);

    // The server answers the COMMIT of a failed transaction by rolling it back and then runs
    // the BEGIN after it: that transaction must not outlive the failure.
    let failed = once_chained(&mut client, &rt, Opened::No, &|| true, &|tx| {
        tx.send(
            "INSERT INTO notes (text) VALUES ($1)",
            vec![Box::new("sent, not waited for")],
        )?;
        tx.send("INSERT INTO notes (text) VALUES (NULL)", vec![])
    });
    let open_after = in_transaction(&rt, &client);
    let kept = once(&mut client, &rt, Access::Read, &notes).unwrap();

    assert!(failed.is_err(), "the NULL breaks a NOT NULL column");
    assert!(!open_after);
    assert!(kept.is_empty(), "{kept:?}");
}

#[test]
fn a_commit_with_nothing_waiting_leaves_no_transaction_open() {
    let (runtime, mut client) = writer_thread();
    let rt = Waiter::Own(&runtime);

    let ((), opened) = once_chained(&mut client, &rt, Opened::No, &|| false, &|tx| {
        note(tx, "alone").map(drop)
    })
    .unwrap();

    assert_eq!(opened, Opened::No);
    assert!(!in_transaction(&rt, &client));
}

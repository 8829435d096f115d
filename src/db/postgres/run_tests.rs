//! Transactions whose `BEGIN` and `COMMIT` travel with their statements: what fails leaves
//! nothing behind, on the connection or in the tables, whichever thread waits.

use super::{once, transaction};
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

#[test]
fn a_writer_thread_with_its_own_runtime_commits_and_rolls_back_on_its_connection() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pool = runtime.block_on(one_connection());
    let rt = Waiter::Own(&runtime);
    let mut client = rt.block_on(pool.get()).unwrap();

    once(&mut client, &rt, Access::Write, &|tx| note(tx, "kept")).unwrap();
    let failed = once(&mut client, &rt, Access::Write, &|tx| {
        note(tx, "undone")?;
        Err::<(), _>(DbError::Unavailable("the rule said no".into()))
    });
    let kept = once(&mut client, &rt, Access::Read, &notes).unwrap();

    assert!(failed.is_err());
    assert_eq!(kept, ["kept"]);
}

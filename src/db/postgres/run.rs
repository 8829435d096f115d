//! Running a unit of work in one PostgreSQL transaction: a pooled connection is borrowed, the
//! synchronous statements run on the blocking pool (or a writer's own thread), and a
//! transaction that lost a deadlock or a serialisation check is run again from the start (it
//! changed nothing).

use deadpool_postgres::{Object, Pool};
use tokio::runtime::Handle;

use super::tx::{Access, PgTx};
use super::waiter::Waiter;
use crate::db::DbError;

/// Runs of one transaction before its error is handed on.
const ATTEMPTS: u32 = 5;

/// Runs `work` in one transaction on a connection of `pool`, again if it lost a deadlock.
pub async fn transaction<R, F>(pool: &Pool, access: Access, work: F) -> Result<R, DbError>
where
    R: Send + 'static,
    F: Fn(&PgTx<'_>) -> Result<R, DbError> + Send + 'static,
{
    let mut client = pool.get().await?;
    let rt = Waiter::Shared(Handle::current());
    tokio::task::spawn_blocking(move || {
        let mut attempt = 1;
        loop {
            match once(&mut client, &rt, access, &work) {
                Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "transaction lost a conflict; again");
                    attempt += 1;
                }
                other => return other,
            }
        }
    })
    .await
    .map_err(|e| {
        if e.is_panic() {
            DbError::Panicked
        } else {
            DbError::Blocking(e)
        }
    })?
}

/// One run of `work` in a new transaction; rolled back on error.
pub fn once<R>(
    client: &mut Object,
    rt: &Waiter<'_>,
    access: Access,
    work: &impl Fn(&PgTx<'_>) -> Result<R, DbError>,
) -> Result<R, DbError> {
    let pg = PgTx::begin(client, rt.clone(), access)?;
    let value = work(&pg)?;
    pg.commit()?;
    Ok(value)
}

/// Whether a writer's transaction is already open, its `BEGIN` sent with the last commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    No,
    ByLastCommit,
}

/// One run of a callback batch's `work`, as [`once`], in the transaction the last commit
/// opened if `opened` says so; its commit opens the next one when `more_waiting` says a
/// batch is ready for it. Says whether it did.
pub fn once_chained<R>(
    client: &mut Object,
    rt: &Waiter<'_>,
    opened: Opened,
    more_waiting: &dyn Fn() -> bool,
    work: &impl Fn(&PgTx<'_>) -> Result<R, DbError>,
) -> Result<(R, Opened), DbError> {
    let pg = match opened {
        Opened::ByLastCommit => PgTx::continuing(client, rt.clone()),
        Opened::No => PgTx::begin(client, rt.clone(), Access::Write)?,
    };
    let value = work(&pg)?;
    if more_waiting() {
        pg.commit_and_begin()?;
        Ok((value, Opened::ByLastCommit))
    } else {
        pg.commit()?;
        Ok((value, Opened::No))
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;

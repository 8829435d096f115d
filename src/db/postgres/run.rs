//! Running a unit of work in one PostgreSQL transaction: a pooled connection is borrowed, the
//! synchronous statements run on the blocking pool, and a transaction that lost a deadlock or
//! a serialisation check is run again from the start (it changed nothing).

use deadpool_postgres::{Object, Pool};
use tokio::runtime::Handle;
use tokio_postgres::IsolationLevel;

use super::tx::PgTx;
use crate::db::DbError;

/// Runs of one transaction before its error is handed on.
const ATTEMPTS: u32 = 5;

/// What kind of transaction a unit of work needs.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// Read committed, as writes need for their locks to see each other's commits.
    Write,
    /// One snapshot, read-only: a detail page reads consistent rows.
    Read,
}

/// Runs `work` in one transaction on a connection of `pool`, again if it lost a deadlock.
pub async fn transaction<R, F>(pool: &Pool, access: Access, work: F) -> Result<R, DbError>
where
    R: Send + 'static,
    F: Fn(&PgTx<'_>) -> Result<R, DbError> + Send + 'static,
{
    let mut client = pool.get().await?;
    let rt = Handle::current();
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

/// One run of `work` in a new transaction; dropped uncommitted (rolled back) on error.
pub fn once<R>(
    client: &mut Object,
    rt: &Handle,
    access: Access,
    work: &impl Fn(&PgTx<'_>) -> Result<R, DbError>,
) -> Result<R, DbError> {
    let tx = match access {
        Access::Write => rt.block_on(client.transaction())?,
        Access::Read => rt.block_on(
            client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start(),
        )?,
    };
    let value = {
        let pg = PgTx::new(&tx, rt.clone());
        let value = work(&pg)?;
        pg.finish()?;
        value
    };
    rt.block_on(tx.commit())?;
    Ok(value)
}

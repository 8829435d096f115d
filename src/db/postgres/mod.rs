//! The PostgreSQL backend, for several replicas on one database. **Unfinished**: so far its
//! schema (`migrations/postgres/`) and the migrator that applies it under an advisory lock;
//! the [`crate::db::Database`] operations over it are still to come, and `database.url` does
//! not select it yet.

pub mod migrate;

use tokio_postgres::{Client, NoTls};

use super::DbError;

/// One connection to `url`, its driver running on the runtime. Plain TCP for now; TLS comes
/// with the backend.
pub async fn connect(url: &str) -> Result<Client, DbError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection closed");
        }
    });
    Ok(client)
}

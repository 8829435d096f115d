//! `confvault db copy`: moves an SQLite database's history into an empty PostgreSQL one. The
//! target's schema says what each column is; every SQLite value is converted to that type (text
//! instants to timestamptz, JSON text to jsonb) and streamed in with binary COPY, one table
//! after another in the order their references need, all in one transaction: a copy that
//! fails leaves the target as empty as it was. The counts are compared before it commits.

use std::path::Path;

use bytes::BytesMut;
use futures_util::pin_mut;
use rusqlite::types::ValueRef;
use tokio::sync::mpsc;
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::DbError;
use crate::time::{Instant, from_db};

/// Every table that holds history, parents before children. SQLite's name and transcript
/// indexes (`conference_names`, `transcript_search` and its keys) are rebuilt by PostgreSQL's
/// own indexes; the migrations table is each database's own.
pub const TABLES: &[&str] = &[
    "conferences",
    "participants",
    "callback_events",
    "recordings",
    "transcripts",
    "jobs",
    "seen_nonces",
    "mail_sent",
    "recording_links",
    "heartbeat",
    "leases",
    "webhook_messages",
    "webhook_deliveries",
    "webhook_attempts",
    "webhook_endpoints",
    "signin_requests",
    "signin_links",
    "sessions",
    "audit_events",
];

/// Rows read from SQLite and written at a time.
const CHUNK: usize = 1000;

/// Why a copy did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the target database is not empty: {table} holds {rows} rows (copy into an empty one)")]
    TargetNotEmpty { table: &'static str, rows: i64 },
    #[error("{table}: {rows} rows read but {copied} arrived; nothing was kept")]
    CountMismatch {
        table: &'static str,
        rows: i64,
        copied: i64,
    },
    #[error("{table}.{column}: {problem}")]
    Value {
        table: &'static str,
        column: String,
        problem: String,
    },
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<tokio_postgres::Error> for CopyError {
    fn from(e: tokio_postgres::Error) -> Self {
        CopyError::Database(e.into())
    }
}

impl From<rusqlite::Error> for CopyError {
    fn from(e: rusqlite::Error) -> Self {
        CopyError::Database(e.into())
    }
}

/// One table's copy, as progress reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopied {
    pub table: &'static str,
    pub rows: i64,
}

/// Copies the SQLite database at `source` into the (migrated, empty) PostgreSQL database of
/// `target`, calling `progress(table, rows_so_far, rows_in_table)` as it goes.
pub async fn sqlite_to_postgres(
    source: &Path,
    target: &mut Client,
    mut progress: impl FnMut(&'static str, i64, i64),
) -> Result<Vec<TableCopied>, CopyError> {
    super::postgres::migrate::run(target).await?;
    for table in TABLES {
        let rows: i64 = target
            .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .await?
            .get(0);
        if rows > 0 {
            return Err(CopyError::TargetNotEmpty { table, rows });
        }
    }
    let tx = target.transaction().await?;
    // One COPY per table may run far longer than database.statement_timeout allows a request.
    tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
    let mut copied = Vec::new();
    for table in TABLES {
        let columns: Vec<(String, Type)> = {
            let statement = tx
                .prepare(&format!("SELECT * FROM {table} LIMIT 0"))
                .await?;
            statement
                .columns()
                .iter()
                .map(|c| (c.name().to_owned(), c.type_().clone()))
                .collect()
        };
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        let types: Vec<Type> = columns.iter().map(|(_, t)| t.clone()).collect();
        let total = count_sqlite(source, table).await?;
        let sink = tx
            .copy_in(&format!(
                "COPY {table} ({}) FROM STDIN BINARY",
                names.join(", ")
            ))
            .await?;
        let writer = BinaryCopyInWriter::new(sink, &types);
        pin_mut!(writer);
        let (chunks, mut received) = mpsc::channel::<Result<Vec<Vec<Value>>, CopyError>>(4);
        let reader = {
            let (source, columns) = (source.to_owned(), columns.clone());
            tokio::task::spawn_blocking(move || read_table(&source, table, &columns, &chunks))
        };
        let mut rows = 0;
        while let Some(chunk) = received.recv().await {
            for row in chunk? {
                let values: Vec<&(dyn ToSql + Sync)> =
                    row.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
                writer.as_mut().write(&values).await?;
                rows += 1;
            }
            progress(table, rows, total);
        }
        reader.await.map_err(DbError::Blocking)??;
        let written = writer.finish().await?;
        reset_identity(&tx, table, &names).await?;
        let arrived: i64 = tx
            .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .await?
            .get(0);
        if arrived != total || written as i64 != total {
            return Err(CopyError::CountMismatch {
                table,
                rows: total,
                copied: arrived,
            });
        }
        copied.push(TableCopied { table, rows: total });
    }
    tx.commit().await?;
    Ok(copied)
}

/// New rows after the copy get ids above the copied ones.
async fn reset_identity(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    columns: &[&str],
) -> Result<(), CopyError> {
    if columns.contains(&"id") && table != "heartbeat" {
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                               COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            ),
            &[],
        )
        .await?;
    }
    Ok(())
}

async fn count_sqlite(source: &Path, table: &'static str) -> Result<i64, CopyError> {
    let source = source.to_owned();
    tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open_with_flags(
            &source,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        Ok(conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
    })
    .await
    .map_err(DbError::Blocking)?
}

/// Reads `table` in the order of its first column (its key), a chunk at a time, converting each value to its target
/// column's type.
fn read_table(
    source: &Path,
    table: &'static str,
    columns: &[(String, Type)],
    chunks: &mpsc::Sender<Result<Vec<Vec<Value>>, CopyError>>,
) -> Result<(), CopyError> {
    let conn =
        rusqlite::Connection::open_with_flags(source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    let mut stmt = conn.prepare(&format!(
        "SELECT {} FROM {table} ORDER BY 1",
        names.join(", ")
    ))?;
    let mut rows = stmt.query([])?;
    let mut chunk = Vec::with_capacity(CHUNK);
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns.len());
        for (i, (name, ty)) in columns.iter().enumerate() {
            let value = convert(row.get_ref(i)?, ty).map_err(|problem| CopyError::Value {
                table,
                column: name.clone(),
                problem,
            })?;
            values.push(value);
        }
        chunk.push(values);
        if chunk.len() == CHUNK
            && chunks
                .blocking_send(Ok(std::mem::take(&mut chunk)))
                .is_err()
        {
            return Ok(());
        }
    }
    if !chunk.is_empty() {
        let _ = chunks.blocking_send(Ok(chunk));
    }
    Ok(())
}

/// One value on its way to PostgreSQL, already of its column's type.
#[derive(Debug)]
pub enum Value {
    Null,
    Big(i64),
    Int(i32),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
    Time(Instant),
    Json(serde_json::Value),
}

fn convert(value: ValueRef<'_>, ty: &Type) -> Result<Value, String> {
    let text = |v: ValueRef<'_>| -> Result<String, String> {
        match v {
            ValueRef::Text(t) => String::from_utf8(t.to_vec()).map_err(|e| e.to_string()),
            ValueRef::Integer(n) => Ok(n.to_string()),
            ValueRef::Real(x) => Ok(x.to_string()),
            other => Err(format!("expected text, found {:?}", other.data_type())),
        }
    };
    let integer = |v: ValueRef<'_>| -> Result<i64, String> {
        match v {
            ValueRef::Integer(n) => Ok(n),
            other => Err(format!(
                "expected an integer, found {:?}",
                other.data_type()
            )),
        }
    };
    if matches!(value, ValueRef::Null) {
        return Ok(Value::Null);
    }
    Ok(match *ty {
        Type::INT8 => Value::Big(integer(value)?),
        Type::INT4 => Value::Int(i32::try_from(integer(value)?).map_err(|e| e.to_string())?),
        Type::BOOL => Value::Bool(integer(value)? != 0),
        Type::TEXT | Type::VARCHAR => Value::Text(text(value)?),
        Type::BYTEA => match value {
            ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
            ValueRef::Text(t) => Value::Bytes(t.to_vec()),
            other => return Err(format!("expected bytes, found {:?}", other.data_type())),
        },
        Type::TIMESTAMPTZ => {
            let t = text(value)?;
            Value::Time(from_db(&t).map_err(|e| format!("timestamp {t:?}: {e}"))?)
        }
        Type::JSONB | Type::JSON => {
            let t = text(value)?;
            Value::Json(serde_json::from_str(&t).map_err(|e| format!("JSON: {e}"))?)
        }
        ref other => return Err(format!("no conversion to {other}")),
    })
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Big(n) => n.to_sql(ty, out),
            Value::Int(n) => n.to_sql(ty, out),
            Value::Bool(b) => b.to_sql(ty, out),
            Value::Text(t) => t.to_sql(ty, out),
            Value::Bytes(b) => b.to_sql(ty, out),
            Value::Time(t) => t.to_sql(ty, out),
            Value::Json(j) => j.to_sql(ty, out),
        }
    }

    /// Each value was converted for its column's type, so it fits that type.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::TABLES;

    /// Tables that are deliberately not copied: SQLite's name and transcript indexes and their
    /// shadow tables (PostgreSQL builds its own) and the migrations each database keeps for
    /// itself.
    const NOT_HISTORY: &[&str] = &[
        "conference_names",
        "conference_names_config",
        "conference_names_data",
        "conference_names_docsize",
        "conference_names_idx",
        "transcript_search",
        "transcript_search_config",
        "transcript_search_data",
        "transcript_search_docsize",
        "transcript_search_idx",
        "transcript_search_keys",
        "schema_migrations",
    ];

    #[test]
    fn every_table_of_the_sqlite_schema_is_copied_or_deliberately_left() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::db::sqlite::migrate::run(&mut conn).unwrap();
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        let tables: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let forgotten: Vec<&String> = tables
            .iter()
            .filter(|t| !TABLES.contains(&t.as_str()) && !NOT_HISTORY.contains(&t.as_str()))
            .collect();
        assert!(
            forgotten.is_empty(),
            "tables `db copy` would leave behind: {forgotten:?}"
        );
    }
}

//! The database a test server runs on: its own SQLite file by default, or, with
//! `CV_TEST_DATABASE=postgres` (scripts/test.sh's second pass), a fresh database on the
//! throwaway PostgreSQL cluster. Tests look inside through [`TestDatabase::sql`], which answers
//! the same on both.

use std::path::{Path, PathBuf};

/// Where one server's data lives.
#[derive(Debug, Clone)]
pub enum TestDatabase {
    Sqlite(PathBuf),
    Postgres(String),
}

impl TestDatabase {
    /// The backend this run of the tests uses, for a server whose data directory is `data`.
    pub fn for_run(data: &Path) -> TestDatabase {
        match std::env::var("CV_TEST_DATABASE").as_deref() {
            Ok("postgres") => TestDatabase::Postgres(fresh_postgres_database()),
            _ => TestDatabase::Sqlite(data.join("confvault.db")),
        }
    }

    /// The PostgreSQL database a test's own settings name, if they do.
    pub fn named_in(settings: &str) -> Option<TestDatabase> {
        let (_, section) = settings.split_once("[database]")?;
        let (_, rest) = section.split_once("url = \"")?;
        let (url, _) = rest.split_once('"')?;
        Some(TestDatabase::Postgres(url.to_owned()))
    }

    /// The settings that select it (nothing for the default SQLite file).
    pub fn settings(&self) -> String {
        match self {
            TestDatabase::Sqlite(_) => String::new(),
            TestDatabase::Postgres(url) => format!("[database]\nurl = \"{url}\"\n"),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDatabase::Postgres(_))
    }

    /// Runs `sql` (no parameters: tests inline their values) and returns every row, each
    /// value as text (`None` for NULL). Written in the SQL both backends share.
    pub fn sql(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        match self {
            TestDatabase::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                let mut stmt = conn.prepare(sql).unwrap();
                let columns = stmt.column_count();
                stmt.query_map([], |row| {
                    (0..columns)
                        .map(|i| {
                            Ok(match row.get::<_, rusqlite::types::Value>(i)? {
                                rusqlite::types::Value::Null => None,
                                rusqlite::types::Value::Integer(n) => Some(n.to_string()),
                                rusqlite::types::Value::Real(x) => Some(x.to_string()),
                                rusqlite::types::Value::Text(t) => Some(t),
                                rusqlite::types::Value::Blob(b) => Some(hex::encode(b)),
                            })
                        })
                        .collect()
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
            }
            TestDatabase::Postgres(url) => {
                let (url, sql) = (url.clone(), sql.to_owned());
                on_own_runtime(async move {
                    let client = confvault::db::postgres::connect(&url).await.unwrap();
                    client
                        .simple_query(&sql)
                        .await
                        .unwrap()
                        .into_iter()
                        .filter_map(|message| match message {
                            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                                (0..row.len())
                                    .map(|i| row.get(i).map(str::to_owned))
                                    .collect(),
                            ),
                            _ => None,
                        })
                        .collect()
                })
            }
        }
    }

    /// The first column of the first row, as a number.
    pub fn number(&self, sql: &str) -> i64 {
        self.sql(sql)[0][0].as_deref().unwrap().parse().unwrap()
    }
}

/// Runs `work` to completion on a runtime of its own thread: harness calls are synchronous and
/// may be made from inside a test's runtime.
fn on_own_runtime<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(work)
    })
    .join()
    .unwrap()
}

/// A new, empty database on the test cluster; its URL.
pub fn fresh_postgres_database() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let server = super::test_service("CV_TEST_POSTGRES_URL", "PostgreSQL");
    let name = format!(
        "cv_it_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = server.clone();
    let create = format!("CREATE DATABASE {name}");
    on_own_runtime(async move {
        let client = confvault::db::postgres::connect(&admin).await.unwrap();
        client.batch_execute(&create).await.unwrap();
    });
    match server.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("CV_TEST_POSTGRES_URL names no database: {server}"),
    }
}

//! `confvault db copy --to postgres://…`: the move from the embedded SQLite file to PostgreSQL,
//! with a progress line per table and the counts checked before anything is kept.

use anyhow::Context;

use crate::config::{Config, PostgresUrl};
use crate::progress::{Progress, Unit};

pub async fn to_postgres(config: &Config, to: &str) -> anyhow::Result<()> {
    let source = config.database_path();
    anyhow::ensure!(
        source.exists(),
        "no SQLite database at {} (database.path) to copy from",
        source.display()
    );
    let target = PostgresUrl::parse(to).map_err(|problem| anyhow::anyhow!("--to: {problem}"))?;
    let settings = crate::db::postgres_settings(config, &target);
    let mut client = crate::db::postgres::connect::single(&settings)
        .await
        .with_context(|| format!("connecting to {}", target.shown()))?;
    println!("copying {} into {}", source.display(), target.shown());
    let mut bar: Option<(&'static str, Progress, i64)> = None;
    let copied = crate::db::copy::sqlite_to_postgres(&source, &mut client, |table, done, total| {
        if bar.as_ref().is_none_or(|(name, _, _)| *name != table) {
            if let Some((_, finished, _)) = bar.take() {
                finished.finish();
            }
            bar = Some((
                table,
                Progress::new(table, total.max(0) as u64, Unit::Items),
                0,
            ));
        }
        if let Some((_, progress, shown)) = bar.as_mut() {
            progress.advance((done - *shown).max(0) as u64);
            *shown = done;
        }
    })
    .await
    .with_context(|| format!("copying into {}", target.shown()))?;
    if let Some((_, finished, _)) = bar.take() {
        finished.finish();
    }
    for table in &copied {
        println!("  {:<16} {:>10} rows", table.table, table.rows);
    }
    println!(
        "copied {} rows; every table's count matches. Point database.url at the target and start the replicas.",
        copied.iter().map(|t| t.rows).sum::<i64>()
    );
    Ok(())
}

//! A large synthetic archive written straight into SQLite, for the query benchmark.

use std::path::Path;

use anyhow::Context;
use rusqlite::params;

use crate::config::Synchronous;
use crate::time::to_db;

const WORDS: &[&str] = &[
    "Weekly",
    "Standup",
    "Sales",
    "Sync",
    "Retro",
    "Board",
    "Planning",
    "Review",
    "Support",
    "Escalation",
    "Design",
    "Hiring",
    "Interview",
    "Customer",
    "Onboarding",
    "Ops",
    "Finance",
    "Marketing",
    "Roadmap",
    "All-hands",
    "Incident",
    "Demo",
    "Partner",
    "Legal",
    "Training",
];

/// Writes `conferences` ended conferences over the two years before now, `legs` legs each
/// (numbers drawn from a pool of `numbers`), and an archived recording on every third.
pub fn gen_archive(path: &Path, conferences: u64, legs: u64, numbers: u64) -> anyhow::Result<()> {
    super::migrate_file(path, Synchronous::Normal).context("migrating the database")?;
    let mut conn = super::open(path, Synchronous::Normal)?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    let now = chrono::Utc::now();
    let span = 2 * 365 * 24 * 3600;
    let batch = 10_000;
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // xorshift: fast, reproducible, good enough for synthetic data.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let started = std::time::Instant::now();
    let mut progress = crate::progress::Progress::new(
        "generating conferences",
        conferences,
        crate::progress::Unit::Items,
    );
    for chunk in 0..conferences.div_ceil(batch) {
        let tx = conn.transaction()?;
        {
            let mut conference = tx.prepare_cached(
                "INSERT INTO conferences (conference_uuid, name, status, started_at, ended_at,
                                          end_reason, created_at, updated_at)
                 VALUES (?1, ?2, 'ended', ?3, ?4, 'end_event', ?3, ?4)",
            )?;
            let mut leg = tx.prepare_cached(
                "INSERT INTO participants (conference_uuid, call_uuid, member_id, from_number,
                                           from_normalized, to_number, joined_at, left_at)
                 VALUES (?1, ?2, '', ?3, ?3, '919624705678', ?4, ?5)",
            )?;
            let mut recording = tx.prepare_cached(
                "INSERT INTO recordings (recording_id, conference_uuid, source, source_url,
                                         format, size_bytes, created_at, archived_at,
                                         recorded_at)
                 VALUES (?1, ?2, 'conference_end', ?3, 'mp3', ?4, ?5, ?5, ?5)",
            )?;
            for i in chunk * batch..((chunk + 1) * batch).min(conferences) {
                let uuid = format!("gen-{i:09}");
                let name = format!(
                    "{} {} {}",
                    WORDS[(next() % WORDS.len() as u64) as usize],
                    WORDS[(next() % WORDS.len() as u64) as usize],
                    next() % 1000
                );
                let start = now - chrono::Duration::seconds((next() % span) as i64);
                let end = start + chrono::Duration::seconds(600 + (next() % 3600) as i64);
                conference.execute(params![uuid, name, to_db(start), to_db(end)])?;
                for l in 0..legs {
                    let number = format!("91{:010}", next() % numbers);
                    leg.execute(params![
                        uuid,
                        format!("{uuid}-{l}"),
                        number,
                        to_db(start),
                        to_db(end)
                    ])?;
                }
                if i % 3 == 0 {
                    recording.execute(params![
                        format!("rec-{i:09}"),
                        uuid,
                        format!("https://media.vobiz.ai/{uuid}.mp3"),
                        (next() % 50_000_000) as i64,
                        to_db(end)
                    ])?;
                }
            }
        }
        tx.commit()?;
        progress.advance(((chunk + 1) * batch).min(conferences) - chunk * batch);
    }
    progress.finish();
    conn.execute_batch("ANALYZE; PRAGMA wal_checkpoint(TRUNCATE);")
        .context("analysing the generated archive")?;
    println!(
        "done in {:.0} s: {}",
        started.elapsed().as_secs_f64(),
        path.display()
    );
    Ok(())
}

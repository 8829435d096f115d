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

/// What people say, most common first: a transcript draws its words with a skew towards the
/// front, so that the first few are in nearly every meeting and the last few in few.
const SPOKEN: &[&str] = &[
    "the",
    "we",
    "so",
    "okay",
    "right",
    "meeting",
    "next",
    "week",
    "team",
    "update",
    "customer",
    "thanks",
    "question",
    "budget",
    "review",
    "release",
    "plan",
    "numbers",
    "deadline",
    "risk",
    "hiring",
    "launch",
    "contract",
    "invoice",
    "migration",
    "security",
    "audit",
    "roadmap",
    "partner",
    "pricing",
    "renewal",
    "outage",
    "postmortem",
    "forecast",
    "quarterly",
    "offsite",
    "compliance",
    "escalation",
    "refund",
    "warranty",
];

/// Words a generated transcript holds.
const TRANSCRIPT_WORDS: u64 = 40;

/// Writes `conferences` ended conferences over the two years before now, `legs` legs each
/// (numbers drawn from a pool of `numbers`), and an archived recording on every third, each
/// with a transcript of [`TRANSCRIPT_WORDS`] words drawn from [`SPOKEN`] and one code name
/// (`project` and a number under 5,000) that a few dozen meetings share.
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
            let mut transcript = tx.prepare_cached(
                "INSERT INTO transcripts (recording_id, text, received_at) VALUES (?1, ?2, ?3)",
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
                    let id = format!("rec-{i:09}");
                    recording.execute(params![
                        id,
                        uuid,
                        format!("https://media.vobiz.ai/{uuid}.mp3"),
                        (next() % 50_000_000) as i64,
                        to_db(end)
                    ])?;
                    let mut words: Vec<&str> = (0..TRANSCRIPT_WORDS)
                        .map(|_| {
                            // The smaller of two draws: the first word comes up about twice
                            // as often as the middle one, and 79 times as often as the last.
                            let k =
                                (next() % SPOKEN.len() as u64).min(next() % SPOKEN.len() as u64);
                            SPOKEN[k as usize]
                        })
                        .collect();
                    let code_name = format!("project{}", next() % 5000);
                    words.push(&code_name);
                    transcript.execute(params![id, words.join(" "), to_db(end)])?;
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

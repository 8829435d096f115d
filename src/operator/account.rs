//! The account commands: `sync` (find every recording in the Vobiz account), `recordings list`
//! (every recording, linked or not) and `recordings prune-source` (delete Vobiz's copies of
//! recordings whose archived copy is proven).

use crate::db::access::Visibility;
use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use serde::Serialize;

use super::{with_database, with_shared_database};
use crate::account::source_delete::{DeleteError, Deletion, SourceDeleter};
use crate::account::sync::{NotRun, PageDone, SyncOptions, Syncer};
use crate::account::{ACCOUNT_LEASE, client};
use crate::config::Config;
use crate::db::catalog::LeaseRequest;
use crate::mail::summary::{human_duration, human_size};
use crate::progress::{Progress, Unit};
use crate::search::RecordingQuery;

fn owner(what: &str) -> String {
    format!("{what}-{}-{}", std::process::id(), rand::random::<u32>())
}

pub async fn sync(config: &Config, options: SyncOptions, json: bool) -> anyhow::Result<()> {
    let client = client(config)?;
    let report = with_shared_database(config, async |db| {
        let syncer = Syncer {
            client,
            db,
            owner: owner("cli-sync"),
            unlinked_grace: std::time::Duration::from_secs(config.archive.unlinked_grace_seconds),
        };
        let mut progress = Progress::new("listing the account's recordings", 0, Unit::Items);
        let mut on_page = |page: &PageDone| {
            if let Some(total) = page.total_count {
                progress.set_total(total);
            }
            progress.advance(page.objects as u64);
        };
        let result = syncer.run(&options, &mut on_page).await;
        progress.finish();
        match result.context("syncing the Vobiz account")? {
            Ok(report) => Ok(report),
            Err(NotRun::Busy { holder }) => anyhow::bail!(
                "another sync or prune holds the account ({}); try again when it is done",
                holder.as_deref().unwrap_or("unknown")
            ),
            Err(NotRun::RecentlyDone) => anyhow::bail!("a sync completed moments ago"),
        }
    })
    .await?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
        return Ok(());
    }
    let would = if report.dry_run { "would be " } else { "" };
    writeln!(
        out,
        "listed {} recordings in {} pages (the account says {})",
        report.listed,
        report.pages,
        report
            .total_count
            .map_or_else(|| "nothing".to_owned(), |t| t.to_string())
    )?;
    writeln!(
        out,
        "found   {} not known before: {} {would}queued to archive now, {} when their conference \
         ends, {} after the grace (no conference known yet)",
        report.found, report.queued, report.waiting_for_conference, report.queued_after_grace
    )?;
    writeln!(out, "skipped {} already known", report.already_known)?;
    writeln!(
        out,
        "skipped {} outside --since/--until",
        report.outside_window
    )?;
    writeln!(
        out,
        "skipped {} unusable objects, {} unreadable pages (reasons in the log)",
        report.skipped, report.bad_pages
    )?;
    if report.dry_run {
        writeln!(out, "dry run: nothing was changed")?;
    }
    Ok(())
}

#[derive(Serialize)]
struct ListAnswer {
    recordings: Vec<crate::db::catalog::RecordingEntry>,
    next_cursor: Option<String>,
}

pub async fn list_recordings(
    config: &Config,
    query: RecordingQuery,
    json: bool,
) -> anyhow::Result<()> {
    let filter = crate::search::recording_filter(query, config.timezone)?;
    let page = with_database(config, async |db| {
        Ok(db.search_recordings(filter, Visibility::Everything).await?)
    })
    .await?;
    let mut out = std::io::stdout().lock();
    if json {
        let answer = ListAnswer {
            next_cursor: page
                .next
                .as_ref()
                .map(crate::search::encode_recording_cursor),
            recordings: page.rows,
        };
        serde_json::to_writer_pretty(&mut out, &answer)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<20}  {:<9}  {:>8}  {:>9}  {:<16}  {:<16}  {:<38}  CONFERENCE",
        "RECORDED", "STATUS", "LENGTH", "SIZE", "FROM", "TO", "RECORDING"
    )?;
    for r in page.rows {
        writeln!(
            out,
            "{:<20}  {:<9}  {:>8}  {:>9}  {:<16}  {:<16}  {:<38}  {}",
            crate::time::local(r.recorded_at, config.timezone, "%Y-%m-%d %H:%M:%S"),
            r.status.as_str(),
            r.duration_seconds
                .map_or_else(|| "-".to_owned(), |s| human_duration(s.round() as i64)),
            r.size_bytes.map_or_else(|| "-".to_owned(), human_size),
            r.from.as_deref().unwrap_or("-"),
            r.to.as_deref().unwrap_or("-"),
            r.recording_id,
            r.conference_uuid.as_deref().unwrap_or("(none known)")
        )?;
    }
    if page.next.is_some() {
        writeln!(out, "(more: raise --limit or narrow the search)")?;
    }
    Ok(())
}

/// Deletes Vobiz's copies of recordings archived more than `older_than_days` ago, each only
/// after reading ours back and checking it; holds the account lease throughout, so no sync
/// walks pages meanwhile.
pub async fn prune_source(
    config: &Config,
    older_than_days: Option<u32>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let days = older_than_days
        .or(config.vobiz.delete_source_after_days)
        .context("give --older-than DAYS or set vobiz.delete_source_after_days")?;
    anyhow::ensure!(days >= 1, "--older-than must be at least 1 day");
    let client = client(config)?;
    let store = crate::storage::from_config(config).await?;
    with_shared_database(config, async |db| {
        let owner = owner("cli-prune");
        let now = chrono::Utc::now();
        let taken = db
            .take_lease(LeaseRequest {
                name: ACCOUNT_LEASE,
                owner: owner.clone(),
                now,
                until: now + chrono::Duration::hours(6),
                unless_completed_after: None,
            })
            .await?;
        anyhow::ensure!(
            taken,
            "a sync or another prune holds the account; try again when it is done"
        );
        let deleter = SourceDeleter {
            client,
            store,
            db: Arc::clone(&db),
            webhooks: config.webhooks.enabled(),
        };
        let result = prune(&deleter, &*db, &owner, days, dry_run).await;
        db.end_lease(ACCOUNT_LEASE, &owner, None).await?;
        result
    })
    .await
}

async fn prune(
    deleter: &SourceDeleter,
    db: &dyn crate::db::Database,
    owner: &str,
    days: u32,
    dry_run: bool,
) -> anyhow::Result<()> {
    let before = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
    let (mut deleted, mut kept, mut after) = (0u64, 0u64, String::new());
    let mut out = std::io::stdout();
    loop {
        let due = db.source_deletes_due(before, &after, 100).await?;
        let Some(last) = due.last() else { break };
        after = last.recording_id.clone();
        for copy in due {
            let id = copy.recording_id.clone();
            let size = copy
                .size_bytes
                .map_or_else(String::new, |s| human_size(s as i64));
            let outcome = if dry_run {
                deleter.verify(&copy).await.map(|_| None)
            } else {
                deleter.delete(&id, Some(owner)).await.map(Some)
            };
            match outcome {
                Ok(None) => {
                    deleted += 1;
                    writeln!(out, "would delete {id} ({size}, our copy verified)")?;
                }
                Ok(Some(Deletion::AlreadyGone)) => {
                    deleted += 1;
                    writeln!(out, "deleted      {id} (Vobiz had already removed it)")?;
                }
                Ok(Some(_)) => {
                    deleted += 1;
                    writeln!(out, "deleted      {id} ({size}, our copy verified)")?;
                }
                Err(DeleteError::CopyDamaged(why)) => {
                    kept += 1;
                    writeln!(out, "KEPT         {id}: our copy failed its check: {why}")?;
                    if !dry_run {
                        db.rearchive(&id, chrono::Utc::now()).await?;
                        writeln!(out, "             queued to be archived again from Vobiz")?;
                    }
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(format!("deleting {id} at source")));
                }
            }
        }
    }
    let verb = if dry_run {
        "would be deleted"
    } else {
        "deleted"
    };
    writeln!(
        out,
        "{deleted} recording(s) {verb} at Vobiz; {kept} kept because our copy failed its check"
    )?;
    Ok(())
}

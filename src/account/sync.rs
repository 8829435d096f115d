//! The account sync: walk the Vobiz account's recordings page by page and record each one not
//! known yet, so that the archive holds every recording even when its callback never came.
//! One sync (or delete at source) at a time per account, under a lease in the database: offsets
//! shift when recordings are deleted, so nothing is deleted while pages are walked.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::{ACCOUNT_LEASE, AccountError};
use crate::db::Database;
use crate::db::catalog::{ArchivePlan, Discovered, Found, LeaseRequest};
use crate::db::model::{Instant, JobKind};
use crate::vobiz::phone;
use crate::vobiz::rest::{ListedRecording, PAGE_SIZE, RestClient, RestError, Skipped};

/// How long a sync's lease lasts without renewal; it is renewed every page.
const LEASE: Duration = Duration::from_secs(120);
/// How long a sync waits for deletes at source already running to finish.
const DELETES_DRAIN: Duration = Duration::from_secs(120);
/// Pages walked beyond what `total_count` promises before the walk is judged endless.
const EXTRA_PAGES: u64 = 50;

#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Only recordings made at or after this.
    pub since: Option<Instant>,
    /// Only recordings made before this.
    pub until: Option<Instant>,
    /// List and compare, change nothing.
    pub dry_run: bool,
    /// Skip the sync when another replica completed one after this.
    pub unless_completed_after: Option<Instant>,
}

/// What one page did, as it happens (for a progress bar and the log).
#[derive(Debug, Default)]
pub struct PageDone {
    pub objects: usize,
    pub total_count: Option<u64>,
    /// New recordings (in a dry run, the ones that would be new).
    pub new: Vec<Found>,
}

/// What a sync found, queued and skipped.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SyncReport {
    pub dry_run: bool,
    pub pages: u64,
    /// `meta.total_count` of the last page read.
    pub total_count: Option<u64>,
    /// Objects listed, used or not.
    pub listed: u64,
    /// Recordings not known before (recorded now, unless a dry run).
    pub found: u64,
    /// Of those, queued to be archived at once (their conference had ended).
    pub queued: u64,
    /// Queued to be archived when their conference, still running, ends.
    pub waiting_for_conference: u64,
    /// With no known conference: queued to be archived after `archive.unlinked_grace_seconds`
    /// (and linked if its callbacks come meanwhile, or later).
    pub queued_after_grace: u64,
    /// Linked to a known conference.
    pub linked: u64,
    pub already_known: u64,
    pub outside_window: u64,
    /// Objects that could not be used (logged with the reason).
    pub skipped: u64,
    /// Pages that could not be read (logged; the walk went on at the next offset).
    pub bad_pages: u64,
}

/// Why a sync did not run.
#[derive(Debug, PartialEq, Eq)]
pub enum NotRun {
    /// Another process holds the account's lease.
    Busy { holder: Option<String> },
    /// Another replica completed a sync recently.
    RecentlyDone,
}

pub struct Syncer {
    pub client: Arc<RestClient>,
    pub db: Arc<dyn Database>,
    /// Who holds the lease while this runs.
    pub owner: String,
    /// How long a recording with no known conference waits before it is archived on its own.
    pub unlinked_grace: Duration,
}

impl Syncer {
    /// Runs one sync under the account lease. `on_page` sees each page's outcome.
    pub async fn run(
        &self,
        options: &SyncOptions,
        on_page: &mut (dyn FnMut(&PageDone) + Send),
    ) -> Result<Result<SyncReport, NotRun>, AccountError> {
        if !self.take_lease(options.unless_completed_after).await? {
            let holder = self
                .db
                .lease_holder(ACCOUNT_LEASE, chrono::Utc::now())
                .await?;
            return Ok(Err(match (holder, options.unless_completed_after) {
                (None, Some(_)) => NotRun::RecentlyDone,
                (holder, _) => NotRun::Busy { holder },
            }));
        }
        let result = async {
            self.wait_for_deletes().await?;
            self.walk(options, on_page).await
        }
        .await;
        let completed = result.is_ok() && !options.dry_run;
        let ended = self
            .db
            .end_lease(ACCOUNT_LEASE, &self.owner, completed.then(chrono::Utc::now))
            .await;
        let report = result?;
        ended?;
        Ok(Ok(report))
    }

    /// Hands the lease back if this syncer holds it (a sync stopped midway).
    pub async fn release(&self) -> Result<(), AccountError> {
        Ok(self.db.end_lease(ACCOUNT_LEASE, &self.owner, None).await?)
    }

    async fn take_lease(
        &self,
        unless_completed_after: Option<Instant>,
    ) -> Result<bool, AccountError> {
        let now = chrono::Utc::now();
        Ok(self
            .db
            .take_lease(LeaseRequest {
                name: ACCOUNT_LEASE,
                owner: self.owner.clone(),
                now,
                until: now + chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::MAX),
                unless_completed_after,
            })
            .await?)
    }

    /// Deletes that started before the lease was taken may still be running: wait for them,
    /// since each would shift the offsets of the pages about to be read.
    async fn wait_for_deletes(&self) -> Result<(), AccountError> {
        let deadline = tokio::time::Instant::now() + DELETES_DRAIN;
        loop {
            let running = self
                .db
                .running_jobs(JobKind::DeleteSource, chrono::Utc::now())
                .await?;
            if running == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(AccountError::DeletesRunning(running));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn walk(
        &self,
        options: &SyncOptions,
        on_page: &mut (dyn FnMut(&PageDone) + Send),
    ) -> Result<SyncReport, AccountError> {
        let mut report = SyncReport {
            dry_run: options.dry_run,
            ..SyncReport::default()
        };
        let mut url = self.client.first_page();
        let mut offset: u64 = 0;
        // What the API pages by: asked for PAGE_SIZE, it may use less (its meta.limit says).
        let mut page_size = u64::from(PAGE_SIZE);
        loop {
            if !self.take_lease(None).await? {
                return Err(AccountError::LeaseLost);
            }
            let page_limit = report.total_count.unwrap_or(0) / page_size + EXTRA_PAGES;
            if report.pages > page_limit {
                return Err(AccountError::EndlessList(report.pages));
            }
            report.pages += 1;
            let page = match self.client.list(&url).await {
                Ok(page) => page,
                Err(RestError::BadAnswer(why)) => {
                    report.bad_pages += 1;
                    tracing::warn!(offset, error = %why.chain(), "skipping a page of the recordings list that could not be read");
                    offset += page_size;
                    match report.total_count {
                        Some(total) if offset < total => {
                            url = self.client.page_at(offset, page_size);
                            continue;
                        }
                        _ => break,
                    }
                }
                Err(e) => return Err(e.into()),
            };
            report.listed += page.objects as u64;
            page_size = page.limit.unwrap_or(page_size);
            report.total_count = page.total_count.or(report.total_count);
            for skipped in &page.skipped {
                log_skipped(skipped);
            }
            report.skipped += page.skipped.len() as u64;
            let (inside, outside): (Vec<_>, Vec<_>) = page
                .recordings
                .into_iter()
                .partition(|r| in_window(r, options));
            report.outside_window += outside.len() as u64;
            let new = self.record(inside, options.dry_run, &mut report).await?;
            on_page(&PageDone {
                objects: page.objects,
                total_count: report.total_count,
                new,
            });
            offset += page.objects as u64;
            match page.next {
                Some(next) if page.objects > 0 => url = self.client.next_page(&next)?,
                _ => break,
            }
        }
        if let Some(total) = report.total_count
            && report.listed + report.bad_pages * page_size < total
        {
            // Retention or deletes at Vobiz shrink the list while it is walked; worth knowing.
            tracing::info!(
                listed = report.listed,
                total,
                "fewer recordings listed than the account's total_count"
            );
        }
        Ok(report)
    }

    async fn record(
        &self,
        recordings: Vec<ListedRecording>,
        dry_run: bool,
        report: &mut SyncReport,
    ) -> Result<Vec<Found>, AccountError> {
        if recordings.is_empty() {
            return Ok(Vec::new());
        }
        let found = if dry_run {
            let ids = recordings.iter().map(|r| r.recording_id.clone()).collect();
            let known = self.db.known_recordings(ids).await?;
            recordings
                .into_iter()
                .map(|r| Found {
                    new: !known.contains(&r.recording_id),
                    recording_id: r.recording_id,
                    conference_uuid: None,
                    archive: None,
                })
                .collect()
        } else {
            let discovered = recordings.into_iter().map(discovered).collect();
            let now = chrono::Utc::now();
            let grace =
                chrono::Duration::from_std(self.unlinked_grace).unwrap_or(chrono::Duration::MAX);
            self.db
                .record_discovered(discovered, now, now + grace)
                .await?
        };
        let (new, known): (Vec<_>, Vec<_>) = found.into_iter().partition(|f| f.new);
        report.already_known += known.len() as u64;
        report.found += new.len() as u64;
        let planned = |plan| new.iter().filter(|f| f.archive == Some(plan)).count() as u64;
        report.queued += planned(ArchivePlan::Now);
        report.waiting_for_conference += planned(ArchivePlan::WhenConferenceEnds);
        report.queued_after_grace += planned(ArchivePlan::AfterGrace);
        report.linked += new.iter().filter(|f| f.conference_uuid.is_some()).count() as u64;
        Ok(new)
    }
}

fn log_skipped(skipped: &Skipped) {
    tracing::warn!(
        recording_id = skipped.recording_id.as_deref().unwrap_or(""),
        reason = %skipped.reason,
        "skipping a recording the Vobiz API listed"
    );
}

/// Inside `[since, until)`; a recording that does not say when it was made is kept.
fn in_window(r: &ListedRecording, options: &SyncOptions) -> bool {
    let Some(at) = r.recorded_at else {
        return true;
    };
    options.since.is_none_or(|since| at >= since) && options.until.is_none_or(|until| at < until)
}

fn discovered(r: ListedRecording) -> Discovered {
    Discovered {
        from_normalized: phone::normalized(r.from.as_deref()),
        to_normalized: phone::normalized(r.to.as_deref()),
        recording_id: r.recording_id,
        source_url: r.recording_url.to_string(),
        call_uuid: r.call_uuid,
        recorded_at: r.recorded_at,
        started_at: r.started_at,
        duration_ms: r.duration_ms,
        from: r.from,
        to: r.to,
        vobiz_object: r.object.to_string(),
    }
}

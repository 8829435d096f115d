//! `confvault recordings rearchive --from OLD`: copies every archived recording and its sidecar
//! from the store of another settings file (the one in use before a move, say from the local
//! directory to a bucket) into the store configured now, and points the recordings there.

use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use async_trait::async_trait;
use futures_util::StreamExt;
use tracing::Instrument;

use crate::config::Config;
use crate::db::Database;
use crate::db::model::ArchivedRecording;
use crate::progress::{Progress, Unit};
use crate::sidecar::sidecar_key;
use crate::storage::{FileUpload, ProgressSink, Store, StoreError, UploadProgress};
use crate::vobiz::sniff::AudioFormat;

/// Recordings read from the database at a time.
const PAGE: usize = 500;

/// What became of one recording.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Copied,
    /// The current store already holds it with the same SHA-256 (a rerun, or the same store).
    AlreadyThere,
}

/// Copies the archive; fails, after trying every recording, if any could not be copied. Objects
/// keep their keys, so sidecars and links stay valid. Safe to run again after an interruption:
/// what is already in place with the same SHA-256 is skipped. `concurrency` recordings are
/// copied at a time: most are small enough that a copy waits on round trips, not bandwidth.
pub async fn rearchive(config: &Config, from: &Path, concurrency: usize) -> anyhow::Result<()> {
    let old = Config::load(Some(from))
        .with_context(|| format!("invalid configuration in {}", from.display()))?;
    let source = crate::storage::from_config(&old)
        .await
        .context("opening the storage of --from")?;
    let target = crate::storage::from_config(config)
        .await
        .context("opening the configured storage")?;
    let spool_dir = config.spool_dir();
    tokio::fs::create_dir_all(&spool_dir)
        .await
        .with_context(|| format!("creating {}", spool_dir.display()))?;
    println!(
        "copying from {} to {}",
        source.location(""),
        target.location("")
    );
    super::with_database(config, async |db| {
        copy_all(db, &*source, &*target, &spool_dir, concurrency).await
    })
    .await
}

/// Copies every archived recording, a page at a time, and names those that failed.
async fn copy_all(
    db: &dyn Database,
    source: &dyn Store,
    target: &dyn Store,
    spool_dir: &Path,
    concurrency: usize,
) -> anyhow::Result<()> {
    let total = db.count_archived().await?;
    let mut progress = Progress::new("re-archiving", total, Unit::Items);
    let (mut copied, mut already_there) = (0u64, 0u64);
    let mut failed: Vec<(String, anyhow::Error)> = Vec::new();
    let mut after = String::new();
    loop {
        let page = db.archived_after(&after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.recording_id.clone();
        let mut copies = futures_util::stream::iter(page)
            .map(|recording| async move {
                let span = tracing::info_span!("rearchive", recording_id = %recording.recording_id);
                let spool = spool_dir.join(format!("rearchive-{}", rand::random::<u64>()));
                let result = copy_one(source, target, &recording, &spool)
                    .instrument(span)
                    .await;
                let _ = tokio::fs::remove_file(&spool).await;
                (recording, result)
            })
            .buffer_unordered(concurrency.max(1));
        while let Some((recording, result)) = copies.next().await {
            let result = match result {
                Ok(outcome) => {
                    let location = target.location(&recording.object_key);
                    db.set_location(&recording.recording_id, &location)
                        .await
                        .context("recording the new location")
                        .map(|()| outcome)
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(Outcome::Copied) => copied += 1,
                Ok(Outcome::AlreadyThere) => already_there += 1,
                Err(e) => failed.push((recording.recording_id, e)),
            }
            progress.advance(1);
        }
    }
    progress.finish();
    println!(
        "{copied} copied, {already_there} already there, {} failed",
        failed.len()
    );
    for (id, e) in &failed {
        println!("  {id}: {e:#}");
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "{} recording(s) could not be re-archived; run the command again to retry them",
            failed.len()
        );
    }
    Ok(())
}

/// Copies one recording through `spool`, checking its SHA-256 against the one archived.
async fn copy_one(
    source: &dyn Store,
    target: &dyn Store,
    recording: &ArchivedRecording,
    spool: &Path,
) -> anyhow::Result<Outcome> {
    let key = recording.object_key.as_str();
    let existing = target.head(key).await.context("looking in the storage")?;
    if existing.and_then(|o| o.sha256).as_deref() == Some(recording.sha256.as_str()) {
        return Ok(Outcome::AlreadyThere);
    }
    let format = AudioFormat::parse(&recording.format)
        .with_context(|| format!("unknown format {:?}", recording.format))?;
    let (size, sha256) = super::fetch_to_file(source, key, spool, |_| {})
        .await
        .with_context(|| format!("reading {}", source.location(key)))?;
    if sha256 != recording.sha256 {
        anyhow::bail!(
            "{} has SHA-256 {sha256}, not {} as archived; not copied",
            source.location(key),
            recording.sha256
        );
    }
    // The sidecar goes before the recording: a recording found in place on a rerun then has
    // its sidecar too.
    let sidecar = sidecar_key(key);
    let json = source
        .get_bytes(&sidecar)
        .await
        .with_context(|| format!("reading {}", source.location(&sidecar)))?
        .with_context(|| format!("{} is missing; not copied", source.location(&sidecar)))?;
    target
        .put_bytes(&sidecar, json, "application/json")
        .await
        .with_context(|| format!("writing {}", target.location(&sidecar)))?;
    let upload = FileUpload {
        key,
        path: spool,
        size,
        sha256: &sha256,
        content_type: format.content_type(),
    };
    let started = LatestUpload::default();
    if let Err(e) = target.put_file(&upload, None, &started).await {
        // Not resumed by a rerun (that starts over), so its parts are freed now.
        if let Some(unfinished) = started.take()
            && let Err(abort) = target.abort_upload(&unfinished).await
        {
            tracing::warn!(error = %abort, upload_id = %unfinished.upload_id, "could not abort an unfinished multipart upload");
        }
        return Err(anyhow::Error::new(e).context(format!("writing {}", target.location(key))));
    }
    tracing::info!(%key, size, "recording re-archived");
    Ok(Outcome::Copied)
}

/// Remembers the multipart upload in progress, to abort it if the copy fails.
#[derive(Default)]
struct LatestUpload(Mutex<Option<UploadProgress>>);

impl LatestUpload {
    fn take(&self) -> Option<UploadProgress> {
        self.0.lock().ok().and_then(|mut latest| latest.take())
    }
}

#[async_trait]
impl ProgressSink for LatestUpload {
    async fn save(&self, progress: Option<&UploadProgress>) -> Result<(), StoreError> {
        if let Ok(mut latest) = self.0.lock() {
            *latest = progress.cloned();
        }
        Ok(())
    }
}

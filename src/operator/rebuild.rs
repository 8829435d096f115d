//! `confvault db rebuild`: restores the database from the archive alone. Every sidecar under
//! `storage.prefix` whose recording is in the store, with the size (and SHA-256) the sidecar
//! gives, brings back the recording as archived, its conference and its roster. Recordings the
//! database knows are left alone, so it can be run again, or on a database that lost only part
//! of its history. Nothing is fetched from Vobiz, mailed or sent to webhooks.

use anyhow::Context;
use futures_util::StreamExt;
use tracing::Instrument;

use crate::config::Config;
use crate::db::Database;
use crate::db::restore::{RestoreOutcome, Restored};
use crate::progress::{Progress, Unit};
use crate::sidecar::{SIDECAR_SCHEMA, Sidecar};
use crate::storage::Store;

/// Sidecars restored in one database transaction.
const BATCH: usize = 200;

#[derive(Debug, Clone, Copy)]
pub struct RebuildOptions {
    /// Read and check everything; write nothing.
    pub dry_run: bool,
    /// Read every recording back and check its SHA-256, not just its size and the checksum
    /// stored with it.
    pub verify: bool,
    /// Sidecars read (and recordings checked) at a time.
    pub concurrency: usize,
}

/// What one sidecar key held.
enum Read {
    Restorable(Box<Restored>),
    /// JSON, but not a confvault sidecar: someone else's object, left alone.
    NotASidecar,
}

/// What the whole run did.
#[derive(Debug, Default)]
struct Tally {
    restored: u64,
    conferences: u64,
    legs: u64,
    known: u64,
    not_sidecars: u64,
    failed: Vec<(String, anyhow::Error)>,
}

pub async fn rebuild(config: &Config, options: RebuildOptions) -> anyhow::Result<()> {
    let store = crate::storage::from_config(config)
        .await
        .context("opening the configured storage")?;
    let prefix = config.storage.prefix.as_str();
    println!(
        "rebuilding {} from the sidecars at {}",
        crate::db::describe(config),
        store.location(prefix)
    );
    super::with_database(config, async |db| {
        let tally = restore_all(db, &*store, prefix, options).await?;
        report(&tally, options.dry_run)
    })
    .await
}

/// Restores the sidecars under `prefix` a listing page at a time, so that an archive of any
/// size is rebuilt in bounded memory.
async fn restore_all(
    db: &dyn Database,
    store: &dyn Store,
    prefix: &str,
    options: RebuildOptions,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    // A store does not say how much is left to list: the total is what was listed so far.
    let mut progress = Progress::new("restoring", 0, Unit::Items);
    let (mut listed, mut page) = (0, None);
    loop {
        let listing = store
            .list(prefix, page)
            .await
            .with_context(|| format!("listing {}", store.location(prefix)))?;
        let sidecars: Vec<String> = listing
            .keys
            .into_iter()
            .filter(|k| k.ends_with(".json"))
            .collect();
        listed += sidecars.len() as u64;
        progress.set_total(listed);
        for chunk in sidecars.chunks(BATCH) {
            restore_batch(db, store, chunk, options, &mut tally).await?;
            progress.advance(chunk.len() as u64);
        }
        match listing.next {
            Some(next) => page = Some(next),
            None => break,
        }
    }
    progress.finish();
    Ok(tally)
}

/// Reads and checks up to [`BATCH`] sidecars, and restores what they hold in one transaction.
async fn restore_batch(
    db: &dyn Database,
    store: &dyn Store,
    chunk: &[String],
    options: RebuildOptions,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let mut reads = futures_util::stream::iter(chunk)
        .map(|key| async move {
            let span = tracing::info_span!("rebuild.sidecar", %key);
            let read = read_sidecar(store, key, options.verify)
                .instrument(span)
                .await;
            (key, read)
        })
        .buffered(options.concurrency.max(1));
    let mut batch = Vec::new();
    while let Some((key, read)) = reads.next().await {
        match read {
            Ok(Read::Restorable(restored)) => batch.push(*restored),
            Ok(Read::NotASidecar) => tally.not_sidecars += 1,
            Err(e) => tally.failed.push((key.clone(), e)),
        }
    }
    let outcomes = if options.dry_run {
        would_restore(db, &batch).await?
    } else {
        db.restore_archived(batch, chrono::Utc::now())
            .await
            .context("writing to the database")?
    };
    for outcome in outcomes {
        match outcome {
            RestoreOutcome::Restored { conference, legs } => {
                tally.restored += 1;
                tally.conferences += u64::from(conference);
                tally.legs += legs;
            }
            RestoreOutcome::Known => tally.known += 1,
        }
    }
    Ok(())
}

/// What a rebuild would do to `batch`: which recordings are new. A dry run does not look at
/// conferences and legs, so none are counted.
async fn would_restore(
    db: &dyn Database,
    batch: &[Restored],
) -> anyhow::Result<Vec<RestoreOutcome>> {
    let ids = batch
        .iter()
        .map(|r| r.recording.recording_id.clone())
        .collect();
    let known = db
        .known_recordings(ids)
        .await
        .context("reading the database")?;
    Ok(batch
        .iter()
        .map(|r| match known.contains(&r.recording.recording_id) {
            true => RestoreOutcome::Known,
            false => RestoreOutcome::Restored {
                conference: false,
                legs: 0,
            },
        })
        .collect())
}

/// Reads the sidecar at `key` and checks the recording it describes is in the store.
async fn read_sidecar(store: &dyn Store, key: &str, verify: bool) -> anyhow::Result<Read> {
    let bytes = store
        .get_bytes(key)
        .await
        .context("reading the sidecar")?
        .context("the sidecar was deleted while the rebuild ran")?;
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        anyhow::bail!("not JSON, though named like a sidecar");
    };
    let schema = json["schema"].as_str().unwrap_or_default();
    if !schema.starts_with("confvault.recording/") {
        return Ok(Read::NotASidecar);
    }
    if schema != SIDECAR_SCHEMA {
        anyhow::bail!("schema {schema:?}: written by a newer confvault than this one");
    }
    let sidecar: Sidecar = serde_json::from_value(json).context("not a sidecar confvault reads")?;
    check_recording(store, &sidecar, verify).await?;
    let location = store.location(&sidecar.recording.object_key);
    Ok(Read::Restorable(Box::new(sidecar.into_restored(location))))
}

/// The recording must be at its key with the size and SHA-256 the sidecar gives: a database
/// must not point at what is not there.
async fn check_recording(store: &dyn Store, sidecar: &Sidecar, verify: bool) -> anyhow::Result<()> {
    let r = &sidecar.recording;
    let key = r.object_key.as_str();
    let (size, sha256) = if verify {
        let digest = store
            .digest(key)
            .await
            .with_context(|| format!("reading {}", store.location(key)))?
            .with_context(|| format!("its recording {} is missing", store.location(key)))?;
        (digest.size, Some(digest.sha256))
    } else {
        let info = store
            .head(key)
            .await
            .with_context(|| format!("looking for {}", store.location(key)))?
            .with_context(|| format!("its recording {} is missing", store.location(key)))?;
        (info.size, info.sha256)
    };
    if size != r.size_bytes {
        anyhow::bail!(
            "its recording {} has {size} bytes, not {} as archived",
            store.location(key),
            r.size_bytes
        );
    }
    if let Some(sha256) = sha256
        && !sha256.eq_ignore_ascii_case(&r.sha256)
    {
        anyhow::bail!(
            "its recording {} has SHA-256 {sha256}, not {} as archived",
            store.location(key),
            r.sha256
        );
    }
    Ok(())
}

fn report(tally: &Tally, dry_run: bool) -> anyhow::Result<()> {
    if dry_run {
        println!(
            "dry run: {} recording(s) would be restored, {} known already, {} failed; nothing written",
            tally.restored,
            tally.known,
            tally.failed.len()
        );
    } else {
        println!(
            "{} recording(s) restored ({} conference(s), {} leg(s)), {} known already, {} failed",
            tally.restored,
            tally.conferences,
            tally.legs,
            tally.known,
            tally.failed.len()
        );
    }
    if tally.not_sidecars > 0 {
        println!(
            "{} JSON object(s) that are not confvault sidecars were left alone",
            tally.not_sidecars
        );
    }
    for (key, e) in &tally.failed {
        println!("  {key}: {e:#}");
    }
    if !tally.failed.is_empty() {
        anyhow::bail!(
            "{} sidecar(s) could not be restored; the rest were",
            tally.failed.len()
        );
    }
    Ok(())
}

//! The demo's last act: a second database rebuilt from the archive alone, as after a lost disk
//! (`confvault db rebuild`), and checked against the live one.

use std::path::PathBuf;

use anyhow::Context;

use crate::config::Config;
use crate::db::Database;
use crate::db::access::Visibility;
use crate::operator::rebuild::{RebuildOptions, rebuild};

/// The file the demo rebuilds into, in its data directory, made afresh at every run.
const FILE: &str = "rebuilt.db";

/// What a rebuild must bring back of a conference: its name, its legs, and each recording with
/// its checksum.
#[derive(Debug, PartialEq, Eq)]
struct Kept {
    name: String,
    legs: usize,
    recordings: Vec<(String, Option<String>)>,
}

/// What was checked, to be printed.
pub(super) struct Rebuilt {
    pub path: PathBuf,
    pub conferences: usize,
    pub recordings: usize,
    pub legs: usize,
}

impl Rebuilt {
    pub fn line(&self) -> String {
        format!(
            "rebuilt:    {} from the archive alone (confvault db rebuild): this run's {} \
             conferences, {} recordings and {} legs, as the live database has them",
            self.path.display(),
            self.conferences,
            self.recordings,
            self.legs
        )
    }
}

/// Rebuilds a database from the archive `config` writes to, reading every recording back, and
/// checks it holds what `live` holds of `conferences` and of the recording `synced`.
pub(super) async fn rebuild_and_compare(
    config: &Config,
    live: &dyn Database,
    conferences: &[&str],
    synced: &str,
) -> anyhow::Result<Rebuilt> {
    let path = config.data_dir.join(FILE);
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        if let Err(e) = std::fs::remove_file(&file)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(e).with_context(|| format!("removing {}", file.display()));
        }
    }
    let mut rebuilt = config.clone();
    rebuilt.database.url = None;
    rebuilt.database.path = Some(path.clone());
    let options = RebuildOptions {
        dry_run: false,
        verify: true,
        concurrency: 4,
    };
    rebuild(&rebuilt, options)
        .await
        .context("rebuilding a database from the archive")?;
    let (recordings, legs) = crate::operator::with_database(&rebuilt, async |copy| {
        let (mut recordings, mut legs) = (0, 0);
        for uuid in conferences {
            let kept = kept(live, uuid).await?;
            let back = kept_in(copy, uuid).await?;
            anyhow::ensure!(
                back.as_ref() == Some(&kept),
                "conference {uuid} came back as {back:?}, not as {kept:?}"
            );
            recordings += kept.recordings.len();
            legs += kept.legs;
        }
        let checksum = async |db: &dyn Database| {
            db.recording(synced, Visibility::Everything)
                .await
                .map(|r| r.and_then(|r| r.entry.sha256))
        };
        let (was, is) = (checksum(live).await?, checksum(copy).await?);
        anyhow::ensure!(
            was.is_some() && is == was,
            "recording {synced} came back with SHA-256 {is:?}, not {was:?}"
        );
        // And the one no callback announced.
        Ok((recordings + 1, legs))
    })
    .await?;
    Ok(Rebuilt {
        path,
        conferences: conferences.len(),
        recordings,
        legs,
    })
}

async fn kept(db: &dyn Database, uuid: &str) -> anyhow::Result<Kept> {
    kept_in(db, uuid)
        .await?
        .with_context(|| format!("conference {uuid} is not in the live database"))
}

async fn kept_in(db: &dyn Database, uuid: &str) -> anyhow::Result<Option<Kept>> {
    let detail = db.conference_detail(uuid, Visibility::Everything).await?;
    Ok(detail.map(|d| {
        let mut recordings: Vec<_> = d
            .recordings
            .into_iter()
            .map(|r| (r.recording_id, r.sha256))
            .collect();
        recordings.sort();
        Kept {
            name: d.conference.name,
            legs: d.participants.len(),
            recordings,
        }
    }))
}

//! The archive jobs' spool: one file per job holding its download, named after the job and its
//! recording, so that at start what a crash left behind can be told from what a job still needs.

use std::path::{Path, PathBuf};

use crate::db::Database;
use crate::db::model::{JobId, JobKind, JobState};
use crate::storage::keys::segment;

const SUFFIX: &str = ".download";

/// Where the archive job `job` spools the download of `recording_id`.
pub fn path(dir: &Path, job: JobId, recording_id: &str) -> PathBuf {
    dir.join(file_name(job, recording_id))
}

fn file_name(job: JobId, recording_id: &str) -> String {
    format!("{job}-{}{SUFFIX}", segment(recording_id, "recording"))
}

/// The job a spool file was named after, if it is one of ours.
fn job_of(name: &str) -> Option<JobId> {
    let (job, _) = name.strip_suffix(SUFFIX)?.split_once('-')?;
    job.parse().ok()
}

/// Removes the spool files no job will read again: those of archive jobs that have ended, or
/// that the queue no longer holds. A pending or running job's file is kept, since a retry
/// resumes from it (a replica sharing the directory may be running it now). Files the spool
/// does not name are left alone. Runs before this process claims any job; a database that
/// cannot answer ends the sweep early, leaving the rest for the next start.
#[tracing::instrument(name = "spool_sweep", skip_all, fields(dir = %dir.display()))]
pub async fn sweep(dir: &Path, db: &dyn Database) {
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the spool directory; not swept");
            return;
        }
    };
    loop {
        let entry = match entries.next_entry().await {
            Ok(Some(entry)) => entry,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the spool directory to its end");
                break;
            }
        };
        let name = entry.file_name();
        let Some(job) = name.to_str().and_then(job_of) else {
            continue;
        };
        let still_needed = match db.job(job).await {
            Ok(found) => found.is_some_and(|j| {
                j.kind == JobKind::ArchiveRecording
                    && matches!(j.state, JobState::Pending | JobState::Running)
                    && file_name(j.id, &j.subject) == name.to_string_lossy()
            }),
            Err(e) => {
                tracing::warn!(error = %e, "could not look up a spool file's job; sweep stopped");
                break;
            }
        };
        if still_needed {
            continue;
        }
        let size = entry.metadata().await.map(|m| m.len()).unwrap_or(0);
        match tokio::fs::remove_file(entry.path()).await {
            Ok(()) => {
                files += 1;
                bytes += size;
            }
            Err(e) => {
                tracing::warn!(error = %e, file = %entry.path().display(), "could not remove a spool file");
            }
        }
    }
    if files > 0 {
        tracing::info!(
            files,
            bytes,
            "swept the spool of downloads no job will read again"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_file_names_its_job() {
        let name = file_name(JobId(42), "rec/with:odd chars");
        assert!(
            name.starts_with("42-") && name.ends_with(".download"),
            "{name}"
        );
        assert_eq!(job_of(&name), Some(JobId(42)));
    }

    #[test]
    fn files_the_spool_did_not_name_belong_to_no_job() {
        for name in [
            "notes.txt",
            "rearchive-1234",
            "x-rec.download",
            "42.download",
            "42-rec.download.tmp",
        ] {
            assert_eq!(job_of(name), None, "{name}");
        }
    }
}

//! The transcript job: writes a recording's transcription into its sidecar once the recording
//! is archived, so that the archive (and a database rebuilt from it) holds the text too.

use super::JobError;
use super::context::JobContext;
use crate::db::access::Visibility;
use crate::db::model::RecordingStatus;
use crate::sidecar::{self, Edited, sidecar_key};
use crate::storage::Store;

pub async fn archive(ctx: &JobContext, store: &dyn Store) -> Result<(), JobError> {
    let id = ctx.job.subject.as_str();
    let Some(transcript) = ctx.db.transcript(id).await? else {
        return Err(JobError::Permanent("the transcription is gone".into()));
    };
    let Some(object) = ctx.db.archived_object(id).await? else {
        // Its record stop was lost; its conference's end or the account sync brings it.
        return Err(JobError::Retryable("the recording is not known yet".into()));
    };
    let Some(key) = object.object_key else {
        return Err(not_archived(ctx, id).await);
    };
    let value = serde_json::to_value(&transcript)
        .map_err(|e| JobError::Permanent(format!("transcript: {e}")))?;
    let sidecar = sidecar_key(&key);
    match sidecar::edit(store, &key, |fields| {
        fields.insert("transcript".into(), value);
    })
    .await?
    {
        Edited::Written => {}
        Edited::Missing => {
            return Err(JobError::Permanent(format!(
                "the sidecar {} is missing",
                store.location(&sidecar)
            )));
        }
        Edited::NotAnObject => {
            return Err(JobError::Permanent(
                "the sidecar is not a JSON object".into(),
            ));
        }
    }
    tracing::info!(key = %sidecar, has_text = transcript.text.is_some(), "transcription archived");
    Ok(())
}

/// Why a known recording has no sidecar to write into yet: it is still being archived (wait),
/// or archiving it failed (there will be none).
async fn not_archived(ctx: &JobContext, id: &str) -> JobError {
    let failed = match ctx.db.recording(id, Visibility::Everything).await {
        Ok(found) => found.is_some_and(|r| r.entry.status == RecordingStatus::Failed),
        Err(e) => return e.into(),
    };
    if failed {
        JobError::Permanent(
            "the recording could not be archived, so it has no sidecar to hold the text".into(),
        )
    } else {
        JobError::Wait("the recording is not archived yet".into())
    }
}

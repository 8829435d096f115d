//! The delete-at-source job: re-verify the archived copy, then delete Vobiz's. A copy that
//! fails the check fails the job with the reason (which alerts the operators) and sends the
//! recording back to be archived again from the source, which still has it.

use std::sync::Arc;

use super::JobError;
use super::context::JobContext;
use crate::account::source_delete::{DeleteError, Deletion, SourceDeleter};
use crate::vobiz::rest::RestError;

pub struct SourceDeleteJob {
    pub deleter: Arc<SourceDeleter>,
}

impl SourceDeleteJob {
    pub async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        match self.deleter.delete(&ctx.job.subject, None).await {
            Ok(Deletion::Deleted | Deletion::DeletedBefore) => Ok(()),
            Ok(Deletion::AlreadyGone) => {
                tracing::info!("Vobiz's copy was already gone");
                Ok(())
            }
            Err(e) => Err(job_error(e)),
        }
    }
}

fn job_error(e: DeleteError) -> JobError {
    let kind: fn(String) -> JobError = match &e {
        DeleteError::CopyDamaged(_) => JobError::CopyDamaged,
        DeleteError::SyncRunning(_) => JobError::Wait,
        DeleteError::Unknown
        | DeleteError::NotArchived
        | DeleteError::Rest(RestError::Unauthorized { .. } | RestError::Refused(_))
        | DeleteError::Store(crate::storage::StoreError::Permanent(_)) => JobError::Permanent,
        _ => JobError::Retryable,
    };
    kind(format!("{:#}", anyhow::Error::new(e)))
}

//! What a running job can reach: its row, the database, metrics, and the lease it holds.

use std::sync::Arc;

use super::JobError;
use crate::db::Database;
use crate::db::model::Job;
use crate::ops::metrics::Metrics;

/// What a running job can reach.
pub struct JobContext {
    pub job: Job,
    pub owner: String,
    pub db: Arc<dyn Database>,
    pub metrics: Arc<Metrics>,
}

impl JobContext {
    /// Saves progress so that a later run resumes; fails if this worker lost the job.
    pub async fn checkpoint(&self, checkpoint: Option<String>) -> Result<(), JobError> {
        let kept = self
            .db
            .save_checkpoint(self.job.id, &self.owner, checkpoint, chrono::Utc::now())
            .await?;
        if kept {
            Ok(())
        } else {
            Err(JobError::Retryable("lease lost to another worker".into()))
        }
    }
}

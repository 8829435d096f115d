//! Deleting Vobiz's copy of a recording, which is permanent (Vobiz has no trash), and so only
//! after proving ours: the archived object is read back whole and its size and SHA-256 compared
//! with what was downloaded. A copy that fails is never deleted at source. Never while a sync
//! walks the account's pages, whose offsets a delete would shift.

use std::sync::Arc;

use super::ACCOUNT_LEASE;
use crate::db::catalog::SourceCopy;
use crate::db::{Database, DbError};
use crate::sidecar::{self, Edited, sidecar_key};
use crate::storage::{ObjectDigest, Store, StoreError};
use crate::time::Instant;
use crate::vobiz::rest::{Deleted, RestClient, RestError};

#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    #[error("the recording is unknown")]
    Unknown,
    #[error("the recording is not archived, so Vobiz's copy is the only one; not deleted")]
    NotArchived,
    /// Ours is missing or differs from what was downloaded: Vobiz's copy is kept.
    #[error("the archived copy failed its check ({0}); Vobiz's copy was kept")]
    CopyDamaged(String),
    #[error("a sync is walking the account's pages (lease held by {0}); deletes wait for it")]
    SyncRunning(String),
    #[error("reading the archived copy back")]
    Store(#[source] StoreError),
    #[error(transparent)]
    Rest(#[from] RestError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("updating the sidecar")]
    Sidecar(#[source] StoreError),
}

/// How a delete at source ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    /// Vobiz answered 404: its copy was already gone (retention, or deleted by hand).
    AlreadyGone,
    /// Recorded as deleted by an earlier run; only the sidecar was brought up to date.
    DeletedBefore,
}

pub struct SourceDeleter {
    pub client: Arc<RestClient>,
    pub store: Arc<dyn Store>,
    pub db: Arc<dyn Database>,
    /// Queue `recording.source_deleted` with each delete: some endpoint is configured.
    pub webhooks: bool,
}

impl SourceDeleter {
    /// Verifies our copy of `recording_id`, then deletes Vobiz's and records it. `lease_owner`
    /// is the owner under which the caller holds the account lease (an operator's prune);
    /// with `None`, the delete waits while anyone holds it.
    #[tracing::instrument(name = "source_delete", skip(self))]
    pub async fn delete(
        &self,
        recording_id: &str,
        lease_owner: Option<&str>,
    ) -> Result<Deletion, DeleteError> {
        let copy = self
            .db
            .source_copy(recording_id)
            .await?
            .ok_or(DeleteError::Unknown)?;
        if let Some(at) = copy.source_deleted_at {
            self.note_in_sidecar(&copy, at).await?;
            return Ok(Deletion::DeletedBefore);
        }
        self.verify(&copy).await?;
        let now = chrono::Utc::now();
        if let Some(holder) = self.db.lease_holder(ACCOUNT_LEASE, now).await?
            && Some(holder.as_str()) != lease_owner
        {
            return Err(DeleteError::SyncRunning(holder));
        }
        let deletion = match self.client.delete(recording_id).await? {
            Deleted::Now => Deletion::Deleted,
            Deleted::AlreadyGone => Deletion::AlreadyGone,
        };
        // The sidecar before the database: if the process dies between the two, or the
        // sidecar cannot be written, the delete is not recorded and runs again (Vobiz then
        // answers 404) and the sidecar is written once more. The other order would leave a
        // recorded delete whose sidecar never says so, and the bucket alone would not tell.
        self.note_in_sidecar(&copy, now).await?;
        self.db
            .record_source_deleted(recording_id, now, self.webhooks)
            .await?;
        tracing::info!(?deletion, "Vobiz's copy deleted; ours was verified first");
        Ok(deletion)
    }

    /// Reads our copy back whole and compares it with what was downloaded.
    pub async fn verify(&self, copy: &SourceCopy) -> Result<ObjectDigest, DeleteError> {
        let (Some(key), Some(size), Some(sha256)) =
            (&copy.object_key, copy.size_bytes, &copy.sha256)
        else {
            return Err(DeleteError::NotArchived);
        };
        let read = self
            .store
            .digest(key)
            .await
            .map_err(DeleteError::Store)?
            .ok_or_else(|| {
                DeleteError::CopyDamaged(format!("{} is missing", self.store.location(key)))
            })?;
        if read.size != size {
            return Err(DeleteError::CopyDamaged(format!(
                "{} holds {} bytes, not the {size} downloaded",
                self.store.location(key),
                read.size
            )));
        }
        if &read.sha256 != sha256 {
            return Err(DeleteError::CopyDamaged(format!(
                "{} has SHA-256 {}, not {sha256} as downloaded",
                self.store.location(key),
                read.sha256
            )));
        }
        Ok(read)
    }

    /// The sidecar says when Vobiz's copy was deleted, so the bucket alone tells.
    async fn note_in_sidecar(&self, copy: &SourceCopy, at: Instant) -> Result<(), DeleteError> {
        let Some(key) = &copy.object_key else {
            return Ok(());
        };
        let edited = sidecar::edit(&*self.store, key, |fields| {
            if let Some(recording) = fields
                .get_mut("recording")
                .and_then(serde_json::Value::as_object_mut)
            {
                recording.insert("source_deleted_at".into(), serde_json::json!(at));
            }
        })
        .await
        .map_err(DeleteError::Sidecar)?;
        let key = sidecar_key(key);
        match edited {
            Edited::Written => {}
            Edited::Missing => {
                tracing::warn!(%key, "no sidecar beside the recording; the delete is noted in the database only")
            }
            Edited::NotAnObject => {
                tracing::warn!(%key, "the sidecar is not a JSON object; left as it is")
            }
        }
        Ok(())
    }
}

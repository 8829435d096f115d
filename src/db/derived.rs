//! SQL that both backends share because it decides something in one place: a recording's
//! status, derived from its archive job.

/// A recording's status, derived from its archive job and whether it was archived: the one
/// place it is decided. `r` is the recording, `j` its archive job (LEFT JOINed).
pub(crate) const STATUS_SQL: &str = "CASE WHEN r.archived_at IS NOT NULL THEN 'archived'
          WHEN j.state = 'failed' THEN 'failed'
          WHEN j.state = 'running' THEN 'archiving'
          ELSE 'pending' END";

/// The archive job of recording `r`, as `j`.
pub(crate) const ARCHIVE_JOB_JOIN: &str =
    "LEFT JOIN jobs j ON j.kind = 'archive_recording' AND j.subject = r.recording_id";

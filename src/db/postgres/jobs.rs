//! The job queue on PostgreSQL: rows written in the same transaction as what causes them,
//! claimed with `FOR UPDATE SKIP LOCKED` and a lease in one short statement (no lock is held
//! while the job runs), fenced on the lease's owner. What a finished job causes is decided in
//! `jobs::ending`; this file applies it, under the conference's lock, so that two archive jobs
//! finishing at once on two replicas see each other and queue one summary.

use tokio_postgres::Row;

use super::tx::{PgTx, conference_key};
use crate::db::DbError;
use crate::db::derived::{
    ARCHIVE_JOB_JOIN, DONE_JOBS, LIVE_JOBS_BY_STATE, STATUS_SQL, summary_run_at,
};
use crate::db::model::{Ending, Finish, Job, JobId, JobKind, JobState, JobStats, RetrySelection};
use crate::time::Instant;

pub fn enqueue_notify_when_settled(
    tx: &PgTx<'_>,
    conference_uuid: &str,
    now: Instant,
    no_recording_run_at: Option<Instant>,
) -> Result<(), DbError> {
    let Some(row) = tx.opt(
        &format!(
            "SELECT c.status = 'ended',
                    (SELECT COUNT(*) FROM recordings r WHERE r.conference_uuid = c.conference_uuid),
                    (SELECT COUNT(*) FROM recordings r {ARCHIVE_JOB_JOIN}
                     WHERE r.conference_uuid = c.conference_uuid
                       AND {STATUS_SQL} IN ('pending', 'archiving'))
             FROM conferences c WHERE c.conference_uuid = $1"
        ),
        &[&conference_uuid],
    )?
    else {
        return Ok(());
    };
    let (ended, recordings, unsettled): (bool, i64, i64) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    match summary_run_at(ended, recordings, unsettled, now, no_recording_run_at) {
        Some(run_at) => enqueue(tx, JobKind::NotifyConference, conference_uuid, run_at, now),
        None => Ok(()),
    }
}

/// The archived copy of `recording_id` failed its check: it counts as not archived, and its
/// archive job runs again from the source with a fresh count of attempts.
pub fn rearchive(tx: &PgTx<'_>, recording_id: &str, now: Instant) -> Result<(), DbError> {
    tx.execute(
        "UPDATE recordings SET archived_at = NULL WHERE recording_id = $1",
        &[&recording_id],
    )?;
    rearm(tx, JobKind::ArchiveRecording, recording_id, now)
}

/// Makes the job of `kind` for `subject` due now with a fresh count of attempts, queueing it if
/// there is none. A run in progress loses its lease, so it cannot record its end, and the job
/// runs again.
pub fn rearm(tx: &PgTx<'_>, kind: JobKind, subject: &str, now: Instant) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
         VALUES ($1, $2, 'pending', $3, $3, $3)
         ON CONFLICT (kind, subject) DO UPDATE
         SET state = 'pending', attempts = 0, run_at = $3, lease_owner = NULL,
             lease_until = NULL, last_error = NULL, checkpoint = NULL, updated_at = $3",
        &[&kind, &subject, &now],
    )?;
    tx.queued_job();
    Ok(())
}

pub fn enqueue(
    tx: &PgTx<'_>,
    kind: JobKind,
    subject: &str,
    run_at: Instant,
    now: Instant,
) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
         VALUES ($1, $2, 'pending', $3, $4, $4)
         ON CONFLICT (kind, subject) DO NOTHING",
        &[&kind, &subject, &run_at, &now],
    )?;
    tx.queued_job();
    Ok(())
}

/// Archive jobs for the recordings of conference `$2` once it has ended (`$1` the kind, `$3`
/// now); one already waiting for later becomes due now.
const ARCHIVES_IF_ENDED: &str =
    "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
         SELECT $1, r.recording_id, 'pending', $3, $3, $3
         FROM recordings r JOIN conferences c ON c.conference_uuid = r.conference_uuid
         WHERE c.conference_uuid = $2 AND c.status = 'ended'
         ON CONFLICT (kind, subject) DO UPDATE SET run_at = $3, updated_at = $3
         WHERE jobs.state = 'pending' AND jobs.run_at > $3";

pub fn enqueue_archives_if_ended(
    tx: &PgTx<'_>,
    conference_uuid: &str,
    now: Instant,
) -> Result<u64, DbError> {
    let queued = tx.execute(
        ARCHIVES_IF_ENDED,
        &[&JobKind::ArchiveRecording, &conference_uuid, &now],
    )?;
    if queued > 0 {
        tx.queued_job();
    }
    Ok(queued)
}

/// [`enqueue_archives_if_ended`] sent without waiting, for the ingest rules, which need no
/// count.
pub fn send_archives_if_ended(
    tx: &PgTx<'_>,
    conference_uuid: &str,
    now: Instant,
) -> Result<(), DbError> {
    tx.queued_job();
    tx.send(
        ARCHIVES_IF_ENDED,
        vec![
            Box::new(JobKind::ArchiveRecording),
            Box::new(conference_uuid.to_owned()),
            Box::new(now),
        ],
    )
}

pub fn enqueue_unlinked_archives(
    tx: &PgTx<'_>,
    since: Option<Instant>,
    cutoff: Instant,
    now: Instant,
) -> Result<u64, DbError> {
    let queued = tx.execute(
        "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
         SELECT $1, r.recording_id, 'pending', $4, $4, $4
         FROM recordings r
         WHERE r.conference_uuid IS NULL AND r.created_at < $3
           AND ($2::timestamptz IS NULL OR r.created_at >= $2)
         ON CONFLICT (kind, subject) DO NOTHING",
        &[&JobKind::ArchiveRecording, &since, &cutoff, &now],
    )?;
    if queued > 0 {
        tx.queued_job();
    }
    Ok(queued)
}

const JOB_COLUMNS: &str =
    "id, kind, subject, state, attempts, run_at, last_error, checkpoint, created_at, updated_at";

fn job(r: &Row) -> Result<Job, DbError> {
    Ok(Job {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        subject: r.try_get(2)?,
        state: r.try_get(3)?,
        attempts: i64::from(r.try_get::<_, i32>(4)?),
        run_at: r.try_get(5)?,
        last_error: r.try_get(6)?,
        checkpoint: r.try_get(7)?,
        created_at: r.try_get(8)?,
        updated_at: r.try_get(9)?,
    })
}

fn jobs(rows: Vec<Row>) -> Result<Vec<Job>, DbError> {
    rows.iter().map(job).collect()
}

/// One statement: the candidate row is locked as it is picked, and rows another replica is
/// claiming this instant are skipped rather than waited for.
pub fn claim(
    tx: &PgTx<'_>,
    owner: &str,
    now: Instant,
    lease_until: Instant,
) -> Result<Option<Job>, DbError> {
    tx.opt(
        &format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $3,
                             attempts = attempts + 1, updated_at = $2
             WHERE id = (SELECT id FROM jobs
                         WHERE (state = 'pending' AND run_at <= $2)
                            OR (state = 'running' AND lease_until < $2)
                         ORDER BY run_at, id LIMIT 1
                         FOR UPDATE SKIP LOCKED)
             RETURNING {JOB_COLUMNS}"
        ),
        &[&owner, &now, &lease_until],
    )?
    .as_ref()
    .map(job)
    .transpose()
}

pub fn extend_lease(
    tx: &PgTx<'_>,
    id: JobId,
    owner: &str,
    until: Instant,
) -> Result<bool, DbError> {
    Ok(tx.execute(
        "UPDATE jobs SET lease_until = $3
         WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        &[&id, &owner, &until],
    )? == 1)
}

pub fn save_checkpoint(
    tx: &PgTx<'_>,
    id: JobId,
    owner: &str,
    checkpoint: Option<&str>,
    now: Instant,
) -> Result<bool, DbError> {
    Ok(tx.execute(
        "UPDATE jobs SET checkpoint = $3, updated_at = $4
         WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        &[&id, &owner, &checkpoint, &now],
    )? == 1)
}

/// The conference a job's ending may touch: its lock is taken before the job's row, the order
/// callbacks take them in.
fn conference_of_job(tx: &PgTx<'_>, id: JobId) -> Result<Option<String>, DbError> {
    tx.opt(
        "SELECT CASE WHEN j.kind = 'notify_conference' THEN j.subject
                     ELSE (SELECT r.conference_uuid FROM recordings r
                           WHERE r.recording_id = j.subject) END
         FROM jobs j WHERE j.id = $1",
        &[&id],
    )?
    .map(|r| Ok(r.try_get::<_, Option<String>>(0)?))
    .transpose()
    .map(Option::flatten)
}

pub fn finish(
    tx: &PgTx<'_>,
    id: JobId,
    owner: &str,
    ending: &Ending,
    now: Instant,
) -> Result<bool, DbError> {
    if let Some(conference) = conference_of_job(tx, id)? {
        tx.lock(&[conference_key(&conference)])?;
    }
    let (state, run_at, error, keep_checkpoint, counts) = match &ending.finish {
        Finish::Done => (JobState::Done, None, None, false, true),
        Finish::Defer { run_at, reason } => (
            JobState::Pending,
            Some(*run_at),
            Some(reason.as_str()),
            true,
            false,
        ),
        Finish::RetryAt { run_at, error } => (
            JobState::Pending,
            Some(*run_at),
            Some(error.as_str()),
            true,
            true,
        ),
        Finish::Failed { error } => (JobState::Failed, None, Some(error.as_str()), false, true),
    };
    let Some(row) = tx.opt(
        "UPDATE jobs SET state = $3, run_at = COALESCE($4, run_at),
                         last_error = $5, lease_owner = NULL, lease_until = NULL,
                         checkpoint = CASE WHEN $6 THEN checkpoint ELSE NULL END,
                         attempts = CASE WHEN $7 THEN attempts ELSE GREATEST(attempts - 1, 0) END,
                         updated_at = $8
         WHERE id = $1 AND lease_owner = $2 AND state = 'running'
         RETURNING subject",
        &[
            &id,
            &owner,
            &state,
            &run_at,
            &error,
            &keep_checkpoint,
            &counts,
            &now,
        ],
    )?
    else {
        return Ok(false);
    };
    let subject: String = row.try_get(0)?;
    if state == JobState::Pending {
        tx.queued_job();
    }
    if ending.alert_operators {
        enqueue(tx, JobKind::AlertJobFailed, &id.to_string(), now, now)?;
    }
    if ending.rearchive_recording {
        rearchive(tx, &subject, now)?;
    }
    if let Some(wake) = ending.wake {
        let woken = tx.execute(
            "UPDATE jobs SET attempts = CASE state WHEN 'running' THEN GREATEST(attempts - 1, 0)
                                                   WHEN 'failed' THEN 0 ELSE attempts END,
                             state = 'pending', run_at = $3, lease_owner = NULL,
                             lease_until = NULL, updated_at = $3
             WHERE kind = $1 AND subject = $2
               AND (state = 'running' OR (state = 'pending' AND run_at > $3)
                    OR (state = 'failed' AND $4))",
            &[&wake.kind, &subject, &now, &wake.revive_failed],
        )?;
        if woken > 0 {
            tx.queued_job();
        }
    }
    if let Some(event) = &ending.webhook {
        super::webhooks::enqueue(tx, event, now)?;
    }
    if ending.summarise_if_settled {
        let conference = tx
            .opt(
                "SELECT conference_uuid FROM recordings
                 WHERE recording_id = $1 AND conference_uuid IS NOT NULL",
                &[&subject],
            )?
            .map(|r| r.try_get::<_, String>(0))
            .transpose()?;
        if let Some(conference) = conference {
            enqueue_notify_when_settled(tx, &conference, now, None)?;
        }
    }
    Ok(true)
}

pub fn get(tx: &PgTx<'_>, id: JobId) -> Result<Option<Job>, DbError> {
    tx.opt(
        &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"),
        &[&id],
    )?
    .as_ref()
    .map(job)
    .transpose()
}

pub fn list(tx: &PgTx<'_>, state: Option<JobState>, limit: u32) -> Result<Vec<Job>, DbError> {
    jobs(tx.query(
        &format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE ($1::text IS NULL OR state = $1)
             ORDER BY id DESC LIMIT $2"
        ),
        &[&state, &i64::from(limit)],
    )?)
}

pub fn for_conference(tx: &PgTx<'_>, conference_uuid: &str) -> Result<Vec<Job>, DbError> {
    jobs(tx.query(
        &format!(
            "SELECT {JOB_COLUMNS} FROM jobs
             WHERE subject = $1
                OR (kind IN ($2, $3) AND subject IN
                       (SELECT recording_id FROM recordings WHERE conference_uuid = $1))
             ORDER BY id"
        ),
        &[
            &conference_uuid,
            &JobKind::ArchiveRecording,
            &JobKind::ArchiveTranscript,
        ],
    )?)
}

pub fn retry(tx: &PgTx<'_>, which: RetrySelection, now: Instant) -> Result<Vec<JobId>, DbError> {
    let one = match which {
        RetrySelection::One(id) => Some(id),
        RetrySelection::AllFailed => None,
    };
    let mut ids = tx
        .query(
            "UPDATE jobs SET state = 'pending', run_at = $2, attempts = 0, updated_at = $2
             WHERE state = 'failed' AND ($1::bigint IS NULL OR id = $1)
             RETURNING id",
            &[&one, &now],
        )?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect::<Result<Vec<JobId>, DbError>>()?;
    ids.sort();
    if !ids.is_empty() {
        tx.queued_job();
    }
    Ok(ids)
}

pub fn stats(tx: &PgTx<'_>, now: Instant, count_done: bool) -> Result<JobStats, DbError> {
    let by_state = tx
        .query(LIVE_JOBS_BY_STATE, &[])?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, DbError>>()?;
    let done = if count_done {
        Some(tx.one(DONE_JOBS, &[])?.try_get(0)?)
    } else {
        None
    };
    let due = tx
        .one(
            "SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND run_at <= $1",
            &[&now],
        )?
        .try_get(0)?;
    let oldest: Option<Instant> = tx
        .one(
            "SELECT MIN(created_at) FROM jobs WHERE state IN ('pending', 'running')",
            &[],
        )?
        .try_get(0)?;
    Ok(JobStats {
        by_state,
        done,
        due,
        oldest_waiting: oldest.and_then(|t| (now - t).to_std().ok()),
    })
}

pub fn release_all(tx: &PgTx<'_>, owner: &str, now: Instant) -> Result<u64, DbError> {
    let released = tx.execute(
        "UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_until = NULL,
                         run_at = $2, attempts = GREATEST(attempts - 1, 0), updated_at = $2
         WHERE state = 'running' AND lease_owner = $1",
        &[&owner, &now],
    )?;
    if released > 0 {
        tx.queued_job();
    }
    Ok(released)
}

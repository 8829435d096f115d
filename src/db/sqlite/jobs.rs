//! The job queue: rows written in the same transaction as the event that causes them, claimed
//! by workers with a lease, retried with backoff, failed with a reason. What a finished job
//! causes is decided in `jobs::ending`; this file only applies it.

use rusqlite::{Connection, Row, named_params};

use super::optional;
use crate::db::DbError;
use crate::db::derived::{
    ARCHIVE_JOB_JOIN, DONE_JOBS, LIVE_JOBS_BY_STATE, STATUS_SQL, summary_run_at,
};
use crate::db::model::{Ending, Finish, Job, JobId, JobKind, JobState, JobStats, RetrySelection};
use crate::time::{Instant, from_db, to_db};

/// Queues the summary of an ended conference once nothing about it is still being archived: at
/// once when its recordings are all archived or failed, at `no_recording_run_at` when it has
/// none (None: conferences without recordings get no summary). Unique per conference.
pub fn enqueue_notify_when_settled(
    conn: &Connection,
    conference_uuid: &str,
    now: &str,
    no_recording_run_at: Option<&str>,
) -> Result<(), DbError> {
    let (ended, recordings, unsettled): (bool, i64, i64) = conn
        .prepare_cached(&format!(
            "SELECT c.status = 'ended',
                    (SELECT COUNT(*) FROM recordings r WHERE r.conference_uuid = c.conference_uuid),
                    (SELECT COUNT(*) FROM recordings r {ARCHIVE_JOB_JOIN}
                     WHERE r.conference_uuid = c.conference_uuid
                       AND {STATUS_SQL} IN ('pending', 'archiving'))
             FROM conferences c WHERE c.conference_uuid = :conf"
        ))?
        .query_row(named_params! {":conf": conference_uuid}, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    match summary_run_at(ended, recordings, unsettled, now, no_recording_run_at) {
        Some(run_at) => enqueue(
            conn,
            JobKind::NotifyConference,
            conference_uuid,
            run_at,
            now,
        ),
        None => Ok(()),
    }
}

/// The archived copy of `recording_id` failed its check: it counts as not archived, and its
/// archive job runs again from the source with a fresh count of attempts.
pub fn rearchive(conn: &Connection, recording_id: &str, now: &str) -> Result<(), DbError> {
    conn.prepare_cached("UPDATE recordings SET archived_at = NULL WHERE recording_id = :id")?
        .execute(named_params! {":id": recording_id})?;
    rearm(conn, JobKind::ArchiveRecording, recording_id, now)
}

/// Makes the job of `kind` for `subject` due now with a fresh count of attempts, queueing it if
/// there is none. A run in progress loses its lease, so it cannot record its end, and the job
/// runs again.
pub fn rearm(conn: &Connection, kind: JobKind, subject: &str, now: &str) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
         VALUES (:kind, :subject, 'pending', :now, :now, :now)
         ON CONFLICT (kind, subject) DO UPDATE
         SET state = 'pending', attempts = 0, run_at = :now, lease_owner = NULL,
             lease_until = NULL, last_error = NULL, checkpoint = NULL, updated_at = :now",
    )?
    .execute(named_params! {":kind": kind, ":subject": subject, ":now": now})?;
    Ok(())
}

fn enqueue(
    conn: &Connection,
    kind: JobKind,
    subject: &str,
    run_at: &str,
    now: &str,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
         VALUES (:kind, :subject, 'pending', :run_at, :now, :now)
         ON CONFLICT (kind, subject) DO NOTHING",
    )?
    .execute(named_params! {":kind": kind, ":subject": subject, ":run_at": run_at, ":now": now})?;
    Ok(())
}

/// Queues an archive job for every recording of `conference_uuid` once it has ended. Jobs are
/// unique per recording, so calling this again queues nothing twice; one already waiting for
/// later (a recording the sync found before its conference was known) becomes due now.
pub fn enqueue_archives_if_ended(
    conn: &Connection,
    conference_uuid: &str,
    now: &str,
) -> Result<usize, DbError> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
             SELECT :kind, r.recording_id, 'pending', :now, :now, :now
             FROM recordings r JOIN conferences c ON c.conference_uuid = r.conference_uuid
             WHERE c.conference_uuid = :conf AND c.status = 'ended'
             ON CONFLICT (kind, subject) DO UPDATE SET run_at = :now, updated_at = :now
             WHERE jobs.state = 'pending' AND jobs.run_at > :now",
        )?
        .execute(
            named_params! {":kind": JobKind::ArchiveRecording, ":conf": conference_uuid, ":now": now},
        )?)
}

/// Queues the archive of one recording to run at `run_at`; once per recording.
pub fn enqueue_archive_at(
    conn: &Connection,
    recording_id: &str,
    run_at: &str,
    now: &str,
) -> Result<(), DbError> {
    enqueue(conn, JobKind::ArchiveRecording, recording_id, run_at, now)
}

/// Queues recordings whose conference never became known, once they are older than `cutoff`
/// (and, with `since`, arrived at or after it): a recording is archived even if its conference
/// callbacks were lost.
pub fn enqueue_unlinked_archives(
    conn: &Connection,
    since: Option<&str>,
    cutoff: &str,
    now: &str,
) -> Result<usize, DbError> {
    // Both bounds are a range on recordings_unlinked_by_age (named: without statistics SQLite
    // would rather walk every unlinked row of recordings_by_conference); without `since` (the
    // first round after a start) every unlinked recording is looked at once.
    let since_bound = if since.is_some() {
        "AND r.created_at >= :since"
    } else {
        "AND :since IS NULL"
    };
    Ok(conn
        .prepare_cached(&format!(
            "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
             SELECT :kind, r.recording_id, 'pending', :now, :now, :now
             FROM recordings r INDEXED BY recordings_unlinked_by_age
             WHERE r.conference_uuid IS NULL AND r.created_at < :cutoff {since_bound}
             ON CONFLICT (kind, subject) DO NOTHING"
        ))?
        .execute(named_params! {
            ":kind": JobKind::ArchiveRecording, ":since": since, ":cutoff": cutoff, ":now": now,
        })?)
}

const JOB_COLUMNS: &str =
    "id, kind, subject, state, attempts, run_at, last_error, checkpoint, created_at, updated_at";

type JobRow = (Job, String, String, String);

fn job_row(r: &Row<'_>) -> rusqlite::Result<JobRow> {
    Ok((
        Job {
            id: r.get(0)?,
            kind: r.get(1)?,
            subject: r.get(2)?,
            state: r.get(3)?,
            attempts: r.get(4)?,
            run_at: chrono::DateTime::UNIX_EPOCH,
            last_error: r.get(6)?,
            checkpoint: r.get(7)?,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        },
        r.get(5)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

fn stamp(text: &str) -> Result<Instant, DbError> {
    from_db(text).map_err(|e| DbError::Corrupt(format!("timestamp {text:?}: {e}")))
}

fn job((job, run_at, created_at, updated_at): JobRow) -> Result<Job, DbError> {
    Ok(Job {
        run_at: stamp(&run_at)?,
        created_at: stamp(&created_at)?,
        updated_at: stamp(&updated_at)?,
        ..job
    })
}

fn jobs(rows: impl Iterator<Item = rusqlite::Result<JobRow>>) -> Result<Vec<Job>, DbError> {
    rows.map(|row| job(row?)).collect()
}

/// Takes the next due job (or one whose holder's lease ran out) for `owner` until `lease_until`.
pub fn claim(
    conn: &Connection,
    owner: &str,
    now: &str,
    lease_until: &str,
) -> Result<Option<Job>, DbError> {
    optional(
        conn.prepare_cached(&format!(
            "UPDATE jobs SET state = 'running', lease_owner = :owner, lease_until = :until,
                             attempts = attempts + 1, updated_at = :now
             WHERE id = (SELECT id FROM jobs
                         WHERE (state = 'pending' AND run_at <= :now)
                            OR (state = 'running' AND lease_until < :now)
                         ORDER BY run_at, id LIMIT 1)
             RETURNING {JOB_COLUMNS}"
        ))?
        .query_row(
            named_params! {":owner": owner, ":now": now, ":until": lease_until},
            job_row,
        ),
    )?
    .map(job)
    .transpose()
}

/// Extends the lease; false if `owner` no longer holds the job.
pub fn extend_lease(
    conn: &Connection,
    id: JobId,
    owner: &str,
    until: &str,
) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached(
            "UPDATE jobs SET lease_until = :until
             WHERE id = :id AND lease_owner = :owner AND state = 'running'",
        )?
        .execute(named_params! {":id": id, ":owner": owner, ":until": until})?
        == 1)
}

/// Saves a job's progress; false if `owner` no longer holds the job.
pub fn save_checkpoint(
    conn: &Connection,
    id: JobId,
    owner: &str,
    checkpoint: Option<&str>,
    now: &str,
) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached(
            "UPDATE jobs SET checkpoint = :checkpoint, updated_at = :now
             WHERE id = :id AND lease_owner = :owner AND state = 'running'",
        )?
        .execute(
            named_params! {":id": id, ":owner": owner, ":checkpoint": checkpoint, ":now": now},
        )?
        == 1)
}

/// Records the end of a run and applies what it causes; false if `owner` no longer held the
/// job (its result is dropped and nothing else changes).
pub fn finish(
    conn: &Connection,
    id: JobId,
    owner: &str,
    ending: &Ending,
    now: &str,
) -> Result<bool, DbError> {
    let (state, run_at, error, keep_checkpoint, counts) = match &ending.finish {
        Finish::Done => (JobState::Done, None, None, false, true),
        Finish::Defer { run_at, reason } => (
            JobState::Pending,
            Some(to_db(*run_at)),
            Some(reason.as_str()),
            true,
            false,
        ),
        Finish::RetryAt { run_at, error } => (
            JobState::Pending,
            Some(to_db(*run_at)),
            Some(error.as_str()),
            true,
            true,
        ),
        Finish::Failed { error } => (JobState::Failed, None, Some(error.as_str()), false, true),
    };
    let subject: Option<String> = optional(
        conn.prepare_cached(
            "UPDATE jobs SET state = :state, run_at = COALESCE(:run_at, run_at),
                             last_error = :error, lease_owner = NULL, lease_until = NULL,
                             checkpoint = CASE WHEN :keep THEN checkpoint ELSE NULL END,
                             attempts = CASE WHEN :counts THEN attempts ELSE MAX(attempts - 1, 0) END,
                             updated_at = :now
             WHERE id = :id AND lease_owner = :owner AND state = 'running'
             RETURNING subject",
        )?
        .query_row(
            named_params! {
                ":id": id, ":owner": owner, ":state": state, ":run_at": run_at, ":error": error,
                ":keep": keep_checkpoint, ":counts": counts, ":now": now,
            },
            |r| r.get(0),
        ),
    )?;
    let Some(subject) = subject else {
        return Ok(false);
    };
    if ending.alert_operators {
        enqueue(conn, JobKind::AlertJobFailed, &id.to_string(), now, now)?;
    }
    if ending.rearchive_recording {
        rearchive(conn, &subject, now)?;
    }
    if let Some(wake) = ending.wake {
        conn.prepare_cached(
            "UPDATE jobs SET attempts = CASE state WHEN 'running' THEN MAX(attempts - 1, 0)
                                                   WHEN 'failed' THEN 0 ELSE attempts END,
                             state = 'pending', run_at = :now, lease_owner = NULL,
                             lease_until = NULL, updated_at = :now
             WHERE kind = :kind AND subject = :subject
               AND (state = 'running' OR (state = 'pending' AND run_at > :now)
                    OR (state = 'failed' AND :revive))",
        )?
        .execute(named_params! {
            ":kind": wake.kind, ":subject": subject, ":now": now, ":revive": wake.revive_failed,
        })?;
    }
    if let Some(event) = &ending.webhook {
        super::webhooks::enqueue(conn, event, now)?;
    }
    if ending.summarise_if_settled {
        let conference: Option<String> = optional(
            conn.prepare_cached(
                "SELECT conference_uuid FROM recordings
                 WHERE recording_id = :id AND conference_uuid IS NOT NULL",
            )?
            .query_row(named_params! {":id": subject}, |r| r.get(0)),
        )?;
        if let Some(conference) = conference {
            enqueue_notify_when_settled(conn, &conference, now, None)?;
        }
    }
    Ok(true)
}

pub fn get(conn: &Connection, id: JobId) -> Result<Option<Job>, DbError> {
    optional(
        conn.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = :id"))?
            .query_row(named_params! {":id": id}, job_row),
    )?
    .map(job)
    .transpose()
}

/// The newest jobs, of one state when `by_state`: that filter is written into the statement only
/// when set, so it walks `jobs_ready` to the few failed jobs among the many done ones.
pub(super) fn list_sql(by_state: bool) -> String {
    let filter = if by_state { "WHERE state = :state" } else { "" };
    format!("SELECT {JOB_COLUMNS} FROM jobs {filter} ORDER BY id DESC LIMIT :limit")
}

pub fn list(conn: &Connection, state: Option<JobState>, limit: u32) -> Result<Vec<Job>, DbError> {
    let mut stmt = conn.prepare_cached(&list_sql(state.is_some()))?;
    match state {
        Some(state) => {
            jobs(stmt.query_map(named_params! {":state": state, ":limit": limit}, job_row)?)
        }
        None => jobs(stmt.query_map(named_params! {":limit": limit}, job_row)?),
    }
}

/// Found by subject (`jobs_by_subject`) and through the unique (kind, subject) key.
pub(super) fn for_conference_sql() -> String {
    format!(
        "SELECT {JOB_COLUMNS} FROM jobs
         WHERE subject = :conf
            OR (kind IN (:archive, :transcript) AND subject IN
                   (SELECT recording_id FROM recordings WHERE conference_uuid = :conf))
         ORDER BY id"
    )
}

/// The jobs about a conference: its notify job, and its recordings' archive and transcript jobs.
pub fn for_conference(conn: &Connection, conference_uuid: &str) -> Result<Vec<Job>, DbError> {
    let mut stmt = conn.prepare_cached(&for_conference_sql())?;
    jobs(stmt.query_map(
        named_params! {
            ":conf": conference_uuid,
            ":archive": JobKind::ArchiveRecording,
            ":transcript": JobKind::ArchiveTranscript,
        },
        job_row,
    )?)
}

/// Makes failed jobs due again now, with a fresh count of attempts; returns those that were
/// failed. Runs inside the caller's transaction, so "every failed job" is one snapshot.
pub fn retry(conn: &Connection, which: RetrySelection, now: &str) -> Result<Vec<JobId>, DbError> {
    let one = match which {
        RetrySelection::One(id) => Some(id),
        RetrySelection::AllFailed => None,
    };
    let mut stmt = conn.prepare_cached(
        "UPDATE jobs SET state = 'pending', run_at = :now, attempts = 0, updated_at = :now
         WHERE state = 'failed' AND (:id IS NULL OR id = :id)
         RETURNING id",
    )?;
    let mut ids = stmt
        .query_map(named_params! {":id": one, ":now": now}, |r| r.get(0))?
        .collect::<Result<Vec<JobId>, _>>()?;
    ids.sort();
    Ok(ids)
}

pub fn stats(conn: &Connection, now: Instant, count_done: bool) -> Result<JobStats, DbError> {
    let now_text = to_db(now);
    let by_state = conn
        .prepare_cached(LIVE_JOBS_BY_STATE)?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let done = if count_done {
        Some(
            conn.prepare_cached(DONE_JOBS)?
                .query_row([], |r| r.get(0))?,
        )
    } else {
        None
    };
    let due = conn
        .prepare_cached("SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND run_at <= :now")?
        .query_row(named_params! {":now": now_text}, |r| r.get(0))?;
    let oldest: Option<String> = conn
        .prepare_cached("SELECT MIN(created_at) FROM jobs WHERE state IN ('pending', 'running')")?
        .query_row([], |r| r.get(0))?;
    let oldest_waiting = oldest
        .and_then(|t| from_db(&t).ok())
        .and_then(|t| (now - t).to_std().ok());
    Ok(JobStats {
        by_state,
        done,
        due,
        oldest_waiting,
    })
}

/// Hands back the jobs `owner` still holds at shutdown, due at once and without counting the
/// interrupted attempt, so that the next start resumes them instead of waiting for the lease.
pub fn release_all(conn: &Connection, owner: &str, now: &str) -> Result<usize, DbError> {
    Ok(conn
        .prepare_cached(
            "UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_until = NULL,
                             run_at = :now, attempts = MAX(attempts - 1, 0), updated_at = :now
             WHERE state = 'running' AND lease_owner = :owner",
        )?
        .execute(named_params! {":owner": owner, ":now": now})?)
}

/// Jobs of one kind, any state.
#[cfg(test)]
pub fn count_of_kind(conn: &Connection, kind: JobKind) -> Result<i64, DbError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM jobs WHERE kind = :kind")?
        .query_row(named_params! {":kind": kind}, |r| r.get(0))?)
}

#[cfg(test)]
#[path = "jobs_tests.rs"]
mod tests;

//! The job queue: rows written in the same transaction as the event that causes them, claimed
//! by workers with a lease, retried with backoff, failed with a reason.

use rusqlite::{Connection, Row, named_params};
use serde::Serialize;

use super::{DbError, optional};

pub const ARCHIVE_RECORDING: &str = "archive_recording";
pub const NOTIFY_CONFERENCE: &str = "notify_conference";
pub const ALERT_JOB_FAILED: &str = "alert_job_failed";

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
        .prepare_cached(
            "SELECT c.status = 'ended',
                    (SELECT COUNT(*) FROM recordings r WHERE r.conference_uuid = c.conference_uuid),
                    (SELECT COUNT(*) FROM recordings r WHERE r.conference_uuid = c.conference_uuid
                                                        AND r.status IN ('pending', 'archiving'))
             FROM conferences c WHERE c.conference_uuid = :conf",
        )?
        .query_row(named_params! {":conf": conference_uuid}, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    let run_at = match (ended, recordings, unsettled) {
        (false, _, _) => return Ok(()),
        (true, 0, _) => match no_recording_run_at {
            Some(at) => at,
            None => return Ok(()),
        },
        (true, _, 0) => now,
        _ => return Ok(()),
    };
    enqueue(conn, NOTIFY_CONFERENCE, conference_uuid, run_at, now)
}

fn enqueue(
    conn: &Connection,
    kind: &str,
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
/// unique per recording, so calling this again queues nothing twice.
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
             ON CONFLICT (kind, subject) DO NOTHING",
        )?
        .execute(
            named_params! {":kind": ARCHIVE_RECORDING, ":conf": conference_uuid, ":now": now},
        )?)
}

/// Queues recordings whose conference never became known, once they are older than `cutoff`:
/// a recording is archived even if its conference callbacks were lost.
pub fn enqueue_unlinked_archives(
    conn: &Connection,
    cutoff: &str,
    now: &str,
) -> Result<usize, DbError> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
             SELECT :kind, r.recording_id, 'pending', :now, :now, :now
             FROM recordings r
             WHERE r.conference_uuid IS NULL AND r.created_at < :cutoff
             ON CONFLICT (kind, subject) DO NOTHING",
        )?
        .execute(named_params! {":kind": ARCHIVE_RECORDING, ":cutoff": cutoff, ":now": now})?)
}

/// A job as the queue holds it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub state: String,
    pub attempts: i64,
    pub run_at: String,
    pub last_error: Option<String>,
    #[serde(skip)]
    pub checkpoint: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const JOB_COLUMNS: &str =
    "id, kind, subject, state, attempts, run_at, last_error, checkpoint, created_at, updated_at";

fn job_row(r: &Row<'_>) -> rusqlite::Result<Job> {
    Ok(Job {
        id: r.get(0)?,
        kind: r.get(1)?,
        subject: r.get(2)?,
        state: r.get(3)?,
        attempts: r.get(4)?,
        run_at: r.get(5)?,
        last_error: r.get(6)?,
        checkpoint: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
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
    )
}

/// Extends the lease; false if `owner` no longer holds the job.
pub fn extend_lease(conn: &Connection, id: i64, owner: &str, until: &str) -> Result<bool, DbError> {
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
    id: i64,
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

/// How a run of a job ended.
pub enum Finish<'a> {
    Done,
    /// Not an attempt: the job waits for something else and runs again at `run_at`.
    Defer {
        run_at: &'a str,
        reason: &'a str,
    },
    RetryAt {
        run_at: &'a str,
        error: &'a str,
    },
    Failed {
        error: &'a str,
    },
}

/// Records the end of a run; false if `owner` no longer held the job (its result is dropped).
pub fn finish(
    conn: &Connection,
    id: i64,
    owner: &str,
    how: Finish<'_>,
    now: &str,
) -> Result<bool, DbError> {
    let (state, run_at, error, keep_checkpoint) = match how {
        Finish::Done => ("done", None, None, false),
        Finish::Defer { run_at, reason } => {
            conn.prepare_cached("UPDATE jobs SET attempts = MAX(attempts - 1, 0) WHERE id = :id AND lease_owner = :owner")?
                .execute(named_params! {":id": id, ":owner": owner})?;
            ("pending", Some(run_at), Some(reason), true)
        }
        Finish::RetryAt { run_at, error } => ("pending", Some(run_at), Some(error), true),
        Finish::Failed { error } => ("failed", None, Some(error), false),
    };
    let changed = conn
        .prepare_cached(
            "UPDATE jobs SET state = :state, run_at = COALESCE(:run_at, run_at),
                             last_error = :error, lease_owner = NULL, lease_until = NULL,
                             checkpoint = CASE WHEN :keep THEN checkpoint ELSE NULL END,
                             updated_at = :now
             WHERE id = :id AND lease_owner = :owner AND state = 'running'",
        )?
        .execute(named_params! {
            ":id": id, ":owner": owner, ":state": state, ":run_at": run_at, ":error": error,
            ":keep": keep_checkpoint, ":now": now,
        })?;
    if changed == 1 && state == "failed" {
        super::recordings::set_status_for_job(conn, id, "failed")?;
        let kind: String = conn
            .prepare_cached("SELECT kind FROM jobs WHERE id = :id")?
            .query_row(named_params! {":id": id}, |r| r.get(0))?;
        // Alerts about failed alerts would loop.
        if kind != ALERT_JOB_FAILED {
            enqueue(conn, ALERT_JOB_FAILED, &id.to_string(), now, now)?;
        }
    }
    if changed == 1 && state != "pending" {
        // A settled archive job may complete its conference: queue the summary.
        let conference: Option<String> = optional(
            conn.prepare_cached(
                "SELECT r.conference_uuid FROM jobs j JOIN recordings r ON r.recording_id = j.subject
                 WHERE j.id = :id AND j.kind = :kind AND r.conference_uuid IS NOT NULL",
            )?
            .query_row(named_params! {":id": id, ":kind": ARCHIVE_RECORDING}, |r| r.get(0)),
        )?;
        if let Some(conference) = conference {
            enqueue_notify_when_settled(conn, &conference, now, None)?;
        }
    }
    Ok(changed == 1)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Job>, DbError> {
    optional(
        conn.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = :id"))?
            .query_row(named_params! {":id": id}, job_row),
    )
}

pub fn list(conn: &Connection, state: Option<&str>, limit: i64) -> Result<Vec<Job>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE (:state IS NULL OR state = :state)
         ORDER BY id DESC LIMIT :limit"
    ))?;
    let rows = stmt.query_map(named_params! {":state": state, ":limit": limit}, job_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The jobs about a conference: its notify job and its recordings' archive jobs.
pub fn for_conference(conn: &Connection, conference_uuid: &str) -> Result<Vec<Job>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs
         WHERE subject = :conf
            OR (kind = :archive AND subject IN
                   (SELECT recording_id FROM recordings WHERE conference_uuid = :conf))
         ORDER BY id"
    ))?;
    let rows = stmt.query_map(
        named_params! {":conf": conference_uuid, ":archive": ARCHIVE_RECORDING},
        job_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Jobs in the `failed` state, oldest first.
pub fn failed_ids(conn: &Connection) -> Result<Vec<i64>, DbError> {
    let mut stmt = conn.prepare_cached("SELECT id FROM jobs WHERE state = 'failed' ORDER BY id")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Makes a failed job due again now, with a fresh count of attempts. False if it is not failed.
pub fn retry(conn: &Connection, id: i64, now: &str) -> Result<bool, DbError> {
    let changed = conn
        .prepare_cached(
            "UPDATE jobs SET state = 'pending', run_at = :now, attempts = 0, updated_at = :now
             WHERE id = :id AND state = 'failed'",
        )?
        .execute(named_params! {":id": id, ":now": now})?;
    if changed == 1 {
        super::recordings::set_status_for_job(conn, id, "pending")?;
    }
    Ok(changed == 1)
}

/// Every state a job can be in.
pub const STATES: &[&str] = &["pending", "running", "done", "failed"];

/// A reading of the queue, for metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobStats {
    pub by_state: Vec<(String, i64)>,
    /// Pending jobs due now.
    pub due: i64,
    /// How long the oldest job not yet done or failed has existed.
    pub oldest_waiting: Option<std::time::Duration>,
}

pub fn stats(conn: &Connection, now: chrono::DateTime<chrono::Utc>) -> Result<JobStats, DbError> {
    let now_text = crate::time::to_db(now);
    let mut stmt = conn.prepare_cached("SELECT state, COUNT(*) FROM jobs GROUP BY state")?;
    let by_state = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let due = conn
        .prepare_cached("SELECT COUNT(*) FROM jobs WHERE state = 'pending' AND run_at <= :now")?
        .query_row(named_params! {":now": now_text}, |r| r.get(0))?;
    let oldest: Option<String> = conn
        .prepare_cached("SELECT MIN(created_at) FROM jobs WHERE state IN ('pending', 'running')")?
        .query_row([], |r| r.get(0))?;
    let oldest_waiting = oldest
        .and_then(|t| crate::time::from_db(&t).ok())
        .and_then(|t| (now - t).to_std().ok());
    Ok(JobStats {
        by_state,
        due,
        oldest_waiting,
    })
}

/// Hands back the jobs `owner` still holds at shutdown, due at once and without counting the
/// interrupted attempt, so that the next start resumes them instead of waiting for the lease.
pub fn release_all(conn: &Connection, owner: &str, now: &str) -> Result<usize, DbError> {
    let ids: Vec<i64> = conn
        .prepare_cached(
            "UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_until = NULL,
                             run_at = :now, attempts = MAX(attempts - 1, 0), updated_at = :now
             WHERE state = 'running' AND lease_owner = :owner
             RETURNING id",
        )?
        .query_map(named_params! {":owner": owner, ":now": now}, |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in &ids {
        super::recordings::set_status_for_job(conn, *id, "pending")?;
    }
    Ok(ids.len())
}

/// Jobs of one kind, any state.
#[cfg(test)]
pub fn count_of_kind(conn: &Connection, kind: &str) -> Result<i64, DbError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM jobs WHERE kind = :kind")?
        .query_row(named_params! {":kind": kind}, |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::migrate::run(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
             VALUES ('k', 's', 'pending', '2026-01-01T00:00:00.000000Z', 'x', 'x')",
            [],
        )
        .unwrap();
        conn
    }

    const T0: &str = "2026-01-01T00:00:00.000000Z";
    const T1: &str = "2026-01-01T00:01:00.000000Z";
    const T2: &str = "2026-01-01T00:02:00.000000Z";

    #[test]
    fn a_claimed_job_is_not_claimed_again_until_its_lease_expires() {
        let conn = database();
        let job = claim(&conn, "a", T0, T1).unwrap().unwrap();
        assert_eq!(job.attempts, 1);
        assert!(claim(&conn, "b", T0, T1).unwrap().is_none());
        let taken_over = claim(&conn, "b", T2, "2026-01-01T00:03:00.000000Z")
            .unwrap()
            .unwrap();
        assert_eq!((taken_over.id, taken_over.attempts), (job.id, 2));
        assert!(
            !extend_lease(&conn, job.id, "a", T2).unwrap(),
            "a lost its lease"
        );
        assert!(
            !finish(&conn, job.id, "a", Finish::Done, T2).unwrap(),
            "a's result is dropped"
        );
        assert!(finish(&conn, job.id, "b", Finish::Done, T2).unwrap());
    }

    #[test]
    fn a_retry_waits_until_its_time_and_keeps_the_checkpoint() {
        let conn = database();
        let job = claim(&conn, "a", T0, T1).unwrap().unwrap();
        save_checkpoint(&conn, job.id, "a", Some("{\"parts\":3}"), T0).unwrap();
        finish(
            &conn,
            job.id,
            "a",
            Finish::RetryAt {
                run_at: T2,
                error: "HTTP 404",
            },
            T0,
        )
        .unwrap();
        assert!(claim(&conn, "a", T1, T2).unwrap().is_none());
        let again = claim(&conn, "a", T2, "2026-01-01T00:03:00.000000Z")
            .unwrap()
            .unwrap();
        assert_eq!(again.checkpoint.as_deref(), Some("{\"parts\":3}"));
        assert_eq!(again.last_error.as_deref(), Some("HTTP 404"));
    }

    #[test]
    fn a_failed_job_waits_for_an_operator_to_retry_it() {
        let conn = database();
        let job = claim(&conn, "a", T0, T1).unwrap().unwrap();
        finish(
            &conn,
            job.id,
            "a",
            Finish::Failed { error: "not audio" },
            T0,
        )
        .unwrap();
        let alert = claim(&conn, "a", T2, T2).unwrap().unwrap();
        assert_eq!(alert.kind, ALERT_JOB_FAILED, "a failure queues an alert");
        assert_eq!(alert.subject, job.id.to_string());
        finish(&conn, alert.id, "a", Finish::Done, T2).unwrap();
        assert!(
            claim(&conn, "a", T2, T2).unwrap().is_none(),
            "the failed job is not taken again"
        );
        assert_eq!(failed_ids(&conn).unwrap(), vec![job.id]);
        assert!(retry(&conn, job.id, T1).unwrap());
        assert!(
            !retry(&conn, job.id, T1).unwrap(),
            "only failed jobs are retried"
        );
        let again = claim(&conn, "a", T2, T2).unwrap().unwrap();
        assert_eq!(again.attempts, 1, "attempts start afresh");
    }

    #[test]
    fn a_job_released_at_shutdown_is_due_at_once_without_losing_an_attempt() {
        let conn = database();
        let job = claim(&conn, "a", T0, T2).unwrap().unwrap();
        assert_eq!(job.attempts, 1);

        assert_eq!(
            release_all(&conn, "b", T1).unwrap(),
            0,
            "not b's to release"
        );
        assert_eq!(release_all(&conn, "a", T1).unwrap(), 1);

        let again = claim(&conn, "b", T1, T2).unwrap().unwrap();
        assert_eq!((again.id, again.attempts), (job.id, 1));
    }

    #[test]
    fn stats_count_states_due_jobs_and_the_oldest_waiting() {
        let conn = database();
        conn.execute(
            "UPDATE jobs SET created_at = '2026-01-01T00:00:00.000000Z'",
            [],
        )
        .unwrap();
        let now = crate::time::from_db(T2).unwrap();

        let stats = stats(&conn, now).unwrap();

        assert_eq!(stats.by_state, vec![("pending".to_owned(), 1)]);
        assert_eq!(stats.due, 1);
        assert_eq!(
            stats.oldest_waiting,
            Some(std::time::Duration::from_secs(120))
        );
    }
}

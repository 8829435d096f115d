//! The job queue's own tests: claims, leases, retries, deferrals, failures, stats.

use super::*;

fn database() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    crate::db::sqlite::migrate::run(&mut conn).unwrap();
    conn.execute(
        "INSERT INTO jobs (kind, subject, state, run_at, created_at, updated_at)
         VALUES ('notify_conference', 's', 'pending', '2026-01-01T00:00:00.000000Z',
                 '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
        [],
    )
    .unwrap();
    conn
}

const T0: &str = "2026-01-01T00:00:00.000000Z";
const T1: &str = "2026-01-01T00:01:00.000000Z";
const T2: &str = "2026-01-01T00:02:00.000000Z";

fn ending(finish: Finish) -> Ending {
    let alert_operators = matches!(finish, Finish::Failed { .. });
    Ending {
        finish,
        alert_operators,
        summarise_if_settled: false,
        rearchive_recording: false,
        webhook: None,
        wake: None,
    }
}

fn at(text: &str) -> Instant {
    from_db(text).unwrap()
}

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
        !finish(&conn, job.id, "a", &ending(Finish::Done), T2).unwrap(),
        "a's result is dropped"
    );
    assert!(finish(&conn, job.id, "b", &ending(Finish::Done), T2).unwrap());
}

#[test]
fn a_retry_waits_until_its_time_and_keeps_the_checkpoint() {
    let conn = database();
    let job = claim(&conn, "a", T0, T1).unwrap().unwrap();
    save_checkpoint(&conn, job.id, "a", Some("{\"parts\":3}"), T0).unwrap();
    let retry = Finish::RetryAt {
        run_at: at(T2),
        error: "HTTP 404".into(),
    };
    finish(&conn, job.id, "a", &ending(retry), T0).unwrap();
    assert!(claim(&conn, "a", T1, T2).unwrap().is_none());
    let again = claim(&conn, "a", T2, "2026-01-01T00:03:00.000000Z")
        .unwrap()
        .unwrap();
    assert_eq!(again.checkpoint.as_deref(), Some("{\"parts\":3}"));
    assert_eq!(again.last_error.as_deref(), Some("HTTP 404"));
    assert_eq!(again.attempts, 2);
}

#[test]
fn a_deferred_job_does_not_use_up_an_attempt() {
    let conn = database();
    let job = claim(&conn, "a", T0, T1).unwrap().unwrap();
    let defer = Finish::Defer {
        run_at: at(T1),
        reason: "waiting".into(),
    };
    finish(&conn, job.id, "a", &ending(defer), T0).unwrap();
    let again = claim(&conn, "a", T1, T2).unwrap().unwrap();
    assert_eq!(again.attempts, 1);
}

#[test]
fn a_failed_job_waits_for_an_operator_to_retry_it() {
    let conn = database();
    let job = claim(&conn, "a", T0, T1).unwrap().unwrap();
    let failed = Finish::Failed {
        error: "not audio".into(),
    };
    finish(&conn, job.id, "a", &ending(failed), T0).unwrap();
    let alert = claim(&conn, "a", T2, T2).unwrap().unwrap();
    assert_eq!(
        alert.kind,
        JobKind::AlertJobFailed,
        "a failure queues an alert"
    );
    assert_eq!(alert.subject, job.id.to_string());
    finish(&conn, alert.id, "a", &ending(Finish::Done), T2).unwrap();
    assert!(
        claim(&conn, "a", T2, T2).unwrap().is_none(),
        "the failed job is not taken again"
    );
    assert_eq!(
        retry(&conn, RetrySelection::AllFailed, T1).unwrap(),
        vec![job.id]
    );
    assert!(
        retry(&conn, RetrySelection::One(job.id), T1)
            .unwrap()
            .is_empty(),
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

    let stats = stats(&conn, at(T2), true).unwrap();

    assert_eq!(stats.by_state, vec![(JobState::Pending, 1)]);
    assert_eq!(stats.done, Some(0));
    assert_eq!(stats.due, 1);
    assert_eq!(
        stats.oldest_waiting,
        Some(std::time::Duration::from_secs(120))
    );
}

#[test]
fn jobs_done_are_counted_only_when_asked_and_never_among_the_live_states() {
    let conn = database();
    let job = claim(&conn, "a", T0, T1).unwrap().unwrap();
    finish(&conn, job.id, "a", &ending(Finish::Done), T1).unwrap();

    let counted = stats(&conn, at(T2), true).unwrap();
    let skipped = stats(&conn, at(T2), false).unwrap();

    assert_eq!(counted.done, Some(1));
    assert_eq!(counted.by_state, vec![]);
    assert_eq!(skipped.done, None);
    assert_eq!(skipped.by_state, vec![]);
}

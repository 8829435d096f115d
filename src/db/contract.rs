//! The contract every backend of [`Database`] keeps, written against the interface alone, so a
//! second backend runs the same tests by adding its constructor to [`backends`].

use crate::db::access::Visibility;
use std::sync::Arc;

use chrono::Duration;

use super::model::{
    Archived, Ending, Filter, Finish, Instant, JobKind, JobState, MailKind, NewLink,
    RecordingStatus, RetrySelection, SentMessage,
};
use super::{Database, postgres, sqlite};
use crate::config::Synchronous;
use crate::ingest::rules::tests::{RULES, conference_callback, t0};
use crate::ingest::rules::{Accepted, Outcome};

/// One backend under test and how to close it.
pub(super) struct Backend {
    name: &'static str,
    db: Arc<dyn Database>,
    close: Box<dyn FnOnce() + Send>,
}

/// Each backend under test, freshly opened: SQLite in `dir`, PostgreSQL in a new database on
/// the cluster scripts/test.sh starts (`CV_TEST_POSTGRES_URL`; without it the contract
/// cannot be checked, so it fails rather than passing on one backend).
async fn backends(dir: &std::path::Path) -> Vec<Backend> {
    let (db, threads) = sqlite::Sqlite::open(&sqlite::Settings {
        path: dir.join("contract.db"),
        synchronous: Synchronous::Normal,
        max_batch: 16,
        wal_max_bytes: 8 * 1024 * 1024,
        mmap_bytes: 2 * 1024 * 1024 * 1024,
        batches: Default::default(),
    })
    .unwrap();
    let sqlite = Backend {
        name: "sqlite",
        db,
        close: Box::new(move || threads.join()),
    };
    let (db, writers) =
        postgres::Postgres::open(&postgres_settings().await, 16, Default::default())
            .await
            .unwrap();
    let postgres = Backend {
        name: "postgres",
        db,
        close: Box::new(move || writers.join()),
    };
    vec![sqlite, postgres]
}

/// A new, empty database on the test cluster.
pub(super) async fn postgres_settings() -> postgres::Settings {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let server = std::env::var("CV_TEST_POSTGRES_URL").expect(
        "CV_TEST_POSTGRES_URL is not set: the database contract runs on PostgreSQL too; \
         run the tests with scripts/test.sh, which starts a throwaway cluster",
    );
    let name = format!(
        "cv_unit_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = postgres::connect(&server).await.unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    postgres::Settings {
        url: crate::config::PostgresUrl::parse(&format!("{base}/{name}")).unwrap(),
        pool_size: 4,
        connect_timeout: std::time::Duration::from_secs(5),
        statement_timeout: std::time::Duration::from_secs(30),
    }
}

pub(super) fn callback(body: &str) -> Accepted {
    conference_callback(body, t0())
}

pub(super) const ENTER: &str = "ConferenceAction=enter&ConferenceUUID=k1&ConferenceName=Contract&CallUUID=a&From=918071387423&To=1&Timestamp=2026-05-19+10%3A00%3A00";
const END: &str = "ConferenceAction=end&ConferenceUUID=k1&ConferenceName=Contract&CallUUID=a&RecordingUrl=https%3A%2F%2Fmedia.vobiz.ai%2Fk1.mp3&Timestamp=2026-05-19+10%3A30%3A00";

/// Every conference `filter` finds, listed a page of its `limit` at a time, from the first
/// page to the last, following the cursors.
pub(super) async fn every_page(db: &dyn Database, filter: Filter) -> Vec<String> {
    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = db
            .search_conferences(
                Filter {
                    after,
                    ..filter.clone()
                },
                Visibility::Everything,
            )
            .await
            .unwrap();
        listed.extend(page.rows.into_iter().map(|row| row.conference_uuid));
        match page.next {
            Some(next) => after = Some(next),
            None => return listed,
        }
    }
}

/// Runs `check` against every backend, each in its own directory.
pub(super) async fn for_each_backend<F, Fut>(check: F)
where
    F: Fn(Arc<dyn Database>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    for Backend { name, db, close } in backends(dir.path()).await {
        eprintln!("contract on {name}");
        check(Arc::clone(&db)).await;
        drop(db);
        tokio::task::spawn_blocking(close).await.unwrap();
    }
}

#[tokio::test]
async fn an_ended_conference_with_a_recording_reads_back_whole_and_queues_its_archive() {
    for_each_backend(|db| async move {
        assert_eq!(
            db.record_callback(callback(ENTER), RULES).await.unwrap(),
            Outcome::Stored {
                new_recording: false
            }
        );
        assert_eq!(
            db.record_callback(callback(END), RULES).await.unwrap(),
            Outcome::Stored {
                new_recording: true
            }
        );
        assert_eq!(
            db.record_callback(callback(END), RULES).await.unwrap(),
            Outcome::Duplicate
        );

        let detail = db
            .conference_detail("k1", Visibility::Everything)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(detail.conference.name, "Contract");
        assert_eq!(detail.participants.len(), 1);
        assert_eq!(detail.recordings.len(), 1);
        assert_eq!(detail.recordings[0].status, RecordingStatus::Pending);
        assert_eq!(detail.jobs.len(), 1);
        assert_eq!(detail.jobs[0].kind, JobKind::ArchiveRecording);

        let page = db
            .search_conferences(
                Filter {
                    q: Some("Contr".into()),
                    limit: 10,
                    ..Filter::default()
                },
                Visibility::Everything,
            )
            .await
            .unwrap();
        assert_eq!(page.rows.len(), 1);
        assert!(
            db.conference_detail("nope", Visibility::Everything)
                .await
                .unwrap()
                .is_none()
        );
    })
    .await;
}

#[tokio::test]
async fn the_list_counts_people_not_legs_and_a_record_stop_keeps_when_its_recording_started() {
    for_each_backend(|db| async move {
        let rejoin = ENTER.replace("CallUUID=a", "CallUUID=a2").replace("From=918071387423", "From=%2B918071387423");
        let other = ENTER.replace("CallUUID=a", "CallUUID=b").replace("From=918071387423", "From=919624705678");
        for body in [ENTER, &rejoin, &other] {
            db.record_callback(callback(body), RULES).await.unwrap();
        }
        let stop = "Event=RecordStop&RecordingID=r-start&RecordUrl=https%3A%2F%2Fmedia.vobiz.ai%2Fr.mp3&CallUUID=b&RecordingDurationMs=60000&RecordingStartMs=1779184805000";
        db.record_callback(crate::ingest::rules::tests::record_stop(stop, t0()), RULES)
            .await
            .unwrap();

        let page = db
            .search_conferences(Filter { limit: 10, ..Filter::default() }, Visibility::Everything)
            .await
            .unwrap();
        let detail = db
            .conference_detail("k1", Visibility::Everything)
            .await
            .unwrap()
            .unwrap();

        assert_eq!(detail.participants.len(), 3, "three legs");
        assert_eq!(page.rows[0].participants, 2, "two people: one of them rejoined");
        assert_eq!(
            detail.recordings[0].started_at.map(|t| t.timestamp_millis()),
            Some(1_779_184_805_000)
        );
    })
    .await;
}

#[tokio::test]
async fn a_job_is_fenced_on_its_lease_and_its_ending_settles_the_recording_and_summary() {
    for_each_backend(|db| async move {
        db.record_callback(callback(ENTER), RULES).await.unwrap();
        db.record_callback(callback(END), RULES).await.unwrap();
        let now = t0() + Duration::seconds(1);
        let job = db
            .claim_job("a", now, now + Duration::seconds(60))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(job.state, JobState::Running);
        let running = db
            .conference_detail("k1", Visibility::Everything)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(running.recordings[0].status, RecordingStatus::Archiving);
        assert!(
            !db.extend_lease(job.id, "b", now).await.unwrap(),
            "b holds nothing"
        );

        let subject = db.archive_subject(&job.subject).await.unwrap().unwrap();
        assert_eq!(subject.participants.len(), 1);
        db.record_archived(
            &job.subject,
            Archived {
                object_key: "calls/k1.mp3".into(),
                format: "mp3".into(),
                size_bytes: 10,
                sha256: "ab".into(),
                location: "/archive/calls/k1.mp3".into(),
                archived_at: now,
                duration_ms: Some(12_000),
            },
        )
        .await
        .unwrap();
        let done = Ending {
            finish: Finish::Done,
            alert_operators: false,
            summarise_if_settled: true,
            rearchive_recording: false,
            webhook: None,
            wake: None,
        };
        assert!(!db.finish_job(job.id, "b", done.clone(), now).await.unwrap());
        assert!(db.finish_job(job.id, "a", done, now).await.unwrap());

        let detail = db
            .conference_detail("k1", Visibility::Everything)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(detail.recordings[0].status, RecordingStatus::Archived);
        assert!(
            detail
                .jobs
                .iter()
                .any(|j| j.kind == JobKind::NotifyConference),
            "the last settled recording queues the summary"
        );
        let object = db.archived_object(&job.subject).await.unwrap().unwrap();
        assert_eq!(object.object_key.as_deref(), Some("calls/k1.mp3"));
        assert_eq!(db.count_archived().await.unwrap(), 1);
        let stats = db.job_stats(now, true).await.unwrap();
        assert_eq!(stats.done, Some(1), "{stats:?}");
        assert!(stats.by_state.iter().all(|(s, _)| *s != JobState::Done));
        assert_eq!(db.job_stats(now, false).await.unwrap().done, None);
    })
    .await;
}

#[tokio::test]
async fn a_failed_job_alerts_and_is_retried_in_one_go() {
    for_each_backend(|db| async move {
        db.record_callback(callback(ENTER), RULES).await.unwrap();
        db.record_callback(callback(END), RULES).await.unwrap();
        let now = t0() + Duration::seconds(1);
        let job = db
            .claim_job("a", now, now + Duration::seconds(60))
            .await
            .unwrap()
            .unwrap();
        let failed = Ending {
            finish: Finish::Failed {
                error: "not audio".into(),
            },
            alert_operators: true,
            summarise_if_settled: true,
            rearchive_recording: false,
            webhook: None,
            wake: None,
        };
        assert!(db.finish_job(job.id, "a", failed, now).await.unwrap());
        let detail = db
            .conference_detail("k1", Visibility::Everything)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(detail.recordings[0].status, RecordingStatus::Failed);
        let stats = db.job_stats(now, true).await.unwrap();
        assert!(stats.by_state.contains(&(JobState::Failed, 1)), "{stats:?}");
        let alerts = db.jobs(Some(JobState::Pending), 10).await.unwrap();
        assert!(alerts.iter().any(|j| j.kind == JobKind::AlertJobFailed));

        let retried = db.retry_jobs(RetrySelection::AllFailed, now).await.unwrap();
        assert_eq!(retried, vec![job.id]);
        let detail = db
            .conference_detail("k1", Visibility::Everything)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(detail.recordings[0].status, RecordingStatus::Pending);
    })
    .await;
}

#[tokio::test]
async fn messages_and_links_are_recorded_once_and_found_by_their_hash() {
    for_each_backend(|db| async move {
        db.record_callback(callback(ENTER), RULES).await.unwrap();
        db.record_callback(callback(END), RULES).await.unwrap();
        let sent = SentMessage {
            kind: MailKind::Summary,
            subject: "k1".into(),
            recipient: "team@example.com".into(),
            ok: true,
            message_id: "<m@confvault>".into(),
            detail: "250 ok".into(),
            at: t0(),
        };
        db.record_sent(sent.clone()).await.unwrap();
        db.record_sent(sent).await.unwrap();
        let rows = db.sent_messages(MailKind::Summary, "k1").await.unwrap();
        assert_eq!(
            rows.len(),
            1,
            "a second record for one recipient changes nothing"
        );
        let subject = db.summary_subject("k1").await.unwrap().unwrap();
        assert_eq!(subject.handled, vec!["team@example.com".to_owned()]);

        let recording = subject.recordings[0].recording_id.clone();
        db.add_link(NewLink {
            token_hash: vec![7; 32],
            recording_id: recording,
            created_at: t0(),
            expires_at: Some(t0() + Duration::days(90)),
        })
        .await
        .unwrap();
        let target = db.resolve_link(vec![7; 32]).await.unwrap().unwrap();
        assert_eq!(target.expires_at, Some(t0() + Duration::days(90)));
        assert!(db.resolve_link(vec![8; 32]).await.unwrap().is_none());
    })
    .await;
}

fn upkeep(now: Instant) -> crate::db::catalog::Upkeep {
    crate::db::catalog::Upkeep {
        now,
        nonces_before: now,
        unlinked_before: now,
        unlinked_since: None,
        source_delete_before: None,
    }
}

#[tokio::test]
async fn housekeeping_ends_quiet_live_conferences_and_proves_writes() {
    for_each_backend(|db| async move {
        let enter = "ConferenceAction=enter&Event=ConferenceEnter&ConferenceUUID=live&ConferenceName=L&ConferenceMemberID=1&CallUUID=x&From=1&To=2";
        let exit = "ConferenceAction=exit&Event=ConferenceExit&ConferenceUUID=live&ConferenceName=L&ConferenceMemberID=1&ConferenceLastMember=true&CallUUID=x";
        db.record_callback(callback(enter), RULES).await.unwrap();
        db.record_callback(callback(exit), RULES).await.unwrap();
        let early = t0() + Duration::seconds(5);
        assert!(db.housekeep(upkeep(early), RULES).await.unwrap().is_empty());
        let later = t0() + Duration::minutes(5);
        assert_eq!(
            db.housekeep(upkeep(later), RULES).await.unwrap(),
            vec!["live".to_owned()]
        );
        db.heartbeat(later).await.unwrap();
    })
    .await;
}

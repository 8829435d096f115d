//! The contract of the account sync's operations, for every backend: discovered recordings,
//! the account lease, deletes at source.

use crate::db::access::Visibility;
use chrono::Duration;

use super::catalog::{ArchivePlan, Discovered, LeaseRequest, RecordingFilter};
use super::contract::{ENTER, callback, for_each_backend};
use super::model::{Archived, Instant, JobKind, RecordingStatus};
use crate::ingest::rules::tests::{RULES, t0};

fn discovered(id: &str, call: &str) -> Discovered {
    Discovered {
        recording_id: id.into(),
        source_url: format!("https://media.vobiz.ai/{id}.mp3"),
        call_uuid: Some(call.into()),
        recorded_at: Some(t0() - Duration::hours(1)),
        started_at: Some(t0() - Duration::hours(1)),
        duration_ms: Some(61_000),
        from: Some("+918071387423".into()),
        from_normalized: Some("918071387423".into()),
        to: Some("919624705678".into()),
        to_normalized: Some("919624705678".into()),
        vobiz_object: r#"{"recording_id": "x"}"#.into(),
    }
}

fn lease(owner: &str, now: Instant, done_after: Option<Instant>) -> LeaseRequest {
    LeaseRequest {
        name: "account",
        owner: owner.into(),
        now,
        until: now + Duration::minutes(2),
        unless_completed_after: done_after,
    }
}

#[tokio::test]
async fn discovered_recordings_are_stored_once_linked_when_their_leg_is_known_and_queued() {
    for_each_backend(|db| async move {
        db.record_callback(callback(ENTER), RULES).await.unwrap();
        let later = t0() + Duration::minutes(5);

        let first = db
            .record_discovered(
                vec![discovered("r1", "a"), discovered("r2", "lost")],
                t0(),
                later,
            )
            .await
            .unwrap();
        let again = db
            .record_discovered(vec![discovered("r1", "a")], t0(), later)
            .await
            .unwrap();

        assert_eq!(first[0].conference_uuid.as_deref(), Some("k1"));
        assert_eq!(first[0].archive, Some(ArchivePlan::WhenConferenceEnds));
        assert_eq!(first[1].conference_uuid, None);
        assert_eq!(first[1].archive, Some(ArchivePlan::AfterGrace));
        assert!(!again[0].new);
        assert_eq!(again[0].archive, None);
        let job = db.jobs(None, 10).await.unwrap();
        assert_eq!(job.len(), 1, "only the unlinked one is queued yet");
        assert_eq!((job[0].subject.as_str(), job[0].run_at), ("r2", later));
        let unlinked = db
            .search_recordings(
                RecordingFilter {
                    linked: Some(false),
                    participant: Some("919624705678".into()),
                    limit: 10,
                    ..RecordingFilter::default()
                },
                Visibility::Everything,
            )
            .await
            .unwrap();
        assert_eq!(unlinked.rows.len(), 1);
        assert_eq!(unlinked.rows[0].recording_id, "r2");
        assert_eq!(unlinked.rows[0].duration_seconds, Some(61.0));
        assert_eq!(unlinked.rows[0].status, RecordingStatus::Pending);
        let known = db
            .known_recordings(vec!["r1".into(), "r9".into()])
            .await
            .unwrap();
        assert_eq!(known, ["r1"]);
    })
    .await;
}

#[tokio::test]
async fn the_account_lease_has_one_holder_until_it_lapses_and_turns_are_taken() {
    for_each_backend(|db| async move {
        let now = t0();
        assert!(db.take_lease(lease("a", now, None)).await.unwrap());
        assert!(
            db.take_lease(lease("a", now, None)).await.unwrap(),
            "renewed"
        );
        assert!(!db.take_lease(lease("b", now, None)).await.unwrap());
        assert_eq!(
            db.lease_holder("account", now).await.unwrap().as_deref(),
            Some("a")
        );
        let lapsed = now + Duration::minutes(3);
        assert!(
            db.take_lease(lease("b", lapsed, None)).await.unwrap(),
            "a lapsed lease is free"
        );

        db.end_lease("account", "b", Some(lapsed)).await.unwrap();

        assert_eq!(db.lease_holder("account", lapsed).await.unwrap(), None);
        let soon = lapsed + Duration::minutes(1);
        assert!(
            !db.take_lease(lease("c", soon, Some(soon - Duration::minutes(50))))
                .await
                .unwrap(),
            "done 1 minute ago: not this replica's turn"
        );
        assert!(db.take_lease(lease("c", soon, None)).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn deletes_at_source_are_due_for_old_archives_and_recorded_once() {
    for_each_backend(|db| async move {
        let now = t0();
        db.record_discovered(vec![discovered("r1", "x")], now, now)
            .await
            .unwrap();
        let archived = Archived {
            object_key: "calls/r1.mp3".into(),
            format: "mp3".into(),
            size_bytes: 10,
            sha256: "ab".into(),
            location: "/archive/calls/r1.mp3".into(),
            archived_at: now,
            duration_ms: None,
        };
        db.record_archived("r1", archived).await.unwrap();

        assert!(db.source_deletes_due(now, "", 10).await.unwrap().is_empty());
        let later = now + Duration::days(8);
        let due = db.source_deletes_due(later, "", 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].sha256.as_deref(), Some("ab"));
        assert_eq!(due[0].size_bytes, Some(10));
        db.record_source_deleted("r1", later, true).await.unwrap();
        db.record_source_deleted("r1", later + Duration::days(1), true)
            .await
            .unwrap();
        let routes = vec![crate::db::webhooks::EndpointRoute {
            endpoint: "https://crm.example/hook".into(),
            events: vec![crate::webhooks::events::EventType::RecordingSourceDeleted],
        }];
        assert_eq!(
            db.fan_out_webhooks(routes, later).await.unwrap(),
            1,
            "one recording.source_deleted, however often the delete is recorded"
        );
        assert!(
            db.source_deletes_due(later, "", 10)
                .await
                .unwrap()
                .is_empty()
        );
        let copy = db.source_copy("r1").await.unwrap().unwrap();
        assert_eq!(
            copy.source_deleted_at,
            Some(later),
            "the first deletion stands"
        );
        let detail = db
            .recording("r1", Visibility::Everything)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(detail.entry.source_deleted_at, Some(later));
        assert_eq!(
            detail.entry.duration_seconds,
            Some(61.0),
            "the known length is kept"
        );

        db.rearchive("r1", later).await.unwrap();

        let detail = db
            .recording("r1", Visibility::Everything)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            detail.entry.status,
            RecordingStatus::Pending,
            "archived again from the source"
        );
        assert_eq!(
            db.running_jobs(JobKind::ArchiveRecording, later)
                .await
                .unwrap(),
            0
        );
    })
    .await;
}

#[tokio::test]
async fn recordings_list_newest_first_a_page_at_a_time_within_the_bounds_given() {
    for_each_backend(|db| async move {
        let at = |hours: i64| t0() - Duration::hours(hours);
        let found: Vec<Discovered> = (1..=3)
            .map(|h| Discovered {
                recorded_at: Some(at(h)),
                started_at: None,
                ..discovered(&format!("r{h}"), "lost")
            })
            .collect();
        db.record_discovered(found, t0(), t0()).await.unwrap();
        let page = |after, since, until| RecordingFilter {
            after,
            since,
            until,
            limit: 2,
            ..RecordingFilter::default()
        };
        let ids = |p: &super::catalog::RecordingPage| {
            p.rows
                .iter()
                .map(|r| r.recording_id.clone())
                .collect::<Vec<_>>()
        };

        let first = db
            .search_recordings(page(None, None, None), Visibility::Everything)
            .await
            .unwrap();
        let second = db
            .search_recordings(page(first.next.clone(), None, None), Visibility::Everything)
            .await
            .unwrap();
        let bounded = db
            .search_recordings(page(None, Some(at(2)), Some(at(1))), Visibility::Everything)
            .await
            .unwrap();

        assert_eq!(ids(&first), ["r1", "r2"]);
        assert_eq!(ids(&second), ["r3"]);
        assert!(second.next.is_none());
        assert_eq!(ids(&bounded), ["r2"], "since inclusive, until exclusive");
    })
    .await;
}

#[tokio::test]
async fn housekeeping_queues_unlinked_recordings_that_arrived_since_its_last_look() {
    for_each_backend(|db| async move {
        let rs = "Event=RecordStop&RecordingID=r-cb&CallUUID=nobody&RecordUrl=https%3A%2F%2Fmedia.vobiz.ai%2Fr.mp3";
        db.record_callback(
            crate::ingest::rules::tests::record_stop(rs, t0()),
            RULES,
        )
        .await
        .unwrap();
        let later = t0() + Duration::hours(2);
        let round = |since| super::catalog::Upkeep {
            now: later,
            nonces_before: later,
            unlinked_before: later,
            unlinked_since: since,
            source_delete_before: None,
        };

        db.housekeep(round(Some(t0() + Duration::hours(1))), RULES)
            .await
            .unwrap();
        let before_it = db.jobs(None, 10).await.unwrap().len();
        db.housekeep(round(None), RULES).await.unwrap();
        let jobs = db.jobs(None, 10).await.unwrap();

        assert_eq!(before_it, 0, "it arrived before the window looked at");
        assert_eq!(jobs.len(), 1, "a full look finds it");
        assert_eq!(jobs[0].subject, "r-cb");
    })
    .await;
}

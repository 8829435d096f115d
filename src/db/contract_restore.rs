//! The contract of rebuilding from the archive, for every backend: what a restored recording
//! reads back as, and that a rebuilt database has no work left to do for it.

use chrono::Duration;

use super::access::Visibility;
use super::catalog::Upkeep;
use super::contract::{ENTER, callback, every_page, for_each_backend};
use super::model::{
    Conference, Filter, JobState, Participant, RecordingStatus, Source, Status, Transcript,
};
use super::restore::{RestoreOutcome, Restored, RestoredLeg, RestoredRecording};
use crate::ingest::rules::tests::{RULES, conference_callback, t0};

fn leg(call: &str, from: &str) -> RestoredLeg {
    RestoredLeg {
        participant: Participant {
            call_uuid: call.into(),
            member_id: None,
            from: Some(from.into()),
            to: Some("919624705678".into()),
            direction: Some("inbound".into()),
            joined_at: Some(t0() - Duration::minutes(30)),
            left_at: Some(t0() - Duration::minutes(1)),
        },
        from_normalized: Some(from.trim_start_matches('+').into()),
    }
}

/// Recording `id` of the ended conference `conference` (or of none), as a sidecar gives it.
pub(super) fn restored(id: &str, conference: Option<&str>) -> Restored {
    Restored {
        recording: RestoredRecording {
            recording_id: id.into(),
            source: Source::ConferenceEnd,
            source_url: format!("https://media.vobiz.ai/{id}.mp3"),
            call_uuid: None,
            duration_ms: Some(61_000),
            started_at: None,
            recorded_at: t0() - Duration::minutes(1),
            from: None,
            to: None,
            from_normalized: None,
            to_normalized: None,
            vobiz_object: None,
            format: "mp3".into(),
            size_bytes: 1234,
            sha256: "ab".repeat(32),
            object_key: format!("calls/{id}.mp3"),
            location: format!("s3://archive/calls/{id}.mp3"),
            archived_at: t0(),
            source_deleted_at: None,
        },
        conference: conference.map(|uuid| Conference {
            conference_uuid: uuid.into(),
            name: "Board review".into(),
            status: Status::Ended,
            started_at: Some(t0() - Duration::minutes(30)),
            ended_at: Some(t0() - Duration::minutes(1)),
            end_reason: Some("end_event".into()),
            peak_size: Some(2),
        }),
        legs: if conference.is_some() {
            vec![leg("l1", "+918071387423"), leg("l2", "+14155550100")]
        } else {
            Vec::new()
        },
        transcript: None,
    }
}

#[tokio::test]
async fn a_restored_recording_reads_back_archived_with_its_conference_and_roster() {
    for_each_backend(|db| async move {
        let outcome = db
            .restore_archived(vec![restored("r9", Some("k9"))], t0())
            .await
            .unwrap();

        assert_eq!(
            outcome,
            [RestoreOutcome::Restored {
                conference: true,
                legs: 2
            }]
        );
        let detail = db
            .conference_detail("k9", Visibility::Everything)
            .await
            .unwrap()
            .expect("the conference is back");
        assert_eq!(detail.conference.name, "Board review");
        assert_eq!(detail.conference.status, Status::Ended);
        assert_eq!(detail.participants.len(), 2);
        let recording = &detail.recordings[0];
        assert_eq!(recording.status, RecordingStatus::Archived);
        assert_eq!(recording.sha256.as_deref(), Some("ab".repeat(32).as_str()));
        assert_eq!(
            recording.location.as_deref(),
            Some("s3://archive/calls/r9.mp3")
        );
        let found = db
            .search_conferences(
                Filter {
                    q: Some("board".into()),
                    participant: Some("14155550100".into()),
                    limit: 10,
                    ..Filter::default()
                },
                Visibility::Everything,
            )
            .await
            .unwrap();
        assert_eq!(
            found.rows.len(),
            1,
            "found by name and by a caller's number"
        );
        assert_eq!(found.rows[0].recordings, 1);
    })
    .await;
}

#[tokio::test]
async fn a_rebuilt_database_has_no_work_due_even_after_a_late_callback_and_housekeeping() {
    for_each_backend(|db| async move {
        db.restore_archived(vec![restored("r9", Some("k9")), restored("r0", None)], t0())
            .await
            .unwrap();
        let late_end = "ConferenceAction=end&ConferenceUUID=k9&ConferenceName=Board+review";
        let later = t0() + Duration::hours(2);

        db.record_callback(conference_callback(late_end, later), RULES)
            .await
            .unwrap();
        db.housekeep(
            Upkeep {
                now: later,
                nonces_before: later,
                unlinked_before: later,
                unlinked_since: None,
                source_delete_before: None,
            },
            RULES,
        )
        .await
        .unwrap();

        let jobs = db.jobs(None, 10).await.unwrap();
        assert_eq!(jobs.len(), 3, "two archives and one summary: {jobs:?}");
        assert!(jobs.iter().all(|j| j.state == JobState::Done), "{jobs:?}");
        let claimed = db
            .claim_job("w", later, later + Duration::seconds(60))
            .await
            .unwrap();
        assert!(claimed.is_none(), "nothing is fetched or mailed again");
    })
    .await;
}

#[tokio::test]
async fn restoring_again_or_over_what_is_known_changes_nothing() {
    for_each_backend(|db| async move {
        db.record_callback(callback(ENTER), RULES).await.unwrap();
        db.restore_archived(vec![restored("r9", Some("k9"))], t0())
            .await
            .unwrap();
        let mut over_known = restored("r8", Some("k1"));
        over_known.conference.as_mut().unwrap().name = "Not the name it has".into();

        let outcomes = db
            .restore_archived(vec![restored("r9", Some("k9")), over_known], t0())
            .await
            .unwrap();

        assert_eq!(
            outcomes,
            [
                RestoreOutcome::Known,
                RestoreOutcome::Restored {
                    conference: false,
                    legs: 2
                }
            ]
        );
        let known = db
            .conference_detail("k1", Visibility::Everything)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            known.conference.name, "Contract",
            "a known conference keeps its own"
        );
        assert_eq!(known.conference.status, Status::Active);
        assert_eq!(known.participants.len(), 3, "its leg and the two restored");
        assert_eq!(known.recordings[0].status, RecordingStatus::Archived);
    })
    .await;
}

#[tokio::test]
async fn pages_go_on_past_the_dated_conferences_to_those_restored_without_a_start() {
    for_each_backend(|db| async move {
        let conferences = (0..5).map(|i: i64| {
            let mut sidecar = restored(&format!("r{i}"), Some(&format!("k{i}")));
            if let Some(conference) = sidecar.conference.as_mut() {
                conference.started_at = (i % 2 == 0).then(|| t0() - Duration::minutes(30 + i));
            }
            sidecar.transcript = Some(Transcript {
                transcription_id: Some(format!("t{i}")),
                text: Some("the budget is fine".into()),
                error: None,
                received_at: t0(),
            });
            sidecar
        });
        db.restore_archived(conferences.collect(), t0())
            .await
            .unwrap();

        let newest_first_then_undated = ["k0", "k2", "k4", "k3", "k1"];
        for filter in [
            Filter::default(),
            Filter {
                q: Some("board".into()),
                ..Filter::default()
            },
            Filter {
                participant: Some("14155550100".into()),
                ..Filter::default()
            },
            Filter {
                said: Some(vec!["budget".into()]),
                ..Filter::default()
            },
            Filter {
                participant: Some("14155550100".into()),
                said: Some(vec!["budget".into()]),
                ..Filter::default()
            },
        ] {
            for limit in [1, 2, 10] {
                let listed = every_page(
                    &*db,
                    Filter {
                        limit,
                        ..filter.clone()
                    },
                )
                .await;
                assert_eq!(
                    listed, newest_first_then_undated,
                    "{filter:?}, {limit} a page"
                );
            }
        }
    })
    .await;
}

/// The recordings the database lists under conference `uuid`, by id.
async fn recordings_of(db: &dyn super::Database, uuid: &str) -> Vec<String> {
    let detail = db
        .conference_detail(uuid, Visibility::Everything)
        .await
        .unwrap()
        .expect("the conference is back");
    let mut ids: Vec<String> = detail
        .recordings
        .into_iter()
        .map(|r| r.recording_id)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_rebuild_links_a_leg_recording_archived_before_its_call_was_known_in_either_order() {
    for_each_backend(|db| async move {
        // Each leg's recording was archived alone (no callback had named its call yet), so its
        // sidecar holds no conference; the conference's own recording holds the roster.
        let leg_recording = |id: &str, call: &str| {
            let mut sidecar = restored(id, None);
            sidecar.recording.call_uuid = Some(call.into());
            sidecar
        };
        let conference_recording = |id: &str, uuid: &str, call: &str| {
            let mut sidecar = restored(id, Some(uuid));
            sidecar.legs[1].participant.call_uuid = call.into();
            sidecar
        };

        db.restore_archived(
            vec![
                leg_recording("r1", "la"),
                conference_recording("r2", "ka", "la"),
            ],
            t0(),
        )
        .await
        .unwrap();
        db.restore_archived(
            vec![
                conference_recording("r4", "kb", "lb"),
                leg_recording("r3", "lb"),
            ],
            t0(),
        )
        .await
        .unwrap();
        db.restore_archived(vec![leg_recording("r5", "lc")], t0())
            .await
            .unwrap();

        assert_eq!(recordings_of(&*db, "ka").await, ["r1", "r2"]);
        assert_eq!(recordings_of(&*db, "kb").await, ["r3", "r4"]);
        let unlinked = db
            .recording("r5", Visibility::Everything)
            .await
            .unwrap()
            .expect("restored");
        assert_eq!(
            unlinked.entry.conference_uuid, None,
            "no roster names its call"
        );
    })
    .await;
}

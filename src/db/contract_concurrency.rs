//! The contract under concurrent writers, and the same answers from every backend: callbacks of
//! one conference arriving together, every order of delivery, two archive jobs settling at the
//! same moment, and searches compared backend against backend.

use crate::db::access::Visibility;
use std::sync::{Arc, Mutex};

use chrono::Duration;
use futures_util::future::join_all;

use super::Database;
use super::contract::for_each_backend;
use super::model::{Ending, Filter, Finish, JobKind, Participant, Status};
use crate::ingest::rules::Outcome;
use crate::ingest::rules::tests::{RULES, conference_callback, record_stop, t0};

fn enter(conference: &str, call: &str, minute: u32) -> String {
    format!(
        "ConferenceAction=enter&ConferenceUUID={conference}&ConferenceName=Weekly+Standup+{conference}&CallUUID={call}&From=9180713874{call}&To=1&Timestamp=2026-05-19+10%3A{minute:02}%3A00"
    )
}

fn exit(conference: &str, call: &str, minute: u32) -> String {
    format!(
        "ConferenceAction=exit&ConferenceUUID={conference}&ConferenceName=Weekly+Standup+{conference}&CallUUID={call}&Timestamp=2026-05-19+10%3A{minute:02}%3A00"
    )
}

fn end(conference: &str, minute: u32) -> String {
    format!(
        "ConferenceAction=end&ConferenceUUID={conference}&ConferenceName=Weekly+Standup+{conference}&Timestamp=2026-05-19+10%3A{minute:02}%3A00"
    )
}

/// Legs as a comparable roster: call, number, join and leave.
fn roster(participants: &[Participant]) -> Vec<String> {
    let mut rows: Vec<String> = participants
        .iter()
        .map(|p| {
            format!(
                "{} {:?} {:?} {:?}",
                p.call_uuid, p.from, p.joined_at, p.left_at
            )
        })
        .collect();
    rows.sort();
    rows
}

async fn deliver_together(db: &Arc<dyn Database>, bodies: Vec<String>) {
    let writes = bodies.into_iter().map(|body| {
        let db = Arc::clone(db);
        async move {
            db.record_callback(conference_callback(&body, t0()), RULES)
                .await
        }
    });
    for outcome in join_all(writes).await {
        outcome.unwrap();
    }
}

#[tokio::test]
async fn first_callbacks_of_a_conference_arriving_together_make_one_conference_with_every_leg() {
    for_each_backend(|db| async move {
        let legs: Vec<String> = (10..40)
            .map(|i| enter("burst", &i.to_string(), 0))
            .collect();

        deliver_together(&db, legs).await;

        let page = db
            .search_conferences(
                Filter {
                    limit: 10,
                    ..Filter::default()
                },
                Visibility::Everything,
            )
            .await
            .unwrap();
        assert_eq!(page.rows.len(), 1);
        assert_eq!(page.rows[0].participants, 30);
        assert_eq!(page.rows[0].name, "Weekly Standup burst");
    })
    .await;
}

#[tokio::test]
async fn every_order_of_delivery_gives_the_same_roster() {
    for_each_backend(|db| async move {
        let script = |conf: &str| {
            vec![
                enter(conf, "11", 0),
                enter(conf, "12", 1),
                exit(conf, "11", 5),
                enter(conf, "13", 6),
                exit(conf, "12", 9),
                exit(conf, "13", 10),
                end(conf, 11),
            ]
        };
        let mut rosters = Vec::new();
        for shift in 0..7 {
            let conf = format!("order{shift}");
            let mut bodies = script(&conf);
            bodies.rotate_left(shift);
            if shift % 2 == 1 {
                bodies.reverse();
            }
            for body in bodies {
                db.record_callback(conference_callback(&body, t0()), RULES)
                    .await
                    .unwrap();
            }
            rosters.push(conf);
        }
        deliver_together(&db, script("together")).await;
        rosters.push("together".into());

        let mut seen = Vec::new();
        for conf in &rosters {
            let detail = db
                .conference_detail(conf, Visibility::Everything)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(detail.conference.status, Status::Ended, "{conf}");
            seen.push(roster(&detail.participants));
        }
        for (conf, other) in rosters.iter().zip(&seen) {
            assert_eq!(other, &seen[0], "{conf} differs from {}", rosters[0]);
        }
        assert_eq!(seen[0].len(), 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_archive_jobs_failing_at_the_same_moment_queue_exactly_one_summary() {
    for_each_backend(|db| async move {
        for round in 0..20 {
            let conf = format!("pair{round}");
            let stop = |rec: &str, call: &str| {
                format!(
                    "Event=RecordStop&RecordingID={rec}&RecordUrl=https%3A%2F%2Fmedia.vobiz.ai%2F{rec}.mp3&CallUUID={call}&RecordingDurationMs=1000"
                )
            };
            let (a, b) = (format!("5{round}1"), format!("5{round}2"));
            deliver_together(&db, vec![enter(&conf, &a, 0), enter(&conf, &b, 0)]).await;
            for (rec, call) in [(format!("{conf}-r1"), &a), (format!("{conf}-r2"), &b)] {
                db.record_callback(record_stop(&stop(&rec, call), t0()), RULES)
                    .await
                    .unwrap();
            }
            db.record_callback(conference_callback(&end(&conf, 30), t0()), RULES)
                .await
                .unwrap();
            let now = t0() + Duration::minutes(40);
            let lease = now + Duration::minutes(5);
            let first = db.claim_job("x", now, lease).await.unwrap().unwrap();
            let second = db.claim_job("y", now, lease).await.unwrap().unwrap();
            assert_eq!(
                (first.kind, second.kind),
                (JobKind::ArchiveRecording, JobKind::ArchiveRecording)
            );
            // Failing for good is settled too, and lives only in the job's row: each ending
            // must see the other's, or neither queues the summary.
            let failed = Ending {
                finish: Finish::Failed {
                    error: "not audio".into(),
                },
                alert_operators: false,
                summarise_if_settled: true,
                rearchive_recording: false,
                webhook: None,
                wake: None,
            };

            let (x, y) = tokio::join!(
                db.finish_job(first.id, "x", failed.clone(), now),
                db.finish_job(second.id, "y", failed, now)
            );

            assert!(x.unwrap() && y.unwrap());
            let detail = db.conference_detail(&conf, Visibility::Everything).await.unwrap().unwrap();
            let summaries = detail
                .jobs
                .iter()
                .filter(|j| j.kind == JobKind::NotifyConference)
                .count();
            assert_eq!(summaries, 1, "round {round}: {:?}", detail.jobs);
            let claimed = db.claim_job("z", now, lease).await.unwrap().unwrap();
            assert_eq!(claimed.kind, JobKind::NotifyConference);
            let done = Ending {
                finish: Finish::Done,
                alert_operators: false,
                summarise_if_settled: false,
                rearchive_recording: false,
                webhook: None,
                wake: None,
            };
            db.finish_job(claimed.id, "z", done, now).await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn searches_answer_the_same_on_every_backend() {
    let answers: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let collected = Arc::clone(&answers);
    for_each_backend(move |db| {
        let collected = Arc::clone(&collected);
        async move {
            let mut bodies = Vec::new();
            for i in 0..25u32 {
                let conf = format!("s{i:02}");
                bodies.push(enter(&conf, &format!("{}", 10 + i % 4), i));
                if i % 3 == 0 {
                    bodies.push(end(&conf, 50));
                }
            }
            bodies.push(
                "ConferenceAction=enter&ConferenceUUID=board&ConferenceName=Board+meeting+100%25&CallUUID=77&From=917777&To=1&Timestamp=2026-05-19+09%3A00%3A00".into(),
            );
            deliver_together(&db, bodies).await;
            let queries = [
                Filter { q: Some("standup".into()), limit: 4, ..Filter::default() },
                Filter { q: Some("BOARD MEET".into()), limit: 4, ..Filter::default() },
                Filter { q: Some("100%".into()), limit: 4, ..Filter::default() },
                Filter { q: Some("s1".into()), limit: 50, ..Filter::default() },
                Filter { q: Some("_".into()), limit: 50, ..Filter::default() },
                Filter { participant: Some("918071387411".into()), limit: 50, ..Filter::default() },
                Filter { status: Some(Status::Ended), limit: 50, ..Filter::default() },
                Filter { status: Some(Status::Active), limit: 3, ..Filter::default() },
                Filter { since: Some(t0() + Duration::minutes(10)), until: Some(t0() + Duration::minutes(20)), limit: 50, ..Filter::default() },
                Filter { has_recording: Some(false), limit: 5, ..Filter::default() },
            ];
            let mut seen = Vec::new();
            for filter in queries {
                // Every page, following the cursor, so pagination is compared too.
                let mut filter = filter;
                let mut pages = Vec::new();
                loop {
                    let page = db.search_conferences(filter.clone(), Visibility::Everything).await.unwrap();
                    pages.push(
                        page.rows
                            .iter()
                            .map(|r| format!("{}:{}:{}", r.conference_uuid, r.participants, r.status))
                            .collect::<Vec<_>>()
                            .join(","),
                    );
                    match page.next {
                        Some(next) => filter.after = Some(next),
                        None => break,
                    }
                }
                seen.push(pages.join(" | "));
            }
            assert!(seen[0].contains("s24"), "{seen:?}");
            assert_eq!(seen[1], "board:1:active");
            collected.lock().unwrap().push(seen);
        }
    })
    .await;
    let answers = answers.lock().unwrap();
    assert_eq!(answers.len(), 2, "both backends answered");
    assert_eq!(answers[0], answers[1]);
}

#[tokio::test]
async fn one_nonce_sent_with_two_bodies_at_once_is_accepted_once_and_refused_once() {
    for_each_backend(|db| async move {
        let signed = |body: String| conference_callback(&body, t0()).signed_with("nonce-1");
        let first = enter("guarded", "31", 0);
        let replay = enter("guarded", "32", 0);

        let outcomes = join_all([signed(first.clone()), signed(replay)].map(|callback| {
            let db = Arc::clone(&db);
            async move { db.record_callback(callback, RULES).await.unwrap() }
        }))
        .await;
        let again = db.record_callback(signed(first), RULES).await.unwrap();

        let stored = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Stored { .. }))
            .count();
        let refused = outcomes
            .iter()
            .filter(|o| **o == Outcome::ReplayRefused)
            .count();
        assert_eq!((stored, refused), (1, 1), "{outcomes:?}");
        assert!(
            matches!(again, Outcome::Duplicate | Outcome::ReplayRefused),
            "{again:?}"
        );
        let detail = db
            .conference_detail("guarded", Visibility::Everything)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            detail.participants.len(),
            1,
            "the refused one left no trace"
        );
    })
    .await;
}

#[tokio::test]
async fn a_replayed_nonce_among_callbacks_sent_together_is_refused_and_the_others_are_stored() {
    for_each_backend(|db| async move {
        let signed =
            |body: String, nonce: &str| conference_callback(&body, t0()).signed_with(nonce);
        let kept = db
            .record_callback(signed(enter("crowded", "40", 0), "seen-before"), RULES)
            .await
            .unwrap();
        let mut together = vec![signed(enter("crowded", "41", 1), "seen-before")];
        together.extend((42..48).map(|call| {
            signed(
                enter("crowded", &call.to_string(), 1),
                &format!("fresh-{call}"),
            )
        }));

        let outcomes = join_all(together.into_iter().map(|callback| {
            let db = Arc::clone(&db);
            async move { db.record_callback(callback, RULES).await.unwrap() }
        }))
        .await;

        assert!(matches!(kept, Outcome::Stored { .. }), "{kept:?}");
        assert_eq!(outcomes[0], Outcome::ReplayRefused);
        assert!(
            outcomes[1..]
                .iter()
                .all(|o| matches!(o, Outcome::Stored { .. })),
            "{outcomes:?}"
        );
        let detail = db
            .conference_detail("crowded", Visibility::Everything)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            detail.participants.len(),
            7,
            "the first leg and the six fresh ones"
        );
    })
    .await;
}

//! Order-tolerance and idempotence of the ingest rules, against a real (in-memory) SQLite.

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;

use super::*;
use crate::db::model::{JobKind, Status};
use crate::db::sqlite::testing::Memory;
use crate::vobiz::callback;

fn database() -> Memory {
    Memory::new()
}

fn apply(db: &Memory, a: &Accepted, rules: &Rules) -> Result<Outcome, DbError> {
    db.write(|tx| super::apply(tx, a, rules))
}

fn confirm_due_ends(db: &Memory, now: Instant, rules: &Rules) -> Result<Vec<String>, DbError> {
    db.write(|tx| super::confirm_due_ends(tx, now, rules))
}

pub(crate) const RULES: Rules = Rules {
    end_quiet: Duration::seconds(30),
    no_recording_summary_after: Some(Duration::seconds(120)),
    webhooks: true,
};

pub(crate) fn t0() -> Instant {
    Utc.with_ymd_and_hms(2026, 5, 19, 10, 0, 0).unwrap()
}

/// `body` posted to `endpoint`, parsed by `parse`, accepted as the handler would.
fn accepted(
    endpoint: Endpoint,
    body: &str,
    received_at: Instant,
    parse: impl FnOnce(&Fields) -> Parsed,
) -> Accepted {
    let fields = Fields::parse(body.as_bytes()).unwrap();
    let parsed = parse(&fields);
    Accepted::new(
        endpoint,
        "POST".into(),
        body.into(),
        fields,
        parsed,
        received_at,
        None,
    )
}

/// A documented- or live-shape conference callback, accepted as the handler would.
pub(crate) fn conference_callback(body: &str, received_at: Instant) -> Accepted {
    accepted(Endpoint::Conference, body, received_at, |fields| {
        Parsed::Conference(callback::parse_conference(fields, Tz::UTC).unwrap())
    })
}

pub(crate) fn transcription(body: &str, received_at: Instant) -> Accepted {
    accepted(Endpoint::Recording, body, received_at, |fields| {
        Parsed::Transcription(crate::vobiz::transcription::parse_transcription(fields).unwrap())
    })
}

pub(crate) fn record_stop(body: &str, received_at: Instant) -> Accepted {
    accepted(Endpoint::Recording, body, received_at, |fields| {
        Parsed::RecordStop(callback::parse_record_stop(fields).unwrap())
    })
}

/// Every ordering of `items` (Heap's algorithm).
fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    fn heap<T: Clone>(k: usize, items: &mut Vec<T>, out: &mut Vec<Vec<T>>) {
        if k <= 1 {
            out.push(items.clone());
            return;
        }
        for i in 0..k {
            heap(k - 1, items, out);
            let j = if k.is_multiple_of(2) { i } else { 0 };
            items.swap(j, k - 1);
        }
    }
    let mut out = Vec::new();
    heap(items.len(), &mut items.to_vec(), &mut out);
    out
}

fn roster(conn: &Memory, uuid: &str) -> Vec<String> {
    conn.participants(uuid)
        .into_iter()
        .map(|p| {
            format!(
                "{:?}",
                (
                    p.call_uuid,
                    p.member_id,
                    p.from,
                    p.to,
                    p.joined_at,
                    p.left_at
                )
            )
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn job_count(conn: &Memory) -> i64 {
    conn.jobs_of_kind(JobKind::ArchiveRecording)
}

const DOCUMENTED: &[&str] = &[
    "ConferenceAction=enter&ConferenceUUID=c1&ConferenceName=Standup&CallUUID=a&From=918071387423&To=919624705678&ConferenceCurrentSize=1&Timestamp=2026-05-19+10%3A00%3A00",
    "ConferenceAction=enter&ConferenceUUID=c1&ConferenceName=Standup&CallUUID=b&From=%2B918071387424&To=919624705678&ConferenceCurrentSize=2&Timestamp=2026-05-19+10%3A01%3A00",
    "ConferenceAction=exit&ConferenceUUID=c1&ConferenceName=Standup&CallUUID=b&From=%2B918071387424&To=919624705678&ConferenceCurrentSize=1&Timestamp=2026-05-19+10%3A05%3A00",
    "ConferenceAction=exit&ConferenceUUID=c1&ConferenceName=Standup&CallUUID=a&From=918071387423&To=919624705678&ConferenceCurrentSize=0&Timestamp=2026-05-19+10%3A10%3A00",
    "ConferenceAction=end&ConferenceUUID=c1&ConferenceName=Standup&CallUUID=a&ConferenceCurrentSize=0&RecordingUrl=https%3A%2F%2Frecordings.vobiz.ai%2Fc1.mp3&Timestamp=2026-05-19+10%3A10%3A01",
];

#[test]
fn every_delivery_order_of_documented_callbacks_gives_the_same_conference() {
    let mut expected = None;
    for order in permutations(DOCUMENTED) {
        let conn = database();
        for (i, body) in order.iter().enumerate() {
            let at = t0() + Duration::seconds(i as i64);
            apply(&conn, &conference_callback(body, at), &RULES).unwrap();
        }
        let conference = conn.conference("c1").unwrap();
        let snapshot = (
            roster(&conn, "c1"),
            conference.status,
            conference.started_at,
            conference.ended_at,
            conference.peak_size,
            job_count(&conn),
        );
        assert_eq!(snapshot.1, Status::Ended);
        assert_eq!(snapshot.5, 1, "one archive job for the one recording");
        match &expected {
            None => expected = Some(snapshot),
            Some(first) => assert_eq!(first, &snapshot, "order {order:?}"),
        }
    }
}

const LIVE: &[&str] = &[
    "ConferenceAction=enter&Event=ConferenceEnter&ConferenceUUID=c2&ConferenceName=Sales&ConferenceMemberID=1&ConferenceFirstMember=true&CallUUID=a&From=918071387423&To=919624705678",
    "ConferenceAction=enter&Event=ConferenceEnter&ConferenceUUID=c2&ConferenceName=Sales&ConferenceMemberID=2&ConferenceFirstMember=false&CallUUID=b&From=sip%3A918071387424%40sip.vobiz.ai&To=919624705678",
    "ConferenceAction=exit&Event=ConferenceExit&ConferenceUUID=c2&ConferenceName=Sales&ConferenceMemberID=2&ConferenceLastMember=false&CallUUID=b",
    "ConferenceAction=exit&Event=ConferenceExit&ConferenceUUID=c2&ConferenceName=Sales&ConferenceMemberID=1&ConferenceLastMember=true&CallUUID=a",
];

/// What is the same whatever the order of live callbacks, which carry no time of their own.
fn live_shape(conn: &Memory) -> Vec<String> {
    conn.participants("c2")
        .into_iter()
        .map(|p| {
            assert!(p.joined_at <= p.left_at, "a leg never ends before it began");
            format!(
                "{:?}",
                (p.call_uuid, p.member_id, p.from, p.to, p.left_at.is_some())
            )
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[test]
fn every_delivery_order_of_live_callbacks_ends_the_conference_with_the_same_roster() {
    let mut expected = None;
    for order in permutations(LIVE) {
        let conn = database();
        for (i, body) in order.iter().enumerate() {
            let at = t0() + Duration::seconds(i as i64);
            apply(&conn, &conference_callback(body, at), &RULES).unwrap();
        }
        assert!(
            confirm_due_ends(&conn, t0() + Duration::seconds(5), &RULES)
                .unwrap()
                .is_empty(),
            "not before the quiet period is over"
        );
        assert_eq!(
            confirm_due_ends(&conn, t0() + Duration::seconds(60), &RULES).unwrap(),
            vec!["c2".to_owned()],
            "order {order:?}"
        );
        let shape = live_shape(&conn);
        match &expected {
            None => expected = Some(shape),
            Some(first) => assert_eq!(first, &shape, "order {order:?}"),
        }
    }
}

#[test]
fn a_redelivered_callback_changes_nothing() {
    let conn = database();
    let enter = conference_callback(DOCUMENTED[0], t0());
    assert_eq!(
        apply(&conn, &enter, &RULES).unwrap(),
        Outcome::Stored {
            new_recording: false
        }
    );
    let later = conference_callback(DOCUMENTED[0], t0() + Duration::seconds(9));
    assert_eq!(apply(&conn, &later, &RULES).unwrap(), Outcome::Duplicate);
    assert_eq!(conn.events(), 1);
    assert_eq!(roster(&conn, "c1").len(), 1);
}

#[test]
fn an_enter_during_the_quiet_period_keeps_the_conference_going() {
    let conn = database();
    for (i, body) in [LIVE[0], LIVE[3]].iter().enumerate() {
        apply(
            &conn,
            &conference_callback(body, t0() + Duration::seconds(i as i64)),
            &RULES,
        )
        .unwrap();
    }
    let rejoin = "ConferenceAction=enter&Event=ConferenceEnter&ConferenceUUID=c2&ConferenceName=Sales&ConferenceMemberID=3&CallUUID=a2&From=918071387423&To=919624705678";
    apply(
        &conn,
        &conference_callback(rejoin, t0() + Duration::seconds(10)),
        &RULES,
    )
    .unwrap();
    assert!(
        confirm_due_ends(&conn, t0() + Duration::hours(1), &RULES)
            .unwrap()
            .is_empty()
    );
    let conference = conn.conference("c2").unwrap();
    assert_eq!(conference.status, Status::Active);
    let numbers: Vec<_> = conn
        .participants("c2")
        .into_iter()
        .map(|p| p.from)
        .collect();
    assert_eq!(
        numbers.len(),
        2,
        "the rejoin is a second leg of the same person"
    );
    assert_eq!(numbers[0], numbers[1]);
}

#[test]
fn a_recording_that_arrives_before_its_conference_is_linked_and_archived_after_the_end() {
    let conn = database();
    let stop = "Event=RecordStop&RecordingID=r1&RecordUrl=https%3A%2F%2Fmedia.vobiz.ai%2Fr1.mp3&CallUUID=a&RecordingDurationMs=1000";
    apply(&conn, &record_stop(stop, t0()), &RULES).unwrap();
    assert!(conn.recordings("c2").is_empty());
    apply(&conn, &conference_callback(LIVE[0], t0()), &RULES).unwrap();
    assert_eq!(conn.recordings("c2").len(), 1);
    assert_eq!(
        job_count(&conn),
        0,
        "not archived while the conference runs"
    );
    apply(&conn, &conference_callback(LIVE[3], t0()), &RULES).unwrap();
    confirm_due_ends(&conn, t0() + Duration::hours(1), &RULES).unwrap();
    assert_eq!(job_count(&conn), 1);
    let again = "Event=RecordStop&RecordingID=r1&RecordUrl=https%3A%2F%2Fmedia.vobiz.ai%2Fr1.mp3&CallUUID=a&RecordingDurationMs=1001";
    apply(&conn, &record_stop(again, t0()), &RULES).unwrap();
    assert_eq!(conn.recordings("c2").len(), 1, "deduped on RecordingID");
}

#[test]
fn a_nonce_reused_with_another_body_is_refused_and_stores_nothing() {
    let conn = database();
    let first = conference_callback(DOCUMENTED[0], t0()).signed_with("v3:123");
    apply(&conn, &first, &RULES).unwrap();
    let mut same = first.clone();
    same.received_at = t0() + Duration::seconds(1);
    assert_eq!(apply(&conn, &same, &RULES).unwrap(), Outcome::Duplicate);
    let replay = conference_callback(DOCUMENTED[1], t0()).signed_with("v3:123");
    assert_eq!(
        apply(&conn, &replay, &RULES).unwrap(),
        Outcome::ReplayRefused
    );
    assert_eq!(conn.events(), 1);
}

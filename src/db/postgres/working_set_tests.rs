//! The working set's answers and merged writes, against what one statement at a time makes
//! (the SQL in `conferences.rs`); the server-side effect is covered by the contract suite.

use chrono::{TimeZone, Utc};

use super::*;

fn at(seconds: i64) -> Instant {
    Utc.timestamp_opt(1_780_000_000 + seconds, 0).unwrap()
}

fn leg<'a>(call: &'a str) -> Leg<'a> {
    Leg {
        conference_uuid: "c1",
        call_uuid: call,
        member_id: None,
    }
}

fn caller(from: &str) -> Caller<'_> {
    Caller {
        from: Some(from),
        from_normalized: Some(from),
        to: None,
        direction: Some("inbound"),
    }
}

fn batch_of(conferences: &[&str], calls: &[&str], legs: Vec<(LegKey, LegRow)>) -> WorkingSet {
    let ahead = Ahead {
        conferences: conferences.to_vec(),
        calls: calls.to_vec(),
        ..Ahead::default()
    };
    let mut set = WorkingSet::default();
    set.learn(&ahead, Vec::new(), Vec::new(), legs);
    set
}

fn key(call: &str) -> LegKey {
    ("c1".into(), call.into(), String::new())
}

#[test]
fn nothing_read_ahead_means_every_rule_runs_its_own_statement() {
    let mut set = WorkingSet::default();
    let activity = ConferenceActivity {
        conference_uuid: "c1",
        name: None,
        at: at(0),
        size: None,
    };
    assert!(set.touch(&activity, at(0)).is_none());
    assert!(!set.enter(&leg("a"), &caller("+1"), at(0)));
    assert!(!set.exit(&leg("a"), at(1)));
    let event = NewEvent {
        endpoint: "conference",
        dedupe_key: b"k",
        method: "POST",
        raw_body: "",
        kind: "enter",
        conference_uuid: Some("c1"),
        call_uuid: Some("a"),
        received_at: at(0),
    };
    assert_eq!(set.insert_event(&event), None);
    assert!(set.take_writes().is_empty());
}

#[test]
fn an_event_read_ahead_is_new_once_and_a_stored_one_never() {
    let ahead = Ahead {
        event_keys: vec![b"new".to_vec(), b"old".to_vec()],
        ..Ahead::default()
    };
    let mut set = WorkingSet::default();
    set.learn(&ahead, vec![b"old".to_vec()], Vec::new(), Vec::new());
    let event = |key: &'static [u8]| NewEvent {
        endpoint: "conference",
        dedupe_key: key,
        method: "POST",
        raw_body: "body",
        kind: "enter",
        conference_uuid: Some("c1"),
        call_uuid: None,
        received_at: at(0),
    };

    assert_eq!(set.insert_event(&event(b"new")), Some(true));
    assert_eq!(set.insert_event(&event(b"new")), Some(false));
    assert_eq!(set.insert_event(&event(b"old")), Some(false));
    let writes = set.take_writes();
    assert_eq!(writes.len(), 1, "one insert for the one new event");
    assert_eq!(writes[0].0, INSERT_EVENTS);
}

#[test]
fn touches_merge_as_one_at_a_time_leaves_them_and_facts_follow_the_end() {
    let mut set = batch_of(&["c1"], &[], Vec::new());
    let touch = |set: &mut WorkingSet, name, seconds, size| {
        let activity = ConferenceActivity {
            conference_uuid: "c1",
            name,
            at: at(seconds),
            size,
        };
        set.touch(&activity, at(100 + seconds)).unwrap()
    };

    let first = touch(&mut set, Some(""), 5, Some(2));
    touch(&mut set, Some("Standup"), 3, None);
    touch(&mut set, Some("Later name"), 9, Some(4));
    set.ended("c1");
    let after_end = touch(&mut set, None, 1, Some(3));

    assert!(!first.ended && !first.last_member_left);
    assert!(after_end.ended, "the end made in this transaction is seen");
    let merged = &set.held_touches[0];
    assert_eq!(
        merged.name.as_deref(),
        Some("Standup"),
        "the first name given"
    );
    assert_eq!(merged.started_at, at(1));
    assert_eq!(merged.peak_size, Some(4));
    assert_eq!((merged.created_at, merged.updated_at), (at(105), at(101)));
}

#[test]
fn a_leg_joins_at_its_earliest_enter_and_never_after_its_leave() {
    let mut set = batch_of(&["c1"], &["a", "b"], Vec::new());

    assert!(set.enter(&leg("a"), &caller("+1"), at(10)));
    assert!(set.exit(&leg("a"), at(30)));
    assert!(set.enter(&leg("a"), &caller("+2"), at(5)));
    // b leaves before its enter arrives, with an enter stamped after the leave.
    assert!(set.exit(&leg("b"), at(20)));
    assert!(set.enter(&leg("b"), &caller("+3"), at(25)));

    let a = &set.legs[&key("a")];
    assert_eq!((a.joined_at, a.left_at), (Some(at(5)), Some(at(30))));
    assert_eq!(
        a.from.as_deref(),
        Some("+1"),
        "the first number given stays"
    );
    let b = &set.legs[&key("b")];
    assert_eq!((b.joined_at, b.left_at), (Some(at(20)), Some(at(20))));
}

#[test]
fn a_stored_leg_is_changed_from_what_was_read_ahead() {
    let stored = LegRow {
        from: Some("+1".into()),
        joined_at: Some(at(10)),
        left_at: Some(at(20)),
        ..LegRow::default()
    };
    let mut set = batch_of(&["c1"], &["a"], vec![(key("a"), stored)]);

    assert!(set.exit(&leg("a"), at(15)));
    assert!(set.exit(&leg("a"), at(40)));

    let a = &set.legs[&key("a")];
    assert_eq!((a.joined_at, a.left_at), (Some(at(10)), Some(at(40))));
    // An exit-only leg keeps no join.
    let mut set = batch_of(&["c1"], &["x"], Vec::new());
    assert!(set.exit(&leg("x"), at(7)));
    assert_eq!(set.legs[&key("x")].joined_at, None);
}

/// A batch in which conference c1 was touched and leg a entered it.
fn touched_and_entered() -> WorkingSet {
    let mut set = batch_of(&["c1"], &["a"], Vec::new());
    let activity = ConferenceActivity {
        conference_uuid: "c1",
        name: None,
        at: at(0),
        size: None,
    };
    set.touch(&activity, at(0)).unwrap();
    set.enter(&leg("a"), &caller("+1"), at(0));
    set
}

#[test]
fn held_writes_come_out_in_dependency_order_once() {
    let mut set = touched_and_entered();
    set.link_waiting("a", "c1");
    set.link_waiting("a", "c2");

    let writes = set.take_writes();
    let order: Vec<_> = writes.iter().map(|(sql, _)| *sql).collect();
    assert_eq!(order, [UPSERT_CONFERENCES, INSERT_LEGS, LINK_WAITING]);
    assert!(
        set.take_writes().is_empty(),
        "flushed writes are not sent again"
    );
    // What it knows stays: the leg is still changed from its flushed state, and has a row now.
    assert!(set.exit(&leg("a"), at(9)));
    let again: Vec<_> = set.take_writes().iter().map(|(sql, _)| *sql).collect();
    assert_eq!(again, [UPSERT_LEGS]);
}

#[test]
fn a_leg_read_ahead_is_updated_and_one_without_a_row_is_inserted() {
    let stored = LegRow {
        joined_at: Some(at(0)),
        ..LegRow::default()
    };
    let mut set = batch_of(&["c1"], &["a", "b"], vec![(key("a"), stored)]);

    assert!(set.exit(&leg("a"), at(5)));
    assert!(set.enter(&leg("b"), &caller("+2"), at(5)));
    let writes = set.take_writes();

    let order: Vec<_> = writes.iter().map(|(sql, _)| *sql).collect();
    assert_eq!(order, [INSERT_LEGS, UPSERT_LEGS]);
    let calls = |params: &[Owned]| format!("{:?}", params[1]);
    assert_eq!(calls(&writes[0].1), r#"["b"]"#);
    assert_eq!(calls(&writes[1].1), r#"["a"]"#);
}

#[test]
fn held_writes_are_flushed_as_one_statement_with_every_parameter() {
    let mut set = touched_and_entered();

    let (sql, params) = set.take_flush().expect("writes were held");
    assert!(
        sql.starts_with("WITH w1 AS (INSERT INTO conferences")
            && sql.contains("w2 AS (INSERT INTO participants"),
        "{sql}"
    );
    assert!(
        sql.contains("unnest($7::text[]") && sql.contains("$15::timestamptz[]"),
        "the legs' nine parameters follow the conferences' six: {sql}"
    );
    assert_eq!(params.len(), 6 + 9);
    assert!(
        set.take_flush().is_none(),
        "flushed writes are not sent again"
    );
}

#[test]
fn timestamps_compare_as_the_server_stores_them() {
    let mut set = batch_of(&["c1"], &["a"], Vec::new());
    let fine = at(10) + chrono::TimeDelta::nanoseconds(1_500);

    set.enter(&leg("a"), &caller("+1"), fine);

    assert_eq!(
        set.legs[&key("a")].joined_at,
        Some(at(10) + chrono::TimeDelta::microseconds(1))
    );
}

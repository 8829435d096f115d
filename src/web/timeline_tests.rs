//! The timeline's arithmetic: rows per person, bars per leg, recordings placed, round ticks.

use super::*;
use crate::mail::recipients::Directory;

fn at(hms: &str) -> Instant {
    format!("2026-05-19T{hms}Z").parse().expect("a test time")
}

fn leg(call: &str, from: &str, joined: &str, left: &str) -> Participant {
    Participant {
        call_uuid: call.to_owned(),
        member_id: None,
        from: Some(from.to_owned()),
        to: None,
        direction: None,
        joined_at: Some(at(joined)),
        left_at: Some(at(left)),
    }
}

fn conference(started: &str, ended: &str) -> Conference {
    Conference {
        conference_uuid: "c1".into(),
        name: "Standup".into(),
        status: crate::db::model::Status::Ended,
        started_at: Some(at(started)),
        ended_at: Some(at(ended)),
        end_reason: None,
        peak_size: None,
    }
}

fn recording(source: Source, started: Option<&str>, call: Option<&str>) -> Recording {
    Recording {
        recording_id: "r1".into(),
        source,
        source_url: "https://media.vobiz.ai/r1.mp3".into(),
        call_uuid: call.map(str::to_owned),
        started_at: started.map(at),
        duration_ms: Some(10 * 60 * 1000),
        duration_seconds: Some(600.0),
        status: RecordingStatus::Archived,
        format: Some("mp3".into()),
        size_bytes: Some(1),
        sha256: None,
        location: None,
        archived_at: None,
        attempts: 0,
        last_error: None,
        transcript: None,
    }
}

fn timeline(c: &Conference, legs: &[Participant], recordings: &[Recording]) -> Timeline {
    build(&Facts {
        conference: c,
        legs,
        recordings,
        directory: &Directory::default(),
        zone: chrono_tz::Asia::Kolkata,
        now: at("12:00:00"),
    })
    .expect("a timeline")
}

#[test]
fn each_person_is_one_row_with_a_bar_per_leg_and_the_gap_between_them() {
    let c = conference("10:00:00", "10:40:00");
    let legs = [
        leg("a1", "918071387423", "10:00:00", "10:10:00"),
        leg("b1", "919624705678", "10:00:00", "10:40:00"),
        leg("a2", "+91 80713 87423", "10:20:00", "10:40:00"),
    ];

    let t = timeline(&c, &legs, &[]);

    assert_eq!(t.people.len(), 2);
    let rejoined = &t.people[0];
    assert_eq!(rejoined.rejoins, 1);
    let bars: Vec<(&str, &str)> = rejoined
        .bars
        .iter()
        .map(|b| (b.x.as_str(), b.width.as_str()))
        .collect();
    assert_eq!(bars, [("0.000%", "25.000%"), ("50.000%", "50.000%")]);
    assert_eq!(rejoined.time_on_call, "30m 00s");
    assert!(
        rejoined.bars[1]
            .description
            .contains("15:50:00–16:10:00; 30m 00s on the call, rejoined once"),
        "times in the configured zone: {}",
        rejoined.bars[1].description
    );
}

#[test]
fn a_conference_recording_starts_with_the_conference_unless_it_says_otherwise() {
    let c = conference("10:00:00", "10:40:00");
    let legs = [leg("a1", "1", "10:00:00", "10:40:00")];

    let derived = timeline(&c, &legs, &[recording(Source::ConferenceEnd, None, None)]);
    let reported = timeline(
        &c,
        &legs,
        &[recording(Source::ConferenceEnd, Some("10:20:00"), None)],
    );
    let call = timeline(
        &c,
        &[
            leg("a1", "1", "10:00:00", "10:40:00"),
            leg("b1", "2", "10:10:00", "10:40:00"),
        ],
        &[recording(Source::RecordStop, None, Some("b1"))],
    );

    let placed = |t: &Timeline| {
        let r = &t.recordings[0];
        (r.x.clone(), r.width.clone(), r.placed_by)
    };
    assert_eq!(
        placed(&derived),
        ("0.000%".into(), "25.000%".into(), "the conference's start")
    );
    assert_eq!(
        derived.recordings[0].start_ms,
        at("10:00:00").timestamp_millis()
    );
    assert_eq!(
        placed(&reported),
        (
            "50.000%".into(),
            "25.000%".into(),
            "its own start, as Vobiz reported it"
        )
    );
    assert_eq!(placed(&call).0, "25.000%", "when its call joined");
}

#[test]
fn ticks_fall_on_round_local_times_and_stay_few() {
    // 04:37:00Z is 10:07 in Kolkata (UTC+5:30): ticks on its own quarter hours.
    let c = Conference {
        started_at: Some(at("04:37:00")),
        ended_at: Some(at("05:37:00")),
        ..conference("00:00:00", "00:00:00")
    };

    let t = timeline(&c, &[], &[]);

    let labels: Vec<&str> = t.ticks.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["10:15", "10:30", "10:45", "11:00"]);
    assert!(t.people.is_empty());
}

#[test]
fn a_conference_with_no_time_at_all_has_no_timeline() {
    let c = Conference {
        started_at: None,
        ended_at: None,
        ..conference("00:00:00", "00:00:00")
    };
    let none = build(&Facts {
        conference: &c,
        legs: &[],
        recordings: &[],
        directory: &Directory::default(),
        zone: chrono_tz::UTC,
        now: at("12:00:00"),
    });
    assert!(none.is_none());
}

fn labels_between(from: &str, to: &str, zone: Tz) -> Vec<String> {
    let axis = Axis {
        start: from.parse().expect("a test time"),
        end: to.parse().expect("a test time"),
    };
    ticks(&axis, zone).into_iter().map(|t| t.label).collect()
}

#[test]
fn across_the_spring_change_ticks_stay_evenly_spaced_and_read_the_wall_clock() {
    // Berlin, 29 March 2026: at 02:00 CET the clocks go to 03:00 CEST. The hour from 01:30
    // CET to 03:30 CEST is one hour of real time.
    let berlin = chrono_tz::Europe::Berlin;
    assert_eq!(
        labels_between("2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z", berlin),
        ["01:30", "01:45", "03:00", "03:15", "03:30"]
    );
    // Over a longer meeting the hourly ticks skip the hour that did not happen.
    assert_eq!(
        labels_between("2026-03-28T23:00:00Z", "2026-03-29T03:00:00Z", berlin),
        ["00:00", "01:00", "03:00", "04:00", "05:00"]
    );
}

#[test]
fn across_the_autumn_change_the_repeated_hour_is_ticked_twice() {
    // Berlin, 25 October 2026: at 03:00 CEST the clocks go back to 02:00 CET.
    let berlin = chrono_tz::Europe::Berlin;
    assert_eq!(
        labels_between("2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", berlin),
        ["02:30", "02:45", "02:00", "02:15", "02:30"]
    );
}

#[test]
fn ticks_hours_apart_stay_on_round_hours_across_a_clock_change() {
    let berlin = chrono_tz::Europe::Berlin;
    // Spring: 02:00 never happened, so it has no tick; the rest stay on even hours.
    assert_eq!(
        labels_between("2026-03-28T23:00:00Z", "2026-03-29T10:00:00Z", berlin),
        ["00:00", "04:00", "06:00", "08:00", "10:00", "12:00"]
    );
    // Autumn: 02:00 happened twice and is ticked once, at its first.
    assert_eq!(
        labels_between("2026-10-24T22:00:00Z", "2026-10-25T09:00:00Z", berlin),
        ["00:00", "02:00", "04:00", "06:00", "08:00", "10:00"]
    );
}

#[test]
fn ticks_hours_apart_fall_on_local_hours_on_an_ordinary_day() {
    assert_eq!(
        labels_between(
            "2026-05-19T06:00:00Z",
            "2026-05-19T18:00:00Z",
            chrono_tz::Europe::Berlin
        ),
        ["09:00", "12:00", "15:00", "18:00"]
    );
    assert_eq!(
        labels_between(
            "2026-05-19T00:30:00Z",
            "2026-05-19T11:30:00Z",
            chrono_tz::Asia::Kolkata
        ),
        ["06:00", "08:00", "10:00", "12:00", "14:00", "16:00"]
    );
}

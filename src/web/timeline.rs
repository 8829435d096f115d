//! The conference page's timeline: who was on the call when, and where each recording sits on
//! the same time axis, computed here as positions (percent of the axis) and labels that
//! templates/web/conference.html draws as SVG and static/timeline.js makes interactive.
//!
//! A recording's place on the axis is its start, taken from the first of:
//! 1. its own start, when its source said (`RecordingStartMs` on a RecordStop callback,
//!    `recording_start_ms` on the REST object);
//! 2. for a conference recording (the `end` callback's `RecordingUrl`), the conference's start:
//!    Vobiz records a conference from its start;
//! 3. for a call's recording without a start, when that call joined the conference;
//! 4. else the conference's start, or its first join.
//!
//! Its length is the measured or reported duration; unknown, it runs to the end of the axis.

use chrono::{Duration, Offset, TimeZone};
use chrono_tz::Tz;
use serde::Serialize;

use crate::db::model::{Conference, Participant, Recording, RecordingStatus, Source};
use crate::mail::summary::human_duration;
use crate::roster::{self, Person};
use crate::time::Instant;

/// Heights in CSS pixels; positions along the axis are percentages, so the drawing fills any
/// width without scaling its text.
const AXIS_HEIGHT: u32 = 26;
const ROW_HEIGHT: u32 = 42;
/// Most tick labels on the axis: room for them at phone width.
const MOST_TICKS: i64 = 6;

#[derive(Debug, Serialize)]
pub struct Timeline {
    /// The axis, as epoch milliseconds: what the script maps a click back to.
    pub start_ms: i64,
    pub end_ms: i64,
    pub height: u32,
    pub ticks: Vec<Tick>,
    pub people: Vec<PersonRow>,
    pub recordings: Vec<RecordingSpan>,
}

#[derive(Debug, Serialize)]
pub struct Tick {
    pub x: String,
    pub label: String,
    pub anchor: &'static str,
    /// Every other tick: its label is left out where the page is narrow.
    pub minor: bool,
}

#[derive(Debug, Serialize)]
pub struct PersonRow {
    pub label: String,
    pub name: Option<String>,
    pub number: String,
    pub time_on_call: String,
    pub rejoins: usize,
    /// Each leg as "10:00:05–10:12:40".
    pub stays: Vec<String>,
    pub label_y: u32,
    pub bar_y: u32,
    pub bars: Vec<Bar>,
}

#[derive(Debug, Serialize)]
pub struct Bar {
    pub x: String,
    pub width: String,
    /// Where a keyboard user's Enter seeks: the leg's join.
    pub seek_ms: i64,
    /// The leg, and the person's whole time on the call, in words.
    pub description: String,
}

#[derive(Debug, Serialize)]
pub struct RecordingSpan {
    pub recording_id: String,
    pub playable: bool,
    pub start_ms: i64,
    pub x: String,
    pub width: String,
    pub y: u32,
    /// "10:00:00–10:30:00", and how the start was found.
    pub span: String,
    pub placed_by: &'static str,
}

/// What the timeline is drawn from.
pub struct Facts<'a> {
    pub conference: &'a Conference,
    pub legs: &'a [Participant],
    pub recordings: &'a [Recording],
    pub directory: &'a crate::mail::recipients::Directory,
    pub zone: Tz,
    /// Where an open leg of a conference still going ends.
    pub now: Instant,
}

/// The timeline, or `None` when nothing in it has a time.
pub fn build(f: &Facts<'_>) -> Option<Timeline> {
    let end_of_call = f.conference.ended_at.unwrap_or(f.now);
    let people = roster::people(f.legs, Some(end_of_call), f.directory);
    let first_join = people.iter().filter_map(Person::first_join).min();
    let placed: Vec<(&Recording, Option<(Instant, &'static str)>)> = f
        .recordings
        .iter()
        .map(|r| (r, recording_start(r, f, first_join)))
        .collect();
    let starts = placed.iter().filter_map(|(_, p)| p.map(|(t, _)| t));
    let ends = placed
        .iter()
        .filter_map(|(r, p)| Some(p.as_ref()?.0 + Duration::milliseconds(r.duration_ms?)));
    let start = [f.conference.started_at, first_join]
        .into_iter()
        .flatten()
        .chain(starts)
        .min()?;
    let end = people
        .iter()
        .filter_map(Person::last_leave)
        .chain(f.conference.ended_at)
        .chain(ends)
        .max()
        .unwrap_or(start)
        .max(start + Duration::seconds(10));
    let axis = Axis { start, end };
    let clock = |t: Instant| crate::time::local(t, f.zone, "%H:%M:%S");

    let mut y = AXIS_HEIGHT;
    let mut rows = Vec::new();
    for person in &people {
        let stays: Vec<String> = person
            .stays
            .iter()
            .map(|s| {
                let at = |t: Option<Instant>| t.map_or_else(|| "?".to_owned(), clock);
                format!("{}–{}", at(s.joined), at(s.left))
            })
            .collect();
        let whole = format!(
            "{} on the call{}",
            human_duration(person.seconds()),
            match person.rejoins() {
                0 => String::new(),
                1 => ", rejoined once".to_owned(),
                n => format!(", rejoined {n} times"),
            }
        );
        let bars = person
            .stays
            .iter()
            .zip(&stays)
            .filter_map(|(stay, text)| {
                let joined = stay.joined?;
                let left = stay.left.unwrap_or(end_of_call).max(joined);
                Some(Bar {
                    x: axis.percent(joined),
                    width: axis.width(joined, left),
                    seek_ms: joined.timestamp_millis(),
                    description: format!("{} ({}): {text}; {whole}", person.label(), person.number),
                })
            })
            .collect();
        rows.push(PersonRow {
            label: person.label().to_owned(),
            name: person.name.clone(),
            number: person.number.clone(),
            time_on_call: human_duration(person.seconds()),
            rejoins: person.rejoins(),
            stays,
            label_y: y + 15,
            bar_y: y + 21,
            bars,
        });
        y += ROW_HEIGHT;
    }
    let mut recordings = Vec::new();
    for (r, place) in placed {
        let Some((started, placed_by)) = place else {
            continue;
        };
        let stopped = r
            .duration_ms
            .map_or(end, |ms| started + Duration::milliseconds(ms));
        recordings.push(RecordingSpan {
            recording_id: r.recording_id.clone(),
            playable: r.status == RecordingStatus::Archived,
            start_ms: started.timestamp_millis(),
            x: axis.percent(started),
            width: axis.width(started, stopped),
            y: y + 21,
            span: format!("{}–{}", clock(started), clock(stopped)),
            placed_by,
        });
        y += ROW_HEIGHT;
    }
    Some(Timeline {
        start_ms: start.timestamp_millis(),
        end_ms: end.timestamp_millis(),
        height: y + 6,
        ticks: ticks(&axis, f.zone),
        people: rows,
        recordings,
    })
}

/// Where recording `r` starts on the axis, and how that was found (see the module's comment).
fn recording_start(
    r: &Recording,
    f: &Facts<'_>,
    first_join: Option<Instant>,
) -> Option<(Instant, &'static str)> {
    if let Some(t) = r.started_at {
        return Some((t, "its own start, as Vobiz reported it"));
    }
    let conference_start = f.conference.started_at.or(first_join);
    if r.source != Source::ConferenceEnd {
        let joined = f
            .legs
            .iter()
            .filter(|l| r.call_uuid.as_deref() == Some(l.call_uuid.as_str()))
            .find_map(|l| l.joined_at);
        if let Some(t) = joined {
            return Some((t, "when its call joined the conference"));
        }
    }
    conference_start.map(|t| (t, "the conference's start"))
}

struct Axis {
    start: Instant,
    end: Instant,
}

impl Axis {
    fn fraction(&self, t: Instant) -> f64 {
        let span = (self.end - self.start).num_milliseconds().max(1) as f64;
        ((t - self.start).num_milliseconds() as f64 / span).clamp(0.0, 1.0)
    }

    fn percent(&self, t: Instant) -> String {
        format!("{:.3}%", self.fraction(t) * 100.0)
    }

    /// At least a sliver, so a leg of a second still shows.
    fn width(&self, from: Instant, to: Instant) -> String {
        let w = (self.fraction(to) - self.fraction(from)) * 100.0;
        format!("{:.3}%", w.max(0.4))
    }
}

/// Round times in `zone` (whole minutes, quarter hours, hours…), at most [`MOST_TICKS`].
fn ticks(axis: &Axis, zone: Tz) -> Vec<Tick> {
    const STEPS: &[i64] = &[
        5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    ];
    let span = (axis.end - axis.start).num_seconds().max(1);
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s < MOST_TICKS)
        .unwrap_or(86400);
    let format = if step < 60 { "%H:%M:%S" } else { "%H:%M" };
    let instants = if step > 3600 {
        wall_clock_ticks(axis, zone, step)
    } else {
        even_ticks(axis, zone, step)
    };
    instants
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let fraction = axis.fraction(t);
            Tick {
                x: axis.percent(t),
                label: crate::time::local(t, zone, format),
                // Labels at the edges stay inside the drawing.
                anchor: match fraction {
                    f if f < 0.06 => "start",
                    f if f > 0.94 => "end",
                    _ => "middle",
                },
                minor: i % 2 == 1,
            }
        })
        .collect()
}

/// Ticks a fixed stretch of real time apart, aligned in local time (a zone half an hour off UTC
/// still gets ticks on its own quarter hours). Across a clock change they stay evenly spaced and
/// their labels read the wall clock (01:00, 03:00 where the clocks jumped).
fn even_ticks(axis: &Axis, zone: Tz, step: i64) -> Vec<Instant> {
    let offset = i64::from(
        zone.offset_from_utc_datetime(&axis.start.naive_utc())
            .fix()
            .local_minus_utc(),
    );
    let first = (axis.start.timestamp() + offset + step - 1).div_euclid(step) * step - offset;
    (0..)
        .map(|i| first + i * step)
        .map_while(|s| chrono::DateTime::from_timestamp(s, 0).filter(|t| *t <= axis.end))
        .collect()
}

/// Ticks every `step` hours of the wall clock (00:00, 06:00, 12:00…; `step` divides a day), so
/// that after a clock change they still fall on those hours rather than an hour off. A time the
/// clocks skipped has no tick; a repeated one has its first.
fn wall_clock_ticks(axis: &Axis, zone: Tz, step: i64) -> Vec<Instant> {
    let start = axis.start.with_timezone(&zone).naive_local();
    let end = axis.end.with_timezone(&zone).naive_local();
    let midnight = start.date().and_time(chrono::NaiveTime::MIN);
    let step = Duration::seconds(step);
    // An hour of slack each side: the naive bounds are an offset change away from the real ones.
    let slack = Duration::hours(1);
    std::iter::successors(Some(midnight), |t| t.checked_add_signed(step))
        .skip_while(|t| *t + slack < start)
        .take_while(|t| *t <= end + slack)
        .filter_map(|t| zone.from_local_datetime(&t).earliest())
        .map(|t| t.with_timezone(&chrono::Utc))
        .filter(|t| *t >= axis.start && *t <= axis.end)
        .collect()
}

#[cfg(test)]
#[path = "timeline_tests.rs"]
mod tests;

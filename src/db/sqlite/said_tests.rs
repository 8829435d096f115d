//! The walk by what was said against a plain reading of the same data: every page, every order
//! in which a conference, its recordings and their transcripts can arrive.

use proptest::prelude::*;
use rusqlite::{Connection, params};

use crate::db::access::Visibility;
use crate::db::catalog::RecordingFilter;
use crate::db::model::{Cursor, Filter};
use crate::time::from_db;

/// A conference of the generated data: its start (a second, a microsecond; none at all), the
/// second it starts in after a late callback (if any) and its recordings.
#[derive(Debug, Clone)]
struct Meeting {
    start: Option<(u32, u32)>,
    moved_to: Option<u32>,
    recordings: Vec<Said>,
}

/// A recording: linked to its conference or not, the words of its transcript, whether the
/// transcript came before the recording, and when it was recorded.
#[derive(Debug, Clone)]
struct Said {
    linked: bool,
    words: Vec<&'static str>,
    transcript_first: bool,
    recorded: (u32, u32),
}

const SPOKEN: &[&str] = &["budget", "lunch", "hiring"];

fn at(second: u32, micros: u32) -> String {
    format!("2026-05-19T10:00:{second:02}.{micros:06}Z")
}

fn database() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    crate::db::sqlite::migrate::run(&mut conn).unwrap();
    conn
}

fn store(conn: &Connection, meetings: &[Meeting]) {
    let transcript = |id: &str, words: &[&str]| {
        conn.execute(
            "INSERT INTO transcripts (recording_id, text, received_at) VALUES (?1, ?2, 'x')",
            params![id, words.join(" ")],
        )
        .unwrap();
    };
    for (i, meeting) in meetings.iter().enumerate() {
        let uuid = format!("c{i:02}");
        conn.execute(
            "INSERT INTO conferences (conference_uuid, name, status, started_at, created_at, updated_at)
             VALUES (?1, 'Meeting', 'ended', ?2, 'x', 'x')",
            params![uuid, meeting.start.map(|(s, m)| at(s, m))],
        )
        .unwrap();
        for (j, said) in meeting.recordings.iter().enumerate() {
            let id = format!("r{i:02}-{j}");
            if said.transcript_first {
                transcript(&id, &said.words);
            }
            conn.execute(
                "INSERT INTO recordings
                     (recording_id, conference_uuid, source, source_url, created_at, recorded_at)
                 VALUES (?1, NULL, 'conference_end', 'u', 'x', ?2)",
                params![id, at(said.recorded.0, said.recorded.1)],
            )
            .unwrap();
            if said.linked {
                conn.execute(
                    "UPDATE recordings SET conference_uuid = ?2 WHERE recording_id = ?1",
                    params![id, uuid],
                )
                .unwrap();
            }
            if !said.transcript_first {
                transcript(&id, &said.words);
            }
        }
        if let Some(second) = meeting.moved_to {
            conn.execute(
                "UPDATE conferences SET started_at = ?2 WHERE conference_uuid = ?1",
                params![uuid, at(second, 0)],
            )
            .unwrap();
        }
    }
}

/// Every conference that has a linked recording whose transcript holds `word`, newest first.
fn expected(conn: &Connection, word: &str) -> Vec<String> {
    ids_for_word(
        conn,
        "SELECT DISTINCT c.conference_uuid FROM conferences c
         JOIN recordings r ON r.conference_uuid = c.conference_uuid
         JOIN transcripts t ON t.recording_id = r.recording_id
         WHERE ' ' || t.text || ' ' LIKE '% ' || ?1 || ' %'
         ORDER BY c.started_at DESC, c.conference_uuid DESC",
        word,
    )
}

/// The ids `sql` lists when its `?1` is `word`: the plain reading a search is checked against.
fn ids_for_word(conn: &Connection, sql: &str, word: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([word], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Every page of the search for `word`, `limit` at a time, following the cursors; with `q`,
/// a name filter that every generated conference passes but that, being rare, leads the search.
fn found(conn: &Connection, word: &str, limit: u32, q: Option<&str>) -> Vec<String> {
    let mut all = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let filter = Filter {
            said: Some(vec![word.to_owned()]),
            q: q.map(str::to_owned),
            limit,
            after: after.clone(),
            ..Filter::default()
        };
        let page = super::super::search::conferences(conn, &filter, &Visibility::Everything);
        let page = page.unwrap();
        all.extend(page.rows.into_iter().map(|r| r.conference_uuid));
        match page.next {
            Some(next) => after = Some(next),
            None => return all,
        }
    }
}

/// Every recording whose transcript holds `word`, linked or not, newest first.
fn expected_recordings(conn: &Connection, word: &str) -> Vec<String> {
    ids_for_word(
        conn,
        "SELECT r.recording_id FROM recordings r
         JOIN transcripts t ON t.recording_id = r.recording_id
         WHERE ' ' || t.text || ' ' LIKE '% ' || ?1 || ' %'
         ORDER BY r.recorded_at DESC, r.recording_id DESC",
        word,
    )
}

/// Every page of the recordings list for `word`, `limit` at a time, its matches collected when
/// fewer than `common_matches` (else the list is walked).
fn found_recordings(
    conn: &Connection,
    word: &str,
    limit: u32,
    common_matches: usize,
) -> Vec<String> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let filter = RecordingFilter {
            said: Some(vec![word.to_owned()]),
            limit,
            after: after.clone(),
            ..RecordingFilter::default()
        };
        let page = super::super::catalog::search_with(
            conn,
            &filter,
            &Visibility::Everything,
            common_matches,
        );
        let page = page.unwrap();
        all.extend(page.rows.into_iter().map(|r| r.recording_id));
        match page.next {
            Some(next) => after = Some(next),
            None => return all,
        }
    }
}

/// Every transcript with a text has one key, with its conference, in that one's start second.
fn keys_follow_their_conferences(conn: &Connection) {
    let (texts, keys, misplaced): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM transcripts WHERE text IS NOT NULL),
                    (SELECT COUNT(*) FROM transcript_search_keys),
                    (SELECT COUNT(*) FROM transcript_search_keys k
                     JOIN transcript_recency v ON v.recording_id = k.recording_id
                     WHERE k.key >> 20 <> v.second
                        OR k.conference_uuid IS NOT v.conference_uuid)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((keys, misplaced), (texts, 0));
}

fn meeting() -> impl Strategy<Value = Meeting> {
    let said = (
        prop::bool::weighted(0.85),
        prop::sample::subsequence(SPOKEN, 0..=SPOKEN.len()),
        any::<bool>(),
        (0..6u32, 0..2u32),
    )
        .prop_map(|(linked, words, transcript_first, recorded)| Said {
            linked,
            words,
            transcript_first,
            recorded,
        });
    (
        prop::option::weighted(0.8, (0..4u32, 0..3u32)),
        prop::option::weighted(0.2, 0..4u32),
        prop::collection::vec(said, 0..4),
    )
        .prop_map(|(start, moved_to, recordings)| Meeting {
            start,
            moved_to: moved_to.filter(|_| start.is_some()),
            recordings,
        })
}

proptest! {
    #[test]
    fn every_page_of_a_said_search_lists_the_meetings_and_recordings_that_said_it_newest_first(
        meetings in prop::collection::vec(meeting(), 0..14),
        limit in 1..4u32,
    ) {
        let conn = database();
        store(&conn, &meetings);

        keys_follow_their_conferences(&conn);
        for word in SPOKEN {
            let expected = expected(&conn, word);
            prop_assert_eq!(&found(&conn, word, limit, None), &expected, "{}", word);
            prop_assert_eq!(&found(&conn, word, limit, Some("Meeting")), &expected, "{}", word);
            let expected = expected_recordings(&conn, word);
            for common_matches in [1, 1_000_000] {
                let found = found_recordings(&conn, word, limit, common_matches);
                prop_assert_eq!(&found, &expected, "{} {}", word, common_matches);
            }
        }
    }
}

#[test]
fn a_search_within_a_time_range_reads_only_its_seconds_and_misses_nothing_in_them() {
    let conn = database();
    let meetings: Vec<Meeting> = (0..6)
        .map(|second| Meeting {
            start: Some((second, 500_000)),
            moved_to: None,
            recordings: vec![Said {
                linked: true,
                words: vec!["budget"],
                transcript_first: false,
                recorded: (second, 0),
            }],
        })
        .collect();
    store(&conn, &meetings);

    let filter = Filter {
        said: Some(vec!["budget".into()]),
        since: Some(from_db(&at(2, 500_000)).unwrap()),
        until: Some(from_db(&at(4, 500_000)).unwrap()),
        limit: 10,
        ..Filter::default()
    };
    let page = super::super::search::conferences(&conn, &filter, &Visibility::Everything);

    let found: Vec<String> = page
        .unwrap()
        .rows
        .into_iter()
        .map(|r| r.conference_uuid)
        .collect();
    assert_eq!(found, ["c03", "c02"]);
}

#[test]
fn a_meeting_without_a_start_is_found_after_every_meeting_with_one() {
    let conn = database();
    let said = || Said {
        linked: true,
        words: vec!["budget"],
        transcript_first: true,
        recorded: (0, 0),
    };
    let meetings = [
        Meeting {
            start: None,
            moved_to: None,
            recordings: vec![said()],
        },
        Meeting {
            start: Some((1, 0)),
            moved_to: None,
            recordings: vec![said(), said()],
        },
    ];
    store(&conn, &meetings);

    keys_follow_their_conferences(&conn);
    assert_eq!(found(&conn, "budget", 10, None), ["c01", "c00"]);
}

#[test]
fn meetings_that_start_in_the_same_second_come_page_by_page_in_exact_order() {
    let conn = database();
    let hiring = |start| Meeting {
        start: Some(start),
        moved_to: None,
        recordings: vec![Said {
            linked: true,
            words: vec!["hiring"],
            transcript_first: false,
            recorded: (0, 0),
        }],
    };
    store(&conn, &[hiring((3, 2)), hiring((3, 0)), hiring((3, 0))]);

    assert_eq!(found(&conn, "hiring", 1, None), ["c00", "c02", "c01"]);
}

#[test]
fn the_bound_of_transcripts_without_a_dated_conference_is_the_second_they_are_kept_in() {
    assert_eq!(
        super::UNDATED_BOUND,
        format!("s.rowid < ({} + 1) * 1048576", super::NO_START_SECOND)
    );
}

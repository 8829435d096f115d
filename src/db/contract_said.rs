//! The order of a search by words said, for every backend: the conference list's own order,
//! page after page, across conferences that start in the same second, conferences with several
//! transcripts, and a conference whose start a late callback moved.

use std::sync::Arc;

use super::Database;
use super::contract::{callback, every_page, for_each_backend};
use super::model::Filter;
use crate::ingest::rules::tests::{RULES, record_stop, t0, transcription};

/// Conference `uuid` starting at `time` (HH:MM:SS on the contract's day), its leg `leg`.
fn enter(uuid: &str, leg: &str, time: &str) -> String {
    let time = time.replace(':', "%3A");
    format!(
        "ConferenceAction=enter&ConferenceUUID={uuid}&ConferenceName=Standup&CallUUID={leg}\
         &From=1&To=2&Timestamp=2026-05-19+{time}"
    )
}

/// Leg `leg` recorded `recording`, and Vobiz transcribed it as `text`.
async fn said(db: &dyn Database, leg: &str, recording: &str, text: &str) {
    let stop = format!(
        "Event=RecordStop&RecordingID={recording}&CallUUID={leg}\
         &RecordUrl=https%3A%2F%2Fmedia.vobiz.ai%2F{recording}.mp3"
    );
    db.record_callback(record_stop(&stop, t0()), RULES)
        .await
        .unwrap();
    let text = text.replace(' ', "+");
    let body =
        format!("recording_id={recording}&transcription_id=t-{recording}&transcription={text}");
    db.record_callback(transcription(&body, t0()), RULES)
        .await
        .unwrap();
}

/// Every page of a search for `word`, two conferences at a time.
async fn pages(db: &Arc<dyn Database>, word: &str) -> Vec<String> {
    let filter = Filter {
        said: Some(vec![word.to_owned()]),
        limit: 2,
        ..Filter::default()
    };
    every_page(&**db, filter).await
}

#[tokio::test]
async fn a_said_search_pages_through_meetings_in_the_order_of_the_conference_list() {
    for_each_backend(|db| async move {
        // Three meetings in the same second, one later, one that a late callback moves first.
        for (uuid, leg, time) in [
            ("k-a", "leg-a", "10:00:05"),
            ("k-b", "leg-b", "10:00:05"),
            ("k-c", "leg-c", "10:00:05"),
            ("k-d", "leg-d", "10:00:09"),
            ("k-e", "leg-e", "10:00:07"),
        ] {
            db.record_callback(callback(&enter(uuid, leg, time)), RULES)
                .await
                .unwrap();
        }
        said(&*db, "leg-a", "r-a", "the budget is fine").await;
        said(&*db, "leg-b", "r-b", "lunch then budget").await;
        said(&*db, "leg-c", "r-c", "nothing of note").await;
        said(&*db, "leg-d", "r-d1", "budget first").await;
        said(&*db, "leg-d", "r-d2", "budget again").await;
        said(&*db, "leg-e", "r-e", "budget at last").await;
        let late = enter("k-e", "leg-e2", "10:00:01");
        db.record_callback(callback(&late), RULES).await.unwrap();

        let found = pages(&db, "budget").await;

        assert_eq!(found, ["k-d", "k-b", "k-a", "k-e"]);
        assert_eq!(pages(&db, "lunch").await, ["k-b"]);
    })
    .await;
}

//! The contract of transcriptions, for every backend: kept once per recording, a text never
//! replaced, and the job that writes it into the sidecar queued whenever what is kept changes.

use chrono::Duration;

use super::Database;
use super::access::Visibility;
use super::contract::for_each_backend;
use super::model::{Ending, Finish, JobKind, JobState, Transcript, Wake};
use super::restore::RestoreOutcome;
use crate::ingest::rules::Outcome;
use crate::ingest::rules::tests::{RULES, record_stop, t0, transcription};

const STOP: &str =
    "Event=RecordStop&RecordingID=r-t&CallUUID=leg&RecordUrl=https%3A%2F%2Fmedia.vobiz.ai%2Fr.mp3";
const FAILED: &str = "recording_id=r-t&transcription_id=t-0&error=Service+busy";
const TEXT: &str = "recording_id=r-t&transcription_id=t-1&transcription=Hello+board";
const OTHER_TEXT: &str = "recording_id=r-t&transcription_id=t-2&transcription=Something+else";

fn done() -> Ending {
    Ending {
        finish: Finish::Done,
        alert_operators: false,
        summarise_if_settled: false,
        rearchive_recording: false,
        webhook: None,
        wake: None,
    }
}

/// A run of the transcript job that found the recording not archived yet, waiting an hour.
fn deferred() -> Ending {
    Ending {
        finish: Finish::Defer {
            run_at: t0() + Duration::minutes(60),
            reason: "the recording is not archived yet".into(),
        },
        ..done()
    }
}

/// An archive job's run that settled, waking the transcript job.
fn archived() -> Ending {
    Ending {
        wake: Some(Wake {
            kind: JobKind::ArchiveTranscript,
            revive_failed: true,
        }),
        ..done()
    }
}

/// A recording (its archive job not queued yet) whose transcription came a minute later.
async fn a_recording_and_its_transcription(db: &dyn Database) {
    db.record_callback(record_stop(STOP, t0()), RULES)
        .await
        .unwrap();
    db.record_callback(transcription(TEXT, t0() + Duration::minutes(1)), RULES)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_text_replaces_a_failure_but_is_never_replaced_and_each_change_queues_its_job() {
    for_each_backend(|db| async move {
        db.record_callback(record_stop(STOP, t0()), RULES)
            .await
            .unwrap();
        let at = |minutes| t0() + Duration::minutes(minutes);

        db.record_callback(transcription(FAILED, at(1)), RULES)
            .await
            .unwrap();
        let failed = db.transcript("r-t").await.unwrap().unwrap();
        let claimed = db.claim_job("w", at(2), at(3)).await.unwrap().unwrap();
        assert_eq!(claimed.kind, JobKind::ArchiveTranscript);
        db.finish_job(claimed.id, "w", done(), at(2)).await.unwrap();
        db.record_callback(transcription(TEXT, at(3)), RULES)
            .await
            .unwrap();
        let again = db
            .record_callback(transcription(TEXT, at(4)), RULES)
            .await
            .unwrap();
        db.record_callback(transcription(OTHER_TEXT, at(5)), RULES)
            .await
            .unwrap();

        assert_eq!(failed.text, None);
        assert_eq!(failed.error.as_deref(), Some("Service busy"));
        assert_eq!(again, Outcome::Duplicate);
        let kept = db
            .recording("r-t", Visibility::Everything)
            .await
            .unwrap()
            .unwrap()
            .transcript
            .unwrap();
        assert_eq!(kept.text.as_deref(), Some("Hello board"));
        assert_eq!(kept.transcription_id.as_deref(), Some("t-1"));
        assert_eq!(kept.error, None);
        let jobs = db.jobs(None, 10).await.unwrap();
        let transcript_job = jobs
            .iter()
            .find(|j| j.kind == JobKind::ArchiveTranscript)
            .unwrap();
        assert_eq!(
            (transcript_job.state, transcript_job.run_at),
            (JobState::Pending, at(3)),
            "made due again by the text, not by the text that came after: {jobs:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_transcript_waiting_for_its_recording_is_due_as_soon_as_the_archive_settles() {
    for_each_backend(|db| async move {
        let at = |minutes| t0() + Duration::minutes(minutes);
        a_recording_and_its_transcription(&*db).await;
        let waiting = db.claim_job("w", at(2), at(3)).await.unwrap().unwrap();
        assert_eq!(waiting.kind, JobKind::ArchiveTranscript);
        db.finish_job(waiting.id, "w", deferred(), at(2))
            .await
            .unwrap();
        // Queues the recording's archive job, as its conference's end would.
        db.rearchive("r-t", at(3)).await.unwrap();
        let archive = db.claim_job("w", at(4), at(5)).await.unwrap().unwrap();
        let nothing_else_due = db.claim_job("w", at(4), at(5)).await.unwrap();

        db.finish_job(archive.id, "w", archived(), at(6))
            .await
            .unwrap();

        assert_eq!(archive.kind, JobKind::ArchiveRecording);
        assert!(nothing_else_due.is_none(), "{nothing_else_due:?}");
        let due = db.claim_job("w", at(7), at(8)).await.unwrap().unwrap();
        assert_eq!(due.id, waiting.id, "{due:?}");
        assert_eq!(due.run_at, at(6));
    })
    .await;
}

#[tokio::test]
async fn a_transcript_job_that_looked_while_the_archive_ran_runs_again_once_it_settles() {
    for_each_backend(|db| async move {
        let at = |minutes| t0() + Duration::minutes(minutes);
        a_recording_and_its_transcription(&*db).await;
        db.rearchive("r-t", at(1)).await.unwrap();
        let first = (
            "w1",
            db.claim_job("w1", at(2), at(30)).await.unwrap().unwrap(),
        );
        let second = (
            "w2",
            db.claim_job("w2", at(2), at(30)).await.unwrap().unwrap(),
        );
        let ((archiver, archive), (looker, looking)) = match first.1.kind {
            JobKind::ArchiveRecording => (first, second),
            _ => (second, first),
        };

        db.finish_job(archive.id, archiver, archived(), at(3))
            .await
            .unwrap();
        let recorded = db
            .finish_job(looking.id, looker, deferred(), at(4))
            .await
            .unwrap();

        assert_eq!(looking.kind, JobKind::ArchiveTranscript);
        assert!(
            !recorded,
            "its look came before the archive: it does not count"
        );
        let again = db.claim_job("w3", at(5), at(30)).await.unwrap().unwrap();
        assert_eq!(
            (again.id, again.attempts),
            (looking.id, 1),
            "the interrupted attempt is not counted"
        );
    })
    .await;
}

#[tokio::test]
async fn a_transcript_job_that_gave_up_on_its_recording_runs_afresh_once_it_is_archived() {
    for_each_backend(|db| async move {
        let at = |minutes| t0() + Duration::minutes(minutes);
        a_recording_and_its_transcription(&*db).await;
        let gave_up = db.claim_job("w", at(2), at(3)).await.unwrap().unwrap();
        let failed = Ending {
            finish: Finish::Failed {
                error: "the recording is not known yet".into(),
            },
            ..done()
        };
        db.finish_job(gave_up.id, "w", failed, at(2)).await.unwrap();
        db.rearchive("r-t", at(3)).await.unwrap();
        let archive = db.claim_job("w", at(4), at(5)).await.unwrap().unwrap();

        db.finish_job(archive.id, "w", archived(), at(6))
            .await
            .unwrap();

        let again = db.claim_job("w", at(7), at(8)).await.unwrap().unwrap();
        assert_eq!(
            (again.id, again.kind, again.attempts),
            (gave_up.id, JobKind::ArchiveTranscript, 1),
            "with fresh attempts"
        );
    })
    .await;
}

#[tokio::test]
async fn a_transcription_for_a_recording_not_known_yet_is_kept_for_it() {
    for_each_backend(|db| async move {
        db.record_callback(transcription(TEXT, t0()), RULES)
            .await
            .unwrap();

        let kept = db.transcript("r-t").await.unwrap();
        let before = db.recording("r-t", Visibility::Everything).await.unwrap();
        db.record_callback(record_stop(STOP, t0()), RULES)
            .await
            .unwrap();
        let after = db
            .recording("r-t", Visibility::Everything)
            .await
            .unwrap()
            .unwrap();

        assert!(kept.is_some());
        assert!(before.is_none());
        assert_eq!(
            after.transcript.and_then(|t| t.text).as_deref(),
            Some("Hello board")
        );
    })
    .await;
}

#[tokio::test]
async fn a_restored_transcription_needs_no_job() {
    for_each_backend(|db| async move {
        let mut restored = super::contract_restore::restored("r-t", None);
        restored.transcript = Some(Transcript {
            transcription_id: Some("t-1".into()),
            text: Some("Hello board".into()),
            error: None,
            received_at: t0(),
        });

        let outcome = db.restore_archived(vec![restored], t0()).await.unwrap();

        assert!(matches!(outcome[0], RestoreOutcome::Restored { .. }));
        let detail = db
            .recording("r-t", Visibility::Everything)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            detail.transcript.and_then(|t| t.text).as_deref(),
            Some("Hello board")
        );
        let jobs = db.jobs(None, 10).await.unwrap();
        assert!(jobs.iter().all(|j| j.state == JobState::Done), "{jobs:?}");
    })
    .await;
}

#[tokio::test]
async fn a_meeting_and_its_recording_are_found_by_words_said_whole_words_all_of_them() {
    for_each_backend(|db| async move {
        let enter = "ConferenceAction=enter&ConferenceUUID=k-t&ConferenceName=Board&CallUUID=leg&From=1&To=2&Timestamp=2026-05-19+10%3A00%3A00";
        db.record_callback(crate::db::contract::callback(enter), RULES)
            .await
            .unwrap();
        db.record_callback(record_stop(STOP, t0()), RULES)
            .await
            .unwrap();
        // A failure first: the text then replaces it, through the index's update path.
        db.record_callback(transcription(FAILED, t0()), RULES)
            .await
            .unwrap();
        db.record_callback(
            transcription(
                "recording_id=r-t&transcription=We+approved+the+Budget%2C+then+lunch.",
                t0(),
            ),
            RULES,
        )
        .await
        .unwrap();
        let found = |said: &'static str| {
            let db = std::sync::Arc::clone(&db);
            async move {
                let filter = super::model::Filter {
                    said: Some(said.split_whitespace().map(str::to_owned).collect()),
                    limit: 10,
                    ..super::model::Filter::default()
                };
                db.search_conferences(filter, Visibility::Everything)
                    .await
                    .unwrap()
                    .rows
                    .len()
            }
        };

        assert_eq!(found("budget").await, 1, "any case");
        assert_eq!(found("approved lunch").await, 1, "every word, anywhere");
        assert_eq!(found("budget dinner").await, 0, "not every word");
        assert_eq!(found("budg").await, 0, "whole words only");
        assert_eq!(found("\"budget OR").await, 0, "typed text is never query syntax");
        let recordings = |said: &'static str| {
            let db = std::sync::Arc::clone(&db);
            async move {
                let filter = super::catalog::RecordingFilter {
                    said: Some(said.split_whitespace().map(str::to_owned).collect()),
                    limit: 10,
                    ..super::catalog::RecordingFilter::default()
                };
                let page = db.search_recordings(filter, Visibility::Everything).await;
                page.unwrap().rows.into_iter().map(|r| r.recording_id).collect::<Vec<_>>()
            }
        };
        assert_eq!(recordings("LUNCH budget").await, ["r-t"]);
        assert!(recordings("dinner").await.is_empty());
    })
    .await;
}

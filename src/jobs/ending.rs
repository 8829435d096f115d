//! What a finished job run causes, decided in one place: how the queue records it (done,
//! retried with backoff, deferred, failed for good), whether operators are alerted, whether
//! its conference may now be summarised, and which job waiting for it may run now. A
//! recording's status follows from its archive job, so nothing here writes it.

use super::JobError;
use super::backoff;
use crate::config::JobsConfig;
use crate::db::model::{Ending, Finish, Instant, Job, JobKind, Wake};
use crate::db::webhooks::WebhookEvent;
use crate::webhooks::events::EventType;

/// The ending of `job`'s run, which ended with `outcome` at `now`.
pub fn decide(
    job: &Job,
    outcome: &Result<(), JobError>,
    config: &JobsConfig,
    webhooks: bool,
    now: Instant,
) -> Ending {
    let finish = match outcome {
        Ok(()) => Finish::Done,
        Err(JobError::Wait(why)) => Finish::Defer {
            run_at: now + seconds(config.retry_base_seconds.clamp(0.05, 60.0)),
            reason: why.clone(),
        },
        Err(JobError::Retryable(e)) if job.attempts < i64::from(config.max_attempts) => {
            let wait = backoff::delay(
                job.attempts.max(0) as u32,
                config.retry_base_seconds,
                config.retry_max_seconds,
            );
            Finish::RetryAt {
                run_at: now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX),
                error: e.clone(),
            }
        }
        Err(JobError::Retryable(e)) => Finish::Failed {
            error: format!("{e} (gave up after {} attempts)", job.attempts),
        },
        Err(JobError::Permanent(e) | JobError::CopyDamaged(e)) => {
            Finish::Failed { error: e.clone() }
        }
    };
    let failed = matches!(finish, Finish::Failed { .. });
    let settled = matches!(finish, Finish::Done | Finish::Failed { .. });
    Ending {
        // Alerts about failed alerts would loop.
        alert_operators: failed && job.kind != JobKind::AlertJobFailed,
        // A settled archive job may be its conference's last: the summary waits for that.
        summarise_if_settled: settled && job.kind == JobKind::ArchiveRecording,
        rearchive_recording: matches!(outcome, Err(JobError::CopyDamaged(_))),
        webhook: webhooks.then(|| webhook(job, &finish)).flatten(),
        // A transcription that came first waits for the sidecar its recording's archive writes
        // (or, if archiving failed, learns there will be none) without sitting out its deferral;
        // one that gave up waiting for a recording not known then is written now.
        wake: (settled && job.kind == JobKind::ArchiveRecording).then_some(Wake {
            kind: JobKind::ArchiveTranscript,
            revive_failed: finish == Finish::Done,
        }),
        finish,
    }
}

/// The webhook message a settled run causes, if any.
fn webhook(job: &Job, finish: &Finish) -> Option<WebhookEvent> {
    let (event, once) = match (job.kind, finish) {
        (JobKind::ArchiveRecording, Finish::Done) => (EventType::RecordingArchived, false),
        (JobKind::ArchiveRecording, Finish::Failed { .. }) => (EventType::RecordingFailed, false),
        (JobKind::NotifyConference, Finish::Done) => (EventType::SummarySent, true),
        // Not once: a text that replaces a failure is news again.
        (JobKind::ArchiveTranscript, Finish::Done) => (EventType::RecordingTranscribed, false),
        _ => return None,
    };
    Some(WebhookEvent {
        event,
        subject: job.subject.clone(),
        once,
    })
}

fn seconds(s: f64) -> chrono::Duration {
    chrono::Duration::from_std(std::time::Duration::from_secs_f64(s))
        .unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::model::{JobId, JobState};

    fn job(kind: JobKind, attempts: i64) -> Job {
        let t = chrono::DateTime::UNIX_EPOCH;
        Job {
            id: JobId(7),
            kind,
            subject: "r1".into(),
            state: JobState::Running,
            attempts,
            run_at: t,
            last_error: None,
            checkpoint: None,
            created_at: t,
            updated_at: t,
        }
    }

    fn config() -> JobsConfig {
        JobsConfig {
            max_attempts: 3,
            ..JobsConfig::default()
        }
    }

    #[test]
    fn a_finished_archive_may_complete_its_conference() {
        let ending = decide(
            &job(JobKind::ArchiveRecording, 1),
            &Ok(()),
            &config(),
            true,
            Instant::default(),
        );
        assert_eq!(ending.finish, Finish::Done);
        assert!(ending.summarise_if_settled);
        assert_eq!(
            ending.webhook.map(|w| (w.event, w.subject)),
            Some((EventType::RecordingArchived, "r1".to_owned())),
            "receivers hear of the archived recording in the same transaction"
        );
        assert!(!ending.alert_operators);
    }

    #[test]
    fn a_settled_archive_wakes_the_transcript_waiting_for_it_and_nothing_else_does() {
        let failed = Err(JobError::Permanent("not a recording".into()));
        let retried = Err(JobError::Retryable("503".into()));
        let wakes = |kind, outcome: &Result<(), JobError>| {
            decide(&job(kind, 1), outcome, &config(), true, Instant::default()).wake
        };

        let transcript = |revive_failed| {
            Some(Wake {
                kind: JobKind::ArchiveTranscript,
                revive_failed,
            })
        };

        assert_eq!(wakes(JobKind::ArchiveRecording, &Ok(())), transcript(true));
        assert_eq!(
            wakes(JobKind::ArchiveRecording, &failed),
            transcript(false),
            "the transcript job learns at once that there will be no sidecar"
        );
        assert_eq!(wakes(JobKind::ArchiveRecording, &retried), None);
        assert_eq!(wakes(JobKind::ArchiveTranscript, &Ok(())), None);
        assert_eq!(wakes(JobKind::NotifyConference, &Ok(())), None);
    }

    #[test]
    fn a_transcription_in_the_sidecar_is_news_each_time_and_settles_no_summary() {
        let ending = decide(
            &job(JobKind::ArchiveTranscript, 1),
            &Ok(()),
            &config(),
            true,
            Instant::default(),
        );
        assert!(!ending.summarise_if_settled);
        assert_eq!(
            ending.webhook.map(|w| (w.event, w.once)),
            Some((EventType::RecordingTranscribed, false)),
            "a text that replaces a failure is sent too"
        );
    }

    #[test]
    fn a_retryable_failure_is_retried_until_the_attempts_run_out_then_alerts() {
        let error = Err(JobError::Retryable("HTTP 503".into()));
        let early = decide(
            &job(JobKind::ArchiveRecording, 1),
            &error,
            &config(),
            true,
            Instant::default(),
        );
        assert!(matches!(early.finish, Finish::RetryAt { .. }));
        assert!(!early.summarise_if_settled, "a retry settles nothing");
        assert!(!early.alert_operators);

        let last = decide(
            &job(JobKind::ArchiveRecording, 3),
            &error,
            &config(),
            true,
            Instant::default(),
        );
        assert_eq!(
            last.finish,
            Finish::Failed {
                error: "HTTP 503 (gave up after 3 attempts)".into()
            }
        );
        assert!(last.alert_operators);
        assert!(last.summarise_if_settled, "a failed recording settles too");
    }

    #[test]
    fn a_failed_alert_raises_no_alert_about_itself() {
        let error = Err(JobError::Permanent("SMTP refused".into()));
        let ending = decide(
            &job(JobKind::AlertJobFailed, 1),
            &error,
            &config(),
            true,
            Instant::default(),
        );
        assert!(matches!(ending.finish, Finish::Failed { .. }));
        assert!(!ending.alert_operators);
        assert!(!ending.summarise_if_settled);
    }

    #[test]
    fn waiting_for_other_work_is_a_deferral_not_an_attempt() {
        let wait = Err(JobError::Wait("a recording is still being archived".into()));
        let ending = decide(
            &job(JobKind::NotifyConference, 1),
            &wait,
            &config(),
            true,
            Instant::default(),
        );
        assert!(matches!(ending.finish, Finish::Defer { .. }));
        assert!(!ending.alert_operators);
    }
}

//! The ingest rules' transaction interface over an SQLite connection that is inside a write
//! transaction (the writer's batch).

use rusqlite::Connection;

use super::nonces::RecentNonces;
use super::{conferences, events, jobs, nonces, recordings};
use crate::db::DbError;
use crate::db::ingest_tx::{
    Caller, ConferenceActivity, IngestTx, Leg, NewEvent, NewRecording, NewTranscript, NonceSeen,
    Touched,
};
use crate::time::{Instant, to_db};

/// The writer's connection, inside its transaction, and its index of recent nonces.
pub struct SqliteTx<'c>(pub &'c Connection, pub &'c RecentNonces);

impl IngestTx for SqliteTx<'_> {
    fn remember_nonce(
        &self,
        nonce: &str,
        body_hash: &[u8; 32],
        now: Instant,
    ) -> Result<NonceSeen, DbError> {
        nonces::remember(self.0, self.1, nonce, body_hash, &to_db(now))
    }

    fn insert_event(&self, event: &NewEvent<'_>) -> Result<bool, DbError> {
        events::insert(self.0, event)
    }

    fn touch_conference(
        &self,
        activity: &ConferenceActivity<'_>,
        now: Instant,
    ) -> Result<Touched, DbError> {
        conferences::touch(
            self.0,
            activity.conference_uuid,
            activity.name,
            &to_db(activity.at),
            activity.size,
            &to_db(now),
        )
    }

    fn record_enter(&self, leg: &Leg<'_>, caller: &Caller<'_>, at: Instant) -> Result<(), DbError> {
        conferences::record_enter(self.0, leg, caller, &to_db(at))
    }

    fn record_exit(&self, leg: &Leg<'_>, at: Instant) -> Result<(), DbError> {
        conferences::record_exit(self.0, leg, &to_db(at))
    }

    fn link_waiting_recordings(
        &self,
        call_uuid: &str,
        conference_uuid: &str,
    ) -> Result<(), DbError> {
        recordings::link_waiting(self.0, call_uuid, conference_uuid).map(drop)
    }

    fn note_last_member_exit(
        &self,
        conference_uuid: &str,
        at: Instant,
        now: Instant,
    ) -> Result<(), DbError> {
        conferences::note_last_member_exit(self.0, conference_uuid, &to_db(at), &to_db(now))
    }

    fn end_by_event(
        &self,
        conference_uuid: &str,
        at: Instant,
        now: Instant,
    ) -> Result<(), DbError> {
        conferences::end_by_event(self.0, conference_uuid, &to_db(at), &to_db(now))
    }

    fn schedule_inferred_end(
        &self,
        conference_uuid: &str,
        due: Instant,
        now: Instant,
    ) -> Result<(), DbError> {
        conferences::schedule_inferred_end(self.0, conference_uuid, &to_db(due), &to_db(now))
    }

    fn confirm_due_ends(&self, now: Instant) -> Result<Vec<String>, DbError> {
        conferences::confirm_due_ends(self.0, &to_db(now))
    }

    fn add_recording(&self, recording: &NewRecording<'_>, now: Instant) -> Result<bool, DbError> {
        recordings::add(self.0, recording, &to_db(now))
    }

    fn conference_of_call(&self, call_uuid: &str) -> Result<Option<String>, DbError> {
        conferences::conference_of_call(self.0, call_uuid)
    }

    fn keep_transcript(&self, transcript: &NewTranscript<'_>) -> Result<bool, DbError> {
        super::transcripts::keep(self.0, transcript)
    }

    fn queue_transcript_archive(&self, recording_id: &str, now: Instant) -> Result<(), DbError> {
        super::transcripts::queue_archive(self.0, recording_id, &to_db(now))
    }

    fn enqueue_archives_if_ended(
        &self,
        conference_uuid: &str,
        now: Instant,
    ) -> Result<(), DbError> {
        jobs::enqueue_archives_if_ended(self.0, conference_uuid, &to_db(now)).map(drop)
    }

    fn enqueue_summary_when_settled(
        &self,
        conference_uuid: &str,
        now: Instant,
        no_recording_run_at: Option<Instant>,
    ) -> Result<(), DbError> {
        jobs::enqueue_notify_when_settled(
            self.0,
            conference_uuid,
            &to_db(now),
            no_recording_run_at.map(to_db).as_deref(),
        )
    }

    fn enqueue_webhook(
        &self,
        event: &crate::db::webhooks::WebhookEvent,
        now: Instant,
    ) -> Result<(), DbError> {
        super::webhooks::enqueue(self.0, event, &to_db(now))
    }
}

/// An in-memory database for unit tests of the rules, so that they need not name SQLite.
#[cfg(test)]
pub mod testing {
    use super::*;
    use crate::db::model::{Conference, JobKind, Participant, Recording};
    use crate::db::sqlite::writer::Transactional;

    pub struct Memory(Connection, RecentNonces);

    impl Memory {
        pub fn new() -> Self {
            let mut conn = Connection::open_in_memory().expect("in-memory SQLite");
            super::super::migrate::run(&mut conn).expect("migrations apply");
            let nonces = nonces::index_recent(&conn, nonces::INDEX_LIMIT).expect("nonces indexed");
            Memory(conn, nonces)
        }

        /// Runs `f` in one transaction, as the writer would.
        pub fn write<R>(
            &self,
            f: impl FnOnce(&dyn IngestTx) -> Result<R, DbError>,
        ) -> Result<R, DbError> {
            self.0.execute_batch("BEGIN IMMEDIATE")?;
            match f(&SqliteTx(&self.0, &self.1)) {
                Ok(value) => {
                    self.0.execute_batch("COMMIT")?;
                    self.1.committed();
                    Ok(value)
                }
                Err(e) => {
                    self.0.execute_batch("ROLLBACK")?;
                    self.1.rolled_back();
                    Err(e)
                }
            }
        }

        pub fn conference(&self, uuid: &str) -> Option<Conference> {
            conferences::get(&self.0, uuid).expect("reading a conference")
        }

        pub fn participants(&self, uuid: &str) -> Vec<Participant> {
            conferences::participants(&self.0, uuid).expect("reading participants")
        }

        pub fn recordings(&self, uuid: &str) -> Vec<Recording> {
            recordings::for_conference(&self.0, uuid).expect("reading recordings")
        }

        pub fn jobs_of_kind(&self, kind: JobKind) -> i64 {
            jobs::count_of_kind(&self.0, kind).expect("counting jobs")
        }

        pub fn events(&self) -> i64 {
            events::count(&self.0).expect("counting events")
        }
    }
}

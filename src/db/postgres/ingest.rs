//! The ingest rules' transaction interface over a PostgreSQL transaction, and the raw event
//! log and nonce guard that only the rules use.

use super::tx::PgTx;
use super::{conferences, jobs, recordings};
use crate::db::DbError;
use crate::db::ingest_tx::{
    Caller, ConferenceActivity, IngestTx, Leg, NewEvent, NewRecording, NewTranscript, NonceSeen,
    Touched,
};
use crate::time::Instant;

impl IngestTx for PgTx<'_> {
    /// Shared by every replica: a nonce first seen on one is known to all.
    fn remember_nonce(
        &self,
        nonce: &str,
        body_hash: &[u8; 32],
        now: Instant,
    ) -> Result<NonceSeen, DbError> {
        let hash = body_hash.as_slice();
        if self.working().take_fresh_nonce(nonce, hash) {
            return Ok(NonceSeen::New);
        }
        let inserted = self.execute(
            "INSERT INTO seen_nonces (nonce, body_hash, seen_at) VALUES ($1, $2, $3)
             ON CONFLICT (nonce) DO NOTHING",
            &[&nonce, &hash, &now],
        )?;
        if inserted == 1 {
            return Ok(NonceSeen::New);
        }
        let earlier: Option<Vec<u8>> = self
            .opt(
                "SELECT body_hash FROM seen_nonces WHERE nonce = $1",
                &[&nonce],
            )?
            .map(|r| r.try_get(0))
            .transpose()?;
        Ok(if earlier.as_deref() == Some(hash) {
            NonceSeen::SameBody
        } else {
            NonceSeen::OtherBody
        })
    }

    fn insert_event(&self, e: &NewEvent<'_>) -> Result<bool, DbError> {
        let known = self.working().insert_event(e);
        if let Some(stored) = known {
            return Ok(stored);
        }
        Ok(self.execute(
            "INSERT INTO callback_events
                 (endpoint, dedupe_key, method, raw_body, kind, conference_uuid, call_uuid,
                  received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (dedupe_key) DO NOTHING",
            &[
                &e.endpoint,
                &e.dedupe_key,
                &e.method,
                &e.raw_body,
                &e.kind,
                &e.conference_uuid,
                &e.call_uuid,
                &e.received_at,
            ],
        )? == 1)
    }

    fn touch_conference(
        &self,
        activity: &ConferenceActivity<'_>,
        now: Instant,
    ) -> Result<Touched, DbError> {
        let known = self.working().touch(activity, now);
        if let Some(touched) = known {
            return Ok(touched);
        }
        conferences::touch(
            self,
            activity.conference_uuid,
            activity.name,
            activity.at,
            activity.size,
            now,
        )
    }

    fn record_enter(&self, leg: &Leg<'_>, caller: &Caller<'_>, at: Instant) -> Result<(), DbError> {
        if self.working().enter(leg, caller, at) {
            return Ok(());
        }
        conferences::record_enter(self, leg, caller, at)
    }

    fn record_exit(&self, leg: &Leg<'_>, at: Instant) -> Result<(), DbError> {
        if self.working().exit(leg, at) {
            return Ok(());
        }
        conferences::record_exit(self, leg, at)
    }

    fn link_waiting_recordings(
        &self,
        call_uuid: &str,
        conference_uuid: &str,
    ) -> Result<(), DbError> {
        // Held back to one statement for the batch: exact, since it is flushed before anything
        // else reads or adds a recording.
        self.working().link_waiting(call_uuid, conference_uuid);
        Ok(())
    }

    fn note_last_member_exit(
        &self,
        conference_uuid: &str,
        at: Instant,
        now: Instant,
    ) -> Result<(), DbError> {
        self.working().last_member_left(conference_uuid);
        conferences::note_last_member_exit(self, conference_uuid, at, now)
    }

    fn end_by_event(
        &self,
        conference_uuid: &str,
        at: Instant,
        now: Instant,
    ) -> Result<(), DbError> {
        self.working().ended(conference_uuid);
        conferences::end_by_event(self, conference_uuid, at, now)
    }

    fn schedule_inferred_end(
        &self,
        conference_uuid: &str,
        due: Instant,
        now: Instant,
    ) -> Result<(), DbError> {
        conferences::schedule_inferred_end(self, conference_uuid, due, now)
    }

    fn confirm_due_ends(&self, now: Instant) -> Result<Vec<String>, DbError> {
        let ended = conferences::confirm_due_ends(self, now)?;
        for uuid in &ended {
            self.working().ended(uuid);
        }
        Ok(ended)
    }

    fn add_recording(&self, recording: &NewRecording<'_>, now: Instant) -> Result<bool, DbError> {
        recordings::add(self, recording, now)
    }

    fn conference_of_call(&self, call_uuid: &str) -> Result<Option<String>, DbError> {
        conferences::conference_of_call(self, call_uuid)
    }

    fn keep_transcript(&self, transcript: &NewTranscript<'_>) -> Result<bool, DbError> {
        super::transcripts::keep(self, transcript)
    }

    fn queue_transcript_archive(&self, recording_id: &str, now: Instant) -> Result<(), DbError> {
        super::transcripts::queue_archive(self, recording_id, now)
    }

    fn enqueue_archives_if_ended(
        &self,
        conference_uuid: &str,
        now: Instant,
    ) -> Result<(), DbError> {
        jobs::send_archives_if_ended(self, conference_uuid, now)
    }

    fn enqueue_summary_when_settled(
        &self,
        conference_uuid: &str,
        now: Instant,
        no_recording_run_at: Option<Instant>,
    ) -> Result<(), DbError> {
        jobs::enqueue_notify_when_settled(self, conference_uuid, now, no_recording_run_at)
    }

    fn enqueue_webhook(
        &self,
        event: &crate::db::webhooks::WebhookEvent,
        now: Instant,
    ) -> Result<(), DbError> {
        super::webhooks::enqueue(self, event, now)
    }
}

/// Forgets nonces seen before `cutoff`.
pub fn forget_nonces_before(tx: &PgTx<'_>, cutoff: Instant) -> Result<u64, DbError> {
    tx.execute("DELETE FROM seen_nonces WHERE seen_at < $1", &[&cutoff])
}

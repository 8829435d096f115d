//! Answers composed of several reads, written once for every backend: each backend runs them in
//! one snapshot (a read transaction) through [`Snapshot`], so a conference's detail never mixes
//! two moments.

use super::DbError;
use super::model::{
    ArchiveSubject, Conference, ConferenceDetail, Job, MailKind, Participant, Recording,
    SummarySubject, ToArchive, Transcript,
};

/// The reads the composed answers are made of, inside one read transaction.
pub(crate) trait Snapshot {
    fn conference(&self, uuid: &str) -> Result<Option<Conference>, DbError>;
    fn participants(&self, uuid: &str) -> Result<Vec<Participant>, DbError>;
    fn recordings_of(&self, uuid: &str) -> Result<Vec<Recording>, DbError>;
    /// Its notify job, and its recordings' archive and transcript jobs.
    fn jobs_of(&self, uuid: &str) -> Result<Vec<Job>, DbError>;
    fn handled(&self, kind: MailKind, subject: &str) -> Result<Vec<String>, DbError>;
    fn to_archive(&self, recording_id: &str) -> Result<Option<ToArchive>, DbError>;
    fn transcript(&self, recording_id: &str) -> Result<Option<Transcript>, DbError>;
}

pub(crate) fn conference_detail(
    s: &dyn Snapshot,
    uuid: &str,
) -> Result<Option<ConferenceDetail>, DbError> {
    let Some(conference) = s.conference(uuid)? else {
        return Ok(None);
    };
    let mut recordings = s.recordings_of(uuid)?;
    for recording in &mut recordings {
        recording.transcript = s.transcript(&recording.recording_id)?;
    }
    Ok(Some(ConferenceDetail {
        conference,
        participants: s.participants(uuid)?,
        recordings,
        jobs: s.jobs_of(uuid)?,
    }))
}

pub(crate) fn summary_subject(
    s: &dyn Snapshot,
    uuid: &str,
) -> Result<Option<SummarySubject>, DbError> {
    let Some(conference) = s.conference(uuid)? else {
        return Ok(None);
    };
    Ok(Some(SummarySubject {
        conference,
        participants: s.participants(uuid)?,
        recordings: s.recordings_of(uuid)?,
        handled: s.handled(MailKind::Summary, uuid)?,
    }))
}

pub(crate) fn archive_subject(
    s: &dyn Snapshot,
    recording_id: &str,
) -> Result<Option<ArchiveSubject>, DbError> {
    let Some(recording) = s.to_archive(recording_id)? else {
        return Ok(None);
    };
    let (conference, participants) = match &recording.conference_uuid {
        Some(uuid) => (s.conference(uuid)?, s.participants(uuid)?),
        None => (None, Vec::new()),
    };
    Ok(Some(ArchiveSubject {
        recording,
        conference,
        participants,
    }))
}

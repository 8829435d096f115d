//! A conference's page: who was on the call (named from the mail directory, legs of one
//! number merged), the timeline drawn from src/web/timeline.rs with the recordings on the
//! same axis, a player per archived recording, and for admins who listened.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::pages::{html, local, see_other};
use super::session::Session;
use super::timeline::{self, Facts};
use crate::access::viewer;
use crate::db::access::AuditQuery;
use crate::db::model::{AuditAction, ConferenceDetail, RecordingStatus};
use crate::error::{ApiError, internal};
use crate::mail::summary::{human_duration, human_size};
use crate::state::AppState;

#[derive(Serialize)]
struct RecordingEntry {
    recording_id: String,
    archived: bool,
    status: String,
    format: String,
    size: String,
    length: Option<String>,
    error: Option<String>,
    /// Its start on the timeline's axis (epoch ms), when it could be placed.
    start_ms: Option<i64>,
    span: Option<String>,
    placed_by: Option<&'static str>,
    /// The transcription's text, or why there is none.
    transcript: Option<String>,
    transcript_error: Option<String>,
}

#[tracing::instrument(name = "web.conference", skip_all, fields(conference_uuid = %path))]
pub async fn page(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let session = Session::of(&req, &state.config);
    let Some(viewer) = viewer::resolve(&req).await? else {
        return Ok(see_other("/"));
    };
    let found = state
        .db
        .conference_detail(&path.into_inner(), viewer.visibility.clone())
        .await
        .map_err(internal)?;
    let Some(ConferenceDetail {
        conference: c,
        participants: legs,
        recordings: recs,
        ..
    }) = found
    else {
        return Err(ApiError::not_found("conference"));
    };
    let zone = state.config.timezone;
    let timeline = timeline::build(&Facts {
        conference: &c,
        legs: &legs,
        recordings: &recs,
        directory: state.people.directory(),
        zone,
        now: chrono::Utc::now(),
    });
    let placed = |id: &str| {
        timeline
            .as_ref()
            .and_then(|t| t.recordings.iter().find(|r| r.recording_id == id))
    };
    let recordings: Vec<RecordingEntry> = recs
        .into_iter()
        .map(|r| {
            let place = placed(&r.recording_id);
            let (transcript, transcript_error) = match r.transcript {
                Some(t) => (t.text, t.error),
                None => (None, None),
            };
            RecordingEntry {
                transcript,
                transcript_error,
                archived: r.status == RecordingStatus::Archived,
                format: r.format.unwrap_or_default().to_ascii_uppercase(),
                size: r.size_bytes.map(human_size).unwrap_or_default(),
                length: r.duration_ms.map(|ms| human_duration((ms + 500) / 1000)),
                error: r.last_error,
                status: r.status.as_str().to_owned(),
                start_ms: place.map(|p| p.start_ms),
                span: place.map(|p| p.span.clone()),
                placed_by: place.map(|p| p.placed_by),
                recording_id: r.recording_id,
            }
        })
        .collect();
    let seekable = recordings
        .iter()
        .any(|r| r.archived && r.start_ms.is_some());
    let duration = match (c.started_at, c.ended_at) {
        (Some(s), Some(e)) => Some(human_duration((e - s).num_seconds())),
        _ => None,
    };
    let listened_by = match viewer.admin {
        true => listened_by(&state, &c.conference_uuid).await?,
        false => Vec::new(),
    };
    let page = state.pages.render(
        "conference.html",
        minijinja::context! {
            signed_in => true, csrf => session.csrf.clone(), name => c.name,
            conference_uuid => c.conference_uuid, status => c.status.as_str().to_owned(),
            started => local(zone, c.started_at), ended => local(zone, c.ended_at),
            duration => duration, timezone => zone.name(), recordings => recordings,
            seekable => seekable, timeline => timeline, admin => viewer.admin, listened_by => listened_by,
        },
    )?;
    Ok(html(HttpResponse::Ok(), &session, page))
}

#[derive(Serialize)]
struct Listener {
    who: String,
    plays: usize,
    last: String,
}

/// Who played or downloaded the conference's recordings, most recent first (admins only).
async fn listened_by(state: &AppState, uuid: &str) -> Result<Vec<Listener>, ApiError> {
    let events = state
        .db
        .audit_events(AuditQuery {
            conference_uuid: Some(uuid.to_owned()),
            actor: None,
            limit: 1000,
        })
        .await
        .map_err(internal)?;
    let mut listeners: Vec<Listener> = Vec::new();
    for e in events.iter().filter(|e| {
        matches!(
            e.action,
            AuditAction::Play | AuditAction::Download | AuditAction::Link
        )
    }) {
        match listeners.iter_mut().find(|l| l.who == e.actor) {
            Some(l) => l.plays += 1,
            None => listeners.push(Listener {
                who: e.actor.clone(),
                plays: 1,
                last: local(state.config.timezone, Some(e.at)),
            }),
        }
    }
    Ok(listeners)
}

//! The web pages: sign in by emailed link, search the conferences one may see, open one to
//! see its timeline and play its recordings. Server-rendered from templates/web/ with
//! minijinja.

mod assets;
pub mod headers;
pub mod pages;
mod recordings;
pub mod session;
mod signin;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::access::viewer;
use crate::db::access::AuditQuery;
use crate::db::model::{AuditAction, ConferenceDetail, RecordingStatus};
use crate::error::{ApiError, internal};
use crate::mail::summary::{human_duration, human_size};
use crate::search::{self, ListQuery};
use crate::state::AppState;
use pages::{html, local, see_other};
use session::Session;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/conferences/{conference_uuid}", web::get().to(conference))
        .route("/recordings", web::get().to(recordings::list))
        .configure(signin::routes)
        .configure(assets::routes)
        .configure(headers::routes);
}

#[derive(Serialize)]
struct Row {
    conference_uuid: String,
    name: String,
    started: String,
    participants: i64,
    recordings: i64,
    status: String,
}

#[tracing::instrument(name = "web.home", skip_all)]
async fn home(
    req: HttpRequest,
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let session = Session::of(&req, &state.config);
    let Some(viewer) = viewer::resolve(&req).await? else {
        let page = signin::page(&state.pages, &session, None, None)?;
        return Ok(html(HttpResponse::Ok(), &session, page));
    };
    let query = query.into_inner();
    let shown = minijinja::context! {
        q => query.q.clone(), participant => query.participant.clone(), since => query.since.clone(),
        until => query.until.clone(), status => query.status.clone(),
    };
    let zone = state.config.timezone;
    let (rows, next, error) = match search::filter(query.clone_for_page(), zone) {
        Err(e) => (Vec::new(), None, Some(e.to_string())),
        Ok(filter) => {
            let page = state
                .db
                .search_conferences(filter, viewer.visibility.clone())
                .await
                .map_err(internal)?;
            let next = page.next.as_ref().map(|key| {
                let mut params = query.as_pairs();
                params.push(("cursor".to_owned(), search::encode_cursor(key)));
                format!(
                    "/?{}",
                    serde_urlencoded::to_string(params).unwrap_or_default()
                )
            });
            let rows = page
                .rows
                .into_iter()
                .map(|c| Row {
                    started: local(zone, c.started_at),
                    status: c.status.as_str().to_owned(),
                    conference_uuid: c.conference_uuid,
                    name: c.name,
                    participants: c.participants,
                    recordings: c.recordings,
                })
                .collect();
            (rows, next, None)
        }
    };
    let page = state.pages.render(
        "list.html",
        minijinja::context! {
            signed_in => true, csrf => session.csrf.clone(), query => shown, conferences => rows,
            next_url => next, error => error,
        },
    )?;
    Ok(html(HttpResponse::Ok(), &session, page))
}

#[derive(Serialize)]
struct TimelineEntry {
    time: String,
    who: String,
    what: &'static str,
    #[serde(skip)]
    at: crate::time::Instant,
}

#[derive(Serialize)]
struct RecordingEntry {
    recording_id: String,
    archived: bool,
    status: String,
    format: String,
    size: String,
    length: Option<String>,
    error: Option<String>,
}

#[tracing::instrument(name = "web.conference", skip_all, fields(conference_uuid = %path))]
async fn conference(
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
    let clock = |t| crate::time::local(t, zone, "%H:%M:%S");
    let mut timeline: Vec<TimelineEntry> = Vec::new();
    for leg in &legs {
        let who = leg.from.clone().unwrap_or_else(|| leg.call_uuid.clone());
        if let Some(at) = leg.joined_at {
            timeline.push(TimelineEntry {
                time: clock(at),
                who: who.clone(),
                what: "joined",
                at,
            });
        }
        if let Some(at) = leg.left_at {
            timeline.push(TimelineEntry {
                time: clock(at),
                who,
                what: "left",
                at,
            });
        }
    }
    timeline.sort_by_key(|e| e.at);
    let recordings: Vec<RecordingEntry> = recs
        .into_iter()
        .map(|r| RecordingEntry {
            archived: r.status == RecordingStatus::Archived,
            format: r.format.unwrap_or_default().to_ascii_uppercase(),
            size: r.size_bytes.map(human_size).unwrap_or_default(),
            length: r.duration_ms.map(|ms| human_duration((ms + 500) / 1000)),
            error: r.last_error,
            status: r.status.as_str().to_owned(),
            recording_id: r.recording_id,
        })
        .collect();
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
            timezone => zone.name(), recordings => recordings, timeline => timeline,
            admin => viewer.admin, listened_by => listened_by,
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

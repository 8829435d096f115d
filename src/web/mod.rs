//! The web pages: sign in with an access token, search conferences, open one to see its
//! timeline and play its recordings. Server-rendered from templates/web/ with minijinja.

pub mod pages;
mod recordings;
pub mod session;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::db::model::{ConferenceDetail, RecordingStatus};
use crate::error::{ApiError, internal};
use crate::mail::summary::{human_duration, human_size};
use crate::search::{self, ListQuery};
use crate::state::AppState;
use pages::{Pages, html, local, see_other};
use session::{Session, verify_csrf};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/signin", web::post().to(sign_in))
        .route("/signout", web::post().to(sign_out))
        .route("/conferences/{conference_uuid}", web::get().to(conference))
        .route("/recordings", web::get().to(recordings::list));
}

/// The sign-in form, with `error` above it when a token was refused.
fn sign_in_page(pages: &Pages, session: &Session, error: Option<&str>) -> Result<String, ApiError> {
    pages.render(
        "signin.html",
        minijinja::context! { csrf => session.csrf.clone(), signed_in => false, error => error },
    )
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
    let session = Session::of(&req, &state.tokens, &state.config);
    if !session.signed_in {
        let page = sign_in_page(&state.pages, &session, None)?;
        return Ok(html(HttpResponse::Ok(), &session, page));
    }
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
                .search_conferences(filter)
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
    let session = Session::of(&req, &state.tokens, &state.config);
    if !session.signed_in {
        return Ok(see_other("/"));
    }
    let found = state
        .db
        .conference_detail(&path.into_inner())
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
    let page = state.pages.render(
        "conference.html",
        minijinja::context! {
            signed_in => true, csrf => session.csrf.clone(), name => c.name,
            conference_uuid => c.conference_uuid, status => c.status.as_str().to_owned(),
            started => local(zone, c.started_at), ended => local(zone, c.ended_at),
            timezone => zone.name(), recordings => recordings, timeline => timeline,
        },
    )?;
    Ok(html(HttpResponse::Ok(), &session, page))
}

#[derive(Deserialize)]
struct SignIn {
    csrf: String,
    token: String,
}

#[tracing::instrument(name = "web.signin", skip_all)]
async fn sign_in(
    req: HttpRequest,
    form: web::Form<SignIn>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let session = Session::of(&req, &state.tokens, &state.config);
    verify_csrf(&session, &form.csrf)?;
    if !state.tokens.accepts(form.token.trim()) {
        tracing::warn!("web sign-in refused: unknown token");
        let page = sign_in_page(&state.pages, &session, Some("That token is not valid."))?;
        return Ok(html(HttpResponse::Unauthorized(), &session, page));
    }
    let mut response = HttpResponse::SeeOther();
    response.insert_header((header::LOCATION, "/"));
    session.sign_in(&mut response, form.token.trim());
    Ok(response.finish())
}

#[derive(Deserialize)]
struct SignOut {
    csrf: String,
}

async fn sign_out(
    req: HttpRequest,
    form: web::Form<SignOut>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let session = Session::of(&req, &state.tokens, &state.config);
    verify_csrf(&session, &form.csrf)?;
    let mut response = HttpResponse::SeeOther();
    response.insert_header((header::LOCATION, "/"));
    session.sign_out(&mut response);
    Ok(response.finish())
}

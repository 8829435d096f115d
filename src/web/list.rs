//! The home page: the conferences one may see, searched by name, participant, dates and
//! status, newest first, each with its length, people and recordings.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::pages::{html, local};
use super::session::Session;
use super::signin;
use crate::access::viewer;
use crate::error::{ApiError, internal};
use crate::mail::summary::human_duration;
use crate::search::{self, ListQuery};
use crate::state::AppState;

#[derive(Serialize)]
struct Row {
    conference_uuid: String,
    name: String,
    started: String,
    duration: Option<String>,
    people: i64,
    recordings: i64,
    status: String,
}

#[tracing::instrument(name = "web.home", skip_all)]
pub async fn home(
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
                    duration: match (c.started_at, c.ended_at) {
                        (Some(s), Some(e)) => Some(human_duration((e - s).num_seconds())),
                        _ => None,
                    },
                    status: c.status.as_str().to_owned(),
                    conference_uuid: c.conference_uuid,
                    name: c.name,
                    people: c.participants,
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

//! The Recordings page: every recording, linked to a conference or not, newest first, with a
//! player for each archived one.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::pages::{html, local, see_other};
use super::session::Session;
use crate::db::model::RecordingStatus;
use crate::error::{ApiError, internal};
use crate::mail::summary::{human_duration, human_size};
use crate::search::{self, RecordingQuery};
use crate::state::AppState;

/// The page's form: like the API's filters, with blank fields as absent and `linked` as text.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Form {
    since: Option<String>,
    until: Option<String>,
    participant: Option<String>,
    status: Option<String>,
    linked: Option<String>,
    said: Option<String>,
    cursor: Option<String>,
}

impl Form {
    fn query(&self) -> Result<RecordingQuery, search::SearchError> {
        Ok(RecordingQuery {
            since: search::given(&self.since),
            until: search::given(&self.until),
            participant: search::given(&self.participant),
            status: search::given(&self.status),
            linked: match search::given(&self.linked).as_deref() {
                None => None,
                Some("true") => Some(true),
                Some("false") => Some(false),
                Some(_) => {
                    return Err(search::SearchError {
                        field: "linked",
                        why: "must be true or false",
                    });
                }
            },
            said: search::given(&self.said),
            limit: Some(25),
            cursor: search::given(&self.cursor),
        })
    }
}

#[derive(Serialize)]
struct Row {
    recording_id: String,
    conference_uuid: Option<String>,
    recorded: String,
    from: Option<String>,
    to: Option<String>,
    length: Option<String>,
    archived: bool,
    status: &'static str,
    format: String,
    size: String,
    source_deleted: bool,
}

#[tracing::instrument(name = "web.recordings", skip_all)]
pub async fn list(
    req: HttpRequest,
    form: web::Query<Form>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let session = Session::of(&req, &state.config);
    let Some(viewer) = crate::access::viewer::resolve(&req).await? else {
        return Ok(see_other("/"));
    };
    let form = form.into_inner();
    let zone = state.config.timezone;
    let filter = form.query().and_then(|q| search::recording_filter(q, zone));
    let (rows, next, error) = match filter {
        Err(e) => (Vec::new(), None, Some(e.to_string())),
        Ok(filter) => {
            let page = state
                .db
                .search_recordings(filter, viewer.visibility)
                .await
                .map_err(internal)?;
            let next = page.next.as_ref().map(|key| {
                let next = Form {
                    cursor: Some(search::encode_recording_cursor(key)),
                    ..form.clone()
                };
                format!(
                    "/recordings?{}",
                    serde_urlencoded::to_string(&next).unwrap_or_default()
                )
            });
            let rows = page
                .rows
                .into_iter()
                .map(|r| Row {
                    recorded: local(zone, Some(r.recorded_at)),
                    length: r.duration_seconds.map(|s| human_duration(s.round() as i64)),
                    archived: r.status == RecordingStatus::Archived,
                    status: r.status.as_str(),
                    format: r.format.unwrap_or_default().to_ascii_uppercase(),
                    size: r.size_bytes.map(human_size).unwrap_or_default(),
                    source_deleted: r.source_deleted_at.is_some(),
                    recording_id: r.recording_id,
                    conference_uuid: r.conference_uuid,
                    from: r.from,
                    to: r.to,
                })
                .collect();
            (rows, next, None)
        }
    };
    let page = state.pages.render(
        "recordings.html",
        minijinja::context! {
            signed_in => true, csrf => session.csrf.clone(), query => form, recordings => rows,
            next_url => next, error => error,
        },
    )?;
    Ok(html(HttpResponse::Ok(), &session, page))
}

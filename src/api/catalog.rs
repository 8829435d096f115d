//! `GET /api/v1/recordings` and `/api/v1/recordings/{id}`: every recording, linked to a
//! conference or not (those the account sync found whose conference never became known too),
//! newest first with keyset pagination.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::list::invalid;
use crate::access::viewer::Viewer;
use crate::db::catalog::{RecordingDetail, RecordingEntry};
use crate::error::{ApiError, internal};
use crate::search::{self, RecordingQuery};
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct RecordingList {
    pub recordings: Vec<RecordingEntry>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/recordings",
    operation_id = "listRecordings",
    params(RecordingQuery),
    responses(
        (status = 200, description = "Newest first", body = RecordingList,
            links(
                ("recording" = (
                    operation_id = "getRecording",
                    parameters(("recording_id" = "$response.body#/recordings/0/recording_id")),
                    description = "The first recording of the page, in full"
                )),
                ("nextPage" = (
                    operation_id = "listRecordings",
                    parameters(("cursor" = "$response.body#/next_cursor")),
                    description = "The next page of the same search"
                ))
            )
        ),
        (status = 400, description = "A bad filter", body = crate::error::ErrorBody),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "api.recordings.list", skip_all)]
pub async fn list(
    viewer: Viewer,
    query: web::Query<RecordingQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let filter =
        search::recording_filter(query.into_inner(), state.config.timezone).map_err(invalid)?;
    let page = state
        .db
        .search_recordings(filter, viewer.visibility)
        .await
        .map_err(internal)?;
    Ok(HttpResponse::Ok().json(RecordingList {
        next_cursor: page.next.as_ref().map(search::encode_recording_cursor),
        recordings: page.rows,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/recordings/{recording_id}",
    operation_id = "getRecording",
    params(("recording_id" = String, Path, description = "Vobiz RecordingID")),
    responses(
        (status = 200, description = "The recording with its archive job's progress", body = RecordingDetail,
            links(
                ("download" = (
                    operation_id = "downloadRecording",
                    parameters(("recording_id" = "$response.body#/recording_id")),
                    description = "The archived recording"
                ))
            )
        ),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown recording", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "api.recording", skip_all, fields(recording_id = %path))]
pub async fn show(
    viewer: Viewer,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    match state
        .db
        .recording(&path.into_inner(), viewer.visibility)
        .await
        .map_err(internal)?
    {
        Some(detail) => Ok(HttpResponse::Ok().json(detail)),
        None => Err(ApiError::not_found("recording")),
    }
}

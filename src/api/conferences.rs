//! `GET /api/v1/conferences/{uuid}`: one conference with its roster and recordings.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::access::viewer::Viewer;
use crate::db::model::{self, Conference, Job, Participant, Recording};
use crate::error::{ApiError, internal};
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConferenceDetail {
    #[serde(flatten)]
    pub conference: Conference,
    pub participants: Vec<Participant>,
    pub recordings: Vec<Recording>,
    pub jobs: Vec<Job>,
}

impl From<model::ConferenceDetail> for ConferenceDetail {
    fn from(d: model::ConferenceDetail) -> Self {
        Self {
            conference: d.conference,
            participants: d.participants,
            recordings: d.recordings,
            jobs: d.jobs,
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/conferences/{conference_uuid}",
    operation_id = "getConference",
    params(("conference_uuid" = String, Path, description = "Vobiz ConferenceUUID")),
    responses(
        (status = 200, description = "The conference with its roster, recordings and jobs", body = ConferenceDetail,
            links(
                ("download" = (
                    operation_id = "downloadRecording",
                    parameters(("recording_id" = "$response.body#/recordings/0/recording_id")),
                    description = "The first recording of the conference"
                )),
                ("sidecar" = (
                    operation_id = "getRecordingSidecar",
                    parameters(("recording_id" = "$response.body#/recordings/0/recording_id")),
                    description = "The sidecar of the first recording"
                ))
            )
        ),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown conference", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "api.conference", skip_all, fields(conference_uuid = %path))]
pub async fn show(
    viewer: Viewer,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let detail = state
        .db
        .conference_detail(&path.into_inner(), viewer.visibility)
        .await
        .map_err(internal)?;
    match detail {
        Some(detail) => Ok(HttpResponse::Ok().json(ConferenceDetail::from(detail))),
        None => Err(ApiError::not_found("conference")),
    }
}

//! `GET /api/v1/conferences/{uuid}`: one conference with its roster and recordings.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::auth::Authorized;
use crate::app::AppState;
use crate::db::conferences::{self, Conference, Participant};
use crate::db::recordings::{self, Recording};
use crate::error::{ApiError, internal};

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConferenceDetail {
    #[serde(flatten)]
    pub conference: Conference,
    pub participants: Vec<Participant>,
    pub recordings: Vec<Recording>,
    pub jobs: Vec<crate::db::jobs::Job>,
}

#[utoipa::path(
    get,
    path = "/api/v1/conferences/{conference_uuid}",
    params(("conference_uuid" = String, Path, description = "Vobiz ConferenceUUID")),
    responses(
        (status = 200, description = "The conference with its roster, recordings and jobs", body = ConferenceDetail),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown conference", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "api.conference", skip_all, fields(conference_uuid = %path))]
pub async fn show(
    _: Authorized,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let uuid = path.into_inner();
    let detail = state
        .readers
        .run(move |conn| {
            let Some(conference) = conferences::get(conn, &uuid)? else {
                return Ok(None);
            };
            Ok(Some(ConferenceDetail {
                participants: conferences::participants(conn, &uuid)?,
                recordings: recordings::for_conference(conn, &uuid)?,
                jobs: crate::db::jobs::for_conference(conn, &uuid)?,
                conference,
            }))
        })
        .await
        .map_err(internal)?;
    match detail {
        Some(detail) => Ok(HttpResponse::Ok().json(detail)),
        None => Err(ApiError::not_found("conference")),
    }
}

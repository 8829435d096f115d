//! `GET /api/v1/recordings/{id}/download` and `/sidecar`: the archived recording (a redirect
//! to a presigned URL, or the file with Range support) and its JSON sidecar.

use actix_web::{HttpRequest, HttpResponse, web};

use super::auth::Authorized;
use crate::error::{ApiError, internal};
use crate::jobs::archive::sidecar_key;
use crate::state::AppState;

async fn archived(state: &AppState, id: String) -> Result<(String, Option<String>), ApiError> {
    let found = state.db.archived_object(&id).await.map_err(internal)?;
    match found.map(|o| (o.object_key, o.format)) {
        Some((Some(key), format)) => Ok((key, format)),
        Some((None, _)) => Err(ApiError::client(
            actix_web::http::StatusCode::CONFLICT,
            "not_archived",
            "this recording is not archived (yet)",
        )),
        None => Err(ApiError::not_found("recording")),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/recordings/{recording_id}/download",
    operation_id = "downloadRecording",
    params(("recording_id" = String, Path)),
    responses(
        (status = 200, description = "The recording (local store)", content(
            ("audio/mpeg"), ("audio/wav"), ("application/octet-stream")
        )),
        (status = 206, description = "The asked-for range of the recording (local store)", content(
            ("audio/mpeg"), ("audio/wav"), ("application/octet-stream")
        )),
        (status = 302, description = "A presigned URL (S3)"),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown recording", body = crate::error::ErrorBody),
        (status = 409, description = "Not archived (yet)", body = crate::error::ErrorBody),
        (status = 416, description = "A range the recording does not have (local store)"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "api.recordings.download", skip_all, fields(recording_id = %path))]
pub async fn download(
    _: Authorized,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (key, format) = archived(&state, path.into_inner()).await?;
    crate::links::stream_or_redirect(&req, &state, &key, format.as_deref()).await
}

#[utoipa::path(
    get,
    path = "/api/v1/recordings/{recording_id}/sidecar",
    operation_id = "getRecordingSidecar",
    params(("recording_id" = String, Path)),
    responses(
        (status = 200, description = "The sidecar JSON written beside the recording", body = Object, content_type = "application/json"),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown recording", body = crate::error::ErrorBody),
        (status = 409, description = "Not archived (yet)", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "api.recordings.sidecar", skip_all, fields(recording_id = %path))]
pub async fn sidecar(
    _: Authorized,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (key, _) = archived(&state, path.into_inner()).await?;
    let bytes = state
        .store
        .get_bytes(&sidecar_key(&key))
        .await
        .map_err(internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(bytes))
}

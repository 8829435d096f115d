//! `GET /api/v1/recordings/{id}/download` and `/sidecar`: the archived recording (a redirect
//! to a presigned URL, or the file with Range support) and its JSON sidecar.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::access::audit::{self, Touched};
use crate::access::viewer::Viewer;
use crate::db::model::AuditAction;
use crate::error::{ApiError, internal};
use crate::sidecar::sidecar_key;
use crate::state::AppState;

/// The archived object of a recording `viewer` may see, once what they do with it is on
/// record (`action` `None`: a later range of a play already recorded).
async fn archived(
    state: &AppState,
    viewer: &Viewer,
    id: String,
    action: Option<AuditAction>,
) -> Result<(String, Option<String>), ApiError> {
    let visible = state
        .db
        .recording(&id, viewer.visibility.clone())
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found("recording"))?;
    let found = state.db.archived_object(&id).await.map_err(internal)?;
    if let (Some(action), Some(Some(_))) = (action, found.as_ref().map(|o| &o.object_key)) {
        let touched = Touched {
            conference_uuid: visible.entry.conference_uuid.as_deref(),
            recording_id: Some(&id),
            person: None,
        };
        audit::by(state, viewer, action, touched).await?;
    }
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
        (status = 404, description = "Unknown recording, or one the caller may not see", body = crate::error::ErrorBody),
        (status = 409, description = "Not archived (yet)", body = crate::error::ErrorBody),
        (status = 416, description = "A range the recording does not have (local store)"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "api.recordings.download", skip_all, fields(recording_id = %path))]
pub async fn download(
    viewer: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let action = audit::play_or_download(&req);
    let (key, format) = archived(&state, &viewer, path.into_inner(), action).await?;
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
        (status = 404, description = "Unknown recording, or one the caller may not see (`not_found`); or archived without a sidecar (`sidecar_missing`)", body = crate::error::ErrorBody),
        (status = 409, description = "Not archived (yet)", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "api.recordings.sidecar", skip_all, fields(recording_id = %path))]
pub async fn sidecar(
    viewer: Viewer,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (key, _) = archived(
        &state,
        &viewer,
        path.into_inner(),
        Some(AuditAction::Sidecar),
    )
    .await?;
    let bytes = state
        .store
        .get_bytes(&sidecar_key(&key))
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            ApiError::client(
                actix_web::http::StatusCode::NOT_FOUND,
                "sidecar_missing",
                "the archive holds this recording but no sidecar beside it",
            )
        })?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(bytes))
}

//! `GET /r/{token}`: the recording links in emails. The token is the credential; it resolves to
//! a fresh presigned URL (S3) or the file itself, streamed with Range support (local store).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::access::audit::Touched;
use crate::db::model::AuditAction;
use crate::error::{ApiError, internal};
use crate::jobs::notify::token_hash;
use crate::state::AppState;
use crate::storage::Playback;

#[tracing::instrument(name = "link.play", skip_all)]
pub async fn play(
    req: HttpRequest,
    token: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let hash = token_hash(&token.into_inner());
    let found = state.db.resolve_link(hash).await.map_err(internal)?;
    let Some(target) = found else {
        return Err(ApiError::not_found("link"));
    };
    let expired = target.expires_at.is_some_and(|t| t < chrono::Utc::now());
    if expired {
        return Err(ApiError::client(
            StatusCode::GONE,
            "link_expired",
            "this link has expired",
        ));
    }
    let key = target
        .object_key
        .ok_or_else(|| ApiError::not_found("archived recording"))?;
    // The link is the credential, so its holder is named only as "link".
    if let Some(action) = crate::access::audit::play_or_download(&req) {
        let action = match action {
            AuditAction::Play => AuditAction::Play,
            _ => AuditAction::Link,
        };
        let touched = Touched {
            conference_uuid: target.conference_uuid.as_deref(),
            recording_id: Some(&target.recording_id),
            person: None,
        };
        let client = crate::access::client_address(&req, &state.config.access.trusted_proxies)
            .map(|ip| ip.to_string());
        crate::access::audit::record(&state, "link", client, action, touched).await?;
    }
    stream_or_redirect(&req, &state, &key, target.format.as_deref()).await
}

/// Answers with the archived object: a redirect to a presigned URL, or the file itself.
pub async fn stream_or_redirect(
    req: &HttpRequest,
    state: &AppState,
    key: &str,
    format: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    match state.store.playback(key).await.map_err(internal)? {
        Playback::Redirect(url) => Ok(HttpResponse::Found()
            .insert_header(("Location", url))
            .insert_header(("Cache-Control", "no-store"))
            .finish()),
        Playback::File(path) => {
            let content_type = format
                .and_then(crate::vobiz::sniff::AudioFormat::parse)
                .map_or("application/octet-stream", |f| f.content_type());
            let file = actix_files::NamedFile::open_async(&path)
                .await
                .map_err(|_| ApiError::not_found("archived recording"))?
                .set_content_type(content_type.parse().map_err(internal)?)
                .use_etag(true);
            Ok(file.into_response(req))
        }
    }
}

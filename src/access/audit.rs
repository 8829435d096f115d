//! Recording what people do with meetings: every play, download, sidecar read, recording-link
//! use and sign-in, before the answer is sent (an event that cannot be recorded refuses the
//! request rather than go unrecorded).

use actix_web::HttpRequest;

use super::viewer::Viewer;
use crate::db::access::AuditEvent;
use crate::db::model::AuditAction;
use crate::error::{ApiError, internal};
use crate::state::AppState;

/// What was touched.
#[derive(Debug, Clone, Default)]
pub struct Touched<'a> {
    pub conference_uuid: Option<&'a str>,
    pub recording_id: Option<&'a str>,
    /// The person the action was about, when not the actor.
    pub person: Option<&'a str>,
}

pub async fn record(
    state: &AppState,
    actor: &str,
    client: Option<String>,
    action: AuditAction,
    touched: Touched<'_>,
) -> Result<(), ApiError> {
    let event = AuditEvent {
        at: chrono::Utc::now(),
        actor: actor.to_owned(),
        action,
        conference_uuid: touched.conference_uuid.map(str::to_owned),
        recording_id: touched.recording_id.map(str::to_owned),
        client,
        subject: touched.person.map(str::to_owned),
    };
    tracing::info!(actor, action = action.as_str(), recording_id = ?event.recording_id, "audit");
    state.db.record_audit(event).await.map_err(internal)
}

pub async fn by(
    state: &AppState,
    viewer: &Viewer,
    action: AuditAction,
    touched: Touched<'_>,
) -> Result<(), ApiError> {
    record(state, &viewer.actor, viewer.client.clone(), action, touched).await
}

/// Whether a download request is the start of a play in a player (an `<audio>` element asks
/// with `Sec-Fetch-Dest: audio`, in ranges): only its first range is recorded, so one play
/// is one event.
pub fn play_or_download(req: &HttpRequest) -> Option<AuditAction> {
    let dest = req
        .headers()
        .get("sec-fetch-dest")
        .and_then(|v| v.to_str().ok());
    let first_range = req
        .headers()
        .get(actix_web::http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|r| r.trim_start_matches("bytes=").starts_with("0-"));
    match dest {
        Some("audio" | "video") if first_range => Some(AuditAction::Play),
        Some("audio" | "video") => None,
        _ if first_range => Some(AuditAction::Download),
        _ => None,
    }
}

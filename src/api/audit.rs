//! `GET /api/v1/audit` and `DELETE /api/v1/people/{email}/sessions`: the audit log and ending
//! someone's sessions, for administrators.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::access::audit::{self, Touched};
use crate::access::people::bare_address;
use crate::access::viewer::Admin;
use crate::db::access::{AuditEvent, AuditQuery};
use crate::db::model::AuditAction;
use crate::error::{ApiError, internal};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this conference's events.
    pub conference: Option<String>,
    /// Only this person's (an address) or token's (`token:…`) events.
    pub person: Option<String>,
    /// 1 to 1000 (default 100).
    pub limit: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditList {
    /// Newest first.
    pub events: Vec<AuditEvent>,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit",
    operation_id = "listAuditEvents",
    params(AuditParams),
    responses(
        (status = 200, description = "Audit events, newest first", body = AuditList),
        (status = 400, description = "A bad filter", body = crate::error::ErrorBody),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "api.audit", skip_all)]
pub async fn list(
    _: Admin,
    params: web::Query<AuditParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let limit = limit(params.limit)?;
    let actor = params
        .person
        .map(|p| bare_address(&p).unwrap_or(p).to_ascii_lowercase());
    let events = state
        .db
        .audit_events(AuditQuery {
            conference_uuid: params.conference,
            actor,
            limit,
        })
        .await
        .map_err(internal)?;
    Ok(HttpResponse::Ok().json(AuditList { events }))
}

/// A log's page size: 1 to 1000, 100 when not given.
pub fn limit(given: Option<u32>) -> Result<u32, ApiError> {
    let limit = given.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::client(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "limit: must be 1 to 1000",
        ));
    }
    Ok(limit)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionsEnded {
    pub ended: u64,
}

#[utoipa::path(
    delete,
    path = "/api/v1/people/{email}/sessions",
    operation_id = "endSessions",
    params(("email" = String, Path, format = Email, example = "asha@example.com", description = "The person's address")),
    responses(
        (status = 200, description = "How many live sessions were ended", body = SessionsEnded),
        (status = 400, description = "Not an address", body = crate::error::ErrorBody),
        (status = 401, description = "No valid token", body = crate::error::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(name = "api.sessions.end", skip_all)]
pub async fn end_sessions(
    Admin(admin): Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let email = bare_address(&path).ok_or_else(|| {
        ApiError::client(
            StatusCode::BAD_REQUEST,
            "invalid_address",
            "not an email address",
        )
    })?;
    let ended = state
        .db
        .end_sessions_of(&email, chrono::Utc::now())
        .await
        .map_err(internal)?;
    audit::by(
        &state,
        &admin,
        AuditAction::SessionsEnded,
        Touched {
            person: Some(&email),
            ..Touched::default()
        },
    )
    .await?;
    tracing::info!(%email, ended, "sessions ended by an administrator");
    Ok(HttpResponse::Ok().json(SessionsEnded { ended }))
}

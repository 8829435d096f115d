//! The HTTP error type: a status, a stable machine-readable code and a one-line message.
//! Internal errors are logged with their whole cause chain and answered with nothing but
//! `internal`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Client {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Every error answer: `{"error": {"code": …, "message": …}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable.
    code: String,
    /// One line for people.
    message: String,
}

impl ApiError {
    pub fn client(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Client {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::client(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unauthorized() -> Self {
        Self::client(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    }

    /// The database cannot take the request now; the caller should try again shortly.
    pub fn unavailable() -> Self {
        Self::client(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database is unavailable; try again shortly",
        )
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Client { code, .. } => code,
            ApiError::Internal(_) => "internal",
        }
    }
}

/// Wraps an unexpected failure; its details go to the log only. A database that cannot be
/// reached is a 503 to try again, not a 500.
pub fn internal(e: impl Into<anyhow::Error>) -> ApiError {
    let e = e.into();
    let unavailable = e.chain().any(|cause| {
        cause
            .downcast_ref::<crate::db::DbError>()
            .is_some_and(crate::db::DbError::is_unavailable)
    });
    if unavailable {
        tracing::warn!(
            error = format!("{e:#}"),
            "request refused: the database is unavailable"
        );
        return ApiError::unavailable();
    }
    ApiError::Internal(e)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Client { status, .. } => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            ApiError::Client { message, .. } => message.as_str(),
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "request failed");
                "internal error"
            }
        };
        let mut response = HttpResponse::build(self.status_code());
        if self.status_code() == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((actix_web::http::header::RETRY_AFTER, "5"));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: message.to_owned(),
            },
        })
    }
}

//! What an operator's tooling reads: `/healthz`, `/readyz`, `/metrics`, and the per-request
//! id and log line.

pub mod metrics;
pub mod readiness;
pub mod request_id;
pub mod webhook_metrics;

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::state::AppState;
pub use metrics::Metrics;
pub use readiness::Report;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// The process answers: nothing else is checked.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// 200 when the last background round found the database, storage and mail usable, else 503.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let report = state.readiness.borrow().clone();
    let mut answer = if report.is_ready() {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    answer
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(report)
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode())
}

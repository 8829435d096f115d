//! The JSON read API; who may read what is `crate::access`.

pub mod audit;
pub mod catalog;
pub mod conferences;
pub mod list;
pub mod openapi;
pub mod recordings;
pub mod tokens;
pub mod webhooks;

use actix_web::http::StatusCode;
use actix_web::web;

use crate::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                ApiError::client(StatusCode::BAD_REQUEST, "invalid_query", err.to_string()).into()
            }))
            // A path segment that cannot be an id names nothing that exists (actix would answer
            // in plain text).
            .app_data(web::PathConfig::default().error_handler(|err, _| {
                ApiError::client(StatusCode::NOT_FOUND, "not_found", err.to_string()).into()
            }))
            .route("/openapi.json", web::get().to(openapi::spec))
            .route("/conferences", web::get().to(list::list))
            .route(
                "/conferences/{conference_uuid}",
                web::get().to(conferences::show),
            )
            .route("/recordings", web::get().to(catalog::list))
            .route("/recordings/{recording_id}", web::get().to(catalog::show))
            .route(
                "/recordings/{recording_id}/download",
                web::get().to(recordings::download),
            )
            .route(
                "/recordings/{recording_id}/sidecar",
                web::get().to(recordings::sidecar),
            )
            .route("/audit", web::get().to(audit::list))
            .route(
                "/people/{email}/sessions",
                web::delete().to(audit::end_sessions),
            )
            .route("/webhooks/deliveries", web::get().to(webhooks::deliveries))
            .route(
                "/webhooks/deliveries/{delivery_id}/replay",
                web::post().to(webhooks::replay),
            ),
    );
}

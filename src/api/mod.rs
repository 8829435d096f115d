//! The JSON read API and its bearer-token access control.

pub mod auth;
pub mod conferences;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/api/v1").route(
        "/conferences/{conference_uuid}",
        web::get().to(conferences::show),
    ));
}

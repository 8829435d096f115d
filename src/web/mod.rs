//! The web pages: sign in by emailed link, search the conferences one may see, open one to
//! see who was on the call on a timeline played in step with its recordings. Server-rendered
//! from templates/web/ with minijinja.

mod assets;
mod conference;
pub mod headers;
mod list;
pub mod pages;
mod recordings;
pub mod session;
mod signin;
mod timeline;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(list::home))
        .route(
            "/conferences/{conference_uuid}",
            web::get().to(conference::page),
        )
        .route("/recordings", web::get().to(recordings::list))
        .configure(signin::routes)
        .configure(assets::routes)
        .configure(headers::routes);
}

//! The files the pages load besides themselves (the stylesheet), compiled in, so that the
//! Content-Security-Policy can forbid inline styles and scripts.

use actix_web::{HttpResponse, web};

const STYLESHEET: &str = include_str!("../../templates/web/app.css");

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/app.css", web::get().to(stylesheet));
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(STYLESHEET)
}

//! The files the pages load besides themselves (the stylesheet, the timeline's script),
//! compiled in, so that the Content-Security-Policy can forbid inline styles and scripts.

use actix_web::{HttpResponse, web};

const STYLESHEET: &str = include_str!("../../templates/web/app.css");
const TIMELINE_SCRIPT: &str = include_str!("../../templates/web/timeline.js");

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/static/app.css",
        web::get().to(|| asset("text/css; charset=utf-8", STYLESHEET)),
    )
    .route(
        "/static/timeline.js",
        web::get().to(|| asset("text/javascript; charset=utf-8", TIMELINE_SCRIPT)),
    );
}

async fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(body)
}

//! The compiled web page templates (templates/web/, HTML autoescaped), and how a rendered
//! page is answered.

use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder};
use minijinja::Environment;
use serde::Serialize;

use super::session::Session;
use crate::error::{ApiError, internal};

const PAGES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/web/base.html")),
    (
        "fields.html",
        include_str!("../../templates/web/fields.html"),
    ),
    (
        "signin.html",
        include_str!("../../templates/web/signin.html"),
    ),
    ("list.html", include_str!("../../templates/web/list.html")),
    (
        "conference.html",
        include_str!("../../templates/web/conference.html"),
    ),
    (
        "signin_confirm.html",
        include_str!("../../templates/web/signin_confirm.html"),
    ),
    (
        "recordings.html",
        include_str!("../../templates/web/recordings.html"),
    ),
];

/// The compiled page templates (HTML autoescaped).
pub struct Pages {
    env: Environment<'static>,
}

impl Pages {
    pub fn load() -> anyhow::Result<Self> {
        let mut env = Environment::new();
        for (name, source) in PAGES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    pub fn render(&self, name: &str, context: impl Serialize) -> Result<String, ApiError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(context))
            .map_err(internal)
    }
}

/// A page, with the session's cookies.
pub fn html(mut response: HttpResponseBuilder, session: &Session, body: String) -> HttpResponse {
    response.content_type("text/html; charset=utf-8");
    session.set_cookies(&mut response);
    response.body(body)
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

pub fn local(zone: chrono_tz::Tz, t: Option<crate::time::Instant>) -> String {
    t.map_or_else(
        || "–".to_owned(),
        |t| crate::time::local(t, zone, "%Y-%m-%d %H:%M"),
    )
}

//! The compiled web page templates (templates/web/, HTML autoescaped).

use minijinja::Environment;
use serde::Serialize;

use crate::error::{ApiError, internal};

const PAGES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/web/base.html")),
    (
        "signin.html",
        include_str!("../../templates/web/signin.html"),
    ),
    ("list.html", include_str!("../../templates/web/list.html")),
    (
        "conference.html",
        include_str!("../../templates/web/conference.html"),
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

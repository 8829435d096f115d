//! Email templates (subject, plain text, HTML) rendered with minijinja. The defaults in
//! templates/email/ are compiled in; a file of the same name in `mail.templates_dir` replaces
//! one without a rebuild. HTML templates are autoescaped.

use std::path::Path;

use anyhow::Context;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use minijinja::{AutoEscape, Environment};
use serde::Serialize;

const BUILT_IN: &[(&str, &str)] = &[
    (
        "summary.subject.txt",
        include_str!("../../templates/email/summary.subject.txt"),
    ),
    (
        "summary.txt",
        include_str!("../../templates/email/summary.txt"),
    ),
    (
        "summary.html",
        include_str!("../../templates/email/summary.html"),
    ),
    (
        "alert.subject.txt",
        include_str!("../../templates/email/alert.subject.txt"),
    ),
    ("alert.txt", include_str!("../../templates/email/alert.txt")),
    (
        "alert.html",
        include_str!("../../templates/email/alert.html"),
    ),
    (
        "signin.subject.txt",
        include_str!("../../templates/email/signin.subject.txt"),
    ),
    (
        "signin.txt",
        include_str!("../../templates/email/signin.txt"),
    ),
    (
        "signin.html",
        include_str!("../../templates/email/signin.html"),
    ),
];

/// One rendered message, both parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn load(overrides: Option<&Path>) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in BUILT_IN {
            let source = match overrides.map(|dir| dir.join(name)) {
                Some(path) if path.exists() => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading template {}", path.display()))?,
                _ => (*source).to_owned(),
            };
            env.add_template_owned(*name, source)
                .with_context(|| format!("template {name}"))?;
        }
        Ok(Self { env })
    }

    /// Renders `<kind>.subject.txt`, `<kind>.txt` and `<kind>.html` with `context`.
    pub fn render(&self, kind: &str, context: &impl Serialize) -> anyhow::Result<Rendered> {
        let render = |name: String| {
            self.env
                .get_template(&name)
                .and_then(|t| t.render(context))
                .with_context(|| format!("rendering {name}"))
        };
        Ok(Rendered {
            // A subject is one line, whatever the template does with white space.
            subject: render(format!("{kind}.subject.txt"))?
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            text: render(format!("{kind}.txt"))?,
            html: render(format!("{kind}.html"))?,
        })
    }
}

/// A message with both parts (multipart/alternative) to one recipient.
pub fn message(
    rendered: &Rendered,
    from: &Mailbox,
    reply_to: Option<&Mailbox>,
    to: Mailbox,
    message_id: &str,
) -> anyhow::Result<Message> {
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&rendered.subject)
        .message_id(Some(message_id.to_owned()));
    if let Some(reply_to) = reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    Ok(builder.multipart(
        MultiPart::alternative()
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(rendered.text.clone()),
            )
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(rendered.html.clone()),
            ),
    )?)
}

#[cfg(test)]
#[path = "templates_tests.rs"]
mod tests;

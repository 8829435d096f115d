//! Object keys from `storage.key_template`. Conference names come from callers, so every value
//! is cleaned to one safe path segment: a key never climbs out of the prefix and never holds
//! control characters, while names in any script stay readable.

use chrono::{Datelike, TimeZone};
use chrono_tz::Tz;

pub use crate::config::KeyTemplate;
use crate::config::key_template::Piece;
use crate::time::Instant;

const MAX_SEGMENT_CHARS: usize = 80;

/// What a recording's key is made of.
pub struct KeyValues<'a> {
    pub prefix: &'a str,
    pub date: Instant,
    pub zone: Tz,
    pub conference_name: &'a str,
    pub conference_uuid: &'a str,
    pub recording_id: &'a str,
    pub ext: &'a str,
}

impl KeyTemplate {
    pub fn render(&self, v: &KeyValues<'_>) -> String {
        let local = v.zone.from_utc_datetime(&v.date.naive_utc());
        let mut key = String::new();
        for piece in self.pieces() {
            match piece {
                Piece::Text(text) => key.push_str(text),
                Piece::Field(field) => key.push_str(&match *field {
                    "prefix" => normalize_prefix(v.prefix),
                    "yyyy" => format!("{:04}", local.year()),
                    "mm" => format!("{:02}", local.month()),
                    "dd" => format!("{:02}", local.day()),
                    "conference_name" => segment(v.conference_name, "unnamed"),
                    "conference_uuid" => segment(v.conference_uuid, "unknown"),
                    "recording_id" => segment(v.recording_id, "unknown"),
                    _ => segment(v.ext, "bin"),
                }),
            }
        }
        // Collapse empty segments ("a//b") so a missing value never changes the depth.
        key.split('/')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// `prefix` as a run of clean segments ending in `/`, or empty.
pub fn normalize_prefix(prefix: &str) -> String {
    let segments: Vec<String> = prefix
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| segment(s, "_"))
        .collect();
    if segments.is_empty() {
        String::new()
    } else {
        format!("{}/", segments.join("/"))
    }
}

/// One path segment: no separators, no control or shell-hostile characters, no leading dots,
/// bounded length; letters of every script kept.
pub fn segment(raw: &str, fallback: &str) -> String {
    let cleaned: String = raw
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' | '#' | '%' | '{' | '}' | '^'
            | '~' | '[' | ']' | '`' => '_',
            c if c.is_whitespace() => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim_start_matches(['.', '_']).trim_end_matches('_');
    let bounded: String = trimmed.chars().take(MAX_SEGMENT_CHARS).collect();
    if bounded.is_empty() {
        fallback.to_owned()
    } else {
        bounded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn render(name: &str, prefix: &str) -> String {
        KeyTemplate::parse(crate::config::storage::DEFAULT_KEY_TEMPLATE)
            .unwrap()
            .render(&KeyValues {
                prefix,
                date: Utc.with_ymd_and_hms(2026, 5, 19, 22, 30, 0).unwrap(),
                zone: chrono_tz::Asia::Kolkata,
                conference_name: name,
                conference_uuid: "3f9a",
                recording_id: "rec1",
                ext: "mp3",
            })
    }

    #[test]
    fn the_default_template_dates_by_the_configured_zone() {
        assert_eq!(
            render("WeeklyStandup", "calls"),
            "calls/2026/05/20/WeeklyStandup/3f9a-rec1.mp3"
        );
    }

    #[test]
    fn hostile_names_cannot_climb_out_of_the_prefix() {
        for name in [
            "../../etc",
            "/abs",
            "..",
            "a/../../b",
            "\u{0}\u{7}\n..\\..",
            ".",
        ] {
            let key = render(name, "p/");
            assert!(key.starts_with("p/2026/05/20/"), "{name:?} -> {key}");
            assert!(
                !key.split('/')
                    .any(|s| s == ".." || s == "." || s.is_empty()),
                "{key}"
            );
            assert!(!key.chars().any(char::is_control), "{key:?}");
            assert_eq!(key.matches('/').count(), 5, "{name:?} -> {key}");
        }
    }

    #[test]
    fn names_in_any_script_stay_readable() {
        assert_eq!(segment("Réunion d'équipe", "x"), "Réunion_d'équipe");
        assert_eq!(segment("週次ミーティング", "x"), "週次ミーティング");
        assert_eq!(
            segment("<script>alert(1)</script>", "x"),
            "script_alert(1)__script"
        );
        assert_eq!(segment("", "unnamed"), "unnamed");
    }
}

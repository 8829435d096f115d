//! Decides from a recording's first bytes whether it is audio confvault archives (MP3 or WAV),
//! and describes what it is otherwise, for the operator.

use serde::{Deserialize, Serialize};

/// Bytes needed to decide.
pub const SNIFF_LEN: usize = 12;
/// Smaller bodies are never real recordings (an MP3 frame alone is larger).
pub const MIN_RECORDING_BYTES: u64 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioFormat {
    Mp3,
    Wav,
}

impl AudioFormat {
    pub fn extension(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Wav => "wav",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "audio/mpeg",
            AudioFormat::Wav => "audio/wav",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mp3" => Some(AudioFormat::Mp3),
            "wav" => Some(AudioFormat::Wav),
            _ => None,
        }
    }
}

/// The format of `head` (the first bytes of the body), if it is audio we archive.
pub fn detect(head: &[u8]) -> Option<AudioFormat> {
    if head.starts_with(b"ID3") {
        return Some(AudioFormat::Mp3);
    }
    if head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0 {
        return Some(AudioFormat::Mp3);
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WAVE" {
        return Some(AudioFormat::Wav);
    }
    None
}

/// A short, safe description of a body that is not audio, e.g. `an HTML page ("Session
/// expired")`.
pub fn describe_non_audio(head: &[u8]) -> String {
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start();
    let lower = trimmed.to_ascii_lowercase();
    let kind = if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        "an HTML page"
    } else if lower.starts_with("<?xml") || lower.starts_with('<') {
        "an XML document"
    } else if lower.starts_with('{') || lower.starts_with('[') {
        "a JSON document"
    } else if head.is_empty() {
        return "an empty body".to_owned();
    } else if head
        .iter()
        .take(64)
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        "plain text"
    } else {
        "unknown binary data"
    };
    let title = lower
        .find("<title>")
        .and_then(|start| {
            let rest = &trimmed[start + 7..];
            rest.find('<').map(|end| rest[..end].trim().to_owned())
        })
        .filter(|t| !t.is_empty());
    let excerpt: String = match title {
        Some(title) => title,
        None => trimmed.chars().take(60).collect(),
    };
    let excerpt: String = excerpt
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if kind == "unknown binary data" {
        kind.to_owned()
    } else {
        format!("{kind} ({:?})", excerpt.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../shared/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn the_fixtures_are_told_apart_by_their_bytes() {
        assert_eq!(detect(&fixture("standup.mp3")), Some(AudioFormat::Mp3));
        assert_eq!(
            detect(&fixture("standup-noid3.mp3")),
            Some(AudioFormat::Mp3)
        );
        assert_eq!(
            detect(&fixture("standup-stereo8k.wav")),
            Some(AudioFormat::Wav)
        );
        assert_eq!(detect(&fixture("error-page.html")), None);
    }

    #[test]
    fn an_error_page_is_described_by_its_title() {
        assert_eq!(
            describe_non_audio(&fixture("error-page.html")),
            "an HTML page (\"Session expired\")"
        );
        assert_eq!(
            describe_non_audio(b"{\"error\":\"not found\"}"),
            "a JSON document (\"{\\\"error\\\":\\\"not found\\\"}\")"
        );
        assert_eq!(describe_non_audio(b""), "an empty body");
        assert_eq!(describe_non_audio(&[0, 1, 2, 3]), "unknown binary data");
    }
}

//! `storage.key_template`, parsed once when the settings are read: literal text and known
//! placeholders, always naming the recording, never climbing out of the prefix. Rendering a key
//! is the storage's business (`storage::keys`).

const PLACEHOLDERS: &[&str] = &[
    "prefix",
    "yyyy",
    "mm",
    "dd",
    "conference_name",
    "conference_uuid",
    "recording_id",
    "ext",
];

/// A run of literal text or a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Field(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyTemplate {
    pieces: Vec<Piece>,
    /// As configured, to show the settings back.
    text: String,
}

impl TryFrom<String> for KeyTemplate {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<KeyTemplate> for String {
    fn from(template: KeyTemplate) -> Self {
        template.text
    }
}

impl KeyTemplate {
    pub fn parse(template: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let close = rest[open..].find('}').ok_or("a { is not closed")? + open;
            let name = &rest[open + 1..close];
            let field = PLACEHOLDERS.iter().find(|p| **p == name).ok_or_else(|| {
                format!(
                    "unknown placeholder {{{name}}}; known: {}",
                    PLACEHOLDERS.join(", ")
                )
            })?;
            pieces.push(Piece::Field(field));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        if !pieces.contains(&Piece::Field("recording_id")) {
            return Err(
                "must contain {recording_id}, or recordings would overwrite each other".into(),
            );
        }
        for (i, piece) in pieces.iter().enumerate() {
            if let Piece::Text(text) = piece
                && (text.contains("..")
                    || (i == 0 && text.starts_with('/'))
                    || text.chars().any(char::is_control))
            {
                return Err(format!(
                    "literal text {text:?} must not contain .. or control characters, nor start the key with /"
                ));
            }
        }
        Ok(Self {
            pieces,
            text: template.to_owned(),
        })
    }

    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_must_name_the_recording_and_only_known_fields() {
        assert!(KeyTemplate::parse("{prefix}{yyyy}/{conference_uuid}.{ext}").is_err());
        assert!(KeyTemplate::parse("{prefix}{hour}/{recording_id}").is_err());
        assert!(KeyTemplate::parse("../{recording_id}").is_err());
        assert!(KeyTemplate::parse("{recording_id").is_err());
        assert!(KeyTemplate::parse("rec/{recording_id}.{ext}").is_ok());
    }
}

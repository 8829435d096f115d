//! Email addresses and conference-name globs in the mail settings, parsed once when the
//! settings are read; each keeps its text to show the settings back.

use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};

/// An address (`name <user@host>` or `user@host`) that lettre accepts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress {
    text: String,
    mailbox: Mailbox,
}

impl EmailAddress {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    /// The bare address (`user@host`), lower-cased: how confvault keys a person.
    pub fn bare(&self) -> String {
        self.mailbox.email.to_string().to_ascii_lowercase()
    }
}

impl std::str::FromStr for EmailAddress {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        text.parse::<Mailbox>()
            .map(|mailbox| Self {
                text: text.to_owned(),
                mailbox,
            })
            .map_err(|e| format!("{text:?} is not an email address: {e}"))
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<EmailAddress> for String {
    fn from(address: EmailAddress) -> Self {
        address.text
    }
}

/// A glob over conference names (`Sales*`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConferenceGlob(globset::Glob);

impl ConferenceGlob {
    pub fn matcher(&self) -> globset::GlobMatcher {
        self.0.compile_matcher()
    }
}

impl TryFrom<String> for ConferenceGlob {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        globset::Glob::new(&text)
            .map(Self)
            .map_err(|e| format!("{text:?}: {e}"))
    }
}

impl From<ConferenceGlob> for String {
    fn from(glob: ConferenceGlob) -> Self {
        glob.0.glob().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_keeps_its_text_and_a_bad_one_names_itself() {
        let a: EmailAddress = "Ops <ops@example.com>".parse().unwrap();
        assert_eq!(a.as_str(), "Ops <ops@example.com>");
        assert_eq!(a.mailbox().email.to_string(), "ops@example.com");
        let err = "not an address".parse::<EmailAddress>().unwrap_err();
        assert!(err.contains("\"not an address\""), "{err}");
    }
}

//! The API tokens, kept only as SHA-256 digests and compared in constant time, so neither
//! their content nor their length leaks through timing. `[api] tokens` act as administrators;
//! `[[api.scoped_tokens]]` act as one person.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::config::ScopedToken;

/// Who a presented token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenHolder {
    /// An admin token, named in the audit log by the start of its digest (never the token).
    Admin { label: String },
    /// A scoped token: its person's lower-cased address.
    Person { email: String },
}

#[derive(Clone)]
struct Entry {
    digest: [u8; 32],
    holder: TokenHolder,
}

/// The accepted tokens, kept only as digests.
#[derive(Clone, Default)]
pub struct ApiTokens {
    entries: Vec<Entry>,
}

impl ApiTokens {
    pub fn new(admin: &[SecretString], scoped: &[ScopedToken]) -> Self {
        let digest =
            |t: &SecretString| -> [u8; 32] { Sha256::digest(t.expose_secret().as_bytes()).into() };
        let mut entries: Vec<Entry> = admin
            .iter()
            .map(|t| {
                let digest = digest(t);
                Entry {
                    digest,
                    holder: TokenHolder::Admin {
                        label: format!("token:{}", hex::encode(&digest[..4])),
                    },
                }
            })
            .collect();
        entries.extend(scoped.iter().map(|s| Entry {
            digest: digest(&s.token),
            holder: TokenHolder::Person {
                email: s.person.bare(),
            },
        }));
        Self { entries }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Who `presented` stands for, if anyone. Every digest is compared, matched or not.
    pub fn holder(&self, presented: &str) -> Option<&TokenHolder> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = subtle::Choice::from(0);
        let mut index = 0u32;
        for (i, entry) in self.entries.iter().enumerate() {
            let matches = entry.digest.ct_eq(&digest) & !found;
            index = u32::conditional_select(&index, &(i as u32), matches);
            found |= matches;
        }
        bool::from(found).then(|| &self.entries[index as usize].holder)
    }

    pub fn accepts(&self, presented: &str) -> bool {
        self.holder(presented).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_tokens_are_accepted_and_each_names_its_holder() {
        let scoped = ScopedToken {
            token: SecretString::from("gamma"),
            person: "Asha <Asha@Example.com>".parse().unwrap(),
        };
        let tokens = ApiTokens::new(
            &[SecretString::from("alpha"), SecretString::from("beta")],
            &[scoped],
        );
        assert!(tokens.accepts("alpha") && tokens.accepts("beta"));
        assert!(!tokens.accepts("alph") && !tokens.accepts("") && !tokens.accepts("alphaa"));
        assert!(!ApiTokens::default().accepts(""));
        assert_eq!(
            tokens.holder("gamma"),
            Some(&TokenHolder::Person {
                email: "asha@example.com".into()
            })
        );
        let Some(TokenHolder::Admin { label }) = tokens.holder("beta") else {
            panic!("beta is an admin token");
        };
        assert!(
            label.starts_with("token:") && !label.contains("beta"),
            "{label}"
        );
        assert_ne!(tokens.holder("alpha"), tokens.holder("beta"));
    }
}

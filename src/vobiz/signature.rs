//! Vobiz request signatures (V2, V3 and their `-MA-` variants): HMAC-SHA256 over the URL Vobiz
//! called plus a nonce, compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// HMAC(token, url + nonce)
    V2,
    /// HMAC(token, url + "." + nonce)
    V3,
}

impl Scheme {
    fn message(self, base_url: &str, nonce: &str) -> String {
        match self {
            Scheme::V2 => format!("{base_url}{nonce}"),
            Scheme::V3 => format!("{base_url}.{nonce}"),
        }
    }

    fn nonce_header(self) -> &'static str {
        match self {
            Scheme::V2 => "X-Vobiz-Signature-V2-Nonce",
            Scheme::V3 => "X-Vobiz-Signature-V3-Nonce",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Scheme::V2 => "v2",
            Scheme::V3 => "v3",
        }
    }
}

/// Which key signed a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signer {
    Account,
    Parent,
}

/// The headers we check, strongest first. The `-MA-` ones share the plain nonces.
const CANDIDATES: &[(&str, Scheme, Signer)] = &[
    ("X-Vobiz-Signature-V3", Scheme::V3, Signer::Account),
    ("X-Vobiz-Signature-V2", Scheme::V2, Signer::Account),
    ("X-Vobiz-Signature-MA-V3", Scheme::V3, Signer::Parent),
    ("X-Vobiz-Signature-MA-V2", Scheme::V2, Signer::Parent),
];

/// Why a request's signature was refused. Never carries the signature itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Vobiz signature header that this server can check")]
    Missing,
    #[error("the Vobiz signature does not match")]
    Mismatch,
}

/// A verified signature: the nonce that must not be seen again, tagged with its scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNonce(pub String);

/// The keys requests may be signed with.
#[derive(Clone)]
pub struct Keys {
    pub account: SecretString,
    pub parent: Option<SecretString>,
}

impl Keys {
    fn key(&self, signer: Signer) -> Option<&SecretString> {
        match signer {
            Signer::Account => Some(&self.account),
            Signer::Parent => self.parent.as_ref(),
        }
    }
}

/// Checks the signature headers of a request to `base_url` (scheme://host[:port]/path, no
/// query). `header` looks a header up by name, case-insensitively.
pub fn verify<'h>(
    keys: &Keys,
    base_url: &str,
    header: impl Fn(&str) -> Option<&'h str>,
) -> Result<VerifiedNonce, SignatureError> {
    let mut checked_any = false;
    for &(name, scheme, signer) in CANDIDATES {
        let (Some(given), Some(nonce), Some(key)) = (
            header(name),
            header(scheme.nonce_header()),
            keys.key(signer),
        ) else {
            continue;
        };
        checked_any = true;
        // A header may list several signatures (key rotation); any one may match.
        let matched = given
            .split(',')
            .any(|sig| matches(key, &scheme.message(base_url, nonce), sig.trim()));
        if matched {
            return Ok(VerifiedNonce(format!("{}:{nonce}", scheme.label())));
        }
    }
    Err(if checked_any {
        SignatureError::Mismatch
    } else {
        SignatureError::Missing
    })
}

fn matches(key: &SecretString, message: &str, signature_b64: &str) -> bool {
    let Ok(expected) = BASE64.decode(signature_b64) else {
        return false;
    };
    mac(key.expose_secret(), message)
        .verify_slice(&expected)
        .is_ok()
}

fn mac(key: &str, message: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(message.as_bytes());
    mac
}

/// Signs as Vobiz does; used by the demo, the benchmark and tests.
pub fn sign(key: &str, base_url: &str, nonce: &str, scheme: Scheme) -> String {
    BASE64.encode(
        mac(key, &scheme.message(base_url, nonce))
            .finalize()
            .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(token: &str) -> Keys {
        Keys {
            account: SecretString::from(token),
            parent: None,
        }
    }

    /// `scheme://host[:port]/path` of a URL as called: the part Vobiz signs.
    fn base(url: &str) -> &str {
        url.split(['?', '#']).next().unwrap_or(url)
    }

    #[test]
    fn the_public_test_vectors_sign_as_published() {
        let vectors = [
            (
                "my_auth_token",
                "https://answer.url",
                "12345",
                Scheme::V2,
                "ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=",
            ),
            (
                "plivo_test_auth_token",
                "https://example.com/answer/?ignored=query",
                "05429567804466091622",
                Scheme::V2,
                "VsV6OMNPwof2Xzndy/tbRHiVryVEKo5Y80vilsNiGJU=",
            ),
            (
                "test_auth_token_0123456789",
                "https://example.com/vobiz/conference-events?room=abc",
                "46347661609492873878",
                Scheme::V3,
                "NwnxasexAPCUyD4+SV2yWoHEVXuYSlvLGD39TS4gdnA=",
            ),
        ];
        for (key, url, nonce, scheme, expected) in vectors {
            assert_eq!(sign(key, base(url), nonce, scheme), expected, "{url}");
        }
    }

    #[test]
    fn a_v3_vector_verifies_from_its_headers_whatever_their_case() {
        let headers = [
            (
                "x-vobiz-signature-v3",
                "NwnxasexAPCUyD4+SV2yWoHEVXuYSlvLGD39TS4gdnA=",
            ),
            ("x-vobiz-signature-v3-nonce", "46347661609492873878"),
        ];
        let lookup = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        let verified = verify(
            &keys("test_auth_token_0123456789"),
            "https://example.com/vobiz/conference-events",
            lookup,
        );
        assert_eq!(
            verified,
            Ok(VerifiedNonce("v3:46347661609492873878".into()))
        );
    }

    #[test]
    fn a_wrong_key_path_or_nonce_is_a_mismatch() {
        let good = sign("k", "https://a.example/vobiz/conference", "n1", Scheme::V2);
        let cases = [
            ("other", "https://a.example/vobiz/conference", "n1"),
            ("k", "https://a.example/vobiz/conference/", "n1"),
            ("k", "https://a.example/vobiz/conference", "n2"),
        ];
        for (key, url, nonce) in cases {
            let lookup = |name: &str| match name {
                "X-Vobiz-Signature-V2" => Some(good.as_str()),
                "X-Vobiz-Signature-V2-Nonce" => Some(nonce),
                _ => None,
            };
            assert_eq!(
                verify(&keys(key), url, lookup),
                Err(SignatureError::Mismatch)
            );
        }
    }

    #[test]
    fn no_headers_or_only_legacy_ones_count_as_missing() {
        let lookup = |name: &str| (name == "X-Vobiz-Signature").then_some("legacy");
        assert_eq!(
            verify(&keys("k"), "https://a", lookup),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn master_account_signatures_need_the_parent_token() {
        let sig = sign("parent", "https://a/x", "n", Scheme::V3);
        let lookup = |name: &str| match name {
            "X-Vobiz-Signature-MA-V3" => Some(sig.as_str()),
            "X-Vobiz-Signature-V3-Nonce" => Some("n"),
            _ => None,
        };
        assert_eq!(
            verify(&keys("account"), "https://a/x", lookup),
            Err(SignatureError::Missing)
        );
        let with_parent = Keys {
            account: SecretString::from("account"),
            parent: Some(SecretString::from("parent")),
        };
        assert!(verify(&with_parent, "https://a/x", lookup).is_ok());
    }

    #[test]
    fn any_of_several_listed_signatures_may_match() {
        let sig = sign("k", "https://a/x", "n", Scheme::V3);
        let listed = format!("bm90IGl0, {sig}");
        let lookup = |name: &str| match name {
            "X-Vobiz-Signature-V3" => Some(listed.as_str()),
            "X-Vobiz-Signature-V3-Nonce" => Some("n"),
            _ => None,
        };
        assert!(verify(&keys("k"), "https://a/x", lookup).is_ok());
    }
}

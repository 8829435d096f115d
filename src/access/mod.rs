//! People's access: who they are (from the settings), who is asking (a session or a token),
//! what they may see, how they sign in by emailed link, and the audit log of what they did.

pub mod audit;
pub mod people;
pub mod signin;
pub mod upkeep;
pub mod viewer;

use sha2::{Digest, Sha256};

use crate::config::TrustedProxies;

/// How a credential (a sign-in link's token, a session id) is kept: its SHA-256 digest.
pub fn digest(credential: &str) -> Vec<u8> {
    Sha256::digest(credential.as_bytes()).to_vec()
}

/// The client's address, for limits and the audit log: the TCP peer, or, when that is one of
/// `access.trusted_proxies`, the client their `X-Forwarded-For` names.
pub fn client_address(
    req: &actix_web::HttpRequest,
    proxies: &TrustedProxies,
) -> Option<std::net::IpAddr> {
    let peer = req.peer_addr()?.ip();
    let forwarded_for = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok());
    Some(proxies.client(peer, forwarded_for))
}

/// A fresh credential: 32 random bytes, URL-safe base64.
pub fn fresh_credential() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

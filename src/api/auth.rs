//! Bearer-token (or web session cookie) access to the read API. Tokens are compared as SHA-256 digests in constant
//! time, so neither their content nor their length leaks through timing.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The accepted tokens, kept only as digests.
#[derive(Clone, Default)]
pub struct ApiTokens {
    digests: Vec<[u8; 32]>,
}

impl ApiTokens {
    pub fn new(tokens: &[SecretString]) -> Self {
        Self {
            digests: tokens
                .iter()
                .map(|t| Sha256::digest(t.expose_secret().as_bytes()).into())
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    pub fn accepts(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.digests
            .iter()
            .fold(subtle::Choice::from(0), |any, d| any | d.ct_eq(&digest))
            .into()
    }
}

/// Proof that the request carried an accepted bearer token.
#[derive(Debug)]
pub struct Authorized;

impl FromRequest for Authorized {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let tokens = req.app_data::<web::Data<ApiTokens>>();
        let presented = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .map(str::to_owned)
            // The web page's session cookie, so that its audio player and links work.
            .or_else(|| {
                req.cookie(crate::web::session::SESSION_COOKIE)
                    .map(|c| c.value().to_owned())
            });
        ready(match (tokens, presented.as_deref()) {
            (Some(tokens), Some(p)) if tokens.accepts(p) => Ok(Authorized),
            _ => Err(ApiError::unauthorized()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_tokens_are_accepted() {
        let tokens = ApiTokens::new(&[SecretString::from("alpha"), SecretString::from("beta")]);
        assert!(tokens.accepts("alpha") && tokens.accepts("beta"));
        assert!(!tokens.accepts("alph") && !tokens.accepts("") && !tokens.accepts("alphaa"));
        assert!(!ApiTokens::default().accepts(""));
    }
}

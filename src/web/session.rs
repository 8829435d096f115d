//! The web session: an HttpOnly, SameSite=Strict cookie holding the access token (Secure when
//! served over https), and a double-submit CSRF token for the forms that change state.

use actix_web::HttpRequest;
use actix_web::HttpResponseBuilder;
use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::http::StatusCode;
use subtle::ConstantTimeEq;

use crate::api::tokens::ApiTokens;
use crate::config::Config;
use crate::error::ApiError;

pub const SESSION_COOKIE: &str = "confvault_session";
const CSRF_COOKIE: &str = "confvault_csrf";

pub struct Session {
    pub signed_in: bool,
    pub csrf: String,
    /// The CSRF cookie must be (re)issued with this answer.
    fresh_csrf: bool,
    secure: bool,
}

impl Session {
    pub fn of(req: &HttpRequest, tokens: &ApiTokens, config: &Config) -> Self {
        let signed_in = req
            .cookie(SESSION_COOKIE)
            .is_some_and(|c| tokens.accepts(c.value()));
        let existing = req
            .cookie(CSRF_COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|v| v.len() == 43);
        let secure = config
            .public_url
            .as_ref()
            .is_some_and(|u| u.scheme() == "https")
            || req.connection_info().scheme() == "https";
        Self {
            signed_in,
            fresh_csrf: existing.is_none(),
            csrf: existing.unwrap_or_else(|| {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
            }),
            secure,
        }
    }

    fn cookie(&self, name: &'static str, value: String) -> Cookie<'static> {
        Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(self.secure)
            .finish()
    }

    pub fn set_cookies(&self, response: &mut HttpResponseBuilder) {
        if self.fresh_csrf {
            response.cookie(self.cookie(CSRF_COOKIE, self.csrf.clone()));
        }
    }

    pub fn sign_in(&self, response: &mut HttpResponseBuilder, token: &str) {
        let mut cookie = self.cookie(SESSION_COOKIE, token.to_owned());
        cookie.set_max_age(Duration::days(30));
        response.cookie(cookie);
    }

    pub fn sign_out(&self, response: &mut HttpResponseBuilder) {
        let mut cookie = self.cookie(SESSION_COOKIE, String::new());
        cookie.make_removal();
        response.cookie(cookie);
    }
}

/// Refuses a form whose CSRF field does not match the browser's CSRF cookie.
pub fn verify_csrf(session: &Session, submitted: &str) -> Result<(), ApiError> {
    let matches: bool = session.csrf.as_bytes().ct_eq(submitted.as_bytes()).into();
    if session.fresh_csrf || !matches {
        tracing::warn!(code = "csrf", "form refused: CSRF token missing or wrong");
        return Err(ApiError::client(
            StatusCode::FORBIDDEN,
            "csrf",
            "this form has expired; reload the page and try again",
        ));
    }
    Ok(())
}

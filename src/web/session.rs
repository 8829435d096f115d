//! The web session's cookies: an HttpOnly, SameSite=Lax cookie holding a random session id
//! (kept server-side only as its digest; Secure when served over https), and a double-submit
//! CSRF token for the forms that change state. Lax, not Strict, so that a link to a meeting in
//! an email opens it for someone signed in.

use actix_web::HttpRequest;
use actix_web::HttpResponseBuilder;
use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::http::StatusCode;
use subtle::ConstantTimeEq;

use crate::config::Config;
use crate::error::ApiError;

pub const SESSION_COOKIE: &str = "confvault_session";
const CSRF_COOKIE: &str = "confvault_csrf";

pub struct Session {
    pub csrf: String,
    /// The CSRF cookie must be (re)issued with this answer.
    fresh_csrf: bool,
    secure: bool,
}

impl Session {
    pub fn of(req: &HttpRequest, config: &Config) -> Self {
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
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .finish()
    }

    pub fn set_cookies(&self, response: &mut HttpResponseBuilder) {
        if self.fresh_csrf {
            response.cookie(self.cookie(CSRF_COOKIE, self.csrf.clone()));
        }
    }

    pub fn sign_in(&self, response: &mut HttpResponseBuilder, session_id: &str, days: u32) {
        let mut cookie = self.cookie(SESSION_COOKIE, session_id.to_owned());
        cookie.set_max_age(Duration::days(i64::from(days)));
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

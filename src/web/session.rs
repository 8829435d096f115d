//! The web session's cookies: an HttpOnly, SameSite=Lax cookie holding a random session id
//! (kept server-side only as its digest; Secure when served over https, as the public URL or a
//! trusted proxy says), and a double-submit CSRF token for the forms that change state. Lax, not
//! Strict, so that a link to a meeting in an email opens it for someone signed in.

use actix_web::HttpRequest;
use actix_web::HttpResponseBuilder;
use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::http::StatusCode;
use subtle::ConstantTimeEq;

use crate::config::{Config, TrustedProxies};
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
        let forwarded_proto = req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok());
        let secure = served_over_https(
            config.public_url.as_ref(),
            req.peer_addr().map(|a| a.ip()),
            forwarded_proto,
            &config.access.trusted_proxies,
        );
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

/// Whether browsers reach this service over https, so its cookies must be Secure: the public
/// URL says so, or a trusted proxy in front says it took the request over https. Anyone else's
/// `X-Forwarded-Proto` is ignored, as their `X-Forwarded-For` is.
fn served_over_https(
    public_url: Option<&url::Url>,
    peer: Option<std::net::IpAddr>,
    forwarded_proto: Option<&str>,
    proxies: &TrustedProxies,
) -> bool {
    public_url.is_some_and(|u| u.scheme() == "https")
        || (peer.is_some_and(|ip| proxies.trusts(ip))
            && forwarded_proto
                .and_then(|v| v.split(',').next())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https")))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::try_from(entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn an_https_public_url_makes_cookies_secure_whoever_asks() {
        let url = url::Url::parse("https://vault.example.com").unwrap();
        assert!(served_over_https(Some(&url), None, None, &proxies(&[])));
    }

    #[test]
    fn a_trusted_proxy_saying_https_makes_cookies_secure() {
        let peer = Some("10.0.0.5".parse().unwrap());
        let lb = proxies(&["10.0.0.0/8"]);
        assert!(served_over_https(None, peer, Some("https"), &lb));
        assert!(served_over_https(None, peer, Some("HTTPS, http"), &lb));
        assert!(!served_over_https(None, peer, Some("http"), &lb));
        assert!(!served_over_https(None, peer, None, &lb));
    }

    #[test]
    fn anyone_elses_forwarded_proto_is_ignored() {
        let stranger = Some("203.0.113.9".parse().unwrap());
        assert!(!served_over_https(
            None,
            stranger,
            Some("https"),
            &proxies(&["10.0.0.0/8"])
        ));
        assert!(!served_over_https(
            None,
            stranger,
            Some("https"),
            &proxies(&[])
        ));
    }
}

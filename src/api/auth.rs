//! Bearer-token (or web session cookie) access to the read API.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use crate::error::ApiError;
use crate::state::AppState;

/// Proof that the request carried an accepted bearer token.
#[derive(Debug)]
pub struct Authorized;

impl FromRequest for Authorized {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let tokens = req
            .app_data::<web::Data<AppState>>()
            .map(|state| &state.tokens);
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

//! Who is asking: an admin token, a scoped token (as its person) or a signed-in person's web
//! session, resolved once per request into what they may see.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use super::digest;
use super::people::Person;
use crate::api::tokens::TokenHolder;
use crate::db::access::Visibility;
use crate::error::{ApiError, internal};
use crate::state::AppState;
use crate::web::session::SESSION_COOKIE;

/// A session's last use is written at most this often, not on every request.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::minutes(5);

/// The reader of a request.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// For the audit log: a lower-cased address, or an admin token's label.
    pub actor: String,
    pub admin: bool,
    pub visibility: Visibility,
    /// The web session's id digest, when signed in through the page.
    pub session: Option<Vec<u8>>,
    /// The client's address, as this service saw it.
    pub client: Option<String>,
}

impl Viewer {
    fn person(person: &Person, session: Option<Vec<u8>>, client: Option<String>) -> Self {
        Self {
            actor: person.email.clone(),
            admin: person.admin,
            visibility: person.visibility(),
            session,
            client,
        }
    }
}

impl FromRequest for Viewer {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { resolve(&req).await?.ok_or_else(ApiError::unauthorized) })
    }
}

/// An administrator, as the guard of admin-only routes.
#[derive(Debug, Clone)]
pub struct Admin(pub Viewer);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let viewer = resolve(&req).await?.ok_or_else(ApiError::unauthorized)?;
            if !viewer.admin {
                return Err(ApiError::client(
                    actix_web::http::StatusCode::FORBIDDEN,
                    "admins_only",
                    "only an administrator may do this",
                ));
            }
            Ok(Admin(viewer))
        })
    }
}

/// The request's reader, or `None` when it carries no valid credential. A bearer token, when
/// present, decides alone: a wrong one is not rescued by a cookie.
pub async fn resolve(req: &HttpRequest) -> Result<Option<Viewer>, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| internal(anyhow::anyhow!("no application state")))?;
    let client =
        super::client_address(req, &state.config.access.trusted_proxies).map(|ip| ip.to_string());
    if let Some(presented) = bearer(req) {
        return Ok(state
            .tokens
            .holder(presented)
            .and_then(|holder| match holder {
                TokenHolder::Admin { label } => Some(Viewer {
                    actor: label.clone(),
                    admin: true,
                    visibility: Visibility::Everything,
                    session: None,
                    client: client.clone(),
                }),
                TokenHolder::Person { email } => state
                    .people
                    .get(email)
                    .map(|p| Viewer::person(p, None, client.clone())),
            }));
    }
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let id_hash = digest(cookie.value());
    let now = chrono::Utc::now();
    let Some(session) = state
        .db
        .session(id_hash.clone())
        .await
        .map_err(internal)?
        .filter(|s| s.is_live(now))
    else {
        return Ok(None);
    };
    // Someone taken out of the settings loses access with their next request.
    let Some(person) = state.people.get(&session.email) else {
        return Ok(None);
    };
    if now - session.last_used_at > TOUCH_EVERY {
        state
            .db
            .touch_session(id_hash.clone(), now)
            .await
            .map_err(internal)?;
    }
    Ok(Some(Viewer::person(person, Some(id_hash), client)))
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
}

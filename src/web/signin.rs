//! The sign-in pages: ask for an address, follow the emailed link, confirm, sign out. The link
//! opens a page with a button rather than signing in on GET, so that a mail scanner that
//! fetches links does not use it up.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::pages::{Pages, html};
use super::session::{Session, verify_csrf};
use crate::access::signin::Refused;
use crate::access::viewer;
use crate::db::access::Redeemed;
use crate::error::{ApiError, internal};
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/signin", web::post().to(request_link))
        .route("/signin/{token}", web::get().to(confirm_page))
        .route("/signin/{token}", web::post().to(redeem))
        .route("/signout", web::post().to(sign_out));
}

/// The sign-in form, with `notice` or `error` above it.
pub fn page(
    pages: &Pages,
    session: &Session,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<String, ApiError> {
    pages.render(
        "signin.html",
        minijinja::context! {
            csrf => session.csrf.clone(), signed_in => false, notice => notice, error => error,
        },
    )
}

#[derive(Deserialize)]
struct LinkRequest {
    csrf: String,
    email: String,
}

#[tracing::instrument(name = "web.signin.request", skip_all)]
async fn request_link(
    req: HttpRequest,
    form: web::Form<LinkRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let session = Session::of(&req, &state.config);
    verify_csrf(&session, &form.csrf)?;
    let client = crate::access::client_address(&req, &state.config.access.trusted_proxies);
    let outcome = state
        .signin
        .request(&state.db, &state.people, &form.email, client)
        .await?;
    let (status, notice, error) = match outcome {
        Ok(()) => (
            StatusCode::OK,
            Some(format!(
                "If that address may sign in, a link is on its way to it. The link works once, \
                 for {} minutes.",
                state.config.access.link_minutes
            )),
            None,
        ),
        Err(Refused::NotAnAddress) => (
            StatusCode::BAD_REQUEST,
            None,
            Some("That is not an email address."),
        ),
        Err(Refused::TooManyRequests) => (
            StatusCode::TOO_MANY_REQUESTS,
            None,
            Some("Too many sign-in requests from here; wait a minute and try again."),
        ),
    };
    let body = page(&state.pages, &session, notice.as_deref(), error)?;
    Ok(html(HttpResponse::build(status), &session, body))
}

#[tracing::instrument(name = "web.signin.confirm", skip_all)]
async fn confirm_page(
    req: HttpRequest,
    token: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let session = Session::of(&req, &state.config);
    let body = state.pages.render(
        "signin_confirm.html",
        minijinja::context! {
            csrf => session.csrf.clone(), signed_in => false, token => token.into_inner(),
        },
    )?;
    Ok(html(HttpResponse::Ok(), &session, body))
}

#[derive(Deserialize)]
struct Confirm {
    csrf: String,
}

#[tracing::instrument(name = "web.signin.redeem", skip_all)]
async fn redeem(
    req: HttpRequest,
    token: web::Path<String>,
    form: web::Form<Confirm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let session = Session::of(&req, &state.config);
    verify_csrf(&session, &form.csrf)?;
    let client = crate::access::client_address(&req, &state.config.access.trusted_proxies)
        .map(|ip| ip.to_string());
    let redeemed = state.signin.redeem(&state.db, &token, client).await?;
    let why = match redeemed {
        Ok(opened) => {
            tracing::info!(email = %opened.email, "signed in");
            let mut response = HttpResponse::SeeOther();
            response.insert_header((header::LOCATION, "/"));
            session.sign_in(
                &mut response,
                &opened.session_id,
                state.config.access.session_days,
            );
            return Ok(response.finish());
        }
        Err(Redeemed::Used) => "This sign-in link was used already: each link works once.",
        Err(Redeemed::Expired) => "This sign-in link has expired.",
        Err(Redeemed::Unknown | Redeemed::SignedIn { .. }) => {
            "This is not a sign-in link confvault knows."
        }
    };
    tracing::warn!(why, "sign-in link refused");
    let body = page(
        &state.pages,
        &session,
        None,
        Some(&format!("{why} Ask for a new one below.")),
    )?;
    Ok(html(HttpResponse::BadRequest(), &session, body))
}

#[derive(Deserialize)]
struct SignOut {
    csrf: String,
}

#[tracing::instrument(name = "web.signout", skip_all)]
async fn sign_out(
    req: HttpRequest,
    form: web::Form<SignOut>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let session = Session::of(&req, &state.config);
    verify_csrf(&session, &form.csrf)?;
    if let Some(viewer) = viewer::resolve(&req).await?
        && let Some(id_hash) = viewer.session.clone()
    {
        let now = chrono::Utc::now();
        state.db.end_session(id_hash, now).await.map_err(internal)?;
        crate::access::audit::by(
            &state,
            &viewer,
            crate::db::model::AuditAction::SignOut,
            Default::default(),
        )
        .await?;
    }
    let mut response = HttpResponse::SeeOther();
    response.insert_header((header::LOCATION, "/"));
    session.sign_out(&mut response);
    Ok(response.finish())
}

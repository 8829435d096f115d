//! Signing in by emailed link: a request records itself and, for an address that may sign in,
//! stores a one-time link and mails it after the answer; presenting the link uses it up and
//! opens a session. The answer to a request never says whether the address is known, and a
//! known and an unknown address cost the same work before it is sent.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use lettre::Message;
use lettre::message::Mailbox;

use super::people::{People, bare_address};
use super::{digest, fresh_credential};
use crate::config::AccessConfig;
use crate::db::Database;
use crate::db::access::{NewSession, NewSigninLink, Redeemed, SigninRequest, SigninRequested};
use crate::error::{ApiError, internal};
use crate::mail::templates::{self, Templates};
use crate::mail::transport::Mailer;

/// What signing in needs, built once at start.
pub struct SignIn {
    pub mailer: Arc<dyn Mailer>,
    /// `signin.*` renders the message (a `mail.templates_dir` may restyle it).
    templates: Arc<Templates>,
    pub from: Mailbox,
    /// `public_url`, or the listening address: links never follow a request's Host header.
    pub link_base: String,
    pub settings: AccessConfig,
    /// Requests per client address (this replica's count).
    clients: DefaultKeyedRateLimiter<IpAddr>,
}

/// Why a request for a link was turned away before it was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    NotAnAddress,
    TooManyRequests,
}

/// A session opened by a link: the cookie's value and whose it is.
#[derive(Debug)]
pub struct Opened {
    pub session_id: String,
    pub email: String,
}

impl SignIn {
    pub fn new(
        mailer: Arc<dyn Mailer>,
        templates: Arc<Templates>,
        from: Mailbox,
        link_base: String,
        settings: AccessConfig,
    ) -> Self {
        let per_minute = NonZeroU32::new(settings.requests_per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            mailer,
            templates,
            from,
            link_base,
            clients: RateLimiter::keyed(Quota::per_minute(per_minute)),
            settings,
        }
    }

    /// Handles a request for a link to `typed`. `Ok` whether or not a link is mailed.
    pub async fn request(
        &self,
        db: &Arc<dyn Database>,
        people: &People,
        typed: &str,
        client: Option<IpAddr>,
    ) -> Result<Result<(), Refused>, ApiError> {
        if let Some(ip) = client
            && self.clients.check_key(&ip).is_err()
        {
            return Ok(Err(Refused::TooManyRequests));
        }
        if self.clients.len() > 10_000 {
            self.clients.retain_recent();
        }
        let Some(email) = bare_address(typed) else {
            return Ok(Err(Refused::NotAnAddress));
        };
        // The token is drawn either way, so both paths do the same work.
        let token = fresh_credential();
        let known = people.get(&email).is_some();
        let request = self.signin_request(&email, client, known.then_some(&token));
        match db.request_signin(request).await.map_err(internal)? {
            SigninRequested::LinkStored => self.mail_later(email, token),
            SigninRequested::Limited => {
                tracing::warn!("sign-in link not sent: too many links for this address lately");
            }
            SigninRequested::NoLink => {
                tracing::info!("sign-in asked for an address that may not sign in");
            }
        }
        Ok(Ok(()))
    }

    /// A request for `email` made now, storing a link for `token` when there is one, under the
    /// per-address limit.
    fn signin_request(
        &self,
        email: &str,
        client: Option<IpAddr>,
        token: Option<&String>,
    ) -> SigninRequest {
        let now = chrono::Utc::now();
        SigninRequest {
            email: email.to_owned(),
            client: client.map(|c| c.to_string()),
            at: now,
            link: token.map(|token| NewSigninLink {
                token_hash: digest(token),
                expires_at: now + self.settings.link_lifetime(),
            }),
            window_start: now - chrono::Duration::hours(1),
            links_per_window: self.settings.links_per_hour,
        }
    }

    /// Mails the link after the answer, so that its time is not the answer's.
    fn mail_later(&self, email: String, token: String) {
        let message = self.message(&email, &token);
        let mailer = Arc::clone(&self.mailer);
        tokio::spawn(async move {
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(error = %e, "could not build the sign-in message");
                    return;
                }
            };
            match mailer.send(message).await {
                Ok(_) => tracing::info!("sign-in link mailed"),
                Err(e) => tracing::warn!(error = %e, "sign-in link not mailed"),
            }
        });
    }

    fn message(&self, email: &str, token: &str) -> anyhow::Result<Message> {
        let rendered = self.templates.render(
            "signin",
            &minijinja::context! {
                email => email,
                link => self.link(token),
                minutes => self.settings.link_minutes,
            },
        )?;
        let message_id = format!("<{:032x}.signin@confvault>", rand::random::<u128>());
        templates::message(&rendered, &self.from, None, email.parse()?, &message_id)
    }

    /// Where a token signs in.
    pub fn link(&self, token: &str) -> String {
        format!("{}/signin/{token}", self.link_base.trim_end_matches('/'))
    }

    /// Stores a link for `email` without mailing it: the demo prints it instead.
    pub async fn issue_link(&self, db: &Arc<dyn Database>, email: &str) -> anyhow::Result<String> {
        let token = fresh_credential();
        let request = self.signin_request(&email.to_ascii_lowercase(), None, Some(&token));
        let stored = db.request_signin(request).await?;
        anyhow::ensure!(
            stored == SigninRequested::LinkStored,
            "too many links for {email}"
        );
        Ok(self.link(&token))
    }

    /// Uses the link `token` up and opens a session; the audit log records the sign-in in the
    /// same transaction.
    pub async fn redeem(
        &self,
        db: &Arc<dyn Database>,
        token: &str,
        client: Option<String>,
    ) -> Result<Result<Opened, Redeemed>, ApiError> {
        let session_id = fresh_credential();
        let now = chrono::Utc::now();
        let session = NewSession {
            id_hash: digest(&session_id),
            created_at: now,
            expires_at: now + self.settings.session_lifetime(),
            client,
        };
        match db
            .redeem_signin_link(digest(token), session)
            .await
            .map_err(internal)?
        {
            Redeemed::SignedIn { email } => Ok(Ok(Opened { session_id, email })),
            other => Ok(Err(other)),
        }
    }
}

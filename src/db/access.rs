//! The values of people's access: who may see which conferences, sign-in links, sessions and
//! the audit log. Credentials reach the database only as SHA-256 digests.

use serde::Serialize;

use super::model::{AuditAction, Instant};

/// Which conferences (and their recordings) a reader may see. Every read of the read side
/// takes one, so that the rule is part of each query and counts and pages stay right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Administrators, admin tokens and the command line.
    Everything,
    /// Conferences one of `numbers` took part in, or whose name matches one of `names`;
    /// recordings of no known conference are not among them.
    Only(Scope),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    /// Normalised numbers (as `participants.from_normalized`).
    pub numbers: Vec<String>,
    /// Conference-name globs of the mail routes that list the person.
    pub names: Vec<String>,
}

/// A request for a sign-in link, recorded whether or not a link is mailed.
#[derive(Debug, Clone)]
pub struct SigninRequest {
    /// Lower-cased.
    pub email: String,
    pub client: Option<String>,
    pub at: Instant,
    /// The link to store, when the address may sign in.
    pub link: Option<NewSigninLink>,
    /// At most `links_per_window` links are stored per address since `window_start`.
    pub window_start: Instant,
    pub links_per_window: u32,
}

#[derive(Debug, Clone)]
pub struct NewSigninLink {
    pub token_hash: Vec<u8>,
    pub expires_at: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigninRequested {
    /// The link was stored: mail it.
    LinkStored,
    /// Too many links for this address lately: none stored.
    Limited,
    /// The address may not sign in: nothing to mail.
    NoLink,
}

/// A session to open when a link is redeemed.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id_hash: Vec<u8>,
    pub created_at: Instant,
    pub expires_at: Instant,
    pub client: Option<String>,
}

/// What came of presenting a sign-in link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// The link was good: it is used up and the session is open.
    SignedIn {
        email: String,
    },
    Used,
    Expired,
    Unknown,
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub email: String,
    pub expires_at: Instant,
    pub last_used_at: Instant,
    pub ended_at: Option<Instant>,
}

impl SessionRow {
    pub fn is_live(&self, now: Instant) -> bool {
        self.ended_at.is_none() && self.expires_at > now
    }
}

/// Something someone did with a meeting, or with their access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub at: chrono::DateTime<chrono::Utc>,
    /// An email address, `token:<n>` for an admin token, or `link` for a recording link.
    pub actor: String,
    pub action: AuditAction,
    pub conference_uuid: Option<String>,
    pub recording_id: Option<String>,
    /// The client's address, as the service saw it.
    pub client: Option<String>,
    /// Whom the action was about, when not the actor: the person whose sessions were ended.
    pub subject: Option<String>,
}

/// Which audit events to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub conference_uuid: Option<String>,
    pub actor: Option<String>,
    pub limit: u32,
}

impl AuditQuery {
    /// The filters that are set, as (column, SQLite's named placeholder, value): only these are
    /// written into the statement, so each walks its index rather than the whole log.
    pub fn filters(&self) -> impl Iterator<Item = (&'static str, &'static str, &String)> {
        [
            ("conference_uuid", ":conference_uuid", &self.conference_uuid),
            ("actor", ":actor", &self.actor),
        ]
        .into_iter()
        .filter_map(|(column, name, value)| value.as_ref().map(|v| (column, name, v)))
    }
}

/// The audit log's newest events meeting every one of `conditions`, at most `limit` (a
/// placeholder) of them.
pub fn audit_sql(conditions: &[String], limit: &str) -> String {
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    format!(
        "SELECT at, actor, action, conference_uuid, recording_id, client, subject
         FROM audit_events {filter} ORDER BY id DESC LIMIT {limit}"
    )
}

/// What access upkeep forgets.
#[derive(Debug, Clone, Copy)]
pub struct AccessUpkeep {
    pub now: Instant,
    /// Sign-in requests and links made before this.
    pub requests_before: Instant,
    /// Audit events recorded before this.
    pub audit_before: Instant,
}

//! `[mail]`: the transport, the sender, who receives what, and the directory of people.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::addresses::{ConferenceGlob, EmailAddress};
use super::smtp::SmtpEndpoint;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// `.eml` files in `mail.outbox_dir`: the embedded default.
    #[default]
    Outbox,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Upgrade with STARTTLS, and refuse a server that does not offer it.
    #[default]
    Starttls,
    /// TLS from the first byte (usually port 465).
    Implicit,
    /// Plain text: only for a relay on the same host or a trusted network.
    None,
}

/// A days count, or `"never"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Lifetime {
    Days(u32),
    Never(Never),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Never {
    Never,
}

impl Lifetime {
    pub fn duration(self) -> Option<chrono::Duration> {
        match self {
            Lifetime::Days(days) => Some(chrono::Duration::days(i64::from(days))),
            Lifetime::Never(_) => None,
        }
    }
}

/// Conferences whose name matches `conferences` (a glob) are also mailed to `to`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailRoute {
    pub conferences: ConferenceGlob,
    pub to: Vec<EmailAddress>,
}

/// A known person: names a number in summaries, and may receive them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryEntry {
    pub number: String,
    pub name: String,
    #[serde(default)]
    pub email: Option<EmailAddress>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    pub transport: MailTransport,
    /// Defaults to `<data_dir>/outbox`.
    pub outbox_dir: Option<PathBuf>,
    /// `smtp://user:password@host:port`.
    pub smtp_url: Option<SmtpEndpoint>,
    pub tls: SmtpTls,
    /// A PEM certificate to trust besides the system's (a private CA).
    pub ca_file: Option<PathBuf>,
    /// Longest one message may take to send.
    pub timeout_seconds: u64,
    pub from: EmailAddress,
    pub reply_to: Option<EmailAddress>,
    /// Who gets every summary.
    pub to: Vec<EmailAddress>,
    pub routes: Vec<MailRoute>,
    pub directory: Vec<DirectoryEntry>,
    /// A CSV file with columns `number,name,email` (header row first), added to `directory`.
    pub directory_csv: Option<PathBuf>,
    /// Also mail attendees whose number has an address in the directory.
    pub notify_attendees: bool,
    /// Addresses that never receive summaries.
    pub opt_out: Vec<String>,
    /// Who is told when a job fails for good.
    pub alerts_to: Vec<EmailAddress>,
    /// Overrides the built-in templates (same file names as templates/email/).
    pub templates_dir: Option<PathBuf>,
    /// Also summarise conferences that had no recording.
    pub notify_without_recording: bool,
    /// How long to wait for a late recording before summarising a conference without one.
    pub no_recording_grace_seconds: u64,
    /// How long the recording links in summaries work: days, or "never".
    pub link_lifetime_days: Lifetime,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: MailTransport::Outbox,
            outbox_dir: None,
            smtp_url: None,
            tls: SmtpTls::Starttls,
            ca_file: None,
            timeout_seconds: 60,
            from: "confvault <confvault@localhost>"
                .parse()
                .expect("the default sender parses"),
            reply_to: None,
            to: Vec::new(),
            routes: Vec::new(),
            directory: Vec::new(),
            directory_csv: None,
            notify_attendees: false,
            opt_out: Vec::new(),
            alerts_to: Vec::new(),
            templates_dir: None,
            notify_without_recording: true,
            no_recording_grace_seconds: 120,
            link_lifetime_days: Lifetime::Days(90),
        }
    }
}

impl MailConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.transport == MailTransport::Smtp && self.smtp_url.is_none() {
            return Err(ConfigError::invalid(
                "mail.smtp_url",
                "is required when mail.transport = \"smtp\"",
            ));
        }
        Ok(())
    }
}

//! The notify jobs: a meeting summary per conference to each of its recipients, and an alert to
//! operators when a job fails for good. Every message sent is recorded, so a retry or a
//! replayed end never sends one twice.
//!
//! One crash window remains: if the process dies after the server accepted a message and
//! before its row is committed, the next run sends that message again. Closing it would need
//! the mail server to deduplicate on Message-ID, which SMTP does not promise.

use std::sync::Arc;

use chrono_tz::Tz;
use lettre::message::Mailbox;
use sha2::{Digest, Sha256};

use super::JobError;
use super::context::JobContext;
use crate::db::model::{
    JobId, MailKind, NewLink, Recording, RecordingStatus, SentMessage, SummarySubject,
};
use crate::db::{Database, DbError};
use crate::mail::recipients::RecipientRules;
use crate::mail::summary::{self, RecordingFacts};
use crate::mail::templates::{self, Rendered, Templates};
use crate::mail::transport::{Mailer, SendError};
use crate::time::Instant;

pub struct Notifier {
    pub mailer: Arc<dyn Mailer>,
    pub templates: Arc<Templates>,
    pub rules: RecipientRules,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    pub alerts_to: Vec<String>,
    pub zone: Tz,
    /// Where recording links point: `public_url`, or the listening address.
    pub link_base: String,
    pub link_lifetime: Option<chrono::Duration>,
}

impl Notifier {
    pub async fn summary(&self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(SummarySubject {
            conference,
            participants: legs,
            recordings,
            handled,
        }) = ctx.db.summary_subject(&ctx.job.subject).await?
        else {
            return Err(JobError::Permanent(
                "the conference no longer exists".into(),
            ));
        };
        if recordings.iter().any(|r| r.status.is_unsettled()) {
            return Err(JobError::Wait("a recording is still being archived".into()));
        }
        let recipients: Vec<String> = self
            .rules
            .for_conference(
                &conference.name,
                legs.iter().filter_map(|l| l.from.as_deref()),
            )
            .into_iter()
            .filter(|r| !handled.iter().any(|h| h.eq_ignore_ascii_case(r)))
            .collect();
        if recipients.is_empty() {
            tracing::info!("no one (left) to send the summary to");
            return Ok(());
        }
        let mut facts = Vec::with_capacity(recordings.len());
        for recording in &recordings {
            facts.push(self.facts(ctx, recording).await?);
        }
        let view = summary::build(&conference, &legs, facts, &self.rules.directory, self.zone);
        let rendered = self
            .templates
            .render("summary", &view)
            .map_err(|e| JobError::Permanent(format!("{e:#}")))?;
        self.send_all(
            ctx,
            MailKind::Summary,
            &ctx.job.subject,
            &rendered,
            recipients,
        )
        .await
    }

    pub async fn alert(&self, ctx: &JobContext) -> Result<(), JobError> {
        let id: JobId =
            ctx.job.subject.parse().map_err(|_| {
                JobError::Permanent("alert for a job id that is not a number".into())
            })?;
        let failed = ctx.db.job(id).await?;
        let handled = ctx
            .db
            .handled_recipients(MailKind::Alert, &ctx.job.subject)
            .await?;
        let Some(failed) = failed else {
            return Ok(());
        };
        let recipients: Vec<String> = self
            .alerts_to
            .iter()
            .filter(|r| !handled.iter().any(|h| h.eq_ignore_ascii_case(r)))
            .cloned()
            .collect();
        if recipients.is_empty() {
            return Ok(());
        }
        let rendered = self
            .templates
            .render(
                "alert",
                &serde_json::json!({
                    "job_id": failed.id,
                    "kind": failed.kind,
                    "subject": failed.subject,
                    "attempts": failed.attempts,
                    "error": failed.last_error.unwrap_or_default(),
                }),
            )
            .map_err(|e| JobError::Permanent(format!("{e:#}")))?;
        self.send_all(
            ctx,
            MailKind::Alert,
            &ctx.job.subject,
            &rendered,
            recipients,
        )
        .await
    }

    /// What the summary says of one recording, with a fresh link if it was archived.
    async fn facts(&self, ctx: &JobContext, r: &Recording) -> Result<RecordingFacts, JobError> {
        let archived = r.status == RecordingStatus::Archived;
        let link = if archived {
            let expires_at = self.link_lifetime.map(|l| chrono::Utc::now() + l);
            Some(mint_link(&*ctx.db, &self.link_base, &r.recording_id, expires_at).await?)
        } else {
            None
        };
        Ok(RecordingFacts {
            format: r.format.clone(),
            size_bytes: r.size_bytes,
            duration_ms: r.duration_ms,
            link,
            archived,
            error: r.last_error.clone(),
        })
    }

    /// Sends one message per recipient, recording each outcome as it happens. A 5xx fails
    /// that recipient only; a 4xx or a connection failure stops here, to be retried.
    async fn send_all(
        &self,
        ctx: &JobContext,
        kind: MailKind,
        subject: &str,
        rendered: &Rendered,
        recipients: Vec<String>,
    ) -> Result<(), JobError> {
        for recipient in recipients {
            let to: Mailbox = match recipient.parse() {
                Ok(to) => to,
                Err(e) => {
                    self.record(
                        ctx,
                        kind,
                        subject,
                        &recipient,
                        false,
                        "",
                        &format!("bad address: {e}"),
                    )
                    .await?;
                    continue;
                }
            };
            let message_id = format!("<{:032x}.{}@confvault>", rand::random::<u128>(), ctx.job.id);
            let message = templates::message(
                rendered,
                &self.from,
                self.reply_to.as_ref(),
                to,
                &message_id,
            )
            .map_err(|e| JobError::Permanent(format!("building the message: {e:#}")))?;
            let sent = self.mailer.send(message).await;
            ctx.metrics.email(sent.is_ok());
            match sent {
                Ok(answer) => {
                    tracing::info!(%recipient, %answer, "{kind} sent");
                    self.record(ctx, kind, subject, &recipient, true, &message_id, &answer)
                        .await?;
                }
                Err(SendError::Permanent(e)) => {
                    tracing::warn!(%recipient, error = %e, "{kind} refused for this recipient");
                    self.record(ctx, kind, subject, &recipient, false, &message_id, &e)
                        .await?;
                }
                Err(SendError::Transient(e)) => {
                    return Err(JobError::Retryable(format!("mail to {recipient}: {e}")));
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        ctx: &JobContext,
        kind: MailKind,
        subject: &str,
        recipient: &str,
        ok: bool,
        message_id: &str,
        detail: &str,
    ) -> Result<(), JobError> {
        ctx.db
            .record_sent(SentMessage {
                kind,
                subject: subject.to_owned(),
                recipient: recipient.to_ascii_lowercase(),
                ok,
                message_id: message_id.to_owned(),
                detail: detail.to_owned(),
                at: chrono::Utc::now(),
            })
            .await?;
        Ok(())
    }
}

/// An unguessable link token: 256 random bits, URL-safe.
/// A new recording link (`<link_base>/r/<token>`) to `recording_id`, expiring at
/// `expires_at` (never when none); only the token's digest is stored.
pub async fn mint_link(
    db: &dyn Database,
    link_base: &str,
    recording_id: &str,
    expires_at: Option<Instant>,
) -> Result<String, DbError> {
    let token = crate::access::fresh_credential();
    db.add_link(NewLink {
        token_hash: token_hash(&token),
        recording_id: recording_id.to_owned(),
        created_at: chrono::Utc::now(),
        expires_at,
    })
    .await?;
    Ok(format!("{}/r/{token}", link_base.trim_end_matches('/')))
}

/// Only this is stored, so a copy of the database does not hold working links.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

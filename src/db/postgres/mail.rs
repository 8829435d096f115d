//! Messages sent (one row per message and recipient) and recording link tokens, on PostgreSQL.

use super::tx::PgTx;
use crate::db::DbError;
use crate::db::model::{LinkTarget, MailKind, NewLink, SentMessage, SentRow};

pub fn handled_recipients(
    tx: &PgTx<'_>,
    kind: MailKind,
    subject: &str,
) -> Result<Vec<String>, DbError> {
    tx.query(
        "SELECT recipient FROM mail_sent WHERE kind = $1 AND subject_id = $2 ORDER BY id",
        &[&kind, &subject],
    )?
    .iter()
    .map(|r| Ok(r.try_get(0)?))
    .collect()
}

pub fn sent(tx: &PgTx<'_>, kind: MailKind, subject: &str) -> Result<Vec<SentRow>, DbError> {
    tx.query(
        "SELECT recipient, status = 'sent', detail FROM mail_sent
         WHERE kind = $1 AND subject_id = $2 ORDER BY id",
        &[&kind, &subject],
    )?
    .iter()
    .map(|r| {
        Ok(SentRow {
            recipient: r.try_get(0)?,
            ok: r.try_get(1)?,
            detail: r.try_get(2)?,
        })
    })
    .collect()
}

pub fn record(tx: &PgTx<'_>, s: &SentMessage) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO mail_sent (kind, subject_id, recipient, status, message_id, detail, sent_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (kind, subject_id, recipient) DO NOTHING",
        &[
            &s.kind,
            &s.subject,
            &s.recipient,
            &if s.ok { "sent" } else { "failed" },
            &s.message_id,
            &s.detail,
            &s.at,
        ],
    )?;
    Ok(())
}

pub fn add_link(tx: &PgTx<'_>, link: &NewLink) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO recording_links (token_hash, recording_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4)",
        &[
            &link.token_hash,
            &link.recording_id,
            &link.created_at,
            &link.expires_at,
        ],
    )?;
    Ok(())
}

pub fn resolve_link(tx: &PgTx<'_>, token_hash: &[u8]) -> Result<Option<LinkTarget>, DbError> {
    tx.opt(
        "SELECT r.object_key, r.format, l.expires_at, r.recording_id, r.conference_uuid
         FROM recording_links l JOIN recordings r ON r.recording_id = l.recording_id
         WHERE l.token_hash = $1",
        &[&token_hash],
    )?
    .map(|r| {
        Ok(LinkTarget {
            recording_id: r.try_get(3)?,
            conference_uuid: r.try_get(4)?,
            object_key: r.try_get(0)?,
            format: r.try_get(1)?,
            expires_at: r.try_get(2)?,
        })
    })
    .transpose()
}

/// Proves the database takes a durable write.
pub fn heartbeat(tx: &PgTx<'_>, at: crate::time::Instant) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO heartbeat (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = $1",
        &[&at],
    )?;
    Ok(())
}

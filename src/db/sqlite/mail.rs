//! Messages sent (one row per message and recipient) and recording link tokens.

use rusqlite::{Connection, named_params};

use super::conferences::instant;
use super::optional;
use crate::db::DbError;
use crate::db::model::{LinkTarget, MailKind, NewLink, SentMessage, SentRow};
use crate::time::to_db;

/// Addresses already handled (sent or failed for good) for one message.
pub fn handled_recipients(
    conn: &Connection,
    kind: MailKind,
    subject: &str,
) -> Result<Vec<String>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT recipient FROM mail_sent WHERE kind = :kind AND subject_id = :subject",
    )?;
    let rows = stmt.query_map(named_params! {":kind": kind, ":subject": subject}, |r| {
        r.get(0)
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every recipient recorded for one message.
pub fn sent(conn: &Connection, kind: MailKind, subject: &str) -> Result<Vec<SentRow>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT recipient, status = 'sent', detail FROM mail_sent
         WHERE kind = :kind AND subject_id = :subject ORDER BY id",
    )?;
    let rows = stmt.query_map(named_params! {":kind": kind, ":subject": subject}, |r| {
        Ok(SentRow {
            recipient: r.get(0)?,
            ok: r.get(1)?,
            detail: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn record(conn: &Connection, s: &SentMessage) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO mail_sent (kind, subject_id, recipient, status, message_id, detail, sent_at)
         VALUES (:kind, :subject, :recipient, :status, :message_id, :detail, :at)
         ON CONFLICT (kind, subject_id, recipient) DO NOTHING",
    )?
    .execute(named_params! {
        ":kind": s.kind, ":subject": s.subject, ":recipient": s.recipient,
        ":status": if s.ok { "sent" } else { "failed" }, ":message_id": s.message_id,
        ":detail": s.detail, ":at": to_db(s.at),
    })?;
    Ok(())
}

pub fn add_link(conn: &Connection, link: &NewLink) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO recording_links (token_hash, recording_id, created_at, expires_at)
         VALUES (:hash, :recording, :now, :expires)",
    )?
    .execute(named_params! {
        ":hash": link.token_hash, ":recording": link.recording_id,
        ":now": to_db(link.created_at), ":expires": link.expires_at.map(to_db),
    })?;
    Ok(())
}

pub fn resolve_link(conn: &Connection, token_hash: &[u8]) -> Result<Option<LinkTarget>, DbError> {
    optional(
        conn.prepare_cached(
            "SELECT r.object_key, r.format, l.expires_at, r.recording_id, r.conference_uuid
             FROM recording_links l JOIN recordings r ON r.recording_id = l.recording_id
             WHERE l.token_hash = :hash",
        )?
        .query_row(named_params! {":hash": token_hash}, |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        }),
    )?
    .map(
        |(object_key, format, expires_at, recording_id, conference_uuid)| {
            Ok(LinkTarget {
                recording_id,
                conference_uuid,
                object_key,
                format,
                expires_at: instant(expires_at)?,
            })
        },
    )
    .transpose()
}

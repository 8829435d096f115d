//! Messages sent (one row per message and recipient) and recording link tokens.

use rusqlite::{Connection, named_params};

use super::{DbError, optional};

/// Addresses already handled (sent or failed for good) for one message.
pub fn handled_recipients(
    conn: &Connection,
    kind: &str,
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

/// One recipient's row of a message, as recorded.
#[derive(Debug, Clone)]
pub struct SentRow {
    pub recipient: String,
    /// `sent` or `failed`.
    pub status: String,
    /// The server's answer (or where the outbox put the file), or why it failed.
    pub detail: Option<String>,
}

/// Every recipient recorded for one message.
pub fn sent(conn: &Connection, kind: &str, subject: &str) -> Result<Vec<SentRow>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT recipient, status, detail FROM mail_sent
         WHERE kind = :kind AND subject_id = :subject ORDER BY id",
    )?;
    let rows = stmt.query_map(named_params! {":kind": kind, ":subject": subject}, |r| {
        Ok(SentRow {
            recipient: r.get(0)?,
            status: r.get(1)?,
            detail: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub struct Sent<'a> {
    pub kind: &'a str,
    pub subject: &'a str,
    pub recipient: &'a str,
    pub ok: bool,
    pub message_id: &'a str,
    pub detail: &'a str,
    pub at: &'a str,
}

pub fn record(conn: &Connection, s: &Sent<'_>) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO mail_sent (kind, subject_id, recipient, status, message_id, detail, sent_at)
         VALUES (:kind, :subject, :recipient, :status, :message_id, :detail, :at)
         ON CONFLICT (kind, subject_id, recipient) DO NOTHING",
    )?
    .execute(named_params! {
        ":kind": s.kind, ":subject": s.subject, ":recipient": s.recipient,
        ":status": if s.ok { "sent" } else { "failed" }, ":message_id": s.message_id,
        ":detail": s.detail, ":at": s.at,
    })?;
    Ok(())
}

pub fn add_link(
    conn: &Connection,
    token_hash: &[u8],
    recording_id: &str,
    now: &str,
    expires_at: Option<&str>,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT INTO recording_links (token_hash, recording_id, created_at, expires_at)
         VALUES (:hash, :recording, :now, :expires)",
    )?
    .execute(named_params! {":hash": token_hash, ":recording": recording_id, ":now": now, ":expires": expires_at})?;
    Ok(())
}

/// What a link leads to.
#[derive(Debug, Clone)]
pub struct LinkTarget {
    /// The archived object's key; `None` if the recording is not archived (any more).
    pub object_key: Option<String>,
    pub format: Option<String>,
    pub expires_at: Option<String>,
}

pub fn resolve_link(conn: &Connection, token_hash: &[u8]) -> Result<Option<LinkTarget>, DbError> {
    optional(
        conn.prepare_cached(
            "SELECT r.object_key, r.format, l.expires_at
             FROM recording_links l JOIN recordings r ON r.recording_id = l.recording_id
             WHERE l.token_hash = :hash",
        )?
        .query_row(named_params! {":hash": token_hash}, |r| {
            Ok(LinkTarget {
                object_key: r.get(0)?,
                format: r.get(1)?,
                expires_at: r.get(2)?,
            })
        }),
    )
}

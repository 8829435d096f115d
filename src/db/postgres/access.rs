//! Sign-in requests and links, sessions and the audit log on PostgreSQL, and [`Postgres`] as
//! the [`AccessStore`].

use async_trait::async_trait;
use tokio_postgres::types::ToSql;

use super::Postgres;
use super::tx::{PgTx, lock_key};
use crate::db::access::{
    AccessUpkeep, AuditEvent, AuditQuery, NewSession, Redeemed, SessionRow, SigninRequest,
    SigninRequested,
};
use crate::db::model::Instant;
use crate::db::{AccessStore, DbError};

/// One statement for a known address and an unknown one alike (the link's insert finds
/// nothing to insert for the latter), so that both cost the same round trips. The address's
/// advisory lock is taken first, in its own statement: a statement's snapshot is taken when it
/// starts, so a count in the same statement as the lock could miss a link committed while it
/// waited.
fn request_signin(tx: &PgTx<'_>, r: &SigninRequest) -> Result<SigninRequested, DbError> {
    tx.lock(&[lock_key("signin", &r.email)])?;
    let (token_hash, expires_at) = match &r.link {
        Some(link) => (Some(link.token_hash.clone()), Some(link.expires_at)),
        None => (None, None),
    };
    let limit = i64::from(r.links_per_window);
    let row = tx.one(
        "WITH recent AS (
             SELECT COUNT(*) AS n FROM signin_links WHERE email = $1 AND created_at >= $2
         ), request AS (
             INSERT INTO signin_requests (email, client, at) VALUES ($1, $3, $4)
         ), link AS (
             INSERT INTO signin_links (token_hash, email, created_at, expires_at)
             SELECT $5::bytea, $1, $4, $6::timestamptz FROM recent
             WHERE $5::bytea IS NOT NULL AND recent.n < $7
             RETURNING 1
         )
         SELECT EXISTS (SELECT 1 FROM link)",
        &[
            &r.email,
            &r.window_start,
            &r.client,
            &r.at,
            &token_hash,
            &expires_at,
            &limit,
        ],
    )?;
    let stored: bool = row.try_get(0)?;
    Ok(match (&r.link, stored) {
        (None, _) => SigninRequested::NoLink,
        (Some(_), true) => SigninRequested::LinkStored,
        (Some(_), false) => SigninRequested::Limited,
    })
}

fn redeem(tx: &PgTx<'_>, token_hash: &[u8], s: &NewSession) -> Result<Redeemed, DbError> {
    // One statement takes the link, so that two presentations at once cannot both win.
    let taken = tx.opt(
        "UPDATE signin_links SET used_at = $2
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
         RETURNING email",
        &[&token_hash, &s.created_at],
    )?;
    let Some(row) = taken else {
        let found = tx.opt(
            "SELECT used_at IS NOT NULL FROM signin_links WHERE token_hash = $1",
            &[&token_hash],
        )?;
        return Ok(match found {
            None => Redeemed::Unknown,
            Some(r) if r.try_get::<_, bool>(0)? => Redeemed::Used,
            Some(_) => Redeemed::Expired,
        });
    };
    let email: String = row.try_get(0)?;
    tx.execute(
        "INSERT INTO sessions (id_hash, email, client, created_at, expires_at, last_used_at)
         VALUES ($1, $2, $3, $4, $5, $4)",
        &[&s.id_hash, &email, &s.client, &s.created_at, &s.expires_at],
    )?;
    tx.execute(
        "INSERT INTO audit_events (at, actor, action, client) VALUES ($1, $2, 'sign_in', $3)",
        &[&s.created_at, &email, &s.client],
    )?;
    Ok(Redeemed::SignedIn { email })
}

/// The audit query with only the filters that are set written in, so that a generic plan
/// (which the server may settle on after a few runs) still walks audit_by_conference or
/// audit_by_actor rather than reading the log newest first.
pub(super) fn audit_statement<'a>(
    q: &'a AuditQuery,
    limit: &'a i64,
) -> (String, Vec<&'a (dyn ToSql + Sync)>) {
    let mut conditions = Vec::new();
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![limit];
    for (column, _, value) in q.filters() {
        params.push(value);
        conditions.push(format!("{column} = ${}", params.len()));
    }
    let sql = crate::db::access::audit_sql(&conditions, "$1");
    (sql, params)
}

fn audit_events(tx: &PgTx<'_>, q: &AuditQuery) -> Result<Vec<AuditEvent>, DbError> {
    let limit = i64::from(q.limit.clamp(1, 10_000));
    let (sql, params) = audit_statement(q, &limit);
    tx.query(&sql, &params)?
        .iter()
        .map(|r| {
            Ok(AuditEvent {
                at: r.try_get(0)?,
                actor: r.try_get(1)?,
                action: r.try_get(2)?,
                conference_uuid: r.try_get(3)?,
                recording_id: r.try_get(4)?,
                client: r.try_get(5)?,
                subject: r.try_get(6)?,
            })
        })
        .collect()
}

#[async_trait]
impl AccessStore for Postgres {
    async fn request_signin(&self, request: SigninRequest) -> Result<SigninRequested, DbError> {
        self.write(move |tx| request_signin(tx, &request)).await
    }

    async fn redeem_signin_link(
        &self,
        token_hash: Vec<u8>,
        session: NewSession,
    ) -> Result<Redeemed, DbError> {
        self.write(move |tx| redeem(tx, &token_hash, &session))
            .await
    }

    async fn session(&self, id_hash: Vec<u8>) -> Result<Option<SessionRow>, DbError> {
        self.read(move |tx| {
            tx.opt(
                "SELECT email, expires_at, last_used_at, ended_at FROM sessions
                 WHERE id_hash = $1",
                &[&id_hash],
            )?
            .map(|r| {
                Ok(SessionRow {
                    email: r.try_get(0)?,
                    expires_at: r.try_get(1)?,
                    last_used_at: r.try_get(2)?,
                    ended_at: r.try_get(3)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn touch_session(&self, id_hash: Vec<u8>, now: Instant) -> Result<(), DbError> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE sessions SET last_used_at = $2 WHERE id_hash = $1",
                &[&id_hash, &now],
            )?;
            Ok(())
        })
        .await
    }

    async fn end_session(&self, id_hash: Vec<u8>, now: Instant) -> Result<(), DbError> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE sessions SET ended_at = $2 WHERE id_hash = $1 AND ended_at IS NULL",
                &[&id_hash, &now],
            )?;
            Ok(())
        })
        .await
    }

    async fn end_sessions_of(&self, email: &str, now: Instant) -> Result<u64, DbError> {
        let email = email.to_owned();
        self.write(move |tx| {
            tx.execute(
                "UPDATE sessions SET ended_at = $2
                 WHERE email = $1 AND ended_at IS NULL AND expires_at > $2",
                &[&email, &now],
            )
        })
        .await
    }

    async fn record_audit(&self, event: AuditEvent) -> Result<(), DbError> {
        self.write(move |tx| {
            let e = &event;
            tx.execute(
                "INSERT INTO audit_events
                     (at, actor, action, conference_uuid, recording_id, client, subject)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &e.at,
                    &e.actor,
                    &e.action,
                    &e.conference_uuid,
                    &e.recording_id,
                    &e.client,
                    &e.subject,
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn audit_events(&self, query: AuditQuery) -> Result<Vec<AuditEvent>, DbError> {
        self.read(move |tx| audit_events(tx, &query)).await
    }

    async fn prune_access(&self, u: AccessUpkeep) -> Result<(), DbError> {
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM signin_requests WHERE at < $1",
                &[&u.requests_before],
            )?;
            tx.execute(
                "DELETE FROM signin_links WHERE created_at < $1 AND expires_at < $2",
                &[&u.requests_before, &u.now],
            )?;
            tx.execute(
                "DELETE FROM sessions WHERE expires_at < $1 OR ended_at < $2",
                &[&u.now, &u.requests_before],
            )?;
            tx.execute("DELETE FROM audit_events WHERE at < $1", &[&u.audit_before])?;
            Ok(())
        })
        .await
    }
}

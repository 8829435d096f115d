//! [`Sqlite`] as the [`AccessStore`]: sign-ins, sessions and audit events through the writer,
//! lookups on a reader.

use async_trait::async_trait;

use super::{Sqlite, access};
use crate::db::access::{
    AccessUpkeep, AuditEvent, AuditQuery, NewSession, Redeemed, SessionRow, SigninRequest,
    SigninRequested,
};
use crate::db::model::Instant;
use crate::db::{AccessStore, DbError};

#[async_trait]
impl AccessStore for Sqlite {
    async fn request_signin(&self, request: SigninRequest) -> Result<SigninRequested, DbError> {
        self.writer
            .run(move |conn| access::request_signin(conn, &request))
            .await
    }

    async fn redeem_signin_link(
        &self,
        token_hash: Vec<u8>,
        session: NewSession,
    ) -> Result<Redeemed, DbError> {
        self.writer
            .run(move |conn| access::redeem(conn, &token_hash, &session))
            .await
    }

    async fn session(&self, id_hash: Vec<u8>) -> Result<Option<SessionRow>, DbError> {
        self.readers
            .run(move |conn| access::session(conn, &id_hash))
            .await
    }

    async fn touch_session(&self, id_hash: Vec<u8>, now: Instant) -> Result<(), DbError> {
        self.writer
            .run(move |conn| access::touch_session(conn, &id_hash, now))
            .await
    }

    async fn end_session(&self, id_hash: Vec<u8>, now: Instant) -> Result<(), DbError> {
        self.writer
            .run(move |conn| access::end_session(conn, &id_hash, now))
            .await
    }

    async fn end_sessions_of(&self, email: &str, now: Instant) -> Result<u64, DbError> {
        let email = email.to_owned();
        self.writer
            .run(move |conn| access::end_sessions_of(conn, &email, now))
            .await
    }

    async fn record_audit(&self, event: AuditEvent) -> Result<(), DbError> {
        self.writer
            .run(move |conn| access::record_audit(conn, &event))
            .await
    }

    async fn audit_events(&self, query: AuditQuery) -> Result<Vec<AuditEvent>, DbError> {
        self.readers
            .run(move |conn| access::audit_events(conn, &query))
            .await
    }

    async fn prune_access(&self, upkeep: AccessUpkeep) -> Result<(), DbError> {
        self.writer
            .run(move |conn| access::prune(conn, &upkeep))
            .await
    }
}

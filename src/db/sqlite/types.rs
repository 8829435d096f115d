//! How the interface's typed values are stored in SQLite: enums as their text names, ids as
//! integers. A stored name this build does not know reads as an error, never as a default.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::db::model::{
    AuditAction, JobId, JobKind, JobState, MailKind, RecordingStatus, Source, Status,
};

macro_rules! stored_as_text {
    ($($name:ident),+) => {$(
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                $name::parse(text).ok_or_else(|| {
                    FromSqlError::Other(format!("unknown {} {text:?}", stringify!($name)).into())
                })
            }
        }
    )+};
}

stored_as_text!(
    AuditAction,
    JobKind,
    JobState,
    RecordingStatus,
    Source,
    Status,
    MailKind
);

impl ToSql for JobId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        self.0.to_sql()
    }
}

impl FromSql for JobId {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        i64::column_result(value).map(JobId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_name_reads_back_as_itself() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for kind in JobKind::ALL {
            let back: JobKind = conn.query_row("SELECT ?1", [kind], |r| r.get(0)).unwrap();
            assert_eq!(back, *kind);
        }
        for state in JobState::ALL {
            let back: JobState = conn.query_row("SELECT ?1", [state], |r| r.get(0)).unwrap();
            assert_eq!(back, *state);
        }
    }

    #[test]
    fn an_unknown_stored_name_is_an_error_not_a_default() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let read: rusqlite::Result<JobState> = conn.query_row("SELECT 'paused'", [], |r| r.get(0));
        assert!(read.is_err());
    }
}

//! Instants as confvault stores and shows them: UTC, one fixed-width text form in SQLite.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;

/// An instant, always UTC.
pub type Instant = DateTime<Utc>;

/// The text form used in the database. Fixed width, so text order is time order.
pub fn to_db(t: Instant) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `t` as wall-clock time in `zone`, in chrono's `format`: how people are shown instants.
pub fn local(t: Instant, zone: Tz, format: &str) -> String {
    t.with_timezone(&zone).format(format).to_string()
}

/// Reads the database text form (any RFC 3339 text is accepted).
pub fn from_db(s: &str) -> Result<Instant, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
}

/// Why a provider timestamp was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimestampError {
    #[error("not a date and time (expected YYYY-MM-DD HH:MM:SS)")]
    Malformed,
    #[error("does not exist in time zone {0} (skipped by a clock change)")]
    Nonexistent(Tz),
}

/// Parses a Vobiz `Timestamp`: `YYYY-MM-DD HH:MM:SS[.ffffff]` in `zone` (Vobiz gives none), or
/// RFC 3339 with its own offset. A local time that a clock change makes ambiguous takes the
/// earlier instant.
pub fn parse_provider_timestamp(s: &str, zone: Tz) -> Result<Instant, TimestampError> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .ok_or(TimestampError::Malformed)?;
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or(TimestampError::Nonexistent(zone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zoneless_timestamp_is_read_in_the_configured_zone() {
        let t = parse_provider_timestamp("2026-05-19 10:32:15", chrono_tz::Asia::Kolkata).unwrap();
        assert_eq!(to_db(t), "2026-05-19T05:02:15.000000Z");
    }

    #[test]
    fn an_rfc3339_timestamp_keeps_its_own_offset() {
        let t = parse_provider_timestamp("2026-05-19T10:32:15+02:00", chrono_tz::UTC).unwrap();
        assert_eq!(to_db(t), "2026-05-19T08:32:15.000000Z");
    }

    #[test]
    fn garbage_and_impossible_dates_are_refused() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01 00:00:00",
            "2026-05-19 25:00:00",
        ] {
            assert_eq!(
                parse_provider_timestamp(bad, chrono_tz::UTC),
                Err(TimestampError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_time_skipped_by_a_clock_change_is_refused() {
        let err = parse_provider_timestamp("2026-03-08 02:30:00", chrono_tz::America::New_York);
        assert!(matches!(err, Err(TimestampError::Nonexistent(_))));
    }

    #[test]
    fn the_database_form_sorts_as_time() {
        let a = from_db("2026-05-19T10:32:15Z").unwrap();
        let b = a + chrono::Duration::microseconds(1);
        assert!(to_db(a) < to_db(b));
        assert_eq!(from_db(&to_db(b)).unwrap(), b);
    }
}

//! Reading a search from what people type (the API's query string, the web page's form, the
//! command line's flags) into the database's typed filter, and the opaque page cursor.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::db::catalog::{RecordingCursor, RecordingFilter};
use crate::db::model::{Cursor, Filter, Instant, RecordingStatus, Status};
use crate::time::{from_db, to_db};

/// Filters of the conference list; all optional.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Part of the conference name.
    pub q: Option<String>,
    /// A participant's number in any spelling (`+91…`, `91…`, `sip:…@…`).
    pub participant: Option<String>,
    /// Started at or after: RFC 3339, or a date in the configured time zone.
    pub since: Option<String>,
    /// Started before: RFC 3339, or a date (inclusive).
    pub until: Option<String>,
    /// `active` or `ended`.
    pub status: Option<String>,
    pub has_recording: Option<bool>,
    /// Words said in the meeting: every one of them, as whole words, in a transcript of one
    /// of its recordings.
    pub said: Option<String>,
    /// 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A parameter as a search takes it: a blank one counts as absent, as an empty form field.
pub fn given(value: &Option<String>) -> Option<String> {
    value.clone().filter(|v| !v.trim().is_empty())
}

impl ListQuery {
    /// Blank form fields count as absent.
    pub fn clone_for_page(&self) -> ListQuery {
        ListQuery {
            q: given(&self.q),
            participant: given(&self.participant),
            since: given(&self.since),
            until: given(&self.until),
            status: given(&self.status),
            has_recording: self.has_recording,
            said: given(&self.said),
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
    }

    /// The search as query-string pairs, without the cursor.
    pub fn as_pairs(&self) -> Vec<(String, String)> {
        [
            ("q", &self.q),
            ("participant", &self.participant),
            ("since", &self.since),
            ("until", &self.until),
            ("status", &self.status),
            ("said", &self.said),
        ]
        .into_iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .filter(|v| !v.is_empty())
                .map(|v| (k.to_owned(), v.clone()))
        })
        .collect()
    }
}

/// A filter that cannot be understood; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {why}")]
pub struct SearchError {
    pub field: &'static str,
    pub why: &'static str,
}

fn bad(field: &'static str, why: &'static str) -> SearchError {
    SearchError { field, why }
}

/// The words of a `said` search, each as it was typed.
fn said(text: String) -> Result<Vec<String>, SearchError> {
    if text.chars().any(char::is_control) {
        return Err(bad("said", "must not contain control characters"));
    }
    let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    if words.len() > 20 {
        return Err(bad("said", "at most 20 words"));
    }
    Ok(words)
}

/// Turns query parameters into a search filter; shared with the command line.
pub fn filter(query: ListQuery, zone: chrono_tz::Tz) -> Result<Filter, SearchError> {
    let limit = page_limit(query.limit)?;
    Ok(Filter {
        participant: number(query.participant),
        since: bound("since", query.since, zone, false)?,
        until: bound("until", query.until, zone, true)?,
        status: match query.status.as_deref() {
            None => None,
            Some(text) => {
                Some(Status::parse(text).ok_or_else(|| bad("status", "must be active or ended"))?)
            }
        },
        has_recording: query.has_recording,
        said: given(&query.said).map(said).transpose()?,
        after: query
            .cursor
            .map(|c| decode_cursor(&c).ok_or_else(|| bad("cursor", "not a cursor from this API")))
            .transpose()?,
        q: query
            .q
            .map(|q| {
                // Names hold no control characters, and the trigram index cannot take a NUL.
                if q.chars().any(char::is_control) {
                    Err(bad("q", "must not contain control characters"))
                } else {
                    Ok(q)
                }
            })
            .transpose()?,
        limit,
    })
}

/// Filters of the recordings list; all optional.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecordingQuery {
    /// Recorded at or after: RFC 3339, or a date in the configured time zone.
    pub since: Option<String>,
    /// Recorded before: RFC 3339, or a date (inclusive).
    pub until: Option<String>,
    /// A number the recording is from or to (or its leg's caller), in any spelling.
    pub participant: Option<String>,
    /// `pending`, `archiving`, `archived` or `failed`.
    pub status: Option<String>,
    /// Only recordings whose conference is known (`true`) or not (`false`).
    pub linked: Option<bool>,
    /// Words said in the recording: every one of them, as whole words, in its transcript.
    pub said: Option<String>,
    /// 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Turns the recordings list's parameters into a filter; shared with the command line.
pub fn recording_filter(
    query: RecordingQuery,
    zone: chrono_tz::Tz,
) -> Result<RecordingFilter, SearchError> {
    let limit = page_limit(query.limit)?;
    Ok(RecordingFilter {
        since: bound("since", given(&query.since), zone, false)?,
        until: bound("until", given(&query.until), zone, true)?,
        participant: number(given(&query.participant)),
        status: given(&query.status)
            .map(|s| {
                RecordingStatus::parse(&s)
                    .ok_or_else(|| bad("status", "must be pending, archiving, archived or failed"))
            })
            .transpose()?,
        linked: query.linked,
        said: given(&query.said).map(said).transpose()?,
        after: given(&query.cursor)
            .map(|c| {
                decode_recording_cursor(&c)
                    .ok_or_else(|| bad("cursor", "not a cursor from this API"))
            })
            .transpose()?,
        limit,
    })
}

/// The opaque `next_cursor` of a page of recordings.
pub fn encode_recording_cursor(cursor: &RecordingCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "r\n{}\n{}",
        to_db(cursor.recorded_at),
        cursor.recording_id
    ))
}

fn decode_recording_cursor(cursor: &str) -> Option<RecordingCursor> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let mut parts = text.splitn(3, '\n');
    (parts.next()? == "r").then_some(())?;
    let recorded_at = from_db(parts.next()?).ok()?;
    Some(RecordingCursor {
        recorded_at,
        recording_id: parts.next()?.to_owned(),
    })
}

/// A page's size: 1 to 200, 50 unless given.
fn page_limit(limit: Option<u32>) -> Result<u32, SearchError> {
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(bad("limit", "must be between 1 and 200"));
    }
    Ok(limit)
}

/// A phone number in any spelling, normalised; nothing when it has nothing searchable.
fn number(value: Option<String>) -> Option<String> {
    value
        .map(|p| crate::vobiz::phone::normalize(&p))
        .filter(|p| !p.is_empty())
}

/// `since` or `until` as typed: see [`parse_bound`].
fn bound(
    field: &'static str,
    value: Option<String>,
    zone: chrono_tz::Tz,
    end_of_day: bool,
) -> Result<Option<Instant>, SearchError> {
    value
        .map(|v| {
            parse_bound(&v, zone, end_of_day)
                .ok_or_else(|| bad(field, "not an RFC 3339 time or a YYYY-MM-DD date"))
        })
        .transpose()
}

/// An RFC 3339 time, or a date (its start; with `end_of_day`, the start of the next day).
pub fn parse_bound(value: &str, zone: chrono_tz::Tz, end_of_day: bool) -> Option<Instant> {
    use chrono::TimeZone;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    let date = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
    let date = if end_of_day { date.succ_opt()? } else { date };
    let start = zone
        .from_local_datetime(&date.and_hms_opt(0, 0, 0)?)
        .earliest()?;
    Some(start.with_timezone(&chrono::Utc))
}

/// The opaque `next_cursor` of a page.
pub fn encode_cursor(cursor: &Cursor) -> String {
    let at = cursor.started_at.map(to_db).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(format!("{at}\n{}", cursor.conference_uuid))
}

fn decode_cursor(cursor: &str) -> Option<Cursor> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (at, uuid) = text.split_once('\n')?;
    let started_at = if at.is_empty() {
        None
    } else {
        Some(from_db(at).ok()?)
    };
    Some(Cursor {
        started_at,
        conference_uuid: uuid.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_cursor_reads_back_and_a_conference_cursor_is_not_one() {
        let cursor = RecordingCursor {
            recorded_at: from_db("2026-05-19T05:28:47.000000Z").unwrap(),
            recording_id: "r\n1".into(),
        };
        let query = RecordingQuery {
            cursor: Some(encode_recording_cursor(&cursor)),
            ..RecordingQuery::default()
        };
        let filter = recording_filter(query, chrono_tz::UTC).unwrap();
        assert_eq!(filter.after, Some(cursor));

        let conference = encode_cursor(&Cursor {
            started_at: None,
            conference_uuid: "c".into(),
        });
        let query = RecordingQuery {
            cursor: Some(conference),
            ..RecordingQuery::default()
        };
        assert_eq!(
            recording_filter(query, chrono_tz::UTC).unwrap_err().field,
            "cursor"
        );
    }

    #[test]
    fn a_name_search_with_a_control_character_is_refused_not_run() {
        let query = ListQuery {
            q: Some("Pm\u{0}stand".into()),
            participant: None,
            since: None,
            until: None,
            status: None,
            has_recording: None,
            said: None,
            limit: None,
            cursor: None,
        };
        assert_eq!(filter(query, chrono_tz::UTC).unwrap_err().field, "q");
    }

    #[test]
    fn a_bad_status_or_limit_names_its_field() {
        let status = RecordingQuery {
            status: Some("lost".into()),
            ..RecordingQuery::default()
        };
        assert_eq!(
            recording_filter(status, chrono_tz::UTC).unwrap_err().field,
            "status"
        );
        let limit = RecordingQuery {
            limit: Some(201),
            ..RecordingQuery::default()
        };
        assert_eq!(
            recording_filter(limit, chrono_tz::UTC).unwrap_err().field,
            "limit"
        );
    }
}

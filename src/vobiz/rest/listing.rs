//! Reading the recordings API's answers as they come from live accounts: fields missing or
//! null, numbers as strings, unknown fields. An object that cannot be used (no id, a URL
//! outside `vobiz.recording_hosts`) is skipped with its reason; the rest of the page stands.

use serde_json::Value;
use url::Url;

use super::RestError;
use crate::config::AllowList;
use crate::failure::Failure;
use crate::time::Instant;

/// A recording as the account lists it, with the object kept verbatim for the sidecar.
#[derive(Debug, Clone)]
pub struct ListedRecording {
    pub recording_id: String,
    pub recording_url: Url,
    pub format: Option<String>,
    pub call_uuid: Option<String>,
    pub conference_name: Option<String>,
    pub recording_type: Option<String>,
    /// When it was recorded: `recording_start_ms`, else `add_time`.
    pub recorded_at: Option<Instant>,
    /// When it started: `recording_start_ms` only.
    pub started_at: Option<Instant>,
    pub duration_ms: Option<u64>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub object: Value,
}

/// An object of a page that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub recording_id: Option<String>,
    pub reason: String,
}

/// One page of the list.
#[derive(Debug, Clone, Default)]
pub struct RecordingsPage {
    pub recordings: Vec<ListedRecording>,
    pub skipped: Vec<Skipped>,
    /// The next page's path and query; `None` on the last page.
    pub next: Option<String>,
    pub total_count: Option<u64>,
    /// `meta.limit`: the page size the API used (it may give fewer than asked).
    pub limit: Option<u64>,
    /// How many objects the page held, used or not.
    pub objects: usize,
}

fn bad(what: impl Into<String>) -> RestError {
    RestError::BadAnswer(Failure::new(what))
}

pub fn parse_page(body: &[u8], hosts: &AllowList) -> Result<RecordingsPage, RestError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| RestError::BadAnswer(Failure::caused_by("the page is not JSON", e)))?;
    let objects = value
        .get("objects")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("the page has no `objects` list"))?;
    let meta = value.get("meta");
    let mut page = RecordingsPage {
        next: meta.and_then(|m| text(m.get("next"))),
        total_count: meta
            .and_then(|m| number(m.get("total_count")))
            .map(|n| n.max(0.0) as u64),
        limit: meta
            .and_then(|m| number(m.get("limit")))
            .filter(|n| *n >= 1.0)
            .map(|n| n as u64),
        objects: objects.len(),
        ..RecordingsPage::default()
    };
    for object in objects {
        match recording(object, hosts) {
            Ok(r) => page.recordings.push(r),
            Err(skipped) => page.skipped.push(skipped),
        }
    }
    Ok(page)
}

pub fn parse_one(body: &[u8], hosts: &AllowList) -> Result<ListedRecording, RestError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| RestError::BadAnswer(Failure::caused_by("the answer is not JSON", e)))?;
    recording(&value, hosts).map_err(|s| bad(s.reason))
}

fn recording(object: &Value, hosts: &AllowList) -> Result<ListedRecording, Skipped> {
    let field = |name: &str| text(object.get(name));
    let skip = |id: Option<String>, reason: String| Skipped {
        recording_id: id,
        reason,
    };
    if !object.is_object() {
        return Err(skip(None, "not a JSON object".into()));
    }
    let Some(recording_id) = field("recording_id") else {
        return Err(skip(None, "no recording_id".into()));
    };
    let Some(url_text) = field("recording_url") else {
        return Err(skip(Some(recording_id), "no recording_url".into()));
    };
    let recording_url = match Url::parse(&url_text) {
        Ok(url) if hosts.allows(&url) => url,
        Ok(url) => {
            let origin = url.origin().ascii_serialization();
            return Err(skip(
                Some(recording_id),
                format!("recording_url origin {origin} is not in vobiz.recording_hosts"),
            ));
        }
        Err(e) => return Err(skip(Some(recording_id), format!("recording_url: {e}"))),
    };
    let start = number(object.get("recording_start_ms"))
        .and_then(|ms| chrono::DateTime::from_timestamp_millis(ms as i64));
    let added = field("add_time").and_then(|t| add_time(&t));
    Ok(ListedRecording {
        recording_id,
        recording_url,
        format: field("recording_format"),
        call_uuid: field("call_uuid"),
        conference_name: field("conference_name"),
        recording_type: field("recording_type"),
        recorded_at: start.or(added),
        started_at: start,
        duration_ms: number(object.get("recording_duration_ms"))
            .filter(|ms| *ms >= 0.0)
            .map(|ms| ms.round() as u64),
        from: field("from_number"),
        to: field("to_number"),
        object: object.clone(),
    })
}

/// A string or a number as text; null, empty and other types count as absent.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A number given as a number or as a string of one (`"1603000.00000"`).
fn number(value: Option<&Value>) -> Option<f64> {
    let n = match value? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

/// `2026-05-19 10:58:47.123456+05:30`, with or without fractions, or RFC 3339.
fn add_time(text: &str) -> Option<Instant> {
    [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
    ]
    .iter()
    .find_map(|f| chrono::DateTime::parse_from_str(text, f).ok())
    .or_else(|| chrono::DateTime::parse_from_rfc3339(text).ok())
    .map(|t| t.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> AllowList {
        AllowList::parse(&["https://*.vobiz.ai".to_owned()]).unwrap()
    }

    #[test]
    fn a_documented_page_reads_with_its_meta() {
        let body = br#"{"api_id": "a", "meta": {"limit": 100, "next": "/api/v1/Account/MA/Recording/?limit=100&offset=100", "offset": 0, "previous": null, "total_count": 101},
            "objects": [{"recording_id": "r1", "recording_url": "https://media.vobiz.ai/v1/Account/MA/Recording/r1.mp3",
              "recording_format": "mp3", "call_uuid": "c1", "conference_name": "", "recording_type": "conference",
              "add_time": "2026-05-19 10:58:47.123456+05:30", "recording_start_ms": "1779168527000",
              "recording_duration_ms": "1603000.00000", "from_number": "+918071387423", "to_number": 919624705678,
              "a_field_from_the_future": {"x": 1}}]}"#;

        let page = parse_page(body, &hosts()).unwrap();

        assert_eq!(page.total_count, Some(101));
        assert_eq!(
            page.next.as_deref(),
            Some("/api/v1/Account/MA/Recording/?limit=100&offset=100")
        );
        let r = &page.recordings[0];
        assert_eq!(r.recording_id, "r1");
        assert_eq!(r.duration_ms, Some(1_603_000));
        assert_eq!(r.conference_name, None, "an empty name is no name");
        assert_eq!(
            r.to.as_deref(),
            Some("919624705678"),
            "a number as a number"
        );
        assert_eq!(
            r.recorded_at.unwrap().to_rfc3339(),
            "2026-05-19T05:28:47+00:00"
        );
        assert!(page.skipped.is_empty());
    }

    #[test]
    fn the_add_time_stands_in_for_a_missing_start() {
        let body = br#"{"objects": [{"recording_id": "r1", "recording_url": "https://media.vobiz.ai/r1.wav",
            "add_time": "2026-05-19 10:58:47.123456+05:30", "recording_start_ms": null, "recording_duration_ms": null}]}"#;

        let r = &parse_page(body, &hosts()).unwrap().recordings[0];

        assert_eq!(
            r.recorded_at.unwrap().to_rfc3339(),
            "2026-05-19T05:28:47.123456+00:00"
        );
        assert_eq!(r.duration_ms, None);
    }

    #[test]
    fn unusable_objects_are_skipped_with_a_reason_and_the_rest_stand() {
        let body = br#"{"meta": {"next": null}, "objects": [
            {"recording_url": "https://media.vobiz.ai/x.mp3"},
            {"recording_id": "evil", "recording_url": "https://attacker.example/x.mp3"},
            {"recording_id": "no-url", "recording_url": null},
            "a string",
            {"recording_id": "good", "recording_url": "https://media.vobiz.ai/good.mp3"}]}"#;

        let page = parse_page(body, &hosts()).unwrap();

        assert_eq!(page.objects, 5);
        assert_eq!(page.recordings.len(), 1);
        assert_eq!(page.recordings[0].recording_id, "good");
        let reasons: Vec<_> = page.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "no recording_id",
                "recording_url origin https://attacker.example is not in vobiz.recording_hosts",
                "no recording_url",
                "not a JSON object"
            ]
        );
    }

    #[test]
    fn a_page_that_is_not_json_or_has_no_objects_is_a_bad_answer() {
        assert!(matches!(
            parse_page(b"<html>502 Bad Gateway</html>", &hosts()),
            Err(RestError::BadAnswer(_))
        ));
        assert!(matches!(
            parse_page(br#"{"error": "failed"}"#, &hosts()),
            Err(RestError::BadAnswer(_))
        ));
    }
}

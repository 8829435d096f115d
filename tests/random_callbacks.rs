//! Property test: no callback body, however strange, makes the server answer 5xx or die.
#![allow(clippy::unwrap_used)]

mod common;

use common::Server;
use proptest::prelude::*;

const KEYS: &[&str] = &[
    "ConferenceAction",
    "Event",
    "ConferenceUUID",
    "ConferenceName",
    "CallUUID",
    "From",
    "To",
    "ConferenceCurrentSize",
    "Timestamp",
    "RecordingUrl",
    "ConferenceMemberID",
    "ConferenceFirstMember",
    "ConferenceLastMember",
    "RecordingID",
    "RecordUrl",
    "RecordFile",
    "RecordingDuration",
    "RecordingDurationMs",
    "Direction",
    "CallStatus",
    "Unknown",
];

const VALUES: &[&str] = &[
    "enter",
    "exit",
    "start",
    "end",
    "waitSound",
    "ConferenceEnter",
    "ConferenceExit",
    "ConferenceRemoteSounds",
    "RecordStop",
    "true",
    "false",
    "0",
    "-1",
    "4294967296",
    "",
    "2026-05-19 10:32:15",
    "2026-05-19T10:32:15Z",
    "https://media.vobiz.ai/x.mp3",
    "file:///etc/passwd",
    "sip:918071387423@sip.vobiz.ai",
    "+918071387423",
    "u1",
    "c1",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(VALUES).prop_map(str::to_owned),
        any::<String>(),
        "[a-f0-9-]{1,40}",
    ]
}

fn field() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof![
            proptest::sample::select(KEYS).prop_map(str::to_owned),
            any::<String>()
        ],
        value(),
    )
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(field(), 0..12).prop_map(|fields| serde_urlencoded::to_string(
            fields
        )
        .unwrap()
        .into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..512),
    ]
}

#[test]
fn random_form_bodies_never_cause_a_server_error() {
    let server = Server::start("[vobiz]\nverify_signatures = false\n");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(body in body(), recording in any::<bool>(), get in any::<bool>())| {
        let path = if recording { "/vobiz/recording" } else { "/vobiz/conference" };
        let status = runtime.block_on(async {
            let request = if get {
                let query: String = url_escape(&body);
                server.client.get(server.url(&format!("{path}?{query}")))
            } else {
                server.client.post(server.url(path))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body.clone())
            };
            request.send().await.map(|r| r.status().as_u16())
        });
        let status = status.expect("the server answers");
        prop_assert!(status < 500, "status {} for {:?}", status, String::from_utf8_lossy(&body));
    });
    let health = runtime
        .block_on(server.client.get(server.url("/healthz")).send())
        .unwrap();
    assert_eq!(health.status(), 200);
}

/// Keeps a raw body usable as a query string (bytes a URL cannot carry are escaped).
fn url_escape(body: &[u8]) -> String {
    body.iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"=&%+-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

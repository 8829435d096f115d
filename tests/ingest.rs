//! Callback ingestion end to end: the real server, real HTTP, real SQLite.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::{API_TOKEN, Server, fixture_form};
use serde_json::Value;

const LIVE_UUID: &str = "6b1f0c2e-9d3a-4e57-8a11-2f4c5d6e7a80";
const DOCUMENTED_UUID: &str = "3f9a1b2c-44de-4f0a-b832-7c0a12345678";

#[tokio::test]
async fn the_documented_fixtures_build_a_roster_and_a_recording() {
    let server = Server::start("");

    for name in [
        "documented-enter.form",
        "documented-end-with-recording.form",
    ] {
        let response = server
            .post_signed("/vobiz/conference", &fixture_form(name))
            .await;
        assert_eq!(response.status(), 200, "{name}");
        assert_eq!(response.text().await.unwrap(), "OK");
    }

    let conference = server.conference(DOCUMENTED_UUID).await;
    assert_eq!(conference["name"], "WeeklyStandup");
    assert_eq!(conference["status"], "ended");
    assert_eq!(conference["started_at"], "2026-05-19T10:32:15Z");
    assert_eq!(conference["ended_at"], "2026-05-19T10:58:47Z");
    let participants = conference["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 1);
    assert_eq!(
        participants[0]["call_uuid"],
        "9a0e0208-d01a-4572-9a04-fe583a05ac53"
    );
    assert_eq!(participants[0]["from"], "918071387423");
    assert_eq!(participants[0]["to"], "919624705678");
    assert_eq!(participants[0]["joined_at"], "2026-05-19T10:32:15Z");
    let recordings = conference["recordings"].as_array().unwrap();
    assert_eq!(recordings.len(), 1);
    // Queued, and perhaps claimed already: a worker woken by the commit may be quicker than
    // this read.
    let status = recordings[0]["status"].as_str().unwrap();
    assert!(matches!(status, "pending" | "archiving"), "{status}");
    assert_eq!(
        recordings[0]["source_url"],
        "https://recordings.vobiz.ai/conf-3f9a1b2c.mp3"
    );
    assert_eq!(
        server.count("jobs"),
        1,
        "the end wrote an archive job in the same transaction"
    );
}

#[tokio::test]
async fn the_live_fixtures_end_the_conference_after_the_quiet_period() {
    let server = Server::start("[vobiz]\nend_quiet_seconds = 1\n");

    for name in [
        "live-enter.form",
        "live-record-stop.form",
        "live-exit-last.form",
    ] {
        let path = if name.contains("record") {
            "/vobiz/recording"
        } else {
            "/vobiz/conference"
        };
        let response = server.post_signed(path, &fixture_form(name)).await;
        assert_eq!(response.status(), 200, "{name}");
    }
    let conference = server.conference(LIVE_UUID).await;
    assert_eq!(
        conference["status"], "active",
        "ended only after the quiet period"
    );

    let conference = server
        .eventually("the inferred end", || async {
            let c = server.conference(LIVE_UUID).await;
            (c["status"] == "ended").then_some(c)
        })
        .await;
    assert_eq!(conference["name"], "Sales Sync");
    let leg = &conference["participants"][0];
    assert_eq!(leg["member_id"], "249");
    assert_eq!(leg["from"], "918071387423");
    assert!(leg["left_at"].is_string());
    assert_eq!(conference["ended_at"], leg["left_at"]);
    let recording = &conference["recordings"][0];
    assert_eq!(
        recording["recording_id"],
        "c3a2b1d0-1111-4222-8333-944455556666"
    );
    assert_eq!(recording["duration_ms"], 1_520_340);
    assert_eq!(server.count("jobs"), 1);
}

#[tokio::test]
async fn callbacks_sent_with_get_are_accepted_too() {
    let server = Server::start("[vobiz]\nverify_signatures = false\n");
    let query = fixture_form("documented-enter.form");
    let response = server
        .client
        .get(server.url(&format!("/vobiz/conference?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let conference = server.conference(DOCUMENTED_UUID).await;
    assert_eq!(conference["participants"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn missing_wrong_and_replayed_signatures_are_refused_and_store_nothing() {
    let server = Server::start("");
    let body = fixture_form("documented-enter.form");

    let unsigned = server
        .client
        .post(server.url("/vobiz/conference"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    let error: Value = unsigned.json().await.unwrap();
    assert_eq!(error["error"]["code"], "bad_signature");

    let wrong_path = server
        .client
        .post(server.url("/vobiz/conference"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header(
            "X-Vobiz-Signature-V3",
            confvault::vobiz::signature::sign(
                common::AUTH_TOKEN,
                "https://calls.example.test/vobiz/conference/",
                "1",
                confvault::vobiz::signature::Scheme::V3,
            ),
        )
        .header("X-Vobiz-Signature-V3-Nonce", "1")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_path.status(), 403);
    assert_eq!(server.count("callback_events"), 0);

    let nonce = common::fresh_nonce();
    let first = server
        .post_signed_with_nonce("/vobiz/conference", &body, &nonce)
        .await;
    assert_eq!(first.status(), 200);
    let redelivered = server
        .post_signed_with_nonce("/vobiz/conference", &body, &nonce)
        .await;
    assert_eq!(
        redelivered.status(),
        200,
        "the same body again is a harmless redelivery"
    );
    let forged = body.replace("918071387423", "910000000000");
    let replay = server
        .post_signed_with_nonce("/vobiz/conference", &forged, &nonce)
        .await;
    assert_eq!(replay.status(), 403);
    let error: Value = replay.json().await.unwrap();
    assert_eq!(error["error"]["code"], "replayed_nonce");
    assert_eq!(server.count("callback_events"), 1);
    assert_eq!(server.count("participants"), 1);
    assert!(!server.log().contains(common::AUTH_TOKEN));
}

#[tokio::test]
async fn a_duplicate_callback_changes_nothing_and_still_gets_200() {
    let server = Server::start("");
    let body = fixture_form("documented-end-with-recording.form");
    server.post_callbacks(&[&body, &body, &body]).await;
    assert_eq!(server.count("callback_events"), 1);
    assert_eq!(server.count("recordings"), 1);
    assert_eq!(server.count("jobs"), 1);
}

#[tokio::test]
async fn a_late_exit_and_an_early_end_give_the_in_order_roster() {
    let in_order = Server::start("");
    let reordered = Server::start("");
    let enter = fixture_form("documented-enter.form");
    let exit = enter
        .replace("ConferenceAction=enter", "ConferenceAction=exit")
        .replace("10%3A32%3A15", "10%3A58%3A40");
    let end = fixture_form("documented-end-with-recording.form");
    in_order.post_callbacks(&[&enter, &exit, &end]).await;
    reordered.post_callbacks(&[&end, &exit, &enter]).await;
    let a = in_order.conference(DOCUMENTED_UUID).await;
    let b = reordered.conference(DOCUMENTED_UUID).await;
    assert_eq!(a["participants"], b["participants"]);
    assert_eq!(a["started_at"], b["started_at"]);
    assert_eq!(a["ended_at"], b["ended_at"]);
    assert_eq!(b["participants"][0]["left_at"], "2026-05-19T10:58:40Z");
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_stores_nothing() {
    let server = Server::start("");
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "application/x-www-form-urlencoded",
            "ConferenceAction=enter&CallUUID=c".into(),
            400,
            "missing_field",
        ),
        (
            "application/x-www-form-urlencoded",
            "ConferenceUUID=u&CallUUID=c".into(),
            400,
            "missing_field",
        ),
        (
            "application/x-www-form-urlencoded",
            "ConferenceAction=dance&ConferenceUUID=u".into(),
            400,
            "unknown_action",
        ),
        (
            "application/x-www-form-urlencoded",
            "ConferenceAction=end&ConferenceUUID=u&Timestamp=2026-02-30+10%3A00%3A00".into(),
            400,
            "invalid_field",
        ),
        (
            "application/x-www-form-urlencoded",
            "ConferenceAction=end&ConferenceUUID=u&ConferenceCurrentSize=-1".into(),
            400,
            "invalid_field",
        ),
        (
            "application/json",
            "{\"ConferenceAction\":\"end\"}".into(),
            415,
            "unsupported_media_type",
        ),
        (
            "application/x-www-form-urlencoded",
            format!(
                "ConferenceAction=end&ConferenceUUID=u&Pad={}",
                "x".repeat(70_000)
            ),
            413,
            "body_too_large",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let response = server
            .client
            .post(server.url("/vobiz/conference"))
            .header("Content-Type", content_type)
            .header(
                "X-Vobiz-Signature-V3",
                confvault::vobiz::signature::sign(
                    common::AUTH_TOKEN,
                    "https://calls.example.test/vobiz/conference",
                    "n1",
                    confvault::vobiz::signature::Scheme::V3,
                ),
            )
            .header("X-Vobiz-Signature-V3-Nonce", "n1")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{code}");
        let text = response.text().await.unwrap();
        assert!(!text.contains('\n'), "one line: {text}");
        let error: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error["error"]["code"], code);
    }
    assert_eq!(server.count("callback_events"), 0);
    assert_eq!(server.count("conferences"), 0);
    assert_eq!(server.count("seen_nonces"), 0);
}

#[tokio::test]
async fn the_wait_music_request_gets_vobiz_xml() {
    let server = Server::start("");
    let body = "ConferenceAction=waitSound&Event=ConferenceRemoteSounds&ConferenceUUID=u1&ConferenceName=Room";
    let response = server.post_signed("/vobiz/conference", body).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("xml")
    );
    let xml = response.text().await.unwrap();
    assert!(
        xml.contains("<Response><Wait length=\"10\"/></Response>"),
        "{xml}"
    );
}

#[tokio::test]
async fn the_read_api_needs_a_token_and_knows_unknown_conferences() {
    let server = Server::start("");
    let anonymous = server
        .client
        .get(server.url("/api/v1/conferences/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = server
        .client
        .get(server.url("/api/v1/conferences/x"))
        .bearer_auth(format!("{API_TOKEN}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let unknown = server.get_api("/api/v1/conferences/no-such-uuid").await;
    assert_eq!(unknown.status(), 404);
    let error: Value = unknown.json().await.unwrap();
    assert_eq!(error["error"]["code"], "not_found");
    let health = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn everything_acknowledged_survives_a_crash() {
    let server = Server::start("");
    let mut acknowledged = 0;
    for i in 0..50 {
        let body = format!(
            "ConferenceAction=enter&Event=ConferenceEnter&ConferenceUUID=crash&ConferenceName=Crash&ConferenceMemberID={i}&CallUUID=call-{i}&From=9180000000{i:02}&To=1"
        );
        if server
            .post_signed("/vobiz/conference", &body)
            .await
            .status()
            == 200
        {
            acknowledged += 1;
        }
    }
    assert_eq!(acknowledged, 50);

    let server = server.crash_and_restart();

    let conference = server.conference("crash").await;
    assert_eq!(conference["participants"].as_array().unwrap().len(), 50);
    assert_eq!(server.count("callback_events"), 50);
}

//! Outbound webhooks against receivers run by the test: signatures a Standard Webhooks library
//! accepts, bodies that match the published schemas, retries under one id, 410 Gone, a hanging
//! receiver that delays no one else, secret rotation, replays, and a crash mid-delivery.
//!
//! Every test runs multi-threaded: the receiver must keep answering while the test's thread
//! waits for a `confvault` command.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::Server;
use common::callbacks::{end, enter};
use common::media::{Answer, MediaServer};
use common::receiver::{Received, Receiver, Reply, schema_errors};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEW_SECRET: &str = "whsec_c2VjcmV0LWZvci10aGUtcm90YXRpb24tdGVzdA==";

/// Settings for endpoints `(url, extra lines)`, retrying quickly.
fn settings(endpoints: &[(String, &str)], extra: &str) -> String {
    let mut config = format!(
        "[jobs]\npoll_interval_seconds = 0.05\n\
         [webhooks]\nallow_private_addresses = true\ntimeout_seconds = 1\n\
         retry_schedule_seconds = [0.1, 0.1, 0.1, 0.1]\n{extra}"
    );
    for (url, lines) in endpoints {
        config.push_str(&format!(
            "[[webhooks.endpoints]]\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n{lines}\n"
        ));
    }
    config
}

/// Conference `uuid` starts and ends, with no recording.
async fn conference_ends(server: &Server, uuid: &str) {
    server
        .post_callbacks(&[
            enter(uuid, &format!("{uuid}-a")).at("10:00:00"),
            end(uuid).at("10:30:00"),
        ])
        .await;
}

/// What `receiver` got at `path` of `event`, once it has `count` of them.
async fn wait_for(
    server: &Server,
    receiver: &Receiver,
    path: &str,
    event: &str,
    count: usize,
) -> Vec<Received> {
    server
        .eventually(&format!("{count} {event} at {path}"), || async {
            let got: Vec<Received> = receiver
                .received(path)
                .into_iter()
                .filter(|r| r.json()["type"] == event)
                .collect();
            (got.len() >= count).then_some(got)
        })
        .await
}

fn verify(secret: &str, message: &Received) -> Result<(), String> {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(message.body.as_bytes(), &message.header_map())
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archived_meeting_arrives_signed_by_the_specification_and_as_published() {
    let receiver = Receiver::start().await;
    let media = MediaServer::with_recording("/r.mp3").await;
    let page = std::fs::read(common::fixture("error-page.html")).unwrap();
    media.script("/error-page", vec![Answer::file("text/html", page)]);
    let server = Server::start(&format!(
        "{}[mail]\nto = [\"team@example.com\"]\n{}",
        media.vobiz_settings(),
        settings(
            &[
                (receiver.url("/all"), ""),
                (
                    receiver.url("/archived?token=t0ken"),
                    "events = [\"recording.archived\"]"
                ),
            ],
            "",
        )
    ));

    server
        .post_callbacks(&[
            enter("w1", "w1-a").at("10:00:00"),
            end("w1").recording(&media.url("/r.mp3")).at("10:30:00"),
            enter("w2", "w2-a").at("11:00:00"),
            end("w2")
                .recording(&media.url("/error-page"))
                .at("11:30:00"),
        ])
        .await;

    let ended = wait_for(&server, &receiver, "/all", "conference.ended", 1).await;
    let archived = wait_for(&server, &receiver, "/all", "recording.archived", 1).await;
    let only = wait_for(
        &server,
        &receiver,
        "/archived?token=t0ken",
        "recording.archived",
        1,
    )
    .await;
    let failed = wait_for(&server, &receiver, "/all", "recording.failed", 1).await;
    let summaries = wait_for(&server, &receiver, "/all", "summary.sent", 2).await;
    let openapi = server.get_json("/api/v1/openapi.json").await;
    let everything = receiver.received("/all");
    for message in everything.iter().chain([&only[0]]) {
        verify(SECRET, message).unwrap();
        assert!(message.header("webhook-id").starts_with("msg_"));
        assert_eq!(message.schema_errors(&openapi), Vec::<String>::new());
    }
    assert_eq!(
        failed[0].json()["data"]["conference"]["conference_uuid"],
        "w2",
        "{}",
        failed[0].body
    );
    assert!(
        failed[0].json()["data"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not a recording")),
        "{}",
        failed[0].body
    );
    assert_eq!(summaries.len(), 2, "one summary per meeting");
    let mut wrong = ended[0].json();
    wrong["data"]["conference"]["started_at"] = serde_json::json!(17);
    wrong["data"]["surprise"] = serde_json::json!(true);
    assert!(
        !schema_errors(&openapi, "conference.ended", &wrong).is_empty(),
        "the schema can tell a wrong message"
    );
    let data = &archived[0].json()["data"];
    assert_eq!(data["recording"]["status"], "archived");
    assert_eq!(data["conference"]["conference_uuid"], "w1");
    assert!(
        data["link"].as_str().unwrap().contains("/r/"),
        "a lasting link: {data}"
    );
    let mut ended_uuids: Vec<String> = wait_for(&server, &receiver, "/all", "conference.ended", 2)
        .await
        .iter()
        .map(|m| m.json()["data"]["conference"]["conference_uuid"].to_string())
        .collect();
    ended_uuids.sort();
    assert_eq!(ended_uuids, ["\"w1\"", "\"w2\""], "each meeting ends once");
    assert_eq!(
        archived[0].header("webhook-id"),
        only[0].header("webhook-id"),
        "one message, a copy per endpoint"
    );
    assert!(
        receiver.received("/archived?token=t0ken").len() == 1,
        "the second endpoint takes only recording.archived"
    );
    assert!(!server.log().contains(SECRET.trim_start_matches("whsec_")));
    assert!(
        !server.log().contains("t0ken"),
        "the endpoint's query never reaches a log line"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transcript_too_long_for_a_small_receiver_arrives_cut_and_says_so() {
    let receiver = Receiver::start().await;
    let media = MediaServer::with_recording("/r.mp3").await;
    let server = Server::start(&format!(
        "{}{}",
        media.vobiz_settings(),
        settings(
            &[(
                receiver.url("/words"),
                "events = [\"recording.transcribed\"]"
            )],
            ""
        )
    ));
    server
        .post_callbacks(&[
            enter("t1", "t1-a").at("10:00:00"),
            end("t1").recording(&media.url("/r.mp3")).at("11:00:00"),
        ])
        .await;
    let id = server.first_recording("t1").await;
    // An hour of words, with two-byte letters so the cut falls between them or inside one.
    let text = "Grüße an alle, willkommen zur Quartalsübersicht. ".repeat(3000);

    server
        .transcribe(
            &id,
            &format!(
                "transcription_id=t-1&transcription={}",
                common::encode(&text)
            ),
        )
        .await;

    let message = &wait_for(&server, &receiver, "/words", "recording.transcribed", 1).await[0];
    let openapi = server.get_json("/api/v1/openapi.json").await;
    assert_eq!(message.schema_errors(&openapi), Vec::<String>::new());
    assert!(message.body.len() < 100_000, "{} bytes", message.body.len());
    let data = &message.json()["data"];
    assert_eq!(data["transcript_truncated"], true);
    let sent = data["recording"]["transcript"]["text"].as_str().unwrap();
    assert!(
        sent.len() <= 64 * 1024 && sent.len() > 60 * 1024,
        "{}",
        sent.len()
    );
    assert!(
        text.starts_with(sent),
        "the message holds the text's beginning"
    );
    let whole = server.get_json(&format!("/api/v1/recordings/{id}")).await;
    assert_eq!(
        whole["transcript"]["text"],
        text.trim(),
        "the API has all of it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_three_times_gets_the_message_once_under_one_id() {
    let receiver = Receiver::start().await;
    receiver.script(
        "/flaky",
        vec![
            Reply::Status(503),
            Reply::Status(500),
            Reply::Status(302),
            Reply::Status(204),
        ],
    );
    let server = Server::start(&settings(&[(receiver.url("/flaky"), "")], ""));

    conference_ends(&server, "f1").await;

    let attempts = wait_for(&server, &receiver, "/flaky", "conference.ended", 4).await;
    let ids: Vec<&str> = attempts.iter().map(|a| a.header("webhook-id")).collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "the same id every time: {ids:?}"
    );
    for attempt in &attempts {
        verify(SECRET, attempt).unwrap();
    }
    let log = server
        .eventually("the delivery to be settled", || async {
            let log = server.get_json("/api/v1/webhooks/deliveries").await;
            (log["deliveries"][0]["state"] == "delivered").then_some(log)
        })
        .await;
    let delivery = &log["deliveries"][0];
    assert_eq!(
        (
            delivery["attempts"].as_i64(),
            delivery["last_status"].as_i64()
        ),
        (Some(4), Some(204))
    );
    assert_eq!(delivery["message_id"], ids[0]);
    let metrics = server.get_text("/metrics").await;
    assert!(
        metrics.contains("confvault_webhook_attempts_total{endpoint=\"")
            && metrics.contains("outcome=\"failed\"} 3")
            && metrics.contains("outcome=\"delivered\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("confvault_webhook_oldest_undelivered_age_seconds"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_disables_the_endpoint_and_nothing_more_is_sent_to_it() {
    let receiver = Receiver::start().await;
    receiver.script("/gone", vec![Reply::Status(410)]);
    let server = Server::start(&settings(
        &[(receiver.url("/gone"), ""), (receiver.url("/healthy"), "")],
        "",
    ));

    conference_ends(&server, "g1").await;
    wait_for(&server, &receiver, "/healthy", "conference.ended", 1).await;
    server
        .eventually("the endpoint to be disabled", || async {
            let (ok, out) = server.cli(&["webhooks", "deliveries"]);
            (ok && out.contains("DISABLED")).then_some(())
        })
        .await;
    conference_ends(&server, "g2").await;
    wait_for(&server, &receiver, "/healthy", "conference.ended", 2).await;

    assert_eq!(
        receiver.received("/gone").len(),
        1,
        "no attempt after the 410"
    );
    let (_, out) = server.cli(&[
        "webhooks",
        "deliveries",
        "--endpoint",
        &receiver.url("/gone"),
    ]);
    assert!(out.contains("410 Gone"), "{out}");
    let (ok, enabled) = server.cli(&["webhooks", "enable", &receiver.url("/gone")]);
    assert!(ok && enabled.contains("enabled again"), "{enabled}");
    receiver.script("/gone", vec![Reply::Status(200)]);
    let resumed = wait_for(&server, &receiver, "/gone", "conference.ended", 2).await;
    assert_eq!(
        resumed[1].json()["data"]["conference"]["conference_uuid"],
        "g2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_times_out_and_the_healthy_one_is_not_delayed() {
    let receiver = Receiver::start().await;
    receiver.script("/hangs", vec![Reply::Hang]);
    let config = settings(
        &[(receiver.url("/hangs"), ""), (receiver.url("/healthy"), "")],
        "concurrency_per_endpoint = 1\n",
    )
    .replace("timeout_seconds = 1", "timeout_seconds = 5");
    let server = Server::start(&config);

    for uuid in ["h1", "h2", "h3"] {
        conference_ends(&server, uuid).await;
    }
    wait_for(&server, &receiver, "/healthy", "conference.ended", 3).await;

    // All three reached the healthy receiver while the hanging one still held its first.
    let hanging = server
        .get_json(&format!(
            "/api/v1/webhooks/deliveries?endpoint={}",
            common::encode(&receiver.url("/hangs"))
        ))
        .await;
    let attempts: Vec<i64> = hanging["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["attempts"].as_i64().unwrap())
        .collect();
    assert_eq!(attempts, [0, 0, 0], "{hanging}");
    assert_eq!(receiver.received("/hangs").len(), 1, "one slot, held");
    server
        .eventually("the hung attempt to time out", || async {
            let (_, out) = server.cli(&[
                "webhooks",
                "deliveries",
                "--endpoint",
                &receiver.url("/hangs"),
            ]);
            out.contains("timed out").then_some(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_rotation_both_secrets_sign_and_either_verifies() {
    let receiver = Receiver::start().await;
    let rotating = format!("previous_secret = \"{SECRET}\"");
    let config = settings(&[(receiver.url("/rotating"), &rotating)], "").replace(
        &format!("secret = \"{SECRET}\"\nprevious"),
        &format!("secret = \"{NEW_SECRET}\"\nprevious"),
    );
    let server = Server::start(&config);

    conference_ends(&server, "k1").await;

    let got = wait_for(&server, &receiver, "/rotating", "conference.ended", 1).await;
    let signatures: Vec<&str> = got[0].header("webhook-signature").split(' ').collect();
    assert_eq!(signatures.len(), 2, "{signatures:?}");
    verify(NEW_SECRET, &got[0]).unwrap();
    verify(SECRET, &got[0]).unwrap();
    assert!(verify("whsec_b3RoZXItc2VjcmV0LW5vdC11c2VkLWFueXdoZXJl", &got[0]).is_err());

    let (ok, out) = server.cli(&["webhooks", "test", &receiver.url("/rotating")]);
    assert!(ok && out.contains("delivered"), "{out}");
    let ping = wait_for(&server, &receiver, "/rotating", "ping", 1).await;
    verify(NEW_SECRET, &ping[0]).unwrap();
    let openapi = server.get_json("/api/v1/openapi.json").await;
    assert_eq!(ping[0].schema_errors(&openapi), Vec::<String>::new());
    let (ok, out) = server.cli(&["webhooks", "test", "https://unknown.example/hook"]);
    assert!(
        !ok && out.contains("not a configured endpoint"),
        "only configured endpoints are tested: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_sends_the_same_id_freshly_signed_and_a_private_address_is_refused() {
    let receiver = Receiver::start().await;
    let server = Server::start(&settings(&[(receiver.url("/replays"), "")], ""));
    conference_ends(&server, "p1").await;
    let first = wait_for(&server, &receiver, "/replays", "conference.ended", 1).await;
    let log = server.get_json("/api/v1/webhooks/deliveries").await;
    let id = log["deliveries"][0]["id"].as_i64().unwrap();

    let replayed = server
        .post_api(&format!("/api/v1/webhooks/deliveries/{id}/replay"))
        .await;
    let (ok, out) = server.cli(&["webhooks", "replay", "--since", "2000-01-01"]);

    assert_eq!(replayed.status(), 202);
    assert!(ok, "{out}");
    let again = wait_for(&server, &receiver, "/replays", "conference.ended", 3).await;
    for replay in &again[1..] {
        assert_eq!(replay.header("webhook-id"), first[0].header("webhook-id"));
        assert_eq!(replay.body, first[0].body, "the same bytes");
        verify(SECRET, replay).unwrap();
    }
    let missing = server
        .post_api("/api/v1/webhooks/deliveries/999999/replay")
        .await;
    assert_eq!(missing.status(), 404);
    let not_an_id = server
        .post_api("/api/v1/webhooks/deliveries/9223372036854775808/replay")
        .await;
    assert_eq!(not_an_id.status(), 404);
    let body: serde_json::Value = not_an_id.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");

    // Without allow_private_addresses, a loopback endpoint is refused, and says so.
    let guarded = Server::start(&settings(&[(receiver.url("/private"), "")], "").replace(
        "allow_private_addresses = true",
        "allow_private_addresses = false",
    ));
    conference_ends(&guarded, "p2").await;
    guarded
        .eventually("the refusal in the log", || async {
            let (_, out) = guarded.cli(&["webhooks", "deliveries", "--failed"]);
            out.contains("private address").then_some(())
        })
        .await;
    assert!(receiver.received("/private").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_delivery_the_restarted_server_delivers_under_the_same_id() {
    let receiver = Receiver::start().await;
    receiver.script("/slow", vec![Reply::Hang, Reply::Status(200)]);
    let server = Server::start(&settings(&[(receiver.url("/slow"), "")], ""));
    conference_ends(&server, "c1").await;
    let hung = wait_for(&server, &receiver, "/slow", "conference.ended", 1).await;

    let server = server.crash_and_restart();

    let delivered = wait_for(&server, &receiver, "/slow", "conference.ended", 2).await;
    assert_eq!(
        delivered[1].header("webhook-id"),
        hung[0].header("webhook-id")
    );
    verify(SECRET, &delivered[1]).unwrap();
    // The attempt is recorded just after the receiver has answered.
    server
        .eventually("the delivery to be recorded as delivered", || async {
            let log = server.get_json("/api/v1/webhooks/deliveries").await;
            (log["deliveries"][0]["state"] == "delivered").then_some(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_to_an_endpoint_taken_out_of_the_settings_are_kept_but_leave_the_backlog() {
    let receiver = Receiver::start().await;
    receiver.script("/dropped", vec![Reply::Status(503)]);
    let slow_retries = |config: String| {
        config.replace(
            "retry_schedule_seconds = [0.1, 0.1, 0.1, 0.1]",
            "retry_schedule_seconds = [600]",
        )
    };
    let server = Server::start(&slow_retries(settings(
        &[(receiver.url("/dropped"), "")],
        "",
    )));
    conference_ends(&server, "r1").await;
    wait_for(&server, &receiver, "/dropped", "conference.ended", 1).await;

    let server =
        server.crash_and_restart_with(&slow_retries(settings(&[(receiver.url("/kept"), "")], "")));

    server
        .eventually("the warning about the removed endpoint", || async {
            server
                .log()
                .contains("endpoints no longer in the settings")
                .then_some(())
        })
        .await;
    let metrics = server.get_text("/metrics").await;
    assert!(
        metrics.contains("confvault_webhook_pending_deliveries 0"),
        "{metrics}"
    );
    let log = server.get_json("/api/v1/webhooks/deliveries").await;
    assert_eq!(log["deliveries"][0]["state"], "pending", "kept: {log}");
    assert_eq!(receiver.received("/kept").len(), 0);
}

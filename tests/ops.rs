//! Operations end to end: readiness, metrics, request ids and graceful shutdown, on the real
//! binary with real S3 and SMTP servers (started by scripts/test.sh).
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::media::{AUTH_ID, Answer, MediaServer};
use common::{AUTH_TOKEN, S3, Server, Smtp, fixture};
use serde_json::Value;

use common::callbacks::{end, enter};

const FAST_CHECKS: &str =
    "[health]\ncheck_interval_seconds = 0.1\ndone_jobs_recount_seconds = 0.1\n";

fn smtp_settings(smtp: &Smtp, password: &str) -> String {
    format!(
        "[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://{}:{password}@localhost:{}\"\ntls = \"starttls\"\nca_file = \"{}\"\n",
        smtp.user, smtp.tls_port, smtp.ca_file
    )
}

async fn readiness(server: &Server, status: &str) -> (u16, Value) {
    server
        .eventually(&format!("/readyz to say {status}"), || async {
            let response = server.client.get(server.url("/readyz")).send().await.ok()?;
            let code = response.status().as_u16();
            let body: Value = response.json().await.ok()?;
            (body["status"] == status).then_some((code, body))
        })
        .await
}

async fn metrics(server: &Server) -> String {
    let response = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test]
async fn readyz_is_ready_when_the_database_s3_and_smtp_all_answer() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let smtp = Smtp::from_env();
    let server = Server::start_with_env(
        &format!(
            "{FAST_CHECKS}[storage]\nkind = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{}\"\nforce_path_style = true\n{}",
            s3.endpoint,
            smtp_settings(&smtp, &smtp.password)
        ),
        s3.server_env(),
    );

    let (code, body) = readiness(&server, "ready").await;

    assert_eq!(code, 200, "{body}");
    for check in ["database", "storage", "mail"] {
        assert_eq!(body["checks"][check]["ok"], true, "{body}");
    }
}

#[tokio::test]
async fn readyz_is_503_naming_the_failing_dependency_without_its_details() {
    let s3 = S3::from_env();
    let smtp = Smtp::from_env();
    let server = Server::start_with_env(
        // The test SMTP server never answers a wrong password, so the check times out.
        &format!(
            "{FAST_CHECKS}check_timeout_seconds = 1\n[storage]\nkind = \"s3\"\nbucket = \"no-such-bucket-for-readyz\"\nendpoint = \"{}\"\nforce_path_style = true\n{}",
            s3.endpoint,
            smtp_settings(&smtp, "wrong-password")
        ),
        s3.server_env(),
    );

    let (code, body) = readiness(&server, "not_ready").await;

    assert_eq!(code, 503, "{body}");
    assert_eq!(body["checks"]["database"]["ok"], true, "{body}");
    assert_eq!(body["checks"]["storage"]["ok"], false, "{body}");
    assert_eq!(body["checks"]["mail"]["ok"], false, "{body}");
    let text = body.to_string();
    assert!(
        !text.contains("no-such-bucket"),
        "details stay in the log: {text}"
    );
    let log = server.log();
    assert!(log.contains("readiness check failing"), "{log}");
    assert!(
        log.contains("check=\"storage\"") || log.contains("check=storage"),
        "{log}"
    );
}

#[tokio::test]
async fn metrics_count_callbacks_by_outcome_archived_bytes_and_job_states() {
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    media.script("/m.mp3", vec![Answer::file("audio/mpeg", mp3.clone())]);
    let server = Server::start(&format!(
        "{FAST_CHECKS}[vobiz]\nauth_token = \"{AUTH_TOKEN}\"\nauth_id = \"{AUTH_ID}\"\nrecording_hosts = [\"{}\"]\n\
         [jobs]\npoll_interval_seconds = 0.05\n[mail]\nto = [\"ops@example.test\"]\n",
        media.origin
    ));

    let accepted = server
        .post_signed(
            "/vobiz/conference",
            &end("conf-m")
                .name("Ops")
                .recording(&media.url("/m.mp3"))
                .body(),
        )
        .await;
    let unsigned = server
        .client
        .post(server.url("/vobiz/conference"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(
            end("conf-m2")
                .name("Ops")
                .recording(&media.url("/m.mp3"))
                .body(),
        )
        .send()
        .await
        .unwrap();

    assert_eq!(accepted.status(), 200);
    assert_eq!(unsigned.status(), 403);
    let text = server
        .eventually("the archive to show in the metrics", || async {
            let text = metrics(&server).await;
            text.contains(&format!("confvault_archived_bytes_total {}", mp3.len()))
                .then_some(text)
        })
        .await;
    for line in [
        "confvault_callbacks_received_total{endpoint=\"conference\"} 2",
        "confvault_ingest_duration_seconds_count{endpoint=\"conference\"} 2",
        "confvault_archived_recordings_total 1",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert!(
        text.lines().any(|l| l
            .starts_with("confvault_callbacks_rejected_total{endpoint=\"conference\",reason=")
            && l.ends_with(" 1")),
        "{text}"
    );
    assert!(
        text.contains(
            "confvault_job_duration_seconds_count{kind=\"archive_recording\",outcome=\"done\"} 1"
        ),
        "{text}"
    );
    let text = server
        .eventually("the job gauges to catch up", || async {
            let text = metrics(&server).await;
            text.contains("confvault_jobs{state=\"done\"} 2")
                .then_some(text)
        })
        .await;
    assert!(text.contains("confvault_job_queue_depth 0"), "{text}");
    assert!(text.contains("confvault_emails_sent_total 1"), "{text}");
}

/// The value of the sample `name` (its labels included) in a `/metrics` text.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_databases_group_commits_show_in_the_metrics_with_their_writes_and_time() {
    let server = Server::start("");

    for call in ["a", "b", "c"] {
        let answer = server
            .post_signed("/vobiz/conference", &enter("conf-g", call).body())
            .await;
        assert_eq!(answer.status(), 200);
    }

    // Each answer came after its commit, which was observed before the answer went out.
    let text = metrics(&server).await;
    assert!(
        sample(&text, "confvault_database_batch_writes_sum") >= 3.0,
        "{text}"
    );
    assert!(
        sample(&text, "confvault_database_batch_writes_count") >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "confvault_database_batch_seconds_count") >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "confvault_database_batch_seconds_sum") > 0.0,
        "{text}"
    );
}

#[tokio::test]
async fn every_answer_carries_a_request_id_that_the_log_lines_share() {
    let server = Server::start("");

    let chosen = server
        .client
        .get(server.url("/api/v1/conferences"))
        .header("X-Request-Id", "trace-me-42")
        .send()
        .await
        .unwrap();
    let made_up = server.get_api("/api/v1/conferences").await;
    let forged = server
        .client
        .get(server.url("/healthz"))
        .header("X-Request-Id", "evil\" injected=1")
        .send()
        .await
        .unwrap();

    assert_eq!(chosen.status(), 401);
    assert_eq!(chosen.headers()["x-request-id"], "trace-me-42");
    let made_up = made_up.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(made_up.len(), 16, "{made_up}");
    assert_ne!(forged.headers()["x-request-id"], "evil\" injected=1");
    let log = server
        .eventually("the request to be logged", || async {
            let log = server.log();
            log.contains("trace-me-42").then_some(log)
        })
        .await;
    let line = log.lines().find(|l| l.contains("trace-me-42")).unwrap();
    assert!(line.contains("status=401"), "{line}");
    assert!(line.contains("route=/api/v1/conferences"), "{line}");
}

#[tokio::test]
async fn sigterm_stops_a_running_download_hands_its_job_back_and_exits_zero() {
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    let head = mp3[..4096].to_vec();
    media.script(
        "/slow.mp3",
        vec![
            Answer::Stall {
                declared: mp3.len(),
                bytes: std::sync::Arc::new(head),
            },
            Answer::file("audio/mpeg", mp3.clone()),
        ],
    );
    let mut server = Server::start(&format!(
        "[vobiz]\nauth_token = \"{AUTH_TOKEN}\"\nauth_id = \"{AUTH_ID}\"\nrecording_hosts = [\"{}\"]\n\
         [jobs]\npoll_interval_seconds = 0.05\nshutdown_grace_seconds = 1\nlease_seconds = 3600\n",
        media.origin
    ));
    server
        .post_signed(
            "/vobiz/conference",
            &end("conf-s")
                .name("Ops")
                .recording(&media.url("/slow.mp3"))
                .body(),
        )
        .await;
    server
        .eventually("the download to start", || async {
            (!media.seen().is_empty()).then_some(())
        })
        .await;

    let exited_cleanly = server.signal("TERM");

    assert!(exited_cleanly, "log:\n{}", server.log());
    let row = server.sql("SELECT state, attempts FROM jobs WHERE kind = 'archive_recording'");
    let (state, attempts): (String, i64) = (
        row[0][0].clone().unwrap(),
        row[0][1].as_deref().unwrap().parse().unwrap(),
    );
    assert_eq!(
        (state.as_str(), attempts),
        ("pending", 0),
        "handed back, not failed"
    );
    // The lease is an hour: only a handed-back job is taken at once by the next start.
    let server = server.restart();
    let recording = server
        .eventually("the recording to be archived after the restart", || async {
            let c = server.conference("conf-s").await;
            let r = c["recordings"].get(0)?.clone();
            (r["status"] == "archived").then_some(r)
        })
        .await;
    assert_eq!(recording["size_bytes"], mp3.len());
    assert_eq!(recording["attempts"], 1);
}

#[tokio::test]
async fn sigint_stops_the_server_with_exit_zero_keeping_what_it_acknowledged() {
    let mut server = Server::start("");
    let accepted = server
        .post_signed(
            "/vobiz/conference",
            &end("conf-i")
                .name("Ops")
                .recording("https://media.vobiz.ai/i.mp3")
                .body(),
        )
        .await;
    assert_eq!(accepted.status(), 200);

    let exited_cleanly = server.signal("INT");

    assert!(exited_cleanly, "log:\n{}", server.log());
    assert!(server.log().contains("stopped"), "{}", server.log());
    assert_eq!(
        server.count("callback_events"),
        1,
        "what was acknowledged is kept"
    );
}

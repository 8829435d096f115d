//! The log, at its most verbose and in JSON, after a whole conference went through every path
//! that handles a secret: signed and forged callbacks, an authenticated download, SMTP with a
//! password, API and web sign-in with tokens, a recording link. No secret appears in it.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::encode;
use common::web::{WebClient, link_path};

use common::media::{AUTH_ID, Answer, MediaServer};
use common::{API_TOKEN, AUTH_TOKEN, PUBLIC_URL, Server, Smtp, fixture, unique_address};
use confvault::vobiz::signature::{Scheme, sign};

#[tokio::test]
async fn tokens_signatures_and_the_smtp_password_never_reach_the_log() {
    let smtp = Smtp::from_env();
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    media.script("/secret.mp3", vec![Answer::file("audio/mpeg", mp3)]);
    let recipient = unique_address("logs");
    let server = Server::start_with_env(
        &format!(
            "[vobiz]\nauth_token = \"{AUTH_TOKEN}\"\nauth_id = \"{AUTH_ID}\"\nrecording_hosts = [\"{}\"]\n\
             [jobs]\npoll_interval_seconds = 0.05\n\
             [mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://{}:{}@localhost:{}\"\nca_file = \"{}\"\nto = [\"{recipient}\"]\n",
            media.origin, smtp.user, smtp.password, smtp.tls_port, smtp.ca_file
        ),
        vec![
            ("RUST_LOG".into(), "trace".into()),
            ("CONFVAULT_LOG_FORMAT".into(), "json".into()),
        ],
    );
    let mut signatures = Vec::new();

    for body in [
        "ConferenceAction=enter&ConferenceUUID=log-1&ConferenceName=Secrets&CallUUID=l1&From=918071387423&To=1&Timestamp=2026-05-19+10%3A00%3A00".to_owned(),
        format!(
            "ConferenceAction=end&ConferenceUUID=log-1&ConferenceName=Secrets&CallUUID=l1&RecordingUrl={}&Timestamp=2026-05-19+10%3A30%3A00",
            encode(&media.url("/secret.mp3"))
        ),
    ] {
        let nonce = common::fresh_nonce();
        let signature = sign(
            AUTH_TOKEN,
            &format!("{PUBLIC_URL}/vobiz/conference"),
            &nonce,
            Scheme::V3,
        );
        let response = server
            .client
            .post(server.url("/vobiz/conference"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Vobiz-Signature-V3", &signature)
            .header("X-Vobiz-Signature-V3-Nonce", &nonce)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        signatures.push(signature);
    }
    let forged_signature = "Zm9yZ2VkLXNpZ25hdHVyZS12YWx1ZS0xMjM0NTY3ODk=";
    let forged = server
        .client
        .post(server.url("/vobiz/conference"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Vobiz-Signature-V3", forged_signature)
        .header("X-Vobiz-Signature-V3-Nonce", "1234")
        .body("ConferenceAction=end&ConferenceUUID=log-2&ConferenceName=X&CallUUID=l2")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let message = server
        .eventually("the summary to arrive", || async {
            smtp.messages_to(&recipient).into_iter().next()
        })
        .await;
    let link = message
        .text
        .split_whitespace()
        .find(|w| w.contains("/r/"))
        .unwrap()
        .to_owned();
    let link_token = link.rsplit('/').next().unwrap().to_owned();
    let played = reqwest::get(link.replace(PUBLIC_URL, &server.base))
        .await
        .unwrap();
    assert_eq!(played.status(), 200);
    let wrong_token = "wrong-api-token-9f8e7d6c5b4a";
    for token in [API_TOKEN, wrong_token] {
        server
            .client
            .get(server.url("/api/v1/conferences?q=Secrets"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
    }
    // Signing in by emailed link: neither the link's token nor the session id may be logged.
    let mut browser = WebClient::open(&server).await;
    assert_eq!(
        browser.ask_for_link(&server, &recipient).await.status(),
        200
    );
    let signin_link = server
        .eventually("the sign-in message", || async {
            smtp.messages_to(&recipient)
                .into_iter()
                .find_map(|m| link_path(&m.text))
        })
        .await;
    let signed_in = browser.follow_link(&server, &signin_link).await;
    assert!(signed_in.status().is_redirection());
    let session_id = browser.session.clone().expect("a session cookie");
    let signin_token = signin_link.rsplit('/').next().unwrap().to_owned();

    let log = server.log();

    assert!(
        log.len() > 10_000,
        "the trace log is substantial: {} bytes",
        log.len()
    );
    for event in [
        "recording archived",
        "summary sent",
        "callback refused",
        "hyper",
    ] {
        assert!(log.contains(event), "the log covers {event:?}");
    }
    let mut secrets = vec![
        ("the Vobiz auth token", AUTH_TOKEN.to_owned()),
        ("the API token", API_TOKEN.to_owned()),
        ("a wrong bearer token", wrong_token.to_owned()),
        ("the SMTP password", smtp.password.clone()),
        ("the forged signature", forged_signature.to_owned()),
        ("the recording link token", link_token),
        ("the sign-in link token", signin_token),
        ("the session id", session_id),
    ];
    for (i, signature) in signatures.into_iter().enumerate() {
        secrets.push((
            if i == 0 { "signature 1" } else { "signature 2" },
            signature,
        ));
    }
    for (what, secret) in &secrets {
        if let Some(line) = log.lines().find(|l| l.contains(secret.as_str())) {
            panic!("{what} is in the log:\n{line}");
        }
    }
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["name"] == "request" && l["span"]["request_id"].is_string()),
        "request ids are in the JSON lines"
    );
}

//! People and permissions over real HTTP: signing in by emailed link (through a real SMTP
//! server), sessions ended server-side, each person seeing only the meetings they may, the
//! audit log of plays, scoped tokens, and the security headers on every answer.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use std::time::Instant;

use common::callbacks::{end, enter};
use common::media::{AUTH_ID, Answer, MediaServer};
use common::web::{WebClient, link_path};
use common::{API_TOKEN, AUTH_TOKEN, Server, Smtp, fixture, unique_address};

const ASHA: &str = "asha@example.test";
const RAVI: &str = "ravi@example.test";
const CAROL: &str = "carol@example.test";
const BOSS: &str = "boss@example.test";
const ASHA_TOKEN: &str = "asha-scoped-token";

fn people(asha: &str) -> String {
    format!(
        "[[mail.directory]]\nnumber = \"+91 80713 87423\"\nname = \"Asha\"\nemail = \"{asha}\"\n\
         [[mail.directory]]\nnumber = \"918071387424\"\nname = \"Ravi\"\nemail = \"{RAVI}\"\n\
         [[mail.routes]]\nconferences = \"Board*\"\nto = [\"{CAROL}\"]\n\
         [access]\nadmins = [\"{BOSS}\"]\n"
    )
}

fn vobiz(media: &MediaServer) -> String {
    format!(
        "[vobiz]\nauth_token = \"{AUTH_TOKEN}\"\nauth_id = \"{AUTH_ID}\"\nrecording_hosts = [\"{}\"]\n\
         [jobs]\npoll_interval_seconds = 0.05\n",
        media.origin
    )
}

/// Three meetings: "Standup" and "Retro" attended by Asha, "Board Review" by Ravi (and routed
/// to Carol); Standup and Board Review recorded.
async fn three_meetings(extra: &str) -> (MediaServer, Server) {
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    media.script("/m1.mp3", vec![Answer::file("audio/mpeg", mp3.clone())]);
    media.script("/m2.mp3", vec![Answer::file("audio/mpeg", mp3)]);
    let server = Server::start(&format!(
        "{}{}[api]\ntokens = [\"{API_TOKEN}\"]\n[[api.scoped_tokens]]\ntoken = \"{ASHA_TOKEN}\"\nperson = \"{ASHA}\"\n{extra}",
        vobiz(&media),
        people(ASHA)
    ));
    for (uuid, name, number, time, recording) in [
        ("m1", "Standup", "918071387423", "09:00:00", Some("/m1.mp3")),
        (
            "m2",
            "Board Review",
            "918071387424",
            "10:00:00",
            Some("/m2.mp3"),
        ),
        ("m3", "Retro", "+918071387423", "11:00:00", None),
    ] {
        let leg = format!("{uuid}-leg");
        let mut ending = end(uuid).name(name).set("CallUUID", &leg).at(time);
        if let Some(path) = recording {
            ending = ending.recording(&media.url(path));
        }
        server
            .post_callbacks(&[enter(uuid, &leg).name(name).from(number).at(time), ending])
            .await;
    }
    for uuid in ["m1", "m2"] {
        server
            .eventually("the recordings to be archived", || async {
                (server.conference(uuid).await["recordings"][0]["status"] == "archived")
                    .then_some(())
            })
            .await;
    }
    (media, server)
}

async fn names_seen(
    client: &WebClient,
    server: &Server,
    path: &str,
) -> (Vec<String>, Option<String>) {
    let answer = client.get(server, path).await;
    assert_eq!(answer.status(), 200, "{path}");
    let page: serde_json::Value = answer.json().await.unwrap();
    let names = page["conferences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    (names, page["next_cursor"].as_str().map(str::to_owned))
}

fn recording_of(detail: &serde_json::Value) -> String {
    detail["recordings"][0]["recording_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn with_token(server: &Server, token: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_mailed_link_signs_in_once_and_a_used_expired_or_unknown_link_changes_nothing() {
    let smtp = Smtp::from_env();
    let asha = unique_address("asha");
    let stranger = unique_address("stranger");
    let server = Server::start(&format!(
        "[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://localhost:{}\"\ntls = \"none\"\n\
         from = \"confvault <confvault@example.test>\"\n{}",
        smtp.plain_port,
        people(&asha).replace("[access]\n", "[access]\nlink_minutes = 15\n")
    ));
    let mut browser = WebClient::open(&server).await;

    let known = browser.ask_for_link(&server, &asha).await;
    let known_status = known.status();
    let known_page = known.text().await.unwrap();
    let unknown = browser.ask_for_link(&server, &stranger).await;
    assert_eq!(
        (known_status.as_u16(), unknown.status().as_u16()),
        (200, 200)
    );
    assert_eq!(
        known_page,
        unknown.text().await.unwrap(),
        "the answer does not tell a known address from an unknown one"
    );
    let message = server
        .eventually("the sign-in message", || async {
            smtp.messages_to(&asha).pop()
        })
        .await;
    assert_eq!(message.subject, "Your confvault sign-in link");
    assert!(message.text.contains("15 minutes"), "{}", message.text);
    let link = link_path(&message.text).unwrap();
    assert!(
        message
            .text
            .contains(&format!("https://calls.example.test{link}")),
        "the link uses public_url, never the request's Host: {}",
        message.text
    );
    assert!(smtp.messages_to(&stranger).is_empty());
    assert!(
        !server.log().contains(&link),
        "the link never reaches the log"
    );

    assert_eq!(browser.follow_link(&server, &link).await.status(), 303);
    let api = browser.get(&server, "/api/v1/conferences").await;
    assert_eq!(api.status(), 200, "the session works: {}", server.log());

    let mut second = WebClient::open(&server).await;
    let again = second.follow_link(&server, &link).await;
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("used already"));
    assert!(second.session.is_none());
    assert_eq!(server.count("sessions"), 1, "a link opens one session");

    assert_eq!(browser.ask_for_link(&server, &asha).await.status(), 200);
    let newer = server
        .eventually("a second sign-in message", || async {
            let all = smtp.messages_to(&asha);
            (all.len() == 2).then(|| {
                all.into_iter()
                    .find_map(|m| link_path(&m.text).filter(|l| *l != link))
            })?
        })
        .await;
    server.sql(
        "UPDATE signin_links SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE used_at IS NULL",
    );
    let expired = WebClient::open(&server)
        .await
        .follow_link(&server, &newer)
        .await;
    assert_eq!(expired.status(), 400);
    assert!(expired.text().await.unwrap().contains("expired"));
    let bogus = WebClient::open(&server)
        .await
        .follow_link(&server, "/signin/not-a-real-token")
        .await;
    assert_eq!(bogus.status(), 400);
    assert_eq!(server.count("sessions"), 1, "refused links open nothing");

    let out = browser.sign_out(&server).await;
    assert_eq!(out.status(), 303);
    let old_cookie = browser.get(&server, "/api/v1/conferences").await;
    assert_eq!(old_cookie.status(), 401, "the session ended server-side");
    assert!(browser.text(&server, "/").await.contains("Email me a link"));
}

#[tokio::test]
async fn each_person_sees_only_their_meetings_in_lists_pages_and_downloads() {
    let (_media, server) = three_meetings("").await;
    let m2_recording = recording_of(&server.conference("m2").await);
    let m1_recording = recording_of(&server.conference("m1").await);
    let asha = WebClient::sign_in(&server, ASHA).await;
    let carol = WebClient::sign_in(&server, CAROL).await;
    let boss = WebClient::sign_in(&server, BOSS).await;

    let (seen, _) = names_seen(&asha, &server, "/api/v1/conferences").await;
    assert_eq!(seen, ["Retro", "Standup"], "Asha took part in these");
    let (first, next) = names_seen(&asha, &server, "/api/v1/conferences?limit=1").await;
    assert_eq!(first, ["Retro"]);
    let (second, last) = names_seen(
        &asha,
        &server,
        &format!("/api/v1/conferences?limit=1&cursor={}", next.unwrap()),
    )
    .await;
    assert_eq!(
        (second, last),
        (vec!["Standup".to_owned()], None),
        "pages end where her meetings do"
    );
    assert_eq!(
        names_seen(&carol, &server, "/api/v1/conferences").await.0,
        ["Board Review"]
    );
    assert_eq!(
        names_seen(&boss, &server, "/api/v1/conferences").await.0,
        ["Retro", "Board Review", "Standup"]
    );

    for path in [
        "/api/v1/conferences/m2".to_owned(),
        format!("/api/v1/recordings/{m2_recording}"),
        format!("/api/v1/recordings/{m2_recording}/download"),
        format!("/api/v1/recordings/{m2_recording}/sidecar"),
        "/conferences/m2".to_owned(),
    ] {
        assert_eq!(
            asha.get(&server, &path).await.status(),
            404,
            "{path} is hidden from Asha"
        );
        assert_eq!(
            boss.get(&server, &path).await.status(),
            200,
            "{path} for the admin"
        );
    }
    let listed: serde_json::Value = asha
        .get(&server, "/api/v1/recordings")
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["recording_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [m1_recording.as_str()]);
    let page = asha.text(&server, "/").await;
    assert!(
        page.contains("Standup") && !page.contains("Board Review"),
        "{page}"
    );

    let scoped: serde_json::Value = with_token(&server, ASHA_TOKEN, "/api/v1/conferences")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        scoped["conferences"].as_array().unwrap().len(),
        2,
        "{scoped}"
    );
    assert_eq!(
        with_token(&server, ASHA_TOKEN, "/api/v1/conferences/m2")
            .await
            .status(),
        404
    );
    assert_eq!(
        with_token(&server, API_TOKEN, "/api/v1/conferences/m2")
            .await
            .status(),
        200
    );

    let (ok, who) = server.cli(&["access", "who-can-see", "m2", "--json"]);
    assert!(ok, "{who}");
    let who: serde_json::Value = serde_json::from_str(&who).unwrap();
    let emails: Vec<&str> = who
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, [BOSS, CAROL, RAVI]);
    let (ok, listed) = server.cli(&["people", "list"]);
    assert!(
        ok && listed.contains(ASHA) && listed.contains("918071387423"),
        "{listed}"
    );
}

#[tokio::test]
async fn a_play_is_on_record_and_only_admins_read_the_record() {
    let (_media, server) = three_meetings("").await;
    let recording = recording_of(&server.conference("m1").await);
    let asha = WebClient::sign_in(&server, ASHA).await;
    let download = format!("/api/v1/recordings/{recording}/download");

    let play = |range: &'static str| {
        asha.http
            .get(server.url(&download))
            .header("Cookie", asha.cookies())
            .header("Sec-Fetch-Dest", "audio")
            .header("Range", range)
            .send()
    };
    assert!(play("bytes=0-").await.unwrap().status().is_success());
    assert_eq!(play("bytes=100-").await.unwrap().status(), 206);

    let audit: serde_json::Value = with_token(&server, API_TOKEN, "/api/v1/audit?conference=m1")
        .await
        .json()
        .await
        .unwrap();
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "one play, however many ranges: {audit}");
    assert_eq!(events[0]["action"], "play");
    assert_eq!(events[0]["actor"], ASHA);
    assert_eq!(events[0]["recording_id"], recording.as_str());
    assert_eq!(asha.get(&server, "/api/v1/audit").await.status(), 403);

    let boss = WebClient::sign_in(&server, BOSS).await;
    let page = boss.text(&server, "/conferences/m1").await;
    assert!(
        page.contains("Listened by") && page.contains(ASHA),
        "{page}"
    );
    assert!(
        !asha
            .text(&server, "/conferences/m1")
            .await
            .contains("Listened by")
    );
    let (ok, listed) = server.cli(&["audit", "--person", ASHA, "--json"]);
    assert!(ok, "{listed}");
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let actions: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["play", "sign_in"]);
}

#[tokio::test]
async fn every_page_and_api_answer_carries_the_security_headers() {
    let server = Server::start("");
    let client = reqwest::Client::new();
    for path in ["/", "/api/v1/conferences", "/no/such/page"] {
        let answer = client
            .get(server.url(path))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap();
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let policy = header("content-security-policy");
        assert!(
            policy.contains("script-src 'self'")
                && !policy.contains("unsafe-inline")
                && policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header("cache-control"), "private, no-store", "{path}");
    }
}

#[tokio::test]
async fn known_and_unknown_addresses_take_the_same_time_to_answer() {
    let smtp = Smtp::from_env();
    let asha = unique_address("asha");
    let server = Server::start(&format!(
        "[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://localhost:{}\"\ntls = \"none\"\n{}",
        smtp.plain_port,
        people(&asha).replace(
            "[access]\n",
            "[access]\nlinks_per_hour = 1000\nrequests_per_minute = 1000\n"
        )
    ));
    let browser = WebClient::open(&server).await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..100 {
        for (address, times) in [
            (asha.clone(), &mut known),
            (format!("nobody-{i}@example.test"), &mut unknown),
        ] {
            let started = Instant::now();
            assert_eq!(browser.ask_for_link(&server, &address).await.status(), 200);
            times.push(started.elapsed());
        }
    }
    let median = |times: &mut Vec<std::time::Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (known, unknown) = (median(&mut known), median(&mut unknown));
    let gap = known.abs_diff(unknown);
    println!("median {known:?} for a known address, {unknown:?} for an unknown one");
    // Mailing the link synchronously would add an SMTP exchange (several milliseconds) to
    // every known address's answer.
    assert!(
        gap < std::time::Duration::from_millis(2),
        "median {known:?} for a known address against {unknown:?} for an unknown one"
    );
}

/// Asks for a sign-in link for `email` as a request that carries `X-Forwarded-For: forwarded`.
async fn ask_forwarded(
    browser: &WebClient,
    server: &Server,
    email: &str,
    forwarded: &str,
) -> reqwest::Response {
    browser
        .http
        .post(server.url("/signin"))
        .header("Cookie", browser.cookies())
        .header("X-Forwarded-For", forwarded)
        .form(&[("csrf", browser.csrf.as_str()), ("email", email)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_limit_and_the_audit_log_count_the_client_it_names() {
    let server = Server::start(&format!(
        "{}[api]\ntokens = [\"{API_TOKEN}\"]\n",
        people(ASHA).replace(
            "[access]\n",
            "[access]\nrequests_per_minute = 2\ntrusted_proxies = [\"127.0.0.1\", \"::1\"]\n"
        )
    ));
    let mut browser = WebClient::open(&server).await;

    // The client claims 192.0.2.1; the proxy (this test, on loopback) heard it from 203.0.113.5.
    let first = "192.0.2.1, 203.0.113.5";
    for _ in 0..2 {
        let asked = ask_forwarded(&browser, &server, "nobody@example.test", first).await;
        assert_eq!(asked.status(), 200);
    }
    let third = ask_forwarded(&browser, &server, "nobody@example.test", first).await;
    assert_eq!(third.status(), 429, "the named client used up its limit");
    let other = ask_forwarded(&browser, &server, BOSS, "203.0.113.6").await;
    assert_eq!(
        other.status(),
        200,
        "another client behind the same proxy is not limited"
    );

    let link = server
        .eventually("the sign-in link in the outbox", || async {
            common::web::outbox_links(&server, BOSS).pop()
        })
        .await;
    let page = browser.text(&server, &link).await;
    let redeemed = browser
        .http
        .post(server.url(&link))
        .header("Cookie", browser.cookies())
        .header("X-Forwarded-For", "203.0.113.6")
        .form(&[("csrf", common::web::hidden_csrf(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(redeemed.status(), 303);
    browser.session = common::web::set_cookie(&redeemed, "confvault_session");

    let requests = server.sql("SELECT client FROM signin_requests ORDER BY id");
    let clients: Vec<_> = requests.iter().map(|row| row[0].as_deref()).collect();
    assert_eq!(
        clients,
        [
            Some("203.0.113.5"),
            Some("203.0.113.5"),
            Some("203.0.113.6")
        ]
    );
    let audit: serde_json::Value = with_token(&server, API_TOKEN, "/api/v1/audit")
        .await
        .json()
        .await
        .unwrap();
    let sign_in = &audit["events"][0];
    assert_eq!(sign_in["action"], "sign_in", "{audit}");
    assert_eq!(sign_in["client"], "203.0.113.6", "{audit}");
}

#[tokio::test]
async fn a_forwarded_for_header_from_a_peer_that_is_no_trusted_proxy_is_ignored() {
    let server =
        Server::start(&people(ASHA).replace("[access]\n", "[access]\nrequests_per_minute = 2\n"));
    let browser = WebClient::open(&server).await;

    for claimed in ["203.0.113.5", "203.0.113.6"] {
        let asked = ask_forwarded(&browser, &server, "nobody@example.test", claimed).await;
        assert_eq!(asked.status(), 200);
    }
    let third = ask_forwarded(&browser, &server, "nobody@example.test", "203.0.113.7").await;
    assert_eq!(
        third.status(),
        429,
        "a new address in the header does not escape the limit"
    );

    let requests = server.sql("SELECT DISTINCT client FROM signin_requests");
    assert_eq!(
        requests.len(),
        1,
        "every request is the peer's: {requests:?}"
    );
    let peer = requests[0][0].as_deref().unwrap();
    assert!(!peer.starts_with("203.0.113."), "{peer}");
}

async fn end_sessions_with_token(server: &Server, token: &str, email: &str) -> reqwest::Response {
    reqwest::Client::new()
        .delete(server.url(&format!("/api/v1/people/{email}/sessions")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_administrator_ends_someones_sessions_and_the_record_says_whose() {
    let (_media, server) = three_meetings("").await;
    let asha = WebClient::sign_in(&server, ASHA).await;
    assert_eq!(asha.get(&server, "/api/v1/conferences").await.status(), 200);

    let refused = end_sessions_with_token(&server, ASHA_TOKEN, ASHA).await;
    let ended = end_sessions_with_token(&server, API_TOKEN, ASHA).await;
    let ended_status = ended.status();
    let ended_body: serde_json::Value = ended.json().await.unwrap();
    let ravi = WebClient::sign_in(&server, RAVI).await;
    let (by_cli, said) = server.cli(&["access", "end-sessions", RAVI]);

    assert_eq!(refused.status(), 403, "only an administrator may");
    assert_eq!(ended_status, 200);
    assert_eq!(ended_body["ended"], 1);
    assert_eq!(
        asha.get(&server, "/api/v1/conferences").await.status(),
        401,
        "the ended session no longer works"
    );
    assert!(by_cli, "{said}");
    assert!(said.contains("ended 1 session(s)"), "{said}");
    assert_eq!(ravi.get(&server, "/api/v1/conferences").await.status(), 401);
    let audit: serde_json::Value = with_token(&server, API_TOKEN, "/api/v1/audit")
        .await
        .json()
        .await
        .unwrap();
    let ends: Vec<(&str, &str)> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "sessions_ended")
        .map(|e| (e["actor"].as_str().unwrap(), e["subject"].as_str().unwrap()))
        .collect();
    assert_eq!(ends.len(), 2, "{audit}");
    assert_eq!(ends[0], ("cli", RAVI), "{audit}");
    assert_eq!(ends[1].1, ASHA, "{audit}");
    assert_ne!(ends[1].0, ASHA, "the actor is the administrator: {audit}");
}

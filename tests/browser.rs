//! The web page in a real browser: headless Chromium driven over WebDriver (Debian's chromium
//! and chromium-driver, installed by scripts/test.sh). Sign in, search, open a conference, and
//! the audio element loads the archived recording with the session cookie.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

const ADMIN: &str = "admin@example.com";

use common::browser::{Driver, click, sign_in, text_of, until};
use common::callbacks::{end, enter};
use common::media::{AUTH_ID, Answer, MediaServer};
use common::{AUTH_TOKEN, Server, fixture};
use fantoccini::Locator;

/// A server holding two conferences, "Weekly Standup" with an archived, transcribed recording
/// and "Board Review" without, and the media host the recording came from.
async fn seeded_server() -> (MediaServer, Server) {
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    media.script("/b.mp3", vec![Answer::file("audio/mpeg", mp3)]);
    let server = Server::start(&format!(
        "[vobiz]\nauth_token = \"{AUTH_TOKEN}\"\nauth_id = \"{AUTH_ID}\"\nrecording_hosts = [\"{}\"]\n[jobs]\npoll_interval_seconds = 0.05\n[access]\nadmins = [\"{ADMIN}\"]\n",
        media.origin
    ));
    for (uuid, name, recording) in [
        ("b1", "Weekly Standup", Some(media.url("/b.mp3"))),
        ("b2", "Board Review", None),
    ] {
        let leg = format!("{uuid}a");
        let mut ending = end(uuid).name(name).set("CallUUID", &leg).at("10:30:00");
        if let Some(url) = &recording {
            ending = ending.recording(url);
        }
        server
            .post_callbacks(&[
                enter(uuid, &leg).name(name).set("To", "1").at("10:00:00"),
                ending,
            ])
            .await;
    }
    server
        .eventually("the recording to be archived", || async {
            (server.conference("b1").await["recordings"][0]["status"] == "archived").then_some(())
        })
        .await;
    // Its transcription too, so that the pages are checked with one.
    let id = server.first_recording("b1").await;
    server
        .transcribe(&id, "transcription=Good+morning%2C+everyone.")
        .await;
    (media, server)
}

#[tokio::test]
async fn in_chromium_sign_in_by_link_search_open_a_conference_and_the_audio_loads() {
    let (_media, server) = seeded_server().await;
    let (_driver, browser) = Driver::start().await;

    sign_in(&browser, &server, ADMIN).await;
    let search = browser
        .wait()
        .for_element(Locator::Css("input[name=q]"))
        .await
        .unwrap();
    search.send_keys("Standup").await.unwrap();
    click(&browser, Locator::Css("form.search button")).await;
    browser
        .wait()
        .for_url(
            &url::Url::parse(&server.url("/?q=Standup&participant=&said=&since=&until=&status="))
                .unwrap(),
        )
        .await
        .unwrap();
    let table = text_of(&browser, Locator::Css("ul.results")).await;
    assert!(table.contains("Weekly Standup"), "{table}");
    assert!(
        !table.contains("Board Review"),
        "the search filtered: {table}"
    );
    click(&browser, Locator::LinkText("Weekly Standup")).await;
    browser
        .wait()
        .for_element(Locator::Css("audio"))
        .await
        .unwrap();

    let audio = until(
        &browser,
        "the audio element to load the recording's metadata",
        "const a = document.querySelector('audio');
         return { ready: a.readyState, duration: a.duration || 0,
                  error: a.error ? a.error.code : null };",
        |v| v["ready"].as_u64().unwrap_or(0) >= 1 || !v["error"].is_null(),
    )
    .await;
    assert!(
        audio["error"].is_null(),
        "the audio failed to load: {audio}"
    );
    assert!(
        audio["duration"].as_f64().unwrap() > 1.0,
        "the recording has a real duration: {audio}"
    );
    let page = browser.source().await.unwrap();
    assert!(
        page.contains("918071387423"),
        "the timeline shows who joined"
    );
    let styled = until(
        &browser,
        "the stylesheet to apply",
        "return getComputedStyle(document.querySelector('header')).backgroundColor;",
        |v| v.as_str().is_some_and(|c| c != "rgba(0, 0, 0, 0)"),
    )
    .await;
    assert_eq!(
        styled, "rgb(36, 59, 83)",
        "the page is styled under the policy"
    );
    browser.close().await.unwrap();
}

#[tokio::test]
async fn in_chromium_the_pages_break_no_rule_of_their_content_security_policy() {
    let (_media, server) = seeded_server().await;
    let (_driver, browser) = Driver::start().await;

    sign_in(&browser, &server, ADMIN).await;
    browser
        .wait()
        .for_element(Locator::Css("input[name=q]"))
        .await
        .unwrap();
    for path in ["/", "/conferences/b1", "/recordings"] {
        browser.goto(&server.url(path)).await.unwrap();
        browser
            .wait()
            .for_element(Locator::Css("main h1, main form"))
            .await
            .unwrap();
    }
    // A deliberate violation proves that reports arrive; it must be the only one.
    browser
        .execute(
            "const s = document.createElement('script');
             s.textContent = 'window.injected = true;';
             document.head.appendChild(s);",
            vec![],
        )
        .await
        .unwrap();
    let reported = server
        .eventually("the deliberate violation's report", || async {
            let log = server.log();
            let count = log.matches("content security policy violation").count();
            (count > 0).then_some((count, log))
        })
        .await;
    let injected = browser
        .execute("return window.injected === true;", vec![])
        .await;
    assert_eq!(
        injected.unwrap(),
        serde_json::json!(false),
        "the inline script was blocked"
    );
    assert_eq!(
        reported.0, 1,
        "only the deliberate violation:\n{}",
        reported.1
    );
    browser.close().await.unwrap();
}

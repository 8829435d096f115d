//! The web page in a real browser: headless Chromium driven over WebDriver (Debian's chromium
//! and chromium-driver, installed by scripts/test.sh). Sign in, search, open a conference, and
//! the audio element loads the archived recording with the session cookie.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

const ADMIN: &str = "admin@example.com";

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::callbacks::{end, enter};
use common::media::{AUTH_ID, Answer, MediaServer};
use common::web::outbox_links;
use common::{AUTH_TOKEN, DEADLINE, Server, fixture};
use fantoccini::{Client, ClientBuilder, Locator};

/// A chromedriver process on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Driver {
    async fn start() -> (Driver, Client) {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|_| {
                // Straight to the process's stderr: the test harness would swallow eprintln!.
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr(),
                    b"chromedriver is not installed: run the tests with scripts/test.sh, which installs it\n",
                );
                std::process::exit(2)
            });
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _profile: tempfile::tempdir().unwrap(),
        };
        let profile = driver._profile.path().display().to_string();
        // Flags as this machine needs them: no sandbox as root, and no background traffic,
        // which the closed network would refuse.
        let capabilities = serde_json::json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=390,844",
                    format!("--user-data-dir={profile}"),
                ],
            }
        });
        let started = Instant::now();
        let client = loop {
            let connected = ClientBuilder::rustls()
                .unwrap()
                .capabilities(capabilities.as_object().unwrap().clone())
                .connect(&driver.url)
                .await;
            match connected {
                Ok(client) => break client,
                Err(e) if started.elapsed() > DEADLINE => panic!("chromedriver: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        (driver, client)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> &'static str {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("chromedriver")
}

/// Polls a script's JSON result until `ready` accepts it.
async fn until(
    client: &Client,
    what: &str,
    script: &str,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let value = client.execute(script, vec![]).await.unwrap();
        if ready(&value) {
            return value;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "timed out waiting for {what}; last: {value}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks the element `locator` finds.
async fn click(client: &Client, locator: Locator<'_>) {
    client.find(locator).await.unwrap().click().await.unwrap();
}

/// The visible text of the element `locator` finds.
async fn text_of(client: &Client, locator: Locator<'_>) -> String {
    client.find(locator).await.unwrap().text().await.unwrap()
}

/// A server holding two conferences, "Weekly Standup" with an archived recording and "Board
/// Review" without, and the media host the recording came from.
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
    (media, server)
}

/// Signs in as the admin in the browser: asks for a link, follows the one the outbox got.
async fn sign_in(browser: &Client, server: &Server) {
    browser.goto(&server.url("/")).await.unwrap();
    browser
        .find(Locator::Css("input[name=email]"))
        .await
        .unwrap()
        .send_keys(ADMIN)
        .await
        .unwrap();
    click(browser, Locator::Css("form[action='/signin'] button")).await;
    browser
        .wait()
        .for_element(Locator::Css("p.notice"))
        .await
        .unwrap();
    let link = server
        .eventually("the sign-in link in the outbox", || async {
            outbox_links(server, ADMIN).pop()
        })
        .await;
    browser.goto(&server.url(&link)).await.unwrap();
    click(browser, Locator::Css("main form button")).await;
}

#[tokio::test]
async fn in_chromium_sign_in_by_link_search_open_a_conference_and_the_audio_loads() {
    let (_media, server) = seeded_server().await;
    let (_driver, browser) = Driver::start().await;

    sign_in(&browser, &server).await;
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
            &url::Url::parse(&server.url("/?q=Standup&participant=&since=&until=&status="))
                .unwrap(),
        )
        .await
        .unwrap();
    let table = text_of(&browser, Locator::Css("table tbody")).await;
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

    sign_in(&browser, &server).await;
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

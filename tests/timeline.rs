//! The conference timeline in headless Chromium: one row per person with a bar per leg, a click
//! seeks the recording to that moment, the playhead follows playback, the pages fit a phone,
//! axe-core finds nothing serious, and screenshots land in target/screenshots/ as artefacts.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use std::path::PathBuf;

use common::Server;
use common::browser::{Driver, sign_in, until};
use common::callbacks::{end, enter, exit};
use common::media::MediaServer;
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::{Client, Locator};

const ADMIN: &str = "admin@example.com";

/// A 20-second standup: Asha (named in the directory) leaves at 10:00:05 and rejoins at
/// 10:00:10 from another spelling of her number, Ravi stays throughout, an unknown number
/// drops in. Its recording (the fixture, about 10 s) is the conference's, so it starts with
/// the conference at 10:00:00.
async fn standup() -> (MediaServer, Server) {
    let media = MediaServer::with_recording("/t.mp3").await;
    let server = Server::start(&format!(
        "{}[jobs]\npoll_interval_seconds = 0.05\n[access]\nadmins = [\"{ADMIN}\"]\n\
         [[mail.directory]]\nnumber = \"+91 80713 87423\"\nname = \"Asha Rao\"\n",
        media.vobiz_settings()
    ));
    server
        .post_callbacks(&[
            enter("t1", "asha-1").at("10:00:00"),
            enter("t1", "ravi").from("919624705678").at("10:00:00"),
            enter("t1", "guest").from("14155550100").at("10:00:02"),
            exit("t1", "asha-1").at("10:00:05"),
            exit("t1", "guest").at("10:00:08"),
            enter("t1", "asha-2").from("+918071387423").at("10:00:10"),
            end("t1")
                .set("CallUUID", "ravi")
                .recording(&media.url("/t.mp3"))
                .at("10:00:20"),
        ])
        .await;
    server
        .eventually("the recording to be archived", || async {
            (server.conference("t1").await["recordings"][0]["status"] == "archived").then_some(())
        })
        .await;
    (media, server)
}

/// Opens `path` signed in and waits for its heading.
async fn open(browser: &Client, server: &Server, path: &str) {
    browser.goto(&server.url(path)).await.unwrap();
    browser
        .wait()
        .for_element(Locator::Css("main h1"))
        .await
        .unwrap();
}

async fn wait_for_audio_metadata(browser: &Client) {
    until(
        browser,
        "the recording's metadata",
        "const a = document.querySelector('audio'); return a.readyState >= 1 || !!a.error;",
        |v| v == &serde_json::json!(true),
    )
    .await;
}

#[tokio::test]
async fn the_timeline_has_a_row_per_person_a_click_seeks_and_the_playhead_follows() {
    let (_media, server) = standup().await;
    let (_driver, browser) = Driver::start().await;
    sign_in(&browser, &server, ADMIN).await;
    open(&browser, &server, "/conferences/t1").await;
    wait_for_audio_metadata(&browser).await;

    let rows = browser
        .execute(
            "return Array.from(document.querySelectorAll('svg.timeline g.person')).map(g =>
               [g.querySelector('text').textContent, g.querySelectorAll('rect.bar').length]);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        rows,
        serde_json::json!([["Asha Rao", 2], ["919624705678", 1], ["14155550100", 1]]),
        "one row per person, a bar per leg, names from the directory"
    );
    let page = browser.source().await.unwrap();
    assert!(page.contains("3 people"), "people, not legs");

    // A quarter of the way along the 20-second axis is 10:00:05: 5 s into the recording.
    browser
        .execute(
            "document.querySelector('svg.timeline').scrollIntoView({ block: 'center' });",
            vec![],
        )
        .await
        .unwrap();
    let svg = browser.find(Locator::Css("svg.timeline")).await.unwrap();
    let (_, _, width, height) = svg.rectangle().await.unwrap();
    let click = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: svg.clone(),
            duration: None,
            x: (0.25 - 0.5) * width,
            y: height / 2.0 - 3.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    browser.perform_actions(click).await.unwrap();
    let seeked = until(
        &browser,
        "the audio to seek",
        "return document.querySelector('audio').currentTime;",
        |v| v.as_f64().unwrap_or(0.0) > 0.0,
    )
    .await;
    let offset = seeked.as_f64().unwrap();
    assert!(
        (offset - 5.0).abs() < 1.0,
        "clicked at 10:00:05, the recording is at {offset} s"
    );

    let playhead = "const a = document.querySelector('audio');
        const p = document.querySelector('svg.timeline .playhead');
        return { paused: a.paused, at: a.currentTime, x: parseFloat(p.getAttribute('x1')),
                 shown: getComputedStyle(p).visibility };";
    let first = browser.execute(playhead, vec![]).await.unwrap();
    assert_eq!(first["shown"], "visible", "{first}");
    let later = until(&browser, "the playhead to move", playhead, |v| {
        v["x"].as_f64().unwrap_or(0.0) > first["x"].as_f64().unwrap() + 1.0
    })
    .await;
    assert!(
        later["at"].as_f64().unwrap() > offset,
        "the recording played on: {later}"
    );

    // By keyboard: the guest's bar, focused, tells its times and Enter plays from its join.
    let guest = browser
        .find(Locator::Css(
            "svg.timeline g.person:nth-of-type(3) rect.bar",
        ))
        .await
        .unwrap();
    guest.send_keys("\u{E007}").await.unwrap();
    let told = browser
        .find(Locator::Id("timeline-detail"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        told.contains("14155550100") && told.contains("10:00:02–10:00:08"),
        "focusing a bar shows the person's legs: {told}"
    );
    let keyed = until(
        &browser,
        "Enter to seek",
        "return document.querySelector('audio').currentTime;",
        |v| v.as_f64().is_some_and(|t| t < offset),
    )
    .await;
    assert!(
        (keyed.as_f64().unwrap() - 2.0).abs() < 1.0,
        "Enter on a bar joined at 10:00:02 plays from 2 s: {keyed}"
    );
    browser.close().await.unwrap();
}

/// Where the test writes its screenshots and the accessibility report: artefacts, not
/// committed (target/ is ignored).
fn artefacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn the_pages_fit_a_phone_pass_axe_and_are_photographed_at_two_widths() {
    let (_media, server) = standup().await;
    let (_driver, browser) = Driver::start().await;
    sign_in(&browser, &server, ADMIN).await;
    let axe = std::fs::read_to_string(std::env::var("CV_TEST_AXE_JS").expect(
        "CV_TEST_AXE_JS is not set: run the tests with scripts/test.sh, which installs axe-core",
    ))
    .unwrap();
    let dir = artefacts();
    let mut report = serde_json::Map::new();

    for (page, path) in [("list", "/"), ("conference", "/conferences/t1")] {
        for (width_name, width, height) in [("phone", 360, 800), ("desktop", 1280, 900)] {
            browser.set_window_size(width, height).await.unwrap();
            open(&browser, &server, path).await;
            if page == "conference" {
                wait_for_audio_metadata(&browser).await;
            }
            let fits = browser
                .execute(
                    "return [document.documentElement.scrollWidth, window.innerWidth];",
                    vec![],
                )
                .await
                .unwrap();
            let (scroll, inner) = (fits[0].as_u64().unwrap(), fits[1].as_u64().unwrap());
            assert!(
                scroll <= inner,
                "{page} at {width} px scrolls sideways: {scroll} > {inner}"
            );
            // The whole page in the picture: the window as tall as the page.
            let tall = browser
                .execute("return document.documentElement.scrollHeight;", vec![])
                .await
                .unwrap();
            browser
                .set_window_size(width, tall.as_u64().unwrap() as u32)
                .await
                .unwrap();
            let png = browser.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{page}-{width_name}.png")), png).unwrap();
        }
        // The accessibility check, in the same Chromium, on the desktop layout.
        browser.execute(&axe, vec![]).await.unwrap();
        let found = browser
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                    .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact,
                        help: v.help, nodes: v.nodes.map(n => n.target.join(' ')) }))))
                    .catch(e => done({ error: String(e) }));",
                vec![],
            )
            .await
            .unwrap();
        assert!(found.is_array(), "axe ran on {path}: {found}");
        let serious: Vec<_> = found
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(
            serious.is_empty(),
            "axe found serious violations on {path}: {serious:#?}"
        );
        report.insert(path.to_owned(), found);
    }
    std::fs::write(
        dir.join("axe-report.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    browser.close().await.unwrap();
}

//! The web page over real HTTP: sign in by emailed link (CSRF-protected), search, open a
//! conference, and the audio element's source plays the recording with the session cookie.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::callbacks::{end, enter};
use common::media::{AUTH_ID, Answer, MediaServer};
use common::web::{WebClient, hidden_csrf, outbox_links, set_cookie, set_cookie_line};
use common::{AUTH_TOKEN, Server, fixture};

/// The text of the page at `path`, fetched with `cookies`.
async fn page_text(client: &reqwest::Client, server: &Server, path: &str, cookies: &str) -> String {
    client
        .get(server.url(path))
        .header("Cookie", cookies)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_in_search_open_a_conference_and_play_its_recording() {
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    media.script("/w.mp3", vec![Answer::file("audio/mpeg", mp3.clone())]);
    let server = Server::start(&format!(
        "[vobiz]\nauth_token = \"{AUTH_TOKEN}\"\nauth_id = \"{AUTH_ID}\"\nrecording_hosts = [\"{}\"]\n[jobs]\npoll_interval_seconds = 0.05\n[access]\nadmins = [\"admin@example.com\"]\n",
        media.origin
    ));
    for (uuid, name, url) in [
        ("w1", "Weekly Standup", Some(media.url("/w.mp3"))),
        ("w2", "<b>Board</b>", None),
    ] {
        let leg = format!("{uuid}a");
        let mut ending = end(uuid).name(name).set("CallUUID", &leg).at("10:30:00");
        if let Some(url) = &url {
            ending = ending.recording(url);
        }
        let joining = enter(uuid, &leg).name(name).set("To", "1").at("10:00:00");
        server.post_callbacks(&[joining, ending]).await;
    }
    server
        .eventually("the recording to be archived", || async {
            (server.conference("w1").await["recordings"][0]["status"] == "archived").then_some(())
        })
        .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let signin = client.get(server.url("/")).send().await.unwrap();
    let csrf_cookie = set_cookie(&signin, "confvault_csrf").expect("a CSRF cookie");
    let page = signin.text().await.unwrap();
    assert!(page.contains("Sign in") && page.contains("<meta name=\"viewport\""));
    let csrf = hidden_csrf(&page);
    assert_eq!(csrf, csrf_cookie);

    let forged = client
        .post(server.url("/signin"))
        .form(&[("csrf", "forged"), ("email", "admin@example.com")])
        .header("Cookie", format!("confvault_csrf={csrf_cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        403,
        "a form without the browser's CSRF token is refused"
    );
    let mut browser = WebClient {
        http: client.clone(),
        csrf: csrf.clone(),
        session: None,
    };
    let asked = browser.ask_for_link(&server, "admin@example.com").await;
    assert_eq!(asked.status(), 200);
    assert!(asked.text().await.unwrap().contains("a link is on its way"));
    let link = server
        .eventually("the sign-in link in the outbox", || async {
            outbox_links(&server, "admin@example.com").pop()
        })
        .await;
    let signed_in = browser.follow_link(&server, &link).await;
    assert_eq!(signed_in.status(), 303);
    let cookie_header = set_cookie_line(&signed_in, "confvault_session").unwrap();
    assert!(
        cookie_header.contains("HttpOnly") && cookie_header.contains("SameSite=Lax"),
        "{cookie_header}"
    );
    assert!(
        cookie_header.contains("Secure"),
        "public_url is https: {cookie_header}"
    );
    let cookies = browser.cookies();

    let list = page_text(&client, &server, "/", &cookies).await;
    assert!(
        list.contains("Weekly Standup") && list.contains("&lt;b&gt;Board&lt;&#x2f;b&gt;"),
        "{list}\n{}",
        server.log()
    );
    assert!(!list.contains("<b>Board</b>"));
    let searched = page_text(
        &client,
        &server,
        "/?q=week&participant=&since=&until=&status=",
        &cookies,
    )
    .await;
    assert!(
        searched.contains("Weekly Standup") && !searched.contains("Board"),
        "{searched}"
    );

    let dated = page_text(
        &client,
        &server,
        "/?since=2000-01-01&until=2099-12-31",
        &cookies,
    )
    .await;
    assert!(
        dated.contains(r#"<input id="since" name="since" type="date" value="2000-01-01">"#)
            && dated.contains(r#"<label for="until">To</label>"#)
            && dated.contains("Weekly Standup"),
        "labelled date inputs keep the search: {dated}"
    );
    let recordings = page_text(&client, &server, "/recordings?until=2099-12-31", &cookies).await;
    assert!(
        recordings.contains(r#"type="date" value="2099-12-31""#),
        "{recordings}"
    );

    let spelled = page_text(
        &client,
        &server,
        "/?participant=%2B91+80713-87423",
        &cookies,
    )
    .await;
    assert!(
        spelled.contains("Weekly Standup"),
        "a participant in another spelling: {spelled}"
    );

    let detail = page_text(&client, &server, "/conferences/w1", &cookies).await;
    assert!(
        detail.contains("<strong>918071387423</strong>") && detail.contains("1 person"),
        "{detail}"
    );
    let src_start = detail.find("<audio").unwrap();
    let src = &detail[src_start..];
    let src = &src[src.find("src=\"").unwrap() + 5..];
    let src = &src[..src.find('"').unwrap()];
    let audio = client
        .get(server.url(src))
        .header("Cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(audio.status(), 200);
    assert_eq!(audio.headers()["content-type"], "audio/mpeg");
    assert_eq!(audio.bytes().await.unwrap().to_vec(), mp3);
    let anonymous = client.get(server.url(src)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "not without a session");

    // The Recordings page lists it too, with the length read from the file's headers.
    let listed: serde_json::Value = server.get_json("/api/v1/recordings").await;
    let seconds = listed["recordings"][0]["duration_seconds"]
        .as_f64()
        .unwrap();
    assert!((5.0..15.0).contains(&seconds), "{listed}");
    let length = format!("{}s", seconds.round());
    assert!(
        detail.contains(&length),
        "the conference page shows {length}"
    );
    let recordings = page_text(&client, &server, "/recordings?status=archived", &cookies).await;
    assert!(
        recordings.contains("href=\"/conferences/w1\"")
            && recordings.contains("<audio")
            && recordings.contains(&length),
        "{recordings}"
    );
    let none = page_text(&client, &server, "/recordings?linked=false", &cookies).await;
    assert!(none.contains("No recordings match."), "{none}");
    let bad = page_text(&client, &server, "/recordings?since=yesterday", &cookies).await;
    assert!(bad.contains("since: not an RFC 3339 time"), "{bad}");

    // A transcription arrives: the conference page shows it, as text.
    let id = listed["recordings"][0]["recording_id"].as_str().unwrap();
    server
        .transcribe(
            id,
            "transcription=Hello+%3Cscript%3Eeveryone%3C%2Fscript%3E",
        )
        .await;
    let transcribed = page_text(&client, &server, "/conferences/w1", &cookies).await;
    assert!(
        transcribed.contains("<summary>Transcript of recording 1</summary>")
            && transcribed.contains("Hello &lt;script&gt;everyone"),
        "{transcribed}"
    );
    let said = page_text(&client, &server, "/?said=HELLO", &cookies).await;
    assert!(
        said.contains("Weekly Standup") && !said.contains("Board"),
        "{said}"
    );
    let said = page_text(&client, &server, "/recordings?said=hello", &cookies).await;
    assert!(said.contains("href=\"/conferences/w1\""), "{said}");
    let unsaid = page_text(&client, &server, "/recordings?said=goodbye", &cookies).await;
    assert!(unsaid.contains("No recordings match."), "{unsaid}");
    let bounced = client
        .get(server.url("/conferences/w1"))
        .send()
        .await
        .unwrap();
    assert_eq!(bounced.status(), 303);
}

//! Finding and playing past recordings: the list API's filters and pagination, the recording
//! endpoints, and the same queries from the command line.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::callbacks::{end, enter};
use common::media::{AUTH_ID, Answer, MediaServer};
use common::{AUTH_TOKEN, Server, fixture};
use serde_json::Value;

/// A documented conference: one enter from `from`, then an end (with a recording if given).
fn conference(
    uuid: &str,
    name: &str,
    from: &str,
    day: &str,
    recording: Option<&str>,
) -> Vec<String> {
    let leg = format!("{uuid}-a");
    let mut end = end(uuid)
        .name(name)
        .set("CallUUID", &leg)
        .at_on(day, "10:30:00");
    if let Some(url) = recording {
        end = end.recording(url);
    }
    vec![
        enter(uuid, &leg)
            .name(name)
            .from(from)
            .set("To", "1")
            .at_on(day, "10:00:00")
            .body(),
        end.body(),
    ]
}

async fn names(server: &Server, query: &str) -> Vec<String> {
    let answer: Value = server
        .get_json(&format!("/api/v1/conferences?{query}"))
        .await;
    answer["conferences"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn seeded() -> (Server, MediaServer) {
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    media.script(
        "/r.mp3",
        vec![Answer::file(
            "audio/mpeg",
            std::fs::read(fixture("standup.mp3")).unwrap(),
        )],
    );
    let server = Server::start(&format!(
        "[vobiz]\nauth_token = \"{AUTH_TOKEN}\"\nauth_id = \"{AUTH_ID}\"\nrecording_hosts = [\"{}\"]\n[jobs]\npoll_interval_seconds = 0.05\n",
        media.origin
    ));
    let url = media.url("/r.mp3");
    let all = [
        conference("c1", "Weekly Standup", "918071387423", "2026-05-18", None),
        conference(
            "c2",
            "Sales Sync",
            "+918071387424",
            "2026-05-19",
            Some(&url),
        ),
        conference(
            "c3",
            "Weekly Retro",
            "sip:918071387423@sip.vobiz.ai",
            "2026-05-20",
            None,
        ),
        conference("c4", "Board 50%_off", "910000000001", "2026-05-21", None),
    ];
    for bodies in all {
        server.post_callbacks(&bodies).await;
    }
    (server, media)
}

#[tokio::test]
async fn every_filter_narrows_the_list_and_results_are_newest_first() {
    let (server, _media) = seeded().await;

    assert_eq!(
        names(&server, "").await,
        [
            "Board 50%_off",
            "Weekly Retro",
            "Sales Sync",
            "Weekly Standup"
        ]
    );
    assert_eq!(
        names(&server, "q=weekly").await,
        ["Weekly Retro", "Weekly Standup"]
    );
    assert_eq!(
        names(&server, "q=ly").await,
        ["Weekly Retro", "Weekly Standup"],
        "short text: substring"
    );
    assert_eq!(
        names(&server, "q=%25_").await,
        ["Board 50%_off"],
        "% and _ are taken literally"
    );
    for spelling in [
        "918071387423",
        "%2B918071387423",
        "sip%3A918071387423%40pbx.example",
    ] {
        assert_eq!(
            names(&server, &format!("participant={spelling}")).await,
            ["Weekly Retro", "Weekly Standup"],
            "{spelling}"
        );
    }
    assert_eq!(
        names(&server, "since=2026-05-19&until=2026-05-20").await,
        ["Weekly Retro", "Sales Sync"]
    );
    assert_eq!(
        names(&server, "since=2026-05-21T00:00:00Z").await,
        ["Board 50%_off"]
    );
    assert_eq!(names(&server, "has_recording=true").await, ["Sales Sync"]);
    assert_eq!(names(&server, "status=active").await, Vec::<String>::new());
    assert_eq!(
        names(
            &server,
            "q=weekly&participant=918071387423&until=2026-05-19"
        )
        .await,
        ["Weekly Standup"]
    );
}

#[tokio::test]
async fn pages_follow_each_other_without_gaps_or_repeats() {
    let (server, _media) = seeded().await;
    let mut seen = Vec::new();
    let mut query = "limit=3".to_owned();
    loop {
        let page: Value = server
            .get_json(&format!("/api/v1/conferences?{query}"))
            .await;
        for c in page["conferences"].as_array().unwrap() {
            seen.push(c["conference_uuid"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["c4", "c3", "c2", "c1"]);
}

#[tokio::test]
async fn a_bad_query_gets_a_clear_400() {
    let (server, _media) = seeded().await;
    for query in [
        "limit=0",
        "limit=500",
        "cursor=nonsense",
        "status=paused",
        "since=yesterday",
        "has_recording=maybe",
        "colour=blue",
    ] {
        let answer = server
            .get_api(&format!("/api/v1/conferences?{query}"))
            .await;
        assert_eq!(answer.status(), 400, "{query}");
        let error: Value = answer.json().await.unwrap();
        assert_eq!(error["error"]["code"], "invalid_query", "{query}");
    }
    let anonymous = server
        .client
        .get(server.url("/api/v1/conferences"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn an_archived_recording_downloads_with_ranges_and_has_its_sidecar() {
    let (server, _media) = seeded().await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    let recording = server
        .eventually("the recording to be archived", || async {
            let r = server.conference("c2").await["recordings"][0].clone();
            (r["status"] == "archived").then_some(r)
        })
        .await;
    let id = recording["recording_id"].as_str().unwrap();

    let whole = server
        .get_api(&format!("/api/v1/recordings/{id}/download"))
        .await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().await.unwrap().to_vec(), mp3);
    let part = server
        .client
        .get(server.url(&format!("/api/v1/recordings/{id}/download")))
        .bearer_auth(common::API_TOKEN)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().to_vec(), mp3[100..200].to_vec());
    let sidecar: Value = server
        .get_json(&format!("/api/v1/recordings/{id}/sidecar"))
        .await;
    assert_eq!(sidecar["recording"]["recording_id"], id);
    assert_eq!(sidecar["conference"]["name"], "Sales Sync");
    assert_eq!(
        server
            .get_api("/api/v1/recordings/nope/download")
            .await
            .status(),
        404
    );

    let key = server.sql(&format!(
        "SELECT object_key FROM recordings WHERE recording_id = '{id}'"
    ))[0][0]
        .clone()
        .unwrap();
    let (stem, _) = key.rsplit_once('.').unwrap();
    std::fs::remove_file(server.dir.path().join(format!("data/archive/{stem}.json"))).unwrap();
    let lost = server
        .get_api(&format!("/api/v1/recordings/{id}/sidecar"))
        .await;
    assert_eq!(
        lost.status(),
        404,
        "a sidecar gone from the archive is not a server error"
    );
    let error: Value = lost.json().await.unwrap();
    assert_eq!(error["error"]["code"], "sidecar_missing");
    assert_eq!(
        server
            .get_api(&format!("/api/v1/recordings/{id}/download"))
            .await
            .status(),
        200,
        "the recording itself still plays"
    );

    let detail = server.conference("c2").await;
    let kinds: Vec<&str> = detail["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"archive_recording"), "{kinds:?}");

    let (ok, table) = server.cli(&["conferences", "list", "--participant", "+91 80713 87423"]);
    assert!(ok, "{table}");
    assert!(
        table.contains("Weekly Retro")
            && table.contains("Weekly Standup")
            && !table.contains("Sales Sync"),
        "{table}"
    );
    let (ok, json) = server.cli(&["conferences", "show", "c2", "--json"]);
    assert!(ok, "{json}");
    let shown: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(shown["participants"][0]["from"], "+918071387424");
    let target = server.dir.path().join("copy.mp3");
    let (ok, out) = server.cli(&["recordings", "download", id, "-o", target.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!(std::fs::read(target).unwrap(), mp3);
    assert!(out.contains("verified"), "{out}");
    assert!(
        out.contains(&format!("downloading {id}: ")) && out.contains("(100%)"),
        "without a terminal, progress is plain lines: {out}"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_it_lists_and_each_of_them_answers() {
    let (server, _media) = seeded().await;
    let anonymous = server
        .client
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let spec: Value = server.get_json("/api/v1/openapi.json").await;

    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        spec["openapi"]
    );
    let paths = spec["paths"].as_object().unwrap();
    let mut listed: Vec<&str> = paths.keys().map(String::as_str).collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "/api/v1/audit",
            "/api/v1/conferences",
            "/api/v1/conferences/{conference_uuid}",
            "/api/v1/people/{email}/sessions",
            "/api/v1/recordings",
            "/api/v1/recordings/{recording_id}",
            "/api/v1/recordings/{recording_id}/download",
            "/api/v1/recordings/{recording_id}/sidecar",
            "/api/v1/webhooks/deliveries",
            "/api/v1/webhooks/deliveries/{delivery_id}/replay",
        ]
    );
    let params: Vec<&str> = paths["/api/v1/conferences"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "q",
        "participant",
        "since",
        "until",
        "status",
        "has_recording",
        "limit",
        "cursor",
    ] {
        assert!(params.contains(&name), "{name} in {params:?}");
    }
    assert!(spec["components"]["schemas"]["ConferenceDetail"].is_object());
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    // The sessions route is a DELETE (tests/access.rs drives it), the replay a POST
    // (tests/webhooks.rs).
    for path in listed
        .into_iter()
        .filter(|p| !p.contains("{email}") && !p.ends_with("/replay"))
    {
        // A known conference and an unknown recording: each route exists and answers as documented.
        let concrete = path
            .replace("{conference_uuid}", "c1")
            .replace("{recording_id}", "nope");
        let status = server.get_api(&concrete).await.status().as_u16();
        let expected = if concrete.contains("nope") { 404 } else { 200 };
        assert_eq!(status, expected, "{concrete}");
    }
}

//! The account sync end to end: the real binary against a Vobiz REST API served by the test
//! (documented shapes: pages with `meta`, auth headers, throttling, server errors, bad
//! objects), archiving what no callback announced, linking what callbacks announce later, and
//! deleting Vobiz's copy only once ours is proven.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::callbacks::{end, enter};
use common::receiver::Receiver;
use common::vobiz_api::{TOKEN, Trouble, VobizApi};
use common::{Server, sha256_hex};
use serde_json::{Value, json};

const FAST_JOBS: &str =
    "[jobs]\nretry_base_seconds = 0.05\nretry_max_seconds = 0.2\npoll_interval_seconds = 0.05\n";

/// A server on `api`'s account: no scheduled sync unless `interval` says, recordings with no
/// known conference archived after `grace` seconds.
fn settings(api: &VobizApi, interval: u32, grace: u32, extra_vobiz: &str) -> String {
    format!(
        "[vobiz]\n{}sync_interval_minutes = {interval}\n{extra_vobiz}\n{FAST_JOBS}\
         [archive]\nunlinked_grace_seconds = {grace}\n",
        api.settings(TOKEN)
    )
}

fn sync_report(server: &Server, args: &[&str]) -> Value {
    let (ok, out) = server.cli(args);
    assert!(ok, "{out}");
    // Standard output's JSON document comes first; the progress lines of standard error follow.
    let json_start = out.find('{').unwrap_or_else(|| panic!("no report: {out}"));
    let mut document = serde_json::Deserializer::from_str(&out[json_start..]);
    serde::Deserialize::deserialize(&mut document).unwrap_or_else(|e| panic!("{e}: {out}"))
}

async fn recording(server: &Server, id: &str) -> Value {
    let answer = server.get_api(&format!("/api/v1/recordings/{id}")).await;
    assert_eq!(answer.status(), 200, "recording {id}");
    answer.json().await.unwrap()
}

async fn archived(server: &Server, id: &str) -> Value {
    server
        .eventually(&format!("{id} to be archived"), || async {
            let r = recording(server, id).await;
            (r["status"] == "archived").then_some(r)
        })
        .await
}

#[tokio::test]
async fn a_sync_walks_every_page_through_throttling_and_archives_what_no_callback_announced() {
    // Arrange: five recordings over three pages; one known from a RecordStop callback, one of
    // a call leg in a conference that has ended, three nobody announced; bad objects besides.
    let api = VobizApi::start(2);
    let server = Server::start(&settings(&api, 0, 0, ""));
    server
        .post_callbacks(&[
            enter("conf-ended", "call-in-ended").from("+919000000001"),
            end("conf-ended"),
        ])
        .await;
    for (i, call) in ["call-in-ended", "lost-1", "lost-2", "lost-3", "known-call"]
        .iter()
        .enumerate()
    {
        api.add(
            &format!("rec-{i}"),
            call,
            1_779_168_527_000 - i as i64 * 60_000,
        );
    }
    let record_stop = format!(
        "Event=RecordStop&RecordingID=rec-4&CallUUID=known-call&RecordFile={}&RecordingDuration=61",
        common::encode(&format!("{}/media/rec-4.mp3", api.origin))
    );
    assert_eq!(
        server
            .post_signed("/vobiz/recording", &record_stop)
            .await
            .status(),
        200
    );
    api.add_object(json!({"recording_url": format!("{}/media/x.mp3", api.origin)}));
    api.add_object(
        json!({"recording_id": "elsewhere", "recording_url": "https://attacker.example/x.mp3"}),
    );
    api.trouble(
        Some(2),
        Trouble::Status {
            status: 429,
            retry_after: Some("1"),
        },
    );
    api.trouble(
        Some(4),
        Trouble::Status {
            status: 500,
            retry_after: None,
        },
    );

    // Act
    let report = sync_report(&server, &["sync", "--json"]);

    // Assert: every page read despite the 429 and the 500, each object accounted for.
    assert_eq!(report["pages"], 4, "{report}");
    assert_eq!(report["listed"], 7);
    assert_eq!(report["total_count"], 7);
    assert_eq!(report["found"], 4);
    assert_eq!(report["already_known"], 1);
    assert_eq!(report["linked"], 1);
    assert_eq!(
        report["queued_after_grace"], 3,
        "no conference known for these yet"
    );
    assert_eq!(
        report["queued"], 1,
        "the recording of the ended conference is queued at once"
    );
    assert_eq!(report["skipped"], 2);
    let requests = api.requests();
    assert!(
        requests.iter().all(|r| r.authorised),
        "every request carries the account's headers"
    );
    let offsets: Vec<&str> = requests
        .iter()
        .filter(|r| r.path.ends_with("/Recording/"))
        .map(|r| r.query.as_str())
        .collect();
    assert_eq!(
        offsets,
        [
            "limit=100&offset=0",
            "limit=2&offset=2",
            "limit=2&offset=2",
            "limit=2&offset=4",
            "limit=2&offset=4",
            "limit=2&offset=6"
        ],
        "meta.next followed, and each throttled or failed page asked again"
    );

    let linked = archived(&server, "rec-0").await;
    assert_eq!(linked["conference_uuid"], "conf-ended");
    assert_eq!(linked["source"], "sync");
    for id in ["rec-1", "rec-2", "rec-3"] {
        let lost = archived(&server, id).await;
        assert_eq!(lost["conference_uuid"], Value::Null);
        assert_eq!(lost["duration_seconds"], 61.0, "the REST object's length");
        assert_eq!(lost["from"], "+918071387423");
        assert_eq!(lost["to"], "919624705678");
        assert_eq!(
            lost["sha256"],
            sha256_hex(&std::fs::read(common::fixture("standup.mp3")).unwrap())
        );
    }
    let sidecar: Value = server.get_json("/api/v1/recordings/rec-1/sidecar").await;
    assert_eq!(sidecar["recording"]["duration_seconds"], 61.0);
    assert_eq!(sidecar["vobiz"]["recording_type"], "conference");
    assert_eq!(sidecar["vobiz"]["to_number"], 919624705678u64);
    let unlinked: Value = server
        .get_json("/api/v1/recordings?linked=false&participant=918071387423")
        .await;
    let ids: Vec<&str> = unlinked["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["recording_id"].as_str().unwrap())
        .collect();
    // rec-4 came from a callback (recorded "now"), and gained its numbers from the listing.
    assert_eq!(
        ids,
        ["rec-4", "rec-1", "rec-2", "rec-3"],
        "newest first, only the unlinked"
    );
    assert!(
        !server.log().contains(TOKEN),
        "the token never reaches a log line"
    );
}

#[tokio::test]
async fn a_dry_run_reports_what_it_would_find_and_changes_nothing() {
    let api = VobizApi::start(100);
    let server = Server::start(&settings(&api, 0, 0, ""));
    api.add("rec-a", "call-a", 1_779_168_527_000);

    let report = sync_report(&server, &["sync", "--dry-run", "--json"]);

    assert_eq!(report["found"], 1);
    assert_eq!(report["dry_run"], true);
    assert_eq!(server.count("recordings"), 0);
}

#[tokio::test]
async fn since_and_until_keep_the_sync_to_a_window() {
    let api = VobizApi::start(100);
    let server = Server::start(&settings(&api, 0, 3600, ""));
    // 2026-05-19T05:28:47Z, and a day earlier.
    api.add("rec-new", "c1", 1_779_168_527_000);
    api.add("rec-old", "c2", 1_779_168_527_000 - 86_400_000);

    let report = sync_report(
        &server,
        &[
            "sync",
            "--since",
            "2026-05-19T00:00:00Z",
            "--until",
            "2026-05-20",
            "--json",
        ],
    );

    assert_eq!(report["found"], 1);
    assert_eq!(report["outside_window"], 1);
    assert_eq!(recording(&server, "rec-new").await["source"], "sync");
    let answer = server.get_api("/api/v1/recordings/rec-old").await;
    assert_eq!(answer.status(), 404);
    let (ok, table) = server.cli(&["recordings", "list", "--linked", "false"]);
    assert!(ok, "{table}");
    assert!(
        table.contains("rec-new") && table.contains("1m 01s") && table.contains("+918071387423"),
        "{table}"
    );
    assert!(!table.contains("rec-old"));
}

#[tokio::test]
async fn wrong_credentials_stop_the_sync_with_the_settings_to_check_and_no_token_in_sight() {
    let api = VobizApi::start(100);
    let wrong = format!(
        "[vobiz]\n{}sync_interval_minutes = 0\n",
        api.settings("a-wrong-token-value")
    );
    let server = Server::start(&wrong);

    let (ok, out) = server.cli(&["sync"]);

    assert!(!ok);
    assert!(out.contains("vobiz.auth_id and vobiz.auth_token"), "{out}");
    assert!(!out.contains("a-wrong-token-value"), "{out}");
    assert!(api.requests().iter().all(|r| !r.authorised));
}

#[tokio::test]
async fn an_unreadable_page_is_skipped_with_a_reason_and_the_walk_goes_on() {
    let api = VobizApi::start(2);
    let server = Server::start(&settings(&api, 0, 3600, ""));
    for i in 0..6 {
        api.add(&format!("rec-{i}"), "c", 1_779_168_527_000 - i * 1000);
    }
    api.trouble(Some(2), Trouble::NotJson);

    let report = sync_report(&server, &["sync", "--json"]);

    assert_eq!(report["bad_pages"], 1, "{report}");
    assert_eq!(report["found"], 4, "the pages before and after it");
    assert_eq!(server.count("recordings"), 4);
}

#[tokio::test]
async fn serve_syncs_at_start_warns_of_lost_callbacks_and_links_the_recording_when_they_come() {
    // Arrange: a recording the account has and no callback announced yet.
    let api = VobizApi::start(100);
    api.add(
        "rec-late",
        "call-late",
        chrono::Utc::now().timestamp_millis(),
    );
    let server = Server::start(&settings(&api, 60, 3600, ""));

    // Act: the scheduled sync at start finds it; the conference's callbacks arrive after.
    server
        .eventually("the scheduled sync to find the recording", || async {
            let answer = server.get_api("/api/v1/recordings/rec-late").await;
            (answer.status() == 200).then_some(())
        })
        .await;
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    server
        .post_callbacks(&[
            enter("conf-late", "call-late").name("Late standup"),
            end("conf-late"),
        ])
        .await;

    // Assert
    assert!(
        metrics.contains("confvault_recordings_discovered_total{via=\"sync\"} 1"),
        "{metrics}"
    );
    assert!(server.log().contains("callbacks may be being lost"));
    let linked = archived(&server, "rec-late").await;
    assert_eq!(linked["conference_uuid"], "conf-late");
    let conference = server.conference("conf-late").await;
    assert_eq!(conference["recordings"][0]["recording_id"], "rec-late");
}

/// Archives `ids` through a sync, then makes them look archived `days` ago.
async fn archived_long_ago(server: &Server, ids: &[&str], days: i64) {
    sync_report(server, &["sync", "--json"]);
    for id in ids {
        archived(server, id).await;
    }
    archived_days_ago(server, days);
}

/// Time passes: every recording looks archived `days` ago.
fn archived_days_ago(server: &Server, days: i64) {
    let long_ago = (chrono::Utc::now() - chrono::Duration::days(days))
        .format("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string();
    server.sql(&format!("UPDATE recordings SET archived_at = '{long_ago}'"));
}

#[tokio::test]
async fn deletes_at_source_come_after_the_copy_is_proven_and_a_404_means_already_gone() {
    let api = VobizApi::start(100);
    api.add("rec-del", "c1", 1_779_168_527_000);
    api.add("rec-gone", "c2", 1_779_168_527_000);
    api.already_gone("rec-gone");
    let server = Server::start(&settings(&api, 0, 0, "delete_source_after_days = 7"));

    archived_long_ago(&server, &["rec-del", "rec-gone"], 8).await;

    for id in ["rec-del", "rec-gone"] {
        server
            .eventually(&format!("{id}'s source copy to be deleted"), || async {
                let r = recording(&server, id).await;
                r["source_deleted_at"].is_string().then_some(())
            })
            .await;
        // The sidecar is noted before the database.
        let sidecar: Value = server
            .get_json(&format!("/api/v1/recordings/{id}/sidecar"))
            .await;
        assert!(
            sidecar["recording"]["source_deleted_at"].is_string(),
            "{sidecar}"
        );
    }
    let mut deletes = api.deletes();
    deletes.sort();
    assert_eq!(
        deletes,
        [
            "/api/v1/Account/MA_SYNC_TEST/Recording/rec-del/",
            "/api/v1/Account/MA_SYNC_TEST/Recording/rec-gone/"
        ]
    );
}

#[tokio::test]
async fn a_damaged_copy_is_never_deleted_at_source_alerts_and_is_archived_again() {
    let api = VobizApi::start(100);
    api.add("rec-bad", "c1", 1_779_168_527_000);
    let ops = common::unique_address("ops");
    let server = Server::start(&format!(
        "{}[mail]\nalerts_to = [\"{ops}\"]\n",
        settings(&api, 0, 0, "delete_source_after_days = 7")
    ));
    sync_report(&server, &["sync", "--json"]);
    let first = archived(&server, "rec-bad").await;
    // The stored file is damaged (a disk, an operator) before the delete job runs.
    let stored = std::path::PathBuf::from(first["location"].as_str().unwrap());
    std::fs::write(&stored, b"not the recording any more").unwrap();
    archived_days_ago(&server, 8);

    let failed = server
        .eventually("the delete job to fail", || async {
            let jobs: Value = serde_json::from_str(
                &server
                    .cli(&["jobs", "list", "--state", "failed", "--json"])
                    .1,
            )
            .ok()?;
            jobs.as_array()?
                .iter()
                .find(|j| j["kind"] == "delete_source")
                .cloned()
        })
        .await;

    assert!(
        failed["last_error"]
            .as_str()
            .unwrap()
            .contains("failed its check"),
        "{failed}"
    );
    assert!(
        api.deletes().is_empty(),
        "no DELETE is ever sent for a damaged copy"
    );
    let again = server
        .eventually("the recording to be archived again", || async {
            let r = recording(&server, "rec-bad").await;
            let bytes = std::fs::read(&stored).ok()?;
            (r["status"] == "archived" && bytes.len() > 1000).then_some(r)
        })
        .await;
    assert_eq!(again["sha256"], first["sha256"]);
    server
        .eventually("an alert about the failed delete", || async {
            let outbox = server.dir.path().join("data/outbox");
            std::fs::read_dir(&outbox).ok()?.find_map(|e| {
                let text = std::fs::read_to_string(e.ok()?.path()).ok()?;
                (text.contains("delete_source") && text.contains(&ops)).then_some(())
            })
        })
        .await;
}

/// A server that deletes Vobiz's copies after a week, with `recording` synced and archived;
/// and where that recording's sidecar is.
async fn archived_for_deletion(api: &VobizApi, recording: &str) -> (Server, std::path::PathBuf) {
    api.add(recording, "c1", 1_779_168_527_000);
    let server = Server::start(&settings(api, 0, 0, "delete_source_after_days = 7"));
    sync_report(&server, &["sync", "--json"]);
    let location = archived(&server, recording).await["location"]
        .as_str()
        .unwrap()
        .to_owned();
    let sidecar = std::path::Path::new(&location).with_extension("json");
    (server, sidecar)
}

/// Waits for the database to say `recording`'s copy at Vobiz was deleted.
async fn recorded_deleted_at_source(server: &Server, recording_id: &str, when: &str) {
    server
        .eventually(
            &format!("{recording_id}'s delete to be recorded {when}"),
            || async {
                recording(server, recording_id).await["source_deleted_at"]
                    .is_string()
                    .then_some(())
            },
        )
        .await;
}

#[tokio::test]
async fn a_delete_at_source_is_recorded_only_once_the_sidecar_says_so() {
    let api = VobizApi::start(100);
    let (server, sidecar) = archived_for_deletion(&api, "rec-side").await;
    // The sidecar cannot be read or written: a directory stands where it should be.
    let original = std::fs::read(&sidecar).unwrap();
    std::fs::remove_file(&sidecar).unwrap();
    std::fs::create_dir(&sidecar).unwrap();

    archived_days_ago(&server, 8);
    server
        .eventually(
            "the delete to be tried and held back by the sidecar",
            || async {
                let job = server.sql(
                    "SELECT attempts, last_error FROM jobs WHERE kind = 'delete_source' \
                 AND attempts >= 2",
                );
                let error = job.first()?.get(1)?.clone()?;
                (!api.deletes().is_empty() && error.contains("sidecar")).then_some(error)
            },
        )
        .await;
    let held_back = recording(&server, "rec-side").await;
    std::fs::remove_dir(&sidecar).unwrap();
    std::fs::write(&sidecar, &original).unwrap();

    assert!(
        held_back["source_deleted_at"].is_null(),
        "not recorded while the sidecar cannot say so: {held_back}"
    );
    recorded_deleted_at_source(&server, "rec-side", "once the sidecar is back").await;
    let noted: Value = serde_json::from_slice(&std::fs::read(&sidecar).unwrap()).unwrap();
    assert!(
        noted["recording"]["source_deleted_at"].is_string(),
        "by the time the database says deleted, the sidecar does: {noted}"
    );
}

#[tokio::test]
async fn a_delete_at_source_goes_ahead_when_the_sidecar_is_gone() {
    let api = VobizApi::start(100);
    let (server, sidecar) = archived_for_deletion(&api, "rec-bare").await;
    std::fs::remove_file(&sidecar).unwrap();

    archived_days_ago(&server, 8);
    recorded_deleted_at_source(&server, "rec-bare", "without a sidecar").await;

    assert_eq!(api.deletes().len(), 1);
    assert!(
        !sidecar.exists(),
        "no sidecar is made up for a recording that had none"
    );
    assert!(
        server.log().contains("no sidecar beside the recording"),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_source_shows_what_it_would_delete_then_deletes_it() {
    let api = VobizApi::start(100);
    api.add("rec-p", "c1", 1_779_168_527_000);
    // An endpoint that takes only this event: the command queues it in the delete's own
    // transaction, as the job does.
    let receiver = Receiver::start().await;
    let webhook = format!(
        "[webhooks]\nallow_private_addresses = true\n[[webhooks.endpoints]]\nurl = \"{}\"\n\
         secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n\
         events = [\"recording.source_deleted\"]\n",
        receiver.url("/hook")
    );
    let server = Server::start(&format!("{}{webhook}", settings(&api, 0, 0, "")));
    archived_long_ago(&server, &["rec-p"], 40).await;

    let (ok, dry) = server.cli(&[
        "recordings",
        "prune-source",
        "--older-than",
        "30",
        "--dry-run",
    ]);
    assert!(ok, "{dry}");
    assert!(dry.contains("would delete rec-p"), "{dry}");
    assert!(api.deletes().is_empty());

    let (ok, done) = server.cli(&["recordings", "prune-source", "--older-than", "30"]);
    assert!(ok, "{done}");
    assert!(done.contains("deleted      rec-p"), "{done}");
    assert_eq!(api.deletes().len(), 1);
    assert!(recording(&server, "rec-p").await["source_deleted_at"].is_string());
    let delivered = server
        .eventually("recording.source_deleted to arrive", || async {
            let got = receiver.received("/hook");
            (!got.is_empty()).then_some(got)
        })
        .await;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    let message = delivered[0].json();
    assert_eq!(message["type"], "recording.source_deleted");
    assert_eq!(message["data"]["recording"]["recording_id"], "rec-p");
    let openapi = server.get_json("/api/v1/openapi.json").await;
    assert_eq!(delivered[0].schema_errors(&openapi), Vec::<String>::new());
}

#[tokio::test]
async fn the_rest_client_gets_one_recording_and_an_unknown_one_is_none() {
    use confvault::vobiz::rest::{RestClient, RestSettings};
    let api = VobizApi::start(100);
    api.add("rec-one", "c1", 1_779_168_527_000);
    let client = RestClient::new(RestSettings {
        api_url: format!("{}/api/v1", api.origin).parse().unwrap(),
        auth_id: common::vobiz_api::AUTH_ID.into(),
        auth_token: TOKEN.to_owned().into(),
        connect_timeout: std::time::Duration::from_secs(2),
        read_timeout: std::time::Duration::from_secs(2),
        max_attempts: 2,
        recording_hosts: confvault::config::AllowList::parse(std::slice::from_ref(&api.origin))
            .unwrap(),
    })
    .unwrap();

    let found = client.get("rec-one").await.unwrap().unwrap();
    let missing = client.get("rec-none").await.unwrap();

    assert_eq!(found.recording_id, "rec-one");
    assert_eq!(found.duration_ms, Some(61_000));
    assert!(missing.is_none());
}

#[tokio::test]
async fn no_delete_at_source_runs_while_a_sync_holds_the_account() {
    let api = VobizApi::start(100);
    api.add("rec-wait", "c1", 1_779_168_527_000);
    let server = Server::start(&settings(&api, 0, 0, "delete_source_after_days = 7"));
    sync_report(&server, &["sync", "--json"]);
    archived(&server, "rec-wait").await;
    // Another replica's sync is walking the account's pages.
    let until = (chrono::Utc::now() + chrono::Duration::minutes(5))
        .format("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string();
    server.sql(&format!(
        "INSERT INTO leases (name, owner, until) VALUES ('vobiz_account', 'replica-b', '{until}')
         ON CONFLICT (name) DO UPDATE SET owner = 'replica-b', until = '{until}'"
    ));

    archived_days_ago(&server, 8);

    let waiting = server
        .eventually("the delete job to wait for the sync", || async {
            let jobs: Value = serde_json::from_str(
                &server
                    .cli(&["jobs", "list", "--state", "pending", "--json"])
                    .1,
            )
            .ok()?;
            jobs.as_array()?
                .iter()
                .find(|j| {
                    j["kind"] == "delete_source"
                        && j["last_error"]
                            .as_str()
                            .is_some_and(|e| e.contains("replica-b"))
                })
                .cloned()
        })
        .await;
    assert_eq!(waiting["attempts"], 0, "waiting is not an attempt");
    assert!(
        api.deletes().is_empty(),
        "nothing deleted while the sync holds the account"
    );

    server.sql("UPDATE leases SET owner = NULL, until = NULL");

    recorded_deleted_at_source(&server, "rec-wait", "once the sync is done").await;
    assert_eq!(api.deletes().len(), 1);
}

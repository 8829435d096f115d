//! `confvault db rebuild`: a lost database restored from the bucket alone.

use super::*;
use common::callbacks::exit;

/// A server that archived one recording per conference into a bucket of its own, and the
/// media host that served them. Conference `rb-1` has two legs from two numbers.
pub(super) struct ArchivedBucket {
    pub(super) server: Server,
    s3: S3,
    bucket: String,
    media: MediaServer,
    settings: String,
}

impl ArchivedBucket {
    pub(super) async fn new(conferences: &[&str]) -> ArchivedBucket {
        let media = MediaServer::start(Some(AUTH_TOKEN)).await;
        let s3 = S3::from_env();
        let bucket = s3.new_bucket().await;
        let settings = s3_settings(&bucket, &s3.endpoint, &[&media.origin], "");
        let server = Server::start_with_env(&settings, s3.server_env());
        let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
        for conference in conferences {
            let path = format!("/{conference}.mp3");
            media.script(&path, vec![Answer::file("audio/mpeg", mp3.clone())]);
            server
                .post_callbacks(&[
                    enter(conference, "c1").name("Board review"),
                    enter(conference, "c2").from("+1 415 555 0100"),
                    exit(conference, "c1"),
                    exit(conference, "c2"),
                    end(conference).recording(&media.url(&path)),
                ])
                .await;
            let recording = archived_recording(&server, conference).await;
            assert_eq!(recording["status"], "archived", "{recording}");
        }
        ArchivedBucket {
            server,
            s3,
            bucket,
            media,
            settings,
        }
    }

    /// A server on a new, empty database with the same storage: the database was lost.
    pub(super) fn server_on_a_new_database(&self) -> Server {
        Server::start_with_env(&self.settings, self.s3.server_env())
    }

    async fn object_key_of(&self, conference: &str) -> String {
        let key = self.server.conference(conference).await["recordings"][0]["location"]
            .as_str()
            .unwrap()
            .trim_start_matches(&format!("s3://{}/", self.bucket))
            .to_owned();
        assert!(key.ends_with(".mp3"), "{key}");
        key
    }
}

/// What a user sees of a conference: its name, times, roster and recordings.
fn as_seen(conference: &Value) -> Value {
    let recordings: Vec<Value> = conference["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            serde_json::json!([
                r["recording_id"],
                r["status"],
                r["sha256"],
                r["size_bytes"],
                r["location"],
                r["duration_seconds"],
                r["format"]
            ])
        })
        .collect();
    serde_json::json!({
        "name": conference["name"],
        "status": conference["status"],
        "started_at": conference["started_at"],
        "ended_at": conference["ended_at"],
        "participants": conference["participants"],
        "recordings": recordings,
    })
}

#[tokio::test]
async fn a_lost_database_is_rebuilt_from_the_bucket_and_a_second_run_changes_nothing() {
    let archived = ArchivedBucket::new(&["rb-1", "rb-2"]).await;
    let before = as_seen(&archived.server.conference("rb-1").await);
    let fetched = archived.media.seen().len();
    let rebuilt = archived.server_on_a_new_database();

    let (dry_ok, dry_run) = rebuilt.cli(&["db", "rebuild", "--dry-run"]);
    let (ok, output) = rebuilt.cli(&["db", "rebuild", "--verify"]);
    let (again_ok, again) = rebuilt.cli(&["db", "rebuild"]);

    assert!(dry_ok, "{dry_run}");
    assert!(
        dry_run.contains("dry run: 2 recording(s) would be restored, 0 known already"),
        "{dry_run}"
    );
    assert!(ok, "{output}");
    assert!(
        output.contains(
            "2 recording(s) restored (2 conference(s), 4 leg(s)), 0 known already, 0 failed"
        ),
        "{output}"
    );
    assert!(again_ok, "{again}");
    assert!(
        again.contains("0 recording(s) restored (0 conference(s), 0 leg(s)), 2 known already"),
        "{again}"
    );
    assert_eq!(as_seen(&rebuilt.conference("rb-1").await), before);
    let id = before["recordings"][0][0].as_str().unwrap();
    let audio = rebuilt
        .get_api(&format!("/api/v1/recordings/{id}/download"))
        .await;
    assert_eq!(audio.status(), 200);
    assert_eq!(
        audio.bytes().await.unwrap().to_vec(),
        std::fs::read(fixture("standup.mp3")).unwrap()
    );
    let found = rebuilt
        .get_json("/api/v1/conferences?q=board&participant=%2B14155550100")
        .await;
    assert_eq!(found["conferences"].as_array().unwrap().len(), 2, "{found}");
    assert_eq!(
        rebuilt
            .db
            .number("SELECT COUNT(*) FROM jobs WHERE state <> 'done'"),
        0,
        "nothing is fetched again or mailed"
    );
    assert_eq!(
        archived.media.seen().len(),
        fetched,
        "Vobiz was not asked again"
    );
}

#[tokio::test]
async fn sidecars_whose_recording_is_gone_or_unreadable_are_named_and_the_rest_restored() {
    let archived = ArchivedBucket::new(&["rb-ok", "rb-gone"]).await;
    let gone = archived.object_key_of("rb-gone").await;
    let client = archived.s3.client();
    client
        .delete_object()
        .bucket(&archived.bucket)
        .key(&gone)
        .send()
        .await
        .unwrap();
    for (key, body) in [
        ("calls/junk.json", "not json"),
        ("calls/other.json", r#"{"a": 1}"#),
    ] {
        client
            .put_object()
            .bucket(&archived.bucket)
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let rebuilt = archived.server_on_a_new_database();

    let (ok, output) = rebuilt.cli(&["db", "rebuild"]);

    assert!(!ok, "a rebuild that left sidecars out fails: {output}");
    assert!(output.contains("1 recording(s) restored"), "{output}");
    assert!(output.contains("2 failed"), "{output}");
    assert!(output.contains("calls/junk.json: not JSON"), "{output}");
    assert!(
        output.contains(&format!(
            "its recording s3://{}/{gone} is missing",
            archived.bucket
        )),
        "{output}"
    );
    assert!(
        output.contains("1 JSON object(s) that are not confvault sidecars were left alone"),
        "{output}"
    );
    assert_eq!(
        rebuilt.conference("rb-ok").await["recordings"][0]["status"],
        "archived"
    );
    let missing = rebuilt.get_api("/api/v1/conferences/rb-gone").await;
    assert_eq!(
        missing.status(),
        404,
        "no row points at a recording that is not there"
    );
}

#[tokio::test]
async fn a_database_is_rebuilt_from_a_local_archive_directory_too() {
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    media.script(
        "/local.mp3",
        vec![Answer::file(
            "audio/mpeg",
            std::fs::read(fixture("standup.mp3")).unwrap(),
        )],
    );
    let archive = tempfile::tempdir().unwrap();
    let settings = format!(
        "[vobiz]\nauth_token = \"{AUTH_TOKEN}\"\nauth_id = \"{AUTH_ID}\"\nrecording_hosts = [\"{}\"]\n\
         [jobs]\npoll_interval_seconds = 0.05\n[storage]\nkind = \"fs\"\npath = \"{}\"\n",
        media.origin,
        archive.path().display()
    );
    let server = Server::start(&settings);
    server
        .post_callbacks(&[
            enter("rb-local", "c1"),
            end("rb-local").recording(&media.url("/local.mp3")),
        ])
        .await;
    assert_eq!(
        archived_recording(&server, "rb-local").await["status"],
        "archived"
    );
    let before = as_seen(&server.conference("rb-local").await);
    let rebuilt = Server::start(&settings);

    let (ok, output) = rebuilt.cli(&["db", "rebuild"]);

    assert!(ok, "{output}");
    assert!(
        output.contains("1 recording(s) restored (1 conference(s), 1 leg(s))"),
        "{output}"
    );
    assert_eq!(as_seen(&rebuilt.conference("rb-local").await), before);
}

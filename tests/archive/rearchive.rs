//! `confvault recordings rearchive`: moving an archive between stores.

use super::*;

/// A local archive about to move into a bucket: a server archiving into its local directory
/// (with the S3 credentials in its environment, for commands run beside it) that holds one
/// archived recording per conference, and its settings with `[storage]` pointing at an empty
/// bucket.
struct ArchiveToMove {
    server: Server,
    s3: S3,
    bucket: String,
    /// The first conference's recording.
    recording: Value,
    mp3: Vec<u8>,
    /// The settings after the move.
    moved: std::path::PathBuf,
    _media: MediaServer,
}

impl ArchiveToMove {
    async fn new(conferences: &[&str]) -> ArchiveToMove {
        let media = MediaServer::start(Some(AUTH_TOKEN)).await;
        let s3 = S3::from_env();
        let bucket = s3.new_bucket().await;
        let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
        let server = Server::start_with_env(
            &format!(
                "[vobiz]\nauth_token = \"{AUTH_TOKEN}\"\nauth_id = \"{AUTH_ID}\"\nrecording_hosts = [\"{}\"]\n[jobs]\npoll_interval_seconds = 0.05\n",
                media.origin
            ),
            s3.server_env(),
        );
        let mut recordings = Vec::new();
        for conference in conferences {
            let path = format!("/{conference}.mp3");
            media.script(&path, vec![Answer::file("audio/mpeg", mp3.clone())]);
            server
                .post_callbacks(&[
                    enter(conference, "c1"),
                    end(conference).recording(&media.url(&path)),
                ])
                .await;
            let recording = archived_recording(&server, conference).await;
            assert_eq!(recording["status"], "archived", "{recording}");
            recordings.push(recording);
        }
        let recording = recordings.swap_remove(0);
        let old = std::fs::read_to_string(server.dir.path().join("confvault.toml")).unwrap();
        let moved = server.dir.path().join("moved.toml");
        std::fs::write(
            &moved,
            format!(
                "{old}\n[storage]\nkind = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{}\"\nforce_path_style = true\n",
                s3.endpoint
            ),
        )
        .unwrap();
        ArchiveToMove {
            server,
            s3,
            bucket,
            recording,
            mp3,
            moved,
            _media: media,
        }
    }

    /// Where the recording is in the local directory.
    fn local_path(&self) -> std::path::PathBuf {
        self.recording["location"].as_str().unwrap().into()
    }

    /// Runs `recordings rearchive` on the moved settings, from the old ones.
    fn rearchive(&self, options: &[&str]) -> (bool, String) {
        let old = self.server.dir.path().join("confvault.toml");
        let mut args = vec!["recordings", "rearchive", "--from", old.to_str().unwrap()];
        args.extend(options);
        self.server.cli_with_settings(&self.moved, &args)
    }
}

#[tokio::test]
async fn rearchive_moves_a_local_archive_into_a_bucket_and_a_rerun_copies_nothing_twice() {
    let archive = ArchiveToMove::new(&["move"]).await;
    let local = archive.local_path();
    let (server, s3, bucket) = (&archive.server, &archive.s3, &archive.bucket);

    let (ok, out) = archive.rearchive(&[]);

    assert!(ok, "{out}");
    assert!(out.contains("1 copied, 0 already there, 0 failed"), "{out}");
    let archive_dir = server
        .dir
        .path()
        .join("data/archive")
        .canonicalize()
        .unwrap();
    let key = local.strip_prefix(archive_dir).unwrap().to_str().unwrap();
    let (bytes, object) = s3.get(bucket, key).await;
    assert_eq!(bytes, archive.mp3);
    assert_eq!(
        object.metadata().unwrap().get("sha256").unwrap(),
        &sha256_hex(&archive.mp3)
    );
    assert_eq!(object.content_type(), Some("audio/mpeg"));
    let (sidecar, _) = s3.get(bucket, &key.replace(".mp3", ".json")).await;
    let local_sidecar = std::fs::read(local.with_extension("json")).unwrap();
    assert_eq!(sidecar, local_sidecar);
    let after = server.conference("move").await;
    assert_eq!(
        after["recordings"][0]["location"],
        format!("s3://{bucket}/{key}"),
        "{after}"
    );

    let (ok, out) = archive.rearchive(&[]);

    assert!(ok, "{out}");
    assert!(out.contains("0 copied, 1 already there, 0 failed"), "{out}");
}

#[tokio::test]
async fn rearchive_copies_many_recordings_a_few_at_a_time() {
    let conferences = ["many-1", "many-2", "many-3", "many-4", "many-5"];
    let archive = ArchiveToMove::new(&conferences).await;

    let (ok, out) = archive.rearchive(&["--concurrency", "2"]);

    assert!(ok, "{out}");
    assert!(out.contains("5 copied, 0 already there, 0 failed"), "{out}");
    let keys = archive.s3.keys(&archive.bucket).await;
    assert_eq!(
        keys.len(),
        10,
        "five recordings and their sidecars: {keys:?}"
    );
    for conference in conferences {
        let after = archive.server.conference(conference).await;
        let location = after["recordings"][0]["location"].as_str().unwrap();
        assert!(
            location.starts_with(&format!("s3://{}/", archive.bucket)),
            "{location}"
        );
    }
}

#[tokio::test]
async fn rearchive_copies_no_recording_whose_bytes_changed_and_names_it() {
    let archive = ArchiveToMove::new(&["rotted"]).await;
    let mut rotted = archive.mp3.clone();
    let middle = rotted.len() / 2;
    rotted[middle] ^= 0xff;
    std::fs::write(archive.local_path(), &rotted).unwrap();

    let (ok, out) = archive.rearchive(&[]);

    assert!(!ok, "{out}");
    assert!(out.contains("0 copied, 0 already there, 1 failed"), "{out}");
    let id = archive.recording["recording_id"].as_str().unwrap();
    assert!(out.contains(&format!("{id}: ")), "{out}");
    assert!(out.contains("SHA-256"), "{out}");
    assert!(
        archive.s3.keys(&archive.bucket).await.is_empty(),
        "nothing was copied"
    );
    let after = archive.server.conference("rotted").await;
    assert_eq!(
        after["recordings"][0]["location"],
        archive.recording["location"]
    );
}

#[tokio::test]
async fn rearchive_brings_an_archive_back_from_a_bucket_into_the_local_directory() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    media.script("/back.mp3", vec![Answer::file("audio/mpeg", mp3.clone())]);
    let server = Server::start_with_env(
        &s3_settings(&bucket, &s3.endpoint, &[&media.origin], ""),
        s3.server_env(),
    );
    server
        .post_callbacks(&[
            enter("back", "c1"),
            end("back").recording(&media.url("/back.mp3")),
        ])
        .await;
    let recording = archived_recording(&server, "back").await;
    assert_eq!(recording["status"], "archived", "{recording}");
    let old = server.dir.path().join("confvault.toml");
    let settings = std::fs::read_to_string(&old).unwrap();
    let (before_storage, _) = settings.split_once("[storage]").unwrap();
    let moved = server.dir.path().join("local.toml");
    std::fs::write(
        &moved,
        format!(
            "{before_storage}[storage]\nkind = \"fs\"\n{}",
            server.db.settings()
        ),
    )
    .unwrap();

    let (ok, out) = server.cli_with_settings(
        &moved,
        &["recordings", "rearchive", "--from", old.to_str().unwrap()],
    );

    assert!(ok, "{out}");
    assert!(out.contains("1 copied, 0 already there, 0 failed"), "{out}");
    let key = recording["location"]
        .as_str()
        .unwrap()
        .trim_start_matches(&format!("s3://{bucket}/"));
    let local = server.dir.path().join("data/archive").join(key);
    assert_eq!(std::fs::read(&local).unwrap(), mp3);
    let (sidecar, _) = s3.get(&bucket, &key.replace(".mp3", ".json")).await;
    assert_eq!(
        std::fs::read(local.with_extension("json")).unwrap(),
        sidecar
    );
    let after = server.conference("back").await;
    let location = after["recordings"][0]["location"].as_str().unwrap();
    assert_eq!(
        std::path::Path::new(location).canonicalize().unwrap(),
        local.canonicalize().unwrap()
    );
}

#[tokio::test]
async fn a_failed_read_from_the_bucket_never_prints_the_presigned_url() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    media.script("/gone.mp3", vec![Answer::file("audio/mpeg", mp3)]);
    let server = Server::start_with_env(
        &s3_settings(&bucket, &s3.endpoint, &[&media.origin], ""),
        s3.server_env(),
    );
    server
        .post_callbacks(&[
            enter("gone", "c1"),
            end("gone").recording(&media.url("/gone.mp3")),
        ])
        .await;
    let recording = archived_recording(&server, "gone").await;
    let key = recording["location"]
        .as_str()
        .unwrap()
        .trim_start_matches(&format!("s3://{bucket}/"));
    s3.client()
        .delete_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let target = server.dir.path().join("copy.mp3");

    let (ok, out) = server.cli(&[
        "recordings",
        "download",
        recording["recording_id"].as_str().unwrap(),
        "-o",
        target.to_str().unwrap(),
    ]);

    assert!(!ok, "{out}");
    assert!(out.contains("404"), "{out}");
    assert!(!out.contains("X-Amz-Signature"), "{out}");
    assert!(!target.exists());
}

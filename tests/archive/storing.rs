//! Storing recordings: multipart uploads across crashes, encryption settings, the local directory store, and `confvault check`.

use super::*;

/// A recording of `mib` MiB behind an MP3 tag, of bytes that do not repeat.
fn big_recording(mib: u32) -> Vec<u8> {
    let mut big = b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec();
    big.extend((0..mib * 1024 * 1024).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    big
}

/// Settings for multipart uploads of `part_size` bytes, two at a time, through `proxy`, with a
/// short lease so that a restarted process takes over the dead one's job quickly.
fn multipart_settings(bucket: &str, proxy: &Proxy, media: &MediaServer, part_size: u32) -> String {
    format!(
        "{}part_size_bytes = {part_size}\nparts_in_flight = 2\n",
        s3_settings(bucket, &proxy.origin, &[&media.origin], "")
    )
    .replace("[jobs]\n", "[jobs]\nlease_seconds = 5\n")
}

/// The multipart upload checkpointed by the (only) job, once it has at least `parts` parts.
async fn checkpointed_upload(server: &Server, parts: usize) -> Value {
    server
        .eventually("parts to be checkpointed", || async {
            let checkpoint: Option<String> = server
                .sql("SELECT checkpoint FROM jobs")
                .first()
                .and_then(|row| row[0].clone());
            let upload = checkpoint
                .and_then(|c| serde_json::from_str::<Value>(&c).ok())
                .map(|c| c["upload"].clone())?;
            let done = upload["parts"].as_array().map(Vec::len).unwrap_or(0);
            (done >= parts).then_some(upload)
        })
        .await
}

#[tokio::test]
async fn an_interrupted_multipart_upload_resumes_after_a_crash() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let proxy = Proxy::start(s3.endpoint.trim_start_matches("http://"));
    // About 10 s for 50 MiB: time enough to kill the process part-way through.
    proxy.set_rate(5 * 1024 * 1024);
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let big = big_recording(50);
    media.script("/big.mp3", vec![Answer::file("audio/mpeg", big.clone())]);
    let settings = multipart_settings(&bucket, &proxy, &media, 5 * 1024 * 1024);
    let server = Server::start_with_env(&settings, s3.server_env());
    server
        .post_callbacks(&[end("big").recording(&media.url("/big.mp3"))])
        .await;
    checkpointed_upload(&server, 3).await;
    let server = server.crash_and_restart();
    let sent_before_the_crash = proxy.take_part_count();
    proxy.set_rate(0);

    let recording = archived_recording(&server, "big").await;
    assert_eq!(recording["status"], "archived", "{recording}");
    let sent_after = proxy.take_part_count();
    assert!(sent_before_the_crash >= 3, "{sent_before_the_crash}");
    assert!(
        sent_after < 11,
        "resumed: only the missing parts were sent ({sent_after})\n{}",
        server.log()
    );
    let key = recording["location"]
        .as_str()
        .unwrap()
        .trim_start_matches(&format!("s3://{bucket}/"))
        .to_owned();
    let (stored, object) = s3.get(&bucket, &key).await;
    assert_eq!(stored.len(), big.len());
    assert_eq!(sha256_hex(&stored), sha256_hex(&big));
    assert_eq!(object.metadata().unwrap()["sha256"], sha256_hex(&big));
    assert_eq!(
        media.seen().len(),
        1,
        "the spooled download survived the crash"
    );
}

#[tokio::test]
async fn an_upload_that_cannot_be_resumed_after_a_restart_is_aborted_not_left_behind() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let proxy = Proxy::start(s3.endpoint.trim_start_matches("http://"));
    proxy.set_rate(5 * 1024 * 1024);
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let big = big_recording(30);
    media.script("/moved.mp3", vec![Answer::file("audio/mpeg", big.clone())]);
    let settings = multipart_settings(&bucket, &proxy, &media, 5 * 1024 * 1024);
    let server = Server::start_with_env(&settings, s3.server_env());
    server
        .post_callbacks(&[end("moved").recording(&media.url("/moved.mp3"))])
        .await;
    let first_upload = checkpointed_upload(&server, 2).await["upload_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another part size: the parts already sent can never complete this upload.
    let server = server.crash_and_restart_with(&multipart_settings(
        &bucket,
        &proxy,
        &media,
        6 * 1024 * 1024,
    ));
    proxy.set_rate(0);

    let recording = archived_recording(&server, "moved").await;
    assert_eq!(recording["status"], "archived", "{recording}");
    assert_eq!(recording["sha256"], sha256_hex(&big));
    let key = recording["location"]
        .as_str()
        .unwrap()
        .trim_start_matches(&format!("s3://{bucket}/"))
        .to_owned();
    let left = s3
        .client()
        .list_parts()
        .bucket(&bucket)
        .key(&key)
        .upload_id(&first_upload)
        .send()
        .await
        .map(|listed| listed.parts().len())
        .unwrap_or(0);
    assert_eq!(
        left,
        0,
        "the first upload's parts were freed\n{}",
        server.log()
    );
}

#[tokio::test]
async fn encryption_and_storage_class_settings_reach_every_object_written() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let proxy = Proxy::start(s3.endpoint.trim_start_matches("http://"));
    const SENT: [&str; 3] = [
        "x-amz-server-side-encryption: aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id: alias/confvault-test",
        "x-amz-storage-class: STANDARD",
    ];
    for line in SENT {
        proxy.watch(line);
    }
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let big = big_recording(20);
    media.script("/sse.mp3", vec![Answer::file("audio/mpeg", big.clone())]);
    let settings = format!(
        "{}server_side_encryption = \"aws:kms\"\nkms_key_id = \"alias/confvault-test\"\nstorage_class = \"STANDARD\"\n",
        multipart_settings(&bucket, &proxy, &media, 8 * 1024 * 1024)
    );
    let server = Server::start_with_env(&settings, s3.server_env());

    server
        .post_callbacks(&[end("sse").recording(&media.url("/sse.mp3"))])
        .await;

    let recording = archived_recording(&server, "sse").await;
    assert_eq!(recording["status"], "archived", "{recording}");
    // The recording's CreateMultipartUpload and the sidecar's PutObject.
    for line in SENT {
        assert_eq!(proxy.seen(line), 2, "{line}");
    }
}

#[tokio::test]
async fn the_local_directory_store_archives_end_to_end() {
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    media.script("/fs.mp3", vec![Answer::file("audio/mpeg", mp3.clone())]);
    let server = Server::start(&format!(
        "[vobiz]\nauth_token = \"{AUTH_TOKEN}\"\nauth_id = \"{AUTH_ID}\"\nrecording_hosts = [\"{}\"]\n[jobs]\npoll_interval_seconds = 0.05\n",
        media.origin
    ));

    server
        .post_callbacks(&[
            enter("fs", "c1"),
            end("fs").recording(&media.url("/fs.mp3")),
        ])
        .await;

    let recording = archived_recording(&server, "fs").await;
    assert_eq!(recording["status"], "archived", "{recording}");
    let path = std::path::PathBuf::from(recording["location"].as_str().unwrap());
    assert!(
        path.starts_with(
            server
                .dir
                .path()
                .join("data/archive")
                .canonicalize()
                .unwrap()
        ),
        "{path:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), mp3);
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(path.with_extension("json")).unwrap()).unwrap();
    assert_eq!(sidecar["recording"]["sha256"], sha256_hex(&mp3));
    // The job is marked archived before its spool file is removed, so the removal is awaited.
    let spool = server.dir.path().join("data/spool");
    server
        .eventually("the spool to be emptied", || {
            let empty = std::fs::read_dir(&spool).unwrap().next().is_none();
            async move { empty.then_some(()) }
        })
        .await;
}

#[tokio::test]
async fn at_start_the_spool_is_swept_of_what_no_job_will_read_and_keeps_what_a_job_still_needs() {
    // Arrange: one recording archived (its job done) and one whose download keeps failing (its
    // job pending, and held back so it does not run while the test looks).
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    media.script("/done.mp3", vec![Answer::file("audio/mpeg", mp3)]);
    media.script("/later.mp3", vec![Answer::Status(503)]);
    let server = Server::start(&format!(
        "[vobiz]\nauth_token = \"{AUTH_TOKEN}\"\nauth_id = \"{AUTH_ID}\"\nrecording_hosts = [\"{}\"]\n[jobs]\npoll_interval_seconds = 0.05\n",
        media.origin
    ));
    server
        .post_callbacks(&[end("done").recording(&media.url("/done.mp3"))])
        .await;
    assert_eq!(
        archived_recording(&server, "done").await["status"],
        "archived"
    );
    server
        .post_callbacks(&[end("later").recording(&media.url("/later.mp3"))])
        .await;
    let job_of = |conference: &str| {
        server
            .sql(&format!(
                "SELECT j.id, j.subject FROM jobs j JOIN recordings r ON r.recording_id = j.subject \
                 WHERE j.kind = 'archive_recording' AND r.conference_uuid = '{conference}'"
            ))
            .remove(0)
    };
    let (done, later) = (job_of("done"), job_of("later"));
    server
        .eventually("the failing download to be tried", || async {
            let state = server.sql(&format!(
                "SELECT state, attempts FROM jobs WHERE id = {}",
                later[0].as_deref().unwrap()
            ));
            (state[0][0].as_deref() == Some("pending") && state[0][1].as_deref() != Some("0"))
                .then_some(())
        })
        .await;
    server.sql(&format!(
        "UPDATE jobs SET run_at = '2100-01-01T00:00:00.000000Z' WHERE id = {}",
        later[0].as_deref().unwrap()
    ));
    // What a crash between "archived" and the spool file's removal leaves, a file of a job the
    // queue no longer holds, the pending job's partial download, and a file that is not ours.
    let spool = server.dir.path().join("data/spool");
    std::fs::create_dir_all(&spool).unwrap();
    let file = |job: &[Option<String>]| {
        spool.join(format!(
            "{}-{}.download",
            job[0].as_deref().unwrap(),
            job[1].as_deref().unwrap()
        ))
    };
    let (left_behind, partial) = (file(&done), file(&later));
    let unknown = spool.join("987654-conf-gone.download");
    let not_ours = spool.join("notes.txt");
    for path in [&left_behind, &partial, &unknown, &not_ours] {
        std::fs::write(path, b"ID3 partial bytes").unwrap();
    }

    // Act
    let server = server.crash_and_restart();

    // Assert
    server
        .eventually("the sweep to be logged", || {
            let swept = server.log().contains("swept the spool");
            async move { swept.then_some(()) }
        })
        .await;
    assert!(!left_behind.exists(), "the done job's download was swept");
    assert!(!unknown.exists(), "the unknown job's download was swept");
    assert!(partial.exists(), "the pending job's download was kept");
    assert!(
        not_ours.exists(),
        "a file the spool did not name was left alone"
    );
}

#[tokio::test]
async fn check_proves_the_storage_works_and_names_the_failure_when_it_does_not() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let good = Server::start_with_env(
        &s3_settings(&bucket, &s3.endpoint, &[], ""),
        s3.server_env(),
    );
    let (ok, out) = good.cli(&["check"]);
    assert!(ok, "{out}");
    assert!(out.contains("storage is usable"), "{out}");
    assert!(s3.keys(&bucket).await.is_empty(), "the probe was deleted");

    let wrong_secret: Vec<_> = s3
        .server_env()
        .into_iter()
        .map(|(k, v)| {
            if k == "AWS_SECRET_ACCESS_KEY" {
                (k, "wrong".to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    let refused =
        Server::start_with_env(&s3_settings(&bucket, &s3.endpoint, &[], ""), wrong_secret);
    let (ok, out) = refused.cli(&["check"]);
    assert!(!ok, "{out}");
    assert!(out.contains("FAILED to write the probe object"), "{out}");
    assert!(out.contains("403"), "the store's refusal is named: {out}");
}

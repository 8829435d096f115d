//! Archiving end to end: the real server, a media host in the test, and a real S3 server
//! (s3s-fs, started by scripts/test.sh) or the local directory store.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::encode;

use common::media::{AUTH_ID, Answer, MediaServer};
use common::proxy::Proxy;
use common::{AUTH_TOKEN, S3, Server, fixture, sha256_hex};
use serde_json::Value;

fn enter(conference: &str, call: &str) -> String {
    format!(
        "ConferenceAction=enter&ConferenceUUID={conference}&ConferenceName=Weekly%20Standup&CallUUID={call}&From=918071387423&To=919624705678&ConferenceCurrentSize=1&Timestamp=2026-05-19+10%3A32%3A15"
    )
}

fn end(conference: &str, recording_url: &str, time: &str) -> String {
    format!(
        "ConferenceAction=end&ConferenceUUID={conference}&ConferenceName=Weekly%20Standup&CallUUID=c1&ConferenceCurrentSize=0&RecordingUrl={}&Timestamp=2026-05-19+{}",
        encode(recording_url),
        encode(time),
    )
}

/// Settings for a server archiving into `bucket` through `endpoint`, fetching from `hosts`.
fn s3_settings(bucket: &str, endpoint: &str, hosts: &[&str], extra_vobiz: &str) -> String {
    let hosts: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    format!(
        "[vobiz]\nauth_token = \"{AUTH_TOKEN}\"\nauth_id = \"{AUTH_ID}\"\nrecording_hosts = [{}]\n{extra_vobiz}\n\
         [jobs]\nretry_base_seconds = 0.05\nretry_max_seconds = 0.2\npoll_interval_seconds = 0.05\n\
         [storage]\nkind = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{endpoint}\"\nforce_path_style = true\nprefix = \"calls\"\n",
        hosts.join(", ")
    )
}

async fn archived_recording(server: &Server, conference: &str) -> Value {
    server
        .eventually("the recording to be archived or to fail", || async {
            let c = server.conference(conference).await;
            let recording = c["recordings"].get(0)?.clone();
            matches!(recording["status"].as_str(), Some("archived" | "failed")).then_some(recording)
        })
        .await
}

#[tokio::test]
async fn an_end_with_a_recording_archives_it_into_s3_with_its_checksum_and_a_sidecar() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    media.script("/conf-1.mp3", vec![Answer::file("audio/mpeg", mp3.clone())]);
    let server = Server::start_with_env(
        &s3_settings(&bucket, &s3.endpoint, &[&media.origin], ""),
        s3.server_env(),
    );

    server
        .post_callbacks(&[
            enter("conf-1", "c1"),
            end("conf-1", &media.url("/conf-1.mp3"), "10:58:47"),
        ])
        .await;

    let recording = archived_recording(&server, "conf-1").await;
    assert_eq!(recording["status"], "archived", "{recording}");
    assert_eq!(recording["format"], "mp3");
    assert_eq!(recording["size_bytes"], mp3.len());
    assert_eq!(recording["sha256"], sha256_hex(&mp3));
    assert_eq!(recording["attempts"], 1);
    let key = "calls/2026/05/19/Weekly_Standup/conf-1-";
    let location = recording["location"].as_str().unwrap();
    assert!(
        location.starts_with(&format!("s3://{bucket}/{key}")),
        "{location}"
    );
    let object_key = location.trim_start_matches(&format!("s3://{bucket}/"));
    let (bytes, object) = s3.get(&bucket, object_key).await;
    assert_eq!(bytes, mp3);
    assert_eq!(object.content_type(), Some("audio/mpeg"));
    assert_eq!(object.metadata().unwrap()["sha256"], sha256_hex(&mp3));

    let sidecar_key = object_key.replace(".mp3", ".json");
    let (sidecar, _) = s3.get(&bucket, &sidecar_key).await;
    let sidecar: Value = serde_json::from_slice(&sidecar).unwrap();
    assert_eq!(sidecar["schema"], "confvault.recording/1");
    assert_eq!(sidecar["recording"]["sha256"], sha256_hex(&mp3));
    assert_eq!(sidecar["recording"]["source_url"], media.url("/conf-1.mp3"));
    assert_eq!(sidecar["conference"]["name"], "Weekly Standup");
    assert_eq!(sidecar["participants"][0]["from"], "918071387423");

    let fetched = media.seen();
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].headers["x-auth-id"], AUTH_ID);
    assert!(
        !server.log().contains(AUTH_TOKEN),
        "the token never reaches the log"
    );
}

#[tokio::test]
async fn a_wav_served_under_an_mp3_name_by_a_record_stop_is_archived_as_wav() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let wav = std::fs::read(fixture("standup-stereo8k.wav")).unwrap();
    media.script("/rec-9.mp3", vec![Answer::file("audio/mpeg", wav.clone())]);
    let server = Server::start_with_env(
        &s3_settings(
            &bucket,
            &s3.endpoint,
            &[&media.origin],
            "end_quiet_seconds = 1",
        ),
        s3.server_env(),
    );
    let live_enter = "ConferenceAction=enter&Event=ConferenceEnter&ConferenceUUID=live-9&ConferenceName=Sales&ConferenceMemberID=3&CallUUID=leg-9&From=918071387423&To=1";
    let live_exit = "ConferenceAction=exit&Event=ConferenceExit&ConferenceUUID=live-9&ConferenceName=Sales&ConferenceMemberID=3&ConferenceLastMember=true&CallUUID=leg-9";
    let stop = format!(
        "Event=RecordStop&RecordingID=rec-9&RecordUrl={}&RecordingDuration=12&CallUUID=leg-9",
        encode(&media.url("/rec-9.mp3"))
    );

    server.post_callbacks(&[live_enter]).await;
    assert_eq!(
        server.post_signed("/vobiz/recording", &stop).await.status(),
        200
    );
    server.post_callbacks(&[live_exit]).await;

    let recording = archived_recording(&server, "live-9").await;
    assert_eq!(recording["status"], "archived", "{recording}");
    assert_eq!(recording["format"], "wav");
    let location = recording["location"].as_str().unwrap();
    assert!(location.ends_with("/live-9-rec-9.wav"), "{location}");
    let (bytes, object) = s3
        .get(
            &bucket,
            location.trim_start_matches(&format!("s3://{bucket}/")),
        )
        .await;
    assert_eq!(sha256_hex(&bytes), sha256_hex(&wav));
    assert_eq!(object.content_type(), Some("audio/wav"));
}

#[tokio::test]
async fn a_recording_that_is_not_ready_twice_is_archived_on_the_third_try() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup-noid3.mp3")).unwrap();
    media.script(
        "/late.mp3",
        vec![
            Answer::Status(404),
            Answer::Status(404),
            Answer::file("audio/mpeg", mp3.clone()),
        ],
    );
    let server = Server::start_with_env(
        &s3_settings(&bucket, &s3.endpoint, &[&media.origin], ""),
        s3.server_env(),
    );

    server
        .post_callbacks(&[end("late", &media.url("/late.mp3"), "10:58:47")])
        .await;

    let recording = archived_recording(&server, "late").await;
    assert_eq!(recording["status"], "archived", "{recording}");
    assert_eq!(recording["attempts"], 3);
    assert_eq!(recording["sha256"], sha256_hex(&mp3));
    assert_eq!(media.seen().len(), 3);
}

#[tokio::test]
async fn a_recording_cut_short_of_its_content_length_is_fetched_again_and_archived_whole() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    let half = mp3[..mp3.len() / 2].to_vec();
    media.script(
        "/cut.mp3",
        vec![
            Answer::Truncated {
                declared: mp3.len(),
                bytes: std::sync::Arc::new(half),
            },
            Answer::file("audio/mpeg", mp3.clone()),
        ],
    );
    let server = Server::start_with_env(
        &s3_settings(&bucket, &s3.endpoint, &[&media.origin], ""),
        s3.server_env(),
    );

    server
        .post_callbacks(&[end("cut", &media.url("/cut.mp3"), "10:58:47")])
        .await;

    let recording = archived_recording(&server, "cut").await;
    assert_eq!(recording["status"], "archived", "{recording}");
    assert_eq!(recording["attempts"], 2);
    assert_eq!(recording["size_bytes"], mp3.len());
    assert_eq!(recording["sha256"], sha256_hex(&mp3));
    let key = recording["location"]
        .as_str()
        .unwrap()
        .trim_start_matches(&format!("s3://{bucket}/"));
    assert_eq!(s3.get(&bucket, key).await.0, mp3);
    assert_eq!(media.seen().len(), 2);
}

#[tokio::test]
async fn a_download_that_stalls_past_the_read_timeout_is_tried_again() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    media.script(
        "/stall.mp3",
        vec![
            Answer::Stall {
                declared: mp3.len(),
                bytes: std::sync::Arc::new(mp3[..4096].to_vec()),
            },
            Answer::file("audio/mpeg", mp3.clone()),
        ],
    );
    let server = Server::start_with_env(
        &s3_settings(
            &bucket,
            &s3.endpoint,
            &[&media.origin],
            "download_read_timeout_seconds = 1",
        ),
        s3.server_env(),
    );

    server
        .post_callbacks(&[end("stall", &media.url("/stall.mp3"), "10:58:47")])
        .await;

    let recording = archived_recording(&server, "stall").await;
    assert_eq!(recording["status"], "archived", "{recording}");
    assert_eq!(recording["attempts"], 2);
    assert_eq!(recording["sha256"], sha256_hex(&mp3));
    assert_eq!(media.seen().len(), 2);
}

#[tokio::test]
async fn a_recording_over_the_size_cap_fails_at_once_without_being_stored() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    media.script("/huge.mp3", vec![Answer::file("audio/mpeg", mp3.clone())]);
    let server = Server::start_with_env(
        &format!(
            "{}[archive]\nmax_bytes = {}\n",
            s3_settings(&bucket, &s3.endpoint, &[&media.origin], ""),
            mp3.len() - 1
        ),
        s3.server_env(),
    );

    server
        .post_callbacks(&[end("huge", &media.url("/huge.mp3"), "10:58:47")])
        .await;

    let recording = archived_recording(&server, "huge").await;
    assert_eq!(recording["status"], "failed", "{recording}");
    assert_eq!(recording["attempts"], 1);
    let error = recording["last_error"].as_str().unwrap();
    assert!(error.contains("archive.max_bytes"), "{error}");
    assert!(s3.keys(&bucket).await.is_empty());
}

#[tokio::test]
async fn an_html_error_page_served_with_200_is_never_archived_and_can_be_retried_later() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let page = std::fs::read(fixture("error-page.html")).unwrap();
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    media.script(
        "/expired.mp3",
        vec![
            Answer::file("text/html", page),
            Answer::file("audio/mpeg", mp3),
        ],
    );
    let server = Server::start_with_env(
        &s3_settings(&bucket, &s3.endpoint, &[&media.origin], ""),
        s3.server_env(),
    );

    server
        .post_callbacks(&[end("expired", &media.url("/expired.mp3"), "10:58:47")])
        .await;

    let recording = archived_recording(&server, "expired").await;
    assert_eq!(recording["status"], "failed");
    assert_eq!(
        recording["attempts"], 1,
        "not audio is permanent: no retries"
    );
    let error = recording["last_error"].as_str().unwrap();
    assert!(
        error.contains("HTML page") && error.contains("Session expired"),
        "{error}"
    );
    assert!(s3.keys(&bucket).await.is_empty(), "nothing was stored");

    let (ok, listed) = server.cli(&["jobs", "list", "--state", "failed"]);
    assert!(ok && listed.contains("Session expired"), "{listed}");
    let (ok, out) = server.cli(&["jobs", "retry", "--all-failed"]);
    assert!(ok && out.contains("1 job(s) queued again"), "{out}");
    assert!(out.contains("retrying failed jobs: 1/1 (100%)"), "{out}");
    let recording = server
        .eventually("the retried job to archive", || async {
            let r = server.conference("expired").await["recordings"][0].clone();
            (r["status"] == "archived").then_some(r)
        })
        .await;
    assert_eq!(recording["format"], "mp3");
}

#[tokio::test]
async fn an_origin_not_on_the_list_is_never_contacted() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let listed = MediaServer::start(Some(AUTH_TOKEN)).await;
    let stranger = MediaServer::start(None).await;
    let server = Server::start_with_env(
        &s3_settings(&bucket, &s3.endpoint, &[&listed.origin], ""),
        s3.server_env(),
    );

    server
        .post_callbacks(&[end("stranger", &stranger.url("/r.mp3"), "10:58:47")])
        .await;

    let recording = archived_recording(&server, "stranger").await;
    assert_eq!(recording["status"], "failed");
    assert!(
        recording["last_error"]
            .as_str()
            .unwrap()
            .contains("not in vobiz.recording_hosts")
    );
    assert!(stranger.seen().is_empty(), "never contacted");
}

#[tokio::test]
async fn a_redirect_to_a_private_address_not_listed_is_refused() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let listed = MediaServer::start(Some(AUTH_TOKEN)).await;
    let internal = MediaServer::start(None).await;
    listed.script("/r.mp3", vec![Answer::Redirect(internal.url("/r.mp3"))]);
    let server = Server::start_with_env(
        &s3_settings(&bucket, &s3.endpoint, &[&listed.origin], ""),
        s3.server_env(),
    );

    server
        .post_callbacks(&[end("ssrf", &listed.url("/r.mp3"), "10:58:47")])
        .await;

    let recording = archived_recording(&server, "ssrf").await;
    assert_eq!(recording["status"], "failed");
    assert!(
        recording["last_error"]
            .as_str()
            .unwrap()
            .contains("private address"),
        "{recording}"
    );
    assert!(internal.seen().is_empty());
}

#[tokio::test]
async fn a_redirect_to_another_host_is_followed_without_credentials() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let listed = MediaServer::start(Some(AUTH_TOKEN)).await;
    let cdn = MediaServer::start(None).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    listed.script("/r.mp3", vec![Answer::Redirect(cdn.url("/signed/r.mp3"))]);
    cdn.script(
        "/signed/r.mp3",
        vec![Answer::file("audio/mpeg", mp3.clone())],
    );
    let server = Server::start_with_env(
        &s3_settings(
            &bucket,
            &s3.endpoint,
            &[&listed.origin],
            "allow_private_addresses = true",
        ),
        s3.server_env(),
    );

    server
        .post_callbacks(&[end("cdn", &listed.url("/r.mp3"), "10:58:47")])
        .await;

    let recording = archived_recording(&server, "cdn").await;
    assert_eq!(recording["status"], "archived", "{recording}");
    assert_eq!(listed.seen()[0].headers["x-auth-id"], AUTH_ID);
    let at_cdn = &cdn.seen()[0].headers;
    assert!(
        !at_cdn.contains_key("x-auth-id") && !at_cdn.contains_key("x-auth-token"),
        "{at_cdn:?}"
    );
}

#[tokio::test]
async fn a_duplicate_end_archives_once() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    media.script(
        "/dup.mp3",
        vec![Answer::file(
            "audio/mpeg",
            std::fs::read(fixture("standup.mp3")).unwrap(),
        )],
    );
    let server = Server::start_with_env(
        &s3_settings(&bucket, &s3.endpoint, &[&media.origin], ""),
        s3.server_env(),
    );
    let first = end("dup", &media.url("/dup.mp3"), "10:58:47");
    let resent_later = end("dup", &media.url("/dup.mp3"), "10:58:49");

    server
        .post_callbacks(&[first.clone(), first, resent_later])
        .await;
    archived_recording(&server, "dup").await;
    let conference = server.conference("dup").await;

    assert_eq!(conference["recordings"].as_array().unwrap().len(), 1);
    assert_eq!(
        conference["ended_at"], "2026-05-19T10:58:47Z",
        "the first end wins"
    );
    assert_eq!(media.seen().len(), 1, "downloaded once");
    assert_eq!(
        s3.keys(&bucket).await.len(),
        2,
        "one recording and its sidecar"
    );
}

#[tokio::test]
async fn a_recording_arrives_once_storage_comes_back() {
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let proxy = Proxy::start(s3.endpoint.trim_start_matches("http://"));
    proxy.set_down(true);
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    media.script("/outage.mp3", vec![Answer::file("audio/mpeg", mp3.clone())]);
    let server = Server::start_with_env(
        &s3_settings(&bucket, &proxy.origin, &[&media.origin], ""),
        s3.server_env(),
    );

    server
        .post_callbacks(&[end("outage", &media.url("/outage.mp3"), "10:58:47")])
        .await;
    let failing = server
        .eventually("a few failed attempts while storage is down", || async {
            let r = server.conference("outage").await["recordings"][0].clone();
            (r["attempts"].as_i64() >= Some(3)).then_some(r)
        })
        .await;
    assert_eq!(failing["status"], "archiving");
    assert!(
        failing["last_error"]
            .as_str()
            .unwrap()
            .starts_with("storage:"),
        "{failing}"
    );
    proxy.set_down(false);

    let recording = archived_recording(&server, "outage").await;
    assert_eq!(recording["status"], "archived", "{recording}");
    assert_eq!(
        media.seen().len(),
        1,
        "the download was kept, not fetched again"
    );
    let key = recording["location"]
        .as_str()
        .unwrap()
        .trim_start_matches(&format!("s3://{bucket}/"))
        .to_owned();
    assert_eq!(sha256_hex(&s3.get(&bucket, &key).await.0), sha256_hex(&mp3));
}

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
                .database()
                .query_row("SELECT checkpoint FROM jobs", [], |r| r.get(0))
                .ok()
                .flatten();
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
        .post_callbacks(&[end("big", &media.url("/big.mp3"), "10:58:47")])
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
        .post_callbacks(&[end("moved", &media.url("/moved.mp3"), "10:58:47")])
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
        .post_callbacks(&[end("sse", &media.url("/sse.mp3"), "10:58:47")])
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
            end("fs", &media.url("/fs.mp3"), "10:58:47"),
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
    assert!(
        std::fs::read_dir(server.dir.path().join("data/spool"))
            .unwrap()
            .next()
            .is_none(),
        "spool emptied"
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
                    end(conference, &media.url(&path), "10:58:47"),
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
            end("back", &media.url("/back.mp3"), "10:58:47"),
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
        format!("{before_storage}[storage]\nkind = \"fs\"\n"),
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
            end("gone", &media.url("/gone.mp3"), "10:58:47"),
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

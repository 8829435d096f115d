//! Fetching recordings: formats, retries, size caps, error pages, origins and redirects.

use super::*;

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
            end("conf-1").recording(&media.url("/conf-1.mp3")),
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
        .post_callbacks(&[end("late").recording(&media.url("/late.mp3"))])
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
        .post_callbacks(&[end("cut").recording(&media.url("/cut.mp3"))])
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
        .post_callbacks(&[end("stall").recording(&media.url("/stall.mp3"))])
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
        .post_callbacks(&[end("huge").recording(&media.url("/huge.mp3"))])
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
        .post_callbacks(&[end("expired").recording(&media.url("/expired.mp3"))])
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
        .post_callbacks(&[end("stranger").recording(&stranger.url("/r.mp3"))])
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
        .post_callbacks(&[end("ssrf").recording(&listed.url("/r.mp3"))])
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
        .post_callbacks(&[end("cdn").recording(&listed.url("/r.mp3"))])
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
    let first = end("dup").recording(&media.url("/dup.mp3"));
    let resent_later = end("dup").recording(&media.url("/dup.mp3")).at("10:58:49");

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
        .post_callbacks(&[end("outage").recording(&media.url("/outage.mp3"))])
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

//! Archiving end to end: the real server, a media host in the test, and a real S3 server
//! (s3s-fs, started by scripts/test.sh) or the local directory store. One test binary, a
//! module per topic: fetching a recording, storing it, moving an archive.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

#[path = "../common/mod.rs"]
mod common;
mod fetching;
mod rearchive;
mod rebuild;
mod storing;
mod transcripts;

use common::callbacks::{end, enter};
use common::encode;

use common::media::{AUTH_ID, Answer, MediaServer};
use common::proxy::Proxy;
use common::{AUTH_TOKEN, S3, Server, fixture, sha256_hex};
use serde_json::Value;

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

//! `confvault demo --exit` from a fresh directory: it archives both recordings with sidecars,
//! writes the summaries to the outbox, delivers signed webhooks to its own receiver, rebuilds a
//! second database from the archive alone, prints where everything is, and exits 0; and it does
//! all of that again in the same directory.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::process::Command;

use sha2::{Digest, Sha256};

fn demo(dir: &std::path::Path) -> (std::process::Output, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_confvault"))
        .args(["demo", "--exit", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

fn field<'a>(output: &'a str, label: &str) -> Vec<&'a str> {
    output
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix(label))
        .map(str::trim)
        .collect()
}

#[test]
fn the_demo_archives_both_recordings_mails_the_summaries_and_says_where_they_are() {
    let dir = tempfile::tempdir().unwrap();

    let (output, stdout, stderr) = demo(&dir.path().join("demo"));

    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let recordings = field(&stdout, "recording ");
    let sidecars = field(&stdout, "sidecar ");
    assert_eq!(
        recordings.len(),
        3,
        "two from callbacks, one found by the account sync: {stdout}"
    );
    assert!(stdout.contains("found by the account sync"), "{stdout}");
    for (recording, sidecar) in recordings.iter().zip(&sidecars) {
        let audio = std::fs::read(recording).unwrap();
        assert_eq!(&audio[..4], b"RIFF", "{recording}");
        let sidecar: serde_json::Value =
            serde_json::from_slice(&std::fs::read(sidecar).unwrap()).unwrap();
        assert_eq!(
            sidecar["recording"]["sha256"],
            hex::encode(Sha256::digest(&audio)),
            "{sidecar}"
        );
        assert!(stdout.contains(&hex::encode(Sha256::digest(&audio))));
    }
    let support: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sidecars[1]).unwrap()).unwrap();
    assert!(
        support["transcript"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Thanks for calling support.")),
        "the live call's transcription is in its sidecar: {support}"
    );
    assert_eq!(field(&stdout, "transcript ").len(), 1, "{stdout}");
    let synced: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sidecars[2]).unwrap()).unwrap();
    assert_eq!(
        synced["vobiz"]["recording_type"], "call",
        "the REST facts: {synced}"
    );
    assert_eq!(synced["conference"], serde_json::Value::Null);
    let emails = field(&stdout, "email ");
    assert_eq!(emails.len(), 2, "{stdout}");
    for email in emails {
        let path = email.rsplit("written to ").next().unwrap();
        let message = std::fs::read_to_string(path).unwrap();
        assert!(message.contains("To: team@example.com"), "{message}");
        assert!(message.contains("/r/"), "a recording link: {message}");
    }
    let supported = stdout
        .lines()
        .any(|l| l.contains("live shape") || l.contains("documented shape"));
    assert!(supported, "{stdout}");
    let web = field(&stdout, "web page:");
    assert!(
        web.len() == 1 && web[0].starts_with("http://127.0.0.1:") && web[0].contains("/signin/"),
        "{stdout}"
    );
    assert!(
        !stderr.contains(" INFO "),
        "the demo's log shows only trouble by default:\n{stderr}"
    );
    let rebuilt = field(&stdout, "rebuilt:");
    assert!(
        rebuilt.len() == 1
            && rebuilt[0].contains("rebuilt.db from the archive alone")
            && rebuilt[0].contains("this run's 2 conferences, 3 recordings and "),
        "{stdout}"
    );
    assert!(dir.path().join("demo/rebuilt.db").is_file());
    let webhooks = field(&stdout, "webhooks ");
    assert!(
        webhooks.len() == 1
            && webhooks[0].starts_with("8 taken at http://127.0.0.1:")
            && webhooks[0].ends_with(
                "conference.ended ×2, recording.archived ×3, recording.transcribed ×1, summary.sent ×2"
            ),
        "{stdout}"
    );
}

#[test]
fn the_demo_runs_again_in_the_same_directory_and_finds_its_new_unannounced_call() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _, _) = demo(&dir.path().join("demo"));
    assert!(first.status.success());

    let (again, stdout, stderr) = demo(&dir.path().join("demo"));

    assert!(
        again.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let synced = field(&stdout, "recording ");
    assert!(
        synced.len() == 3 && synced[2].contains("lost-callback"),
        "{stdout}"
    );
    assert!(
        stdout.contains("6 recording(s) restored") && field(&stdout, "rebuilt:").len() == 1,
        "the second rebuild starts afresh and finds both runs' recordings: {stdout}"
    );
    assert!(
        !stderr.contains(" WARN ") && !stderr.contains(" ERROR "),
        "{stderr}"
    );
}

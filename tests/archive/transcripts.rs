//! Transcriptions: posted by Vobiz to the recording endpoint, shown by the API, written into
//! the recording's sidecar, and brought back by a rebuild.

use super::rebuild::ArchivedBucket;
use super::*;

#[tokio::test]
async fn a_long_transcription_reaches_the_api_the_sidecar_and_a_rebuilt_database() {
    let archived = ArchivedBucket::new(&["tr-1"]).await;
    let server = &archived.server;
    let id = server.first_recording("tr-1").await;
    // Longer than any other callback may be: a meeting's worth of words.
    let text = "Welcome to the board review, everyone. ".repeat(3000);

    server
        .transcribe(
            &id,
            &format!(
                "transcription_id=t-1&transcription={}&transcription_charge=0.05",
                encode(&text)
            ),
        )
        .await;

    let (ok, table) = server.cli(&["conferences", "show", "tr-1"]);
    assert!(ok, "{table}");
    assert!(
        table.contains("    said   \"Welcome to the board review, everyone. Welcome")
            && table.contains("…\" (116999 characters; --json has all of them)"),
        "{table}"
    );
    let shown = server.get_json(&format!("/api/v1/recordings/{id}")).await;
    assert_eq!(shown["transcript"]["text"], text.trim());
    assert_eq!(shown["transcript"]["transcription_id"], "t-1");
    let sidecar = server
        .eventually(
            "the transcription to be written into the sidecar",
            || async {
                let sidecar = server
                    .get_json(&format!("/api/v1/recordings/{id}/sidecar"))
                    .await;
                sidecar["transcript"].is_object().then_some(sidecar)
            },
        )
        .await;
    assert_eq!(sidecar["transcript"]["text"], text.trim());
    assert_eq!(sidecar["recording"]["recording_id"], id.as_str());
    server
        .eventually(
            "the transcript job to show as done with its conference",
            || async {
                let jobs = server.conference("tr-1").await["jobs"].clone();
                jobs.as_array()?
                    .iter()
                    .any(|j| j["kind"] == "archive_transcript" && j["state"] == "done")
                    .then_some(())
            },
        )
        .await;
    let rebuilt = archived.server_on_a_new_database();
    let (ok, output) = rebuilt.cli(&["db", "rebuild"]);
    assert!(ok, "{output}");
    let restored = rebuilt.get_json(&format!("/api/v1/recordings/{id}")).await;
    assert_eq!(restored["transcript"]["text"], text.trim());
    assert_eq!(
        rebuilt
            .db
            .number("SELECT COUNT(*) FROM jobs WHERE state <> 'done'"),
        0
    );
}

#[tokio::test]
async fn a_failed_transcription_is_shown_with_its_reason_and_a_later_text_replaces_it() {
    let archived = ArchivedBucket::new(&["tr-2"]).await;
    let server = &archived.server;
    let id = server.first_recording("tr-2").await;

    server
        .transcribe(
            &id,
            "transcription=&error=Recording+duration+too+long+for+transcription",
        )
        .await;
    let shown_failed = server.get_json(&format!("/api/v1/recordings/{id}")).await;
    let (_, failed_table) = server.cli(&["conferences", "show", "tr-2"]);
    server
        .transcribe(&id, "transcription_id=t-2&transcription=Short+after+all")
        .await;

    assert_eq!(shown_failed["transcript"]["text"], Value::Null);
    assert_eq!(
        shown_failed["transcript"]["error"],
        "Recording duration too long for transcription"
    );
    let sidecar = server
        .eventually("the text to replace the failure in the sidecar", || async {
            let sidecar = server
                .get_json(&format!("/api/v1/recordings/{id}/sidecar"))
                .await;
            (sidecar["transcript"]["text"] == "Short after all").then_some(sidecar)
        })
        .await;
    assert_eq!(sidecar["transcript"]["error"], Value::Null);
    assert!(
        failed_table.contains("    not transcribed: Recording duration too long for transcription"),
        "{failed_table}"
    );
    let (_, table) = server.cli(&["conferences", "show", "tr-2"]);
    assert!(table.contains("    said   \"Short after all\""), "{table}");
}

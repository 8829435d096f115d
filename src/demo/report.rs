//! What the demo prints when it is done: where each conference's recordings, sidecars,
//! transcripts and summaries landed, the recording the account sync found, and the webhooks
//! that arrived.

use crate::db::catalog::RecordingDetail;
use crate::db::model::{Recording, SentRow};

use super::Played;
use super::webhook_sink::{Taken, counts};

/// A played conference's recordings and summary messages.
pub(super) struct Found {
    pub recordings: Vec<Recording>,
    pub mail: Vec<SentRow>,
}

pub(super) fn report(
    base: &str,
    played: &[Played],
    (found, synced): &(Vec<Found>, RecordingDetail),
    webhooks: (&str, &[Taken]),
) -> String {
    let mut out = String::from("\nconfvault demo: done\n");
    for (conference, found) in played.iter().zip(found) {
        out.push_str(&format!(
            "\n{} ({})\n  web page    {base}/conferences/{}\n",
            conference.name, conference.shape, conference.uuid
        ));
        for r in &found.recordings {
            out.push_str(&archived_lines(r.location.as_deref(), r.sha256.as_deref()));
            if let Some(text) = r.transcript.as_ref().and_then(|t| t.text.as_deref()) {
                out.push_str(&format!("  transcript  \"{text}\" (in the sidecar too)\n"));
            }
        }
        for m in &found.mail {
            out.push_str(&format!(
                "  email       {} to {}: {}\n",
                if m.ok { "sent" } else { "failed" },
                m.recipient,
                m.detail.as_deref().unwrap_or("")
            ));
        }
    }
    out.push_str(&format!(
        "\nA call no callback announced, found by the account sync\n  web page    {base}/recordings\n"
    ));
    out.push_str(&archived_lines(
        synced.location.as_deref(),
        synced.entry.sha256.as_deref(),
    ));
    let (url, taken) = webhooks;
    out.push_str(&format!(
        "\nWebhooks, each signature checked by the receiver\n  webhooks    {} taken at {url}: {}\n",
        taken.len(),
        counts(taken)
    ));
    out.push('\n');
    out
}

/// Where an archived recording and its sidecar are, and its checksum.
fn archived_lines(location: Option<&str>, sha256: Option<&str>) -> String {
    let location = location.unwrap_or("?");
    format!(
        "  recording   {location}\n  sidecar     {}\n  sha256      {}\n",
        crate::sidecar::sidecar_key(location),
        sha256.unwrap_or("?"),
    )
}

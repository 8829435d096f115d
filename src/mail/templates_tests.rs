//! Snapshot tests of the rendered email templates (insta): a change to a template shows up as
//! a reviewed diff of the exact text people receive.

use chrono::TimeZone;

use super::*;
use crate::db::model::{Conference, Participant, Status};
use crate::mail::recipients::Directory;
use crate::mail::summary::{self, RecordingFacts};

fn at(h: u32, m: u32, s: u32) -> Option<crate::time::Instant> {
    Some(chrono::Utc.with_ymd_and_hms(2026, 5, 19, h, m, s).unwrap())
}

fn leg(
    call: &str,
    from: &str,
    joined: Option<crate::time::Instant>,
    left: Option<crate::time::Instant>,
) -> Participant {
    Participant {
        call_uuid: call.into(),
        member_id: None,
        from: Some(from.into()),
        to: Some("919624705678".into()),
        direction: None,
        joined_at: joined,
        left_at: left,
    }
}

fn view(name: &str, recordings: Vec<RecordingFacts>) -> summary::SummaryView {
    let conference = Conference {
        conference_uuid: "3f9a1b2c".into(),
        name: name.into(),
        status: Status::Ended,
        started_at: at(10, 0, 0),
        ended_at: at(10, 30, 0),
        end_reason: None,
        peak_size: None,
    };
    let legs = vec![
        leg("a", "918071387423", at(10, 0, 0), at(10, 30, 0)),
        leg("b", "+918071387424", at(10, 2, 0), at(10, 10, 0)),
        leg(
            "c",
            "sip:918071387424@sip.vobiz.ai",
            at(10, 12, 0),
            at(10, 25, 30),
        ),
    ];
    let directory = Directory::load(
        &[crate::config::DirectoryEntry {
            number: "918071387423".into(),
            name: "Asha Rao".into(),
            email: None,
        }],
        None,
    )
    .unwrap();
    summary::build(
        &conference,
        &legs,
        recordings,
        &directory,
        chrono_tz::Asia::Kolkata,
    )
}

fn archived() -> RecordingFacts {
    RecordingFacts {
        format: Some("mp3".into()),
        size_bytes: Some(39_705),
        duration_ms: Some(1_800_000),
        link: Some("https://calls.example.com/r/TOKEN".into()),
        archived: true,
        error: None,
    }
}

#[test]
fn the_summary_renders_the_roster_and_the_recording_link() {
    let rendered = Templates::load(None)
        .unwrap()
        .render("summary", &view("Weekly Standup", vec![archived()]))
        .unwrap();
    insta::assert_snapshot!("summary_subject", rendered.subject);
    insta::assert_snapshot!("summary_text", rendered.text);
    insta::assert_snapshot!("summary_html", rendered.html);
}

#[test]
fn a_failed_archive_and_a_missing_recording_are_said_plainly() {
    let failed = RecordingFacts {
        archived: false,
        error: Some("download: not a recording: received an HTML page".into()),
        link: None,
        ..archived()
    };
    let templates = Templates::load(None).unwrap();
    insta::assert_snapshot!(
        "summary_failed_text",
        templates
            .render("summary", &view("Standup", vec![failed]))
            .unwrap()
            .text
    );
    let none = templates
        .render("summary", &view("Standup", vec![]))
        .unwrap()
        .text;
    assert!(none.contains("This conference was not recorded."), "{none}");
}

#[test]
fn a_hostile_conference_name_is_escaped_in_html_and_kept_in_text() {
    let rendered = Templates::load(None)
        .unwrap()
        .render(
            "summary",
            &view("<script>alert(1)</script>", vec![archived()]),
        )
        .unwrap();
    assert!(!rendered.html.contains("<script>"), "{}", rendered.html);
    assert!(
        rendered
            .html
            .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{}",
        rendered.html
    );
    assert!(rendered.text.starts_with("<script>alert(1)</script>"));
}

#[test]
fn a_templates_directory_overrides_one_template_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("summary.subject.txt"),
        "Réunion : {{ conference_name }}",
    )
    .unwrap();
    let rendered = Templates::load(Some(dir.path()))
        .unwrap()
        .render("summary", &view("Équipe", vec![]))
        .unwrap();
    assert_eq!(rendered.subject, "Réunion : Équipe");
    assert!(rendered.text.contains("Attendees"));
}

#[test]
fn messages_carry_both_parts_and_encode_a_non_ascii_subject() {
    let rendered = Templates::load(None)
        .unwrap()
        .render("summary", &view("週次ミーティング", vec![archived()]))
        .unwrap();
    let from: Mailbox = "confvault <cv@example.com>".parse().unwrap();
    let message = message(
        &rendered,
        &from,
        None,
        "a@example.com".parse().unwrap(),
        "<id@confvault>",
    )
    .unwrap();
    let raw = String::from_utf8(message.formatted()).unwrap();
    assert!(raw.contains("multipart/alternative"), "{raw}");
    assert!(raw.contains("text/plain") && raw.contains("text/html"));
    assert!(
        raw.contains("Subject: Meeting summary: =?utf-8?b?"),
        "RFC 2047 encoded: {raw}"
    );
}

#[test]
fn the_sign_in_message_carries_its_link_and_lifetime_in_both_parts() {
    let link = "https://calls.example.test/signin/abc-DEF_123";
    let rendered = Templates::load(None)
        .unwrap()
        .render(
            "signin",
            &minijinja::context! { email => "asha@example.test", link => link, minutes => 15 },
        )
        .unwrap();

    assert_eq!(rendered.subject, "Your confvault sign-in link");
    assert!(rendered.text.contains(link), "{}", rendered.text);
    assert!(
        rendered.text.contains("within 15 minutes"),
        "{}",
        rendered.text
    );
    // Escaped for HTML (a slash is &#x2f;), which a mail reader decodes back to the link.
    let escaped = link.replace('/', "&#x2f;");
    assert!(
        rendered.html.contains(&format!("href=\"{escaped}\"")),
        "{}",
        rendered.html
    );
    assert!(
        rendered.html.contains("asha@example.test"),
        "{}",
        rendered.html
    );
}

#[test]
fn a_templates_directory_restyles_the_sign_in_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("signin.subject.txt"),
        "Sign in to Acme calls",
    )
    .unwrap();

    let rendered = Templates::load(Some(dir.path()))
        .unwrap()
        .render(
            "signin",
            &minijinja::context! { email => "a@example.test", link => "https://x/signin/t", minutes => 5 },
        )
        .unwrap();

    assert_eq!(rendered.subject, "Sign in to Acme calls");
    assert!(rendered.text.contains("https://x/signin/t"));
}

//! Meeting summaries end to end: the real server, a real SMTP server (aiosmtpd, started by
//! scripts/test.sh) and real storage; messages are read back from the Maildir.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod common;

use common::callbacks::{end, enter, exit};
use common::media::{AUTH_ID, Answer, MediaServer};
use common::{AUTH_TOKEN, S3, Server, Smtp, fixture, unique_address};

struct MailSetup<'a> {
    smtp: &'a Smtp,
    tls: &'a str,
    to: &'a [String],
    extra_mail: &'a str,
}

fn mail_settings(m: &MailSetup<'_>) -> String {
    let to: Vec<String> = m.to.iter().map(|a| format!("\"{a}\"")).collect();
    let (port, credentials) = if m.tls == "none" {
        (m.smtp.plain_port.clone(), String::new())
    } else {
        (
            m.smtp.tls_port.clone(),
            format!("{}:{}@", m.smtp.user, m.smtp.password),
        )
    };
    format!(
        "[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://{credentials}localhost:{port}\"\ntls = \"{}\"\nca_file = \"{}\"\n\
         from = \"confvault <confvault@example.test>\"\nto = [{}]\nno_recording_grace_seconds = 0\n{}\n",
        m.tls,
        m.smtp.ca_file,
        to.join(", "),
        m.extra_mail
    )
}

fn vobiz_and_jobs(media: &MediaServer) -> String {
    format!(
        "[vobiz]\nauth_token = \"{AUTH_TOKEN}\"\nauth_id = \"{AUTH_ID}\"\nrecording_hosts = [\"{}\"]\n\
         [jobs]\nretry_base_seconds = 0.05\nretry_max_seconds = 0.2\npoll_interval_seconds = 0.05\n",
        media.origin
    )
}

async fn wait_for_mail(
    server: &Server,
    smtp: &Smtp,
    address: &str,
    count: usize,
) -> Vec<common::Received> {
    server
        .eventually(&format!("{count} message(s) to {address}"), || async {
            let got = smtp.messages_to(address);
            (got.len() >= count).then_some(got)
        })
        .await
}

#[tokio::test]
async fn a_summary_over_starttls_reaches_each_recipient_alone_with_a_link_that_plays_the_recording()
{
    let smtp = Smtp::from_env();
    let s3 = S3::from_env();
    let bucket = s3.new_bucket().await;
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    media.script("/weekly.mp3", vec![Answer::file("audio/mpeg", mp3.clone())]);
    let (ops, lead, attendee) = (
        unique_address("ops"),
        unique_address("lead"),
        unique_address("asha"),
    );
    let settings = format!(
        "{}{}[storage]\nkind = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{}\"\nforce_path_style = true\n",
        vobiz_and_jobs(&media),
        mail_settings(&MailSetup {
            smtp: &smtp,
            tls: "starttls",
            to: std::slice::from_ref(&ops),
            extra_mail: &format!(
                "notify_attendees = true\nroutes = [{{ conferences = \"Weekly*\", to = [\"{lead}\"] }}]\n\
                 directory = [{{ number = \"+91 80713 87423\", name = \"Asha Rao\", email = \"{attendee}\" }}]"
            ),
        }),
        s3.endpoint
    );
    let server = Server::start_with_env(&settings, s3.server_env());

    server
        .post_callbacks(&[
            enter("w1", "a")
                .name("Weekly Standup")
                .from("918071387423")
                .at("10:00:00"),
            enter("w1", "b")
                .name("Weekly Standup")
                .from("918071387424")
                .at("10:02:00"),
            exit("w1", "b").name("Weekly Standup").at("10:10:00"),
            enter("w1", "b2")
                .name("Weekly Standup")
                .from("+918071387424")
                .at("10:12:00"),
            exit("w1", "b2").name("Weekly Standup").at("10:25:30"),
            exit("w1", "a").name("Weekly Standup").at("10:30:00"),
            end("w1")
                .name("Weekly Standup")
                .recording(&media.url("/weekly.mp3"))
                .at("10:30:01"),
        ])
        .await;

    let mut delivered = Vec::new();
    for address in [&ops, &lead, &attendee] {
        let messages = wait_for_mail(&server, &smtp, address, 1).await;
        assert_eq!(messages.len(), 1, "{address}");
        assert_eq!(
            messages[0].to,
            vec![address.clone()],
            "one recipient per message"
        );
        delivered.push(messages[0].clone());
    }
    let message = &delivered[0];
    assert_eq!(
        message.subject,
        "Meeting summary: Weekly Standup (2026-05-19 10:00)"
    );
    assert!(message.raw.contains("multipart/alternative"));
    assert!(
        message.text.contains(
            "Asha Rao (918071387423): joined 10:00:00, left 10:30:00, on the call 30m 00s"
        ),
        "{}",
        message.text
    );
    assert!(
        message.text.contains(
            "918071387424: joined 10:02:00, left 10:25:30, on the call 21m 30s, rejoined 1 time"
        ),
        "{}",
        message.text
    );
    assert!(
        message.html.contains("<td>Asha Rao</td>"),
        "{}",
        message.html
    );

    let link = message
        .text
        .split_whitespace()
        .find(|w| w.contains("/r/"))
        .expect("a recording link")
        .to_owned();
    assert!(link.starts_with(common::PUBLIC_URL), "{link}");
    let local = link.replace(common::PUBLIC_URL, &server.base);
    let played = reqwest::get(&local).await.unwrap();
    assert_eq!(
        played.status(),
        200,
        "redirected to a presigned URL and followed"
    );
    assert_eq!(played.bytes().await.unwrap().to_vec(), mp3);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = no_redirects.get(&local).send().await.unwrap();
    assert_eq!(answer.status(), 302);
    assert!(
        answer.headers()["location"]
            .to_str()
            .unwrap()
            .contains("X-Amz-Signature")
    );
    assert_eq!(
        no_redirects
            .get(server.url("/r/not-a-token"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert!(
        !server.log().contains(&smtp.password),
        "the SMTP password never reaches the log"
    );

    // A replayed end, then another conference to the same people: once its summary has
    // arrived, the first one has still been sent only once.
    server
        .post_callbacks(&[
            end("w1")
                .name("Weekly Standup")
                .recording(&media.url("/weekly.mp3"))
                .at("10:30:01"),
            end("w1")
                .name("Weekly Standup")
                .recording(&media.url("/weekly.mp3"))
                .at("10:31:00"),
            end("w2").name("Weekly Retro").at("11:00:00"),
        ])
        .await;
    let after = wait_for_mail(&server, &smtp, &ops, 2).await;
    assert_eq!(
        after
            .iter()
            .filter(|m| m.subject.contains("Weekly Standup"))
            .count(),
        1
    );
    assert!(
        after
            .iter()
            .any(|m| m.subject.contains("Weekly Retro") && m.text.contains("not recorded"))
    );
}

#[tokio::test]
async fn plain_smtp_keeps_a_non_ascii_name_and_escapes_a_hostile_one() {
    let smtp = Smtp::from_env();
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let to = unique_address("team");
    let server = Server::start(&format!(
        "{}{}",
        vobiz_and_jobs(&media),
        mail_settings(&MailSetup {
            smtp: &smtp,
            tls: "none",
            to: std::slice::from_ref(&to),
            extra_mail: ""
        })
    ));

    server
        .post_callbacks(&[
            enter("n1", "a")
                .name("週次ミーティング Réunion")
                .from("918071387423")
                .at("10:00:00"),
            end("n1").name("週次ミーティング Réunion").at("10:20:00"),
            enter("x1", "a")
                .name("<script>alert(1)</script>")
                .from("918071387423")
                .at("10:00:00"),
            end("x1").name("<script>alert(1)</script>").at("10:20:00"),
        ])
        .await;

    let messages = wait_for_mail(&server, &smtp, &to, 2).await;
    let unicode = messages
        .iter()
        .find(|m| m.subject.contains("Réunion"))
        .expect("the non-ASCII one");
    assert_eq!(
        unicode.subject,
        "Meeting summary: 週次ミーティング Réunion (2026-05-19 10:00)"
    );
    let hostile = messages
        .iter()
        .find(|m| m.subject.contains("alert"))
        .expect("the hostile one");
    assert!(!hostile.html.contains("<script>"), "{}", hostile.html);
    assert!(hostile.html.contains("&lt;script&gt;"), "{}", hostile.html);
}

#[tokio::test]
async fn a_refused_recipient_fails_alone_and_a_failed_job_alerts_the_operators() {
    let smtp = Smtp::from_env();
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    media.script(
        "/expired.mp3",
        vec![Answer::file(
            "text/html",
            std::fs::read(fixture("error-page.html")).unwrap(),
        )],
    );
    let (refused, fine, ops) = (
        unique_address("reject"),
        unique_address("fine"),
        unique_address("ops"),
    );
    let server = Server::start(&format!(
        "{}{}",
        vobiz_and_jobs(&media),
        mail_settings(&MailSetup {
            smtp: &smtp,
            tls: "starttls",
            to: &[refused.clone(), fine.clone()],
            extra_mail: &format!("alerts_to = [\"{ops}\"]"),
        })
    ));

    server
        .post_callbacks(&[end("f1")
            .name("Board")
            .recording(&media.url("/expired.mp3"))
            .at("10:20:00")])
        .await;

    let summary = wait_for_mail(&server, &smtp, &fine, 1).await;
    assert!(
        summary[0]
            .text
            .contains("Archiving FAILED: download: not a recording"),
        "{}",
        summary[0].text
    );
    let alert = wait_for_mail(&server, &smtp, &ops, 1).await;
    assert!(
        alert[0]
            .subject
            .starts_with("[confvault] archive_recording job failed"),
        "{}",
        alert[0].subject
    );
    assert!(alert[0].text.contains("confvault jobs retry"));
    assert!(smtp.messages_to(&refused).is_empty());
    let failed = server.sql(&format!(
        "SELECT status || ' ' || detail FROM mail_sent WHERE recipient = '{}'",
        refused.to_ascii_lowercase()
    ))[0][0]
        .clone()
        .unwrap();
    assert!(
        failed.starts_with("failed") && failed.contains("550"),
        "{failed}"
    );
}

#[tokio::test]
async fn mail_test_sends_through_starttls_with_auth_and_prints_the_answer() {
    let smtp = Smtp::from_env();
    let media = MediaServer::start(None).await;
    let to = unique_address("probe");
    let server = Server::start(&format!(
        "{}{}",
        vobiz_and_jobs(&media),
        mail_settings(&MailSetup {
            smtp: &smtp,
            tls: "starttls",
            to: &[],
            extra_mail: ""
        })
    ));

    let (ok, out) = server.cli(&["mail", "test", &to]);

    assert!(ok, "{out}");
    assert!(out.contains("sent: 250"), "{out}");
    let received = wait_for_mail(&server, &smtp, &to, 1).await;
    assert_eq!(received[0].subject, "confvault test message");
    let wrong = Server::start(&format!(
        "{}{}",
        vobiz_and_jobs(&media),
        // aiosmtpd never answers after a refused AUTH; the send timeout ends the wait.
        mail_settings(&MailSetup {
            smtp: &smtp,
            tls: "starttls",
            to: &[],
            extra_mail: "timeout_seconds = 3"
        })
        .replace(&smtp.password, "wrong-password")
    ));
    let (ok, out) = wrong.cli(&["mail", "test", &to]);
    assert!(!ok && out.contains("FAILED to send"), "{out}");
    assert!(!out.contains("wrong-password"), "{out}");
}

#[tokio::test]
async fn with_no_setup_summaries_land_in_the_outbox_and_links_stream_the_file() {
    let media = MediaServer::start(Some(AUTH_TOKEN)).await;
    let mp3 = std::fs::read(fixture("standup.mp3")).unwrap();
    media.script("/o.mp3", vec![Answer::file("audio/mpeg", mp3.clone())]);
    let server = Server::start(&format!(
        "{}[mail]\nto = [\"team@example.test\"]\n",
        vobiz_and_jobs(&media)
    ));

    server
        .post_callbacks(&[
            enter("o1", "a")
                .name("Outbox")
                .from("918071387423")
                .at("10:00:00"),
            end("o1")
                .name("Outbox")
                .recording(&media.url("/o.mp3"))
                .at("10:20:00"),
        ])
        .await;

    let outbox = server.dir.path().join("data/outbox");
    let eml = server
        .eventually("a message in the outbox", || async {
            std::fs::read_dir(&outbox)
                .ok()?
                .flatten()
                .find(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .map(|e| e.path())
        })
        .await;
    let parsed_bytes = std::fs::read(eml).unwrap();
    let parsed = mail_parser::MessageParser::default()
        .parse(&parsed_bytes)
        .unwrap();
    let text = parsed.body_text(0).unwrap().into_owned();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/r/"))
        .unwrap()
        .replace(common::PUBLIC_URL, &server.base);
    let whole = reqwest::get(&link).await.unwrap();
    assert_eq!(whole.headers()["content-type"], "audio/mpeg");
    assert_eq!(whole.bytes().await.unwrap().to_vec(), mp3);
    let part = reqwest::Client::new()
        .get(&link)
        .header("Range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().to_vec(), mp3[..10].to_vec());
}

//! `confvault demo`: the whole product on the embedded defaults in one command. It starts the
//! service, plays two signed conferences at it (one in each callback shape, with a rejoin, a
//! `RecordStop` recording with its transcription and a documented `end` with a `RecordingUrl`)
//! whose recordings come from a loopback media host that demands the auth headers, waits for
//! the archive, the transcript and the email, rebuilds a second database from the archive
//! alone, and says where everything landed.

mod audio;
mod caller;
mod media_host;
mod rebuilt;
mod report;
mod sync;
mod webhook_sink;

use crate::db::access::Visibility;
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use secrecy::SecretString;

use crate::config::Config;
use crate::db::Database;
use crate::db::catalog::RecordingDetail;
use crate::db::model::{MailKind, RecordingStatus};
use caller::Vobiz;
use media_host::{Listed, MediaHost};
use report::{Found, report};
use webhook_sink::WebhookSink;

const AUTH_ID: &str = "MA_DEMO_ACCOUNT";
/// Where the demo's summaries are addressed (they stay in the outbox).
const TEAM: &str = "team@example.com";
/// The demo's administrator, whose sign-in link it prints.
const ADMIN: &str = "admin@example.com";
/// What the support call's transcription says.
const TRANSCRIPT: &str =
    "Thanks for calling support. I can see the order; a replacement ships today.";
/// Longest the demo waits for archiving and the email.
const PATIENCE: Duration = Duration::from_secs(90);

/// Where to run and when to stop.
#[derive(Debug)]
pub struct DemoOptions {
    /// The demo's data directory; kept between runs.
    pub dir: PathBuf,
    /// `127.0.0.1:0` picks a free port.
    pub listen: std::net::SocketAddr,
    /// Stop after printing instead of serving until Ctrl-C.
    pub exit: bool,
}

/// One conference the demo plays, and what became of it.
struct Played {
    uuid: String,
    name: &'static str,
    shape: &'static str,
}

pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    let auth_token = hex::encode(rand::random::<[u8; 16]>());
    let api_token = hex::encode(rand::random::<[u8; 16]>());
    let run_id = hex::encode(rand::random::<[u8; 4]>());
    // A call recording whose callback never came: only the account sync finds it.
    let lost = Listed {
        recording_id: format!("demo-{run_id}-lost-callback"),
        path: "/recordings/lost-callback.wav".to_owned(),
    };
    let files = HashMap::from([
        (
            "/recordings/standup.wav".to_owned(),
            audio::tones(&[(523.25, 1.5), (659.25, 1.5), (783.99, 2.0)]),
        ),
        (
            "/recordings/support-call.wav".to_owned(),
            audio::tones(&[(440.0, 1.0), (349.23, 1.0), (392.0, 2.0)]),
        ),
        (
            lost.path.clone(),
            audio::tones(&[(392.0, 1.0), (329.63, 1.0), (261.63, 2.0)]),
        ),
    ]);
    std::fs::create_dir_all(&options.dir)
        .with_context(|| format!("creating {}", options.dir.display()))?;
    // Absolute, so that the paths printed at the end work from anywhere.
    let dir = options.dir.canonicalize()?;
    let media = MediaHost::start(AUTH_ID, &auth_token, files, std::slice::from_ref(&lost))?;
    let webhook_secret = crate::webhooks::signing::new_secret();
    let sink = WebhookSink::start(&webhook_secret)?;
    let listener = TcpListener::bind(options.listen).with_context(|| {
        format!(
            "binding {} (in use? --listen 127.0.0.1:0 picks a free port)",
            options.listen
        )
    })?;
    let base = format!("http://{}", listener.local_addr()?);
    let config = demo_config(
        &dir,
        &base,
        &media.origin,
        (&auth_token, &api_token),
        (&sink.url, webhook_secret),
    )?;
    let signin = crate::access::signin::SignIn::new(
        crate::mail::transport::from_config(&config)?,
        std::sync::Arc::new(crate::mail::templates::Templates::load(
            config.mail.templates_dir.as_deref(),
        )?),
        config.mail.from.mailbox().clone(),
        base.clone(),
        config.access.clone(),
    );
    let sync_client = crate::account::client(&config)?;
    let unlinked_grace = Duration::from_secs(config.archive.unlinked_grace_seconds);
    let started = chrono::Utc::now();
    let archive_config = config.clone();
    let service = crate::app::start_on(config, listener).await?;

    let vobiz = Vobiz {
        client: reqwest::Client::new(),
        base: base.clone(),
        auth_token: auth_token.clone(),
    };
    let played = [
        play_documented(&vobiz, &run_id, &media.origin).await?,
        play_live(&vobiz, &run_id, &media.origin).await?,
    ];
    println!(
        "played {} signed conferences; waiting for archiving and email…",
        played.len()
    );
    let outcome = match service.database() {
        Some(db) => {
            let sync =
                sync::unless_done_since(sync_client, Arc::clone(&db), unlinked_grace, started);
            let outcome = settled(db.as_ref(), &played, &lost.recording_id, sync, &sink).await;
            async {
                let outcome = outcome?;
                let uuids: Vec<&str> = played.iter().map(|p| p.uuid.as_str()).collect();
                let rebuilt = rebuilt::rebuild_and_compare(
                    &archive_config,
                    db.as_ref(),
                    &uuids,
                    &lost.recording_id,
                )
                .await?;
                let link = signin.issue_link(&db, ADMIN).await?;
                anyhow::Ok((outcome, rebuilt, link))
            }
            .await
        }
        None => Err(anyhow::anyhow!(
            "the service stopped before the demo finished"
        )),
    };
    media.stop().await;
    let (outcome, rebuilt, link) = outcome?;
    print!(
        "{}",
        report(&base, &played, &outcome, (&sink.url, &sink.taken()))
    );
    println!("{}", rebuilt.line());
    println!("web page:   {link}   (signs {ADMIN} in once, within 15 minutes)");
    println!(
        "API token:  {api_token}   (curl -H 'Authorization: Bearer {api_token}' {base}/api/v1/conferences)"
    );
    // The receiver stays up while the service serves, so later messages are taken too.
    let served = if options.exit {
        service.stop().await
    } else {
        println!("serving until Ctrl-C");
        service.wait().await
    };
    sink.stop().await;
    served
}

fn demo_config(
    dir: &Path,
    base: &str,
    media_origin: &str,
    (auth_token, api_token): (&str, &str),
    (webhook_url, webhook_secret): (&str, String),
) -> anyhow::Result<Config> {
    let mut config = Config {
        data_dir: dir.to_owned(),
        public_url: Some(base.parse().context("the demo's URL")?),
        ..Config::default()
    };
    config.vobiz.auth_id = Some(AUTH_ID.to_owned());
    config.vobiz.auth_token = Some(SecretString::from(auth_token.to_owned()));
    config.vobiz.recording_hosts = crate::config::AllowList::parse(&[media_origin.to_owned()])
        .map_err(|e| anyhow::anyhow!("the demo's media host: {e}"))?;
    // The demo's Vobiz also lists the account's recordings; the sync runs at start, and what it
    // finds with no known conference is archived a second later.
    config.vobiz.api_url = format!("{media_origin}/api/v1")
        .parse()
        .context("the demo's REST API")?;
    config.archive.unlinked_grace_seconds = 1;
    // A live-shape conference ends after this quiet period; the default (30 s) is for real calls.
    config.vobiz.end_quiet_seconds = 2;
    config.api.tokens = vec![SecretString::from(api_token.to_owned())];
    config.jobs.poll_interval_seconds = 0.2;
    config.jobs.retry_base_seconds = 1.0;
    config.mail.to = vec![TEAM.parse().map_err(|e: String| anyhow::anyhow!(e))?];
    config.access.admins = vec![ADMIN.parse().map_err(|e: String| anyhow::anyhow!(e))?];
    config.mail.directory = vec![
        directory("+918071387423", "Asha Rao"),
        directory("+919624705678", "Ben Okafor"),
        directory("+14155550123", "Carmen Díaz"),
    ];
    // Every event goes to the demo's receiver on loopback, which checks each signature.
    config.webhooks.allow_private_addresses = true;
    config.webhooks.endpoints = vec![crate::config::WebhookEndpoint {
        url: webhook_url.parse().context("the demo's webhook receiver")?,
        secret: SecretString::from(webhook_secret),
        previous_secret: None,
        events: None,
        description: Some("the demo's receiver".to_owned()),
    }];
    config.validate()?;
    Ok(config)
}

fn directory(number: &str, name: &str) -> crate::config::DirectoryEntry {
    crate::config::DirectoryEntry {
        number: number.to_owned(),
        name: name.to_owned(),
        email: None,
    }
}

/// The documented shape: `ConferenceAction` with a `Timestamp` on every callback, and an `end`
/// carrying the `RecordingUrl`. Ben drops out and rejoins.
async fn play_documented(vobiz: &Vobiz, run_id: &str, media: &str) -> anyhow::Result<Played> {
    let uuid = format!("demo-{run_id}-standup");
    let name = "Weekly Standup";
    let start = chrono::Utc::now() - chrono::Duration::minutes(35);
    let at = |minutes: i64| {
        (start + chrono::Duration::minutes(minutes))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    let recording = format!("{media}/recordings/standup.wav");
    let legs = [
        ("enter", "leg-asha", "918071387423", 0, "1"),
        ("enter", "leg-ben-1", "919624705678", 1, "2"),
        ("enter", "leg-carmen", "14155550123", 2, "3"),
        ("exit", "leg-ben-1", "919624705678", 9, "2"),
        ("enter", "leg-ben-2", "919624705678", 11, "3"),
        ("exit", "leg-carmen", "14155550123", 25, "2"),
        ("exit", "leg-ben-2", "919624705678", 29, "1"),
        ("exit", "leg-asha", "918071387423", 30, "0"),
    ];
    for (action, leg, from, minute, size) in legs {
        let call = format!("{run_id}-{leg}");
        let time = at(minute);
        vobiz
            .post(
                "/vobiz/conference",
                &[
                    ("ConferenceAction", action),
                    ("ConferenceUUID", &uuid),
                    ("ConferenceName", name),
                    ("CallUUID", &call),
                    ("From", from),
                    ("To", "918000000000"),
                    ("ConferenceCurrentSize", size),
                    ("Timestamp", &time),
                ],
            )
            .await?;
    }
    let time = at(30);
    vobiz
        .post(
            "/vobiz/conference",
            &[
                ("ConferenceAction", "end"),
                ("ConferenceUUID", &uuid),
                ("ConferenceName", name),
                ("CallUUID", &format!("{run_id}-leg-asha")),
                ("ConferenceCurrentSize", "0"),
                ("RecordingUrl", &recording),
                ("Timestamp", &time),
            ],
        )
        .await?;
    Ok(Played {
        uuid,
        name,
        shape: "documented shape, RecordingUrl on end",
    })
}

/// The shape live accounts send: `Event=ConferenceEnter/Exit` with member ids and no
/// timestamps, the end inferred after the last member leaves, and the recording from
/// `<Record recordSession="true">`'s `RecordStop`. The customer's line drops and comes back.
async fn play_live(vobiz: &Vobiz, run_id: &str, media: &str) -> anyhow::Result<Played> {
    let uuid = format!("demo-{run_id}-support");
    let name = "Customer Support Call";
    let agent = format!("{run_id}-leg-agent");
    let legs: [(&str, &str, &str, &str, &str); 5] = [
        (
            "ConferenceEnter",
            "leg-agent",
            "918071387423",
            "11",
            "first",
        ),
        ("ConferenceEnter", "leg-customer-1", "14155550123", "12", ""),
        ("ConferenceExit", "leg-customer-1", "14155550123", "12", ""),
        ("ConferenceEnter", "leg-customer-2", "14155550123", "13", ""),
        ("ConferenceExit", "leg-customer-2", "14155550123", "13", ""),
    ];
    for (event, leg, from, member, flag) in legs {
        let call = format!("{run_id}-{leg}");
        let mut fields = vec![
            (
                "ConferenceAction",
                if event == "ConferenceEnter" {
                    "enter"
                } else {
                    "exit"
                },
            ),
            ("Event", event),
            ("ConferenceUUID", &uuid),
            ("ConferenceName", name),
            ("ConferenceMemberID", member),
            ("CallUUID", &call),
            ("From", from),
            ("To", "918000000000"),
        ];
        if flag == "first" {
            fields.push(("ConferenceFirstMember", "true"));
        }
        if event == "ConferenceExit" {
            fields.push(("ConferenceLastMember", "false"));
        }
        vobiz.post("/vobiz/conference", &fields).await?;
        // Live callbacks carry no timestamps, so time on the call is real time here.
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let recording_id = format!("{run_id}-support-recording");
    let record_url = format!("{media}/recordings/support-call.wav");
    vobiz
        .post(
            "/vobiz/recording",
            &[
                ("Event", "RecordStop"),
                ("RecordingID", &recording_id),
                ("RecordUrl", &record_url),
                ("RecordingDuration", "5"),
                ("RecordingDurationMs", "5000"),
                ("RecordingEndReason", "HungUp"),
                ("CallUUID", &agent),
                ("From", "918071387423"),
                ("To", "918000000000"),
                ("Direction", "inbound"),
                ("CallStatus", "completed"),
            ],
        )
        .await?;
    // Minutes later on a real account: Vobiz's transcription of that recording.
    vobiz
        .post(
            "/vobiz/recording",
            &[
                ("recording_id", &recording_id),
                ("transcription_id", &format!("{run_id}-support-transcript")),
                ("transcription", TRANSCRIPT),
            ],
        )
        .await?;
    vobiz
        .post(
            "/vobiz/conference",
            &[
                ("ConferenceAction", "exit"),
                ("Event", "ConferenceExit"),
                ("ConferenceUUID", &uuid),
                ("ConferenceName", name),
                ("ConferenceMemberID", "11"),
                ("ConferenceLastMember", "true"),
                ("CallUUID", &agent),
            ],
        )
        .await?;
    Ok(Played {
        uuid,
        name,
        shape: "live shape, RecordStop recording, end inferred",
    })
}

/// Once the demo's sync has run, until everything played is archived and mailed and the
/// receiver has taken the webhooks that say so.
async fn settled(
    db: &dyn Database,
    played: &[Played],
    lost: &str,
    sync: impl Future<Output = anyhow::Result<()>>,
    sink: &WebhookSink,
) -> anyhow::Result<(Vec<Found>, RecordingDetail)> {
    sync.await.context("syncing the demo account")?;
    let outcome = wait_for_results(db, played, lost).await?;
    let (found, synced) = &outcome;
    let archived: Vec<&str> = found
        .iter()
        .flat_map(|f| &f.recordings)
        .map(|r| r.recording_id.as_str())
        .chain([synced.entry.recording_id.as_str()])
        .collect();
    let transcribed: Vec<&str> = found
        .iter()
        .flat_map(|f| &f.recordings)
        .filter(|r| r.transcript.is_some())
        .map(|r| r.recording_id.as_str())
        .collect();
    sink.wait_for((&archived, &transcribed), found.len(), PATIENCE)
        .await?;
    Ok(outcome)
}

/// Polls the database until every played conference has its recordings archived and its
/// summary sent; returns what became of each, in the order played.
async fn wait_for_results(
    db: &dyn Database,
    played: &[Played],
    lost: &str,
) -> anyhow::Result<(Vec<Found>, RecordingDetail)> {
    let started = Instant::now();
    loop {
        let synced = db.recording(lost, Visibility::Everything).await?;
        let mut found = Vec::new();
        for conference in played {
            let recordings = db
                .conference_detail(&conference.uuid, Visibility::Everything)
                .await?
                .map(|d| d.recordings)
                .unwrap_or_default();
            let mail = db
                .sent_messages(MailKind::Summary, &conference.uuid)
                .await?;
            found.push(Found { recordings, mail });
        }
        let failed: Vec<String> = found
            .iter()
            .flat_map(|f| &f.recordings)
            .filter(|r| r.status == RecordingStatus::Failed)
            .map(|r| {
                format!(
                    "{}: {}",
                    r.recording_id,
                    r.last_error.as_deref().unwrap_or("?")
                )
            })
            .collect();
        anyhow::ensure!(failed.is_empty(), "archiving failed: {}", failed.join("; "));
        let done = found.iter().all(|f| {
            !f.recordings.is_empty()
                && f.recordings
                    .iter()
                    .all(|r| r.status == RecordingStatus::Archived)
                && !f.mail.is_empty()
        });
        if let Some(r) = &synced
            && r.entry.status == RecordingStatus::Failed
        {
            anyhow::bail!(
                "archiving the synced recording failed: {}",
                r.last_error.as_deref().unwrap_or("?")
            );
        }
        match synced {
            Some(synced) if done && synced.entry.status == RecordingStatus::Archived => {
                return Ok((found, synced));
            }
            _ => {}
        }
        anyhow::ensure!(
            started.elapsed() < PATIENCE,
            "the demo did not finish within {PATIENCE:?}; see the log above"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

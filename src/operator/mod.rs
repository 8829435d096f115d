//! Commands that work on the database and storage directly, beside a running server: `check`,
//! `jobs …`, `mail test`, `conferences …`, `recordings …`, `sync`.

mod account;
pub mod copy;
pub mod db;
pub mod people;
mod rearchive;
pub mod rebuild;
pub mod webhooks;

pub use account::{list_recordings, prune_source, sync};
pub use rearchive::rearchive;

use crate::db::access::Visibility;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::Config;
use crate::db::Database;
use crate::db::model::{JobId, JobState, RetrySelection};
use crate::progress::{Progress, Unit};
use crate::search::ListQuery;
use crate::storage::{Playback, Store};

/// Opens the database, runs `work` on it, and closes it (everything written is committed).
pub async fn with_database<R>(
    config: &Config,
    work: impl AsyncFnOnce(&dyn Database) -> anyhow::Result<R>,
) -> anyhow::Result<R> {
    with_shared_database(config, async |db| work(db.as_ref()).await).await
}

/// Like [`with_database`], for work that shares the handle (it must drop every clone before
/// it returns, or the database cannot close).
pub async fn with_shared_database<R>(
    config: &Config,
    work: impl AsyncFnOnce(std::sync::Arc<dyn Database>) -> anyhow::Result<R>,
) -> anyhow::Result<R> {
    let opened = crate::db::open(config)
        .await
        .with_context(|| format!("opening the database {}", crate::db::describe(config)))?;
    let result = work(std::sync::Arc::clone(&opened.db)).await;
    tokio::task::spawn_blocking(move || opened.close())
        .await
        .context("closing the database")?;
    result
}

/// Writes, reads back and deletes a probe object; fails with the reason if any step does.
pub async fn check_storage(config: &Config) -> anyhow::Result<()> {
    let store = crate::storage::from_config(config).await?;
    let key = format!(
        "{}confvault-check/{}-{}.txt",
        crate::storage::keys::normalize_prefix(&config.storage.prefix),
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        rand::random::<u32>()
    );
    let probe = format!("confvault storage check {key}").into_bytes();
    println!("storage: {}", store.location(&key));
    store
        .put_bytes(&key, probe.clone(), "text/plain")
        .await
        .context("FAILED to write the probe object")?;
    println!("  write   ok");
    let read = store
        .get_bytes(&key)
        .await
        .context("FAILED to read the probe object back")?
        .context("FAILED: the probe object just written is not there")?;
    anyhow::ensure!(
        read == probe,
        "FAILED: the probe object read back differs from what was written"
    );
    println!("  read    ok");
    store
        .delete(&key)
        .await
        .context("FAILED to delete the probe object")?;
    println!("  delete  ok");
    println!("storage is usable");
    Ok(())
}

pub async fn list_jobs(
    config: &Config,
    state: Option<JobState>,
    limit: u32,
    json: bool,
) -> anyhow::Result<()> {
    let list = with_database(config, async |db| Ok(db.jobs(state, limit).await?))
        .await
        .context("listing jobs")?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &list)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:>6}  {:<8}  {:<18}  {:>8}  {:<27}  {:<40}  LAST ERROR",
        "ID", "STATE", "KIND", "ATTEMPTS", "RUN AT", "SUBJECT"
    )?;
    for job in list {
        writeln!(
            out,
            "{:>6}  {:<8}  {:<18}  {:>8}  {:<27}  {:<40}  {}",
            job.id,
            job.state,
            job.kind,
            job.attempts,
            crate::time::to_db(job.run_at),
            job.subject,
            job.last_error.unwrap_or_default()
        )?;
    }
    Ok(())
}

/// Retries one failed job, or every failed job when `id` is `None`, in one transaction.
pub async fn retry_jobs(config: &Config, id: Option<JobId>) -> anyhow::Result<()> {
    let retried = with_database(config, async |db| {
        let which = match id {
            Some(id) => {
                let job = db.job(id).await?.with_context(|| format!("no job {id}"))?;
                anyhow::ensure!(
                    job.state == JobState::Failed,
                    "job {id} is {}, not failed",
                    job.state
                );
                RetrySelection::One(id)
            }
            None => RetrySelection::AllFailed,
        };
        Ok::<_, anyhow::Error>(db.retry_jobs(which, chrono::Utc::now()).await?)
    })
    .await?;
    // One transaction, so there is nothing to watch while it runs; the line says what it did,
    // in the form scripted runs of the other long commands leave in their logs.
    let mut progress = Progress::new("retrying failed jobs", retried.len() as u64, Unit::Items);
    progress.advance(retried.len() as u64);
    progress.finish();
    println!("{} job(s) queued again", retried.len());
    Ok(())
}

/// Sends a short message through the configured transport and prints the server's answer.
pub async fn send_test_mail(config: &Config, address: &str) -> anyhow::Result<()> {
    let mailer = crate::mail::transport::from_config(config)?;
    let from = config.mail.from.mailbox();
    let to: lettre::message::Mailbox = address.parse().with_context(|| format!("{address:?}"))?;
    let rendered = crate::mail::templates::Rendered {
        subject: "confvault test message".to_owned(),
        text: "This is a test message from confvault: mail delivery works.\n".to_owned(),
        html: "<p>This is a test message from confvault: mail delivery works.</p>".to_owned(),
    };
    let message_id = format!("<{:032x}.test@confvault>", rand::random::<u128>());
    let message = crate::mail::templates::message(&rendered, from, None, to, &message_id)?;
    let answer = mailer.send(message).await.context("FAILED to send")?;
    println!("sent: {answer}");
    Ok(())
}

pub async fn list_conferences(config: &Config, query: ListQuery, json: bool) -> anyhow::Result<()> {
    let filter = crate::search::filter(query, config.timezone)?;
    let page = with_database(config, async |db| {
        Ok(db
            .search_conferences(filter, Visibility::Everything)
            .await?)
    })
    .await?;
    let mut out = std::io::stdout().lock();
    if json {
        let answer = crate::api::list::ListAnswer {
            next_cursor: page.next.as_ref().map(crate::search::encode_cursor),
            conferences: page.rows,
        };
        serde_json::to_writer_pretty(&mut out, &answer)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<20}  {:<7}  {:>6}  {:>4}  {:<38}  NAME",
        "STARTED", "STATUS", "PEOPLE", "RECS", "CONFERENCE"
    )?;
    for row in page.rows {
        writeln!(
            out,
            "{:<20}  {:<7}  {:>6}  {:>4}  {:<38}  {}",
            local(config, row.started_at),
            row.status.as_str().to_owned(),
            row.participants,
            row.recordings,
            row.conference_uuid,
            row.name
        )?;
    }
    if page.next.is_some() {
        writeln!(out, "(more: raise --limit or narrow the search)")?;
    }
    Ok(())
}

fn local(config: &Config, t: Option<crate::time::Instant>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| crate::time::local(t, config.timezone, "%Y-%m-%d %H:%M:%S"),
    )
}

pub async fn show_conference(config: &Config, uuid: &str, json: bool) -> anyhow::Result<()> {
    let detail = with_database(config, async |db| {
        Ok(db.conference_detail(uuid, Visibility::Everything).await?)
    })
    .await?
    .with_context(|| format!("no conference {uuid}"))?;
    let detail = crate::api::conferences::ConferenceDetail::from(detail);
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &detail)?;
        writeln!(out)?;
        return Ok(());
    }
    let c = &detail.conference;
    writeln!(out, "{} ({})", c.name, c.conference_uuid)?;
    writeln!(out, "  status   {:?}", c.status)?;
    writeln!(out, "  started  {}", local(config, c.started_at))?;
    writeln!(out, "  ended    {}", local(config, c.ended_at))?;
    writeln!(out, "\nParticipants")?;
    for p in &detail.participants {
        writeln!(
            out,
            "  {:<24}  joined {}  left {}  ({})",
            p.from.as_deref().unwrap_or("unknown"),
            local(config, p.joined_at),
            local(config, p.left_at),
            p.call_uuid
        )?;
    }
    writeln!(out, "\nRecordings")?;
    for r in &detail.recordings {
        writeln!(
            out,
            "  {}  {:<9}  {}  {}",
            r.recording_id,
            r.status,
            r.location.as_deref().unwrap_or("-"),
            r.last_error.as_deref().unwrap_or("")
        )?;
        match r.transcript.as_ref().map(|t| (&t.text, &t.error)) {
            Some((Some(text), _)) => writeln!(out, "    said   {}", preview(text))?,
            Some((None, error)) => writeln!(
                out,
                "    not transcribed: {}",
                error.as_deref().unwrap_or("no reason given")
            )?,
            None => {}
        }
    }
    Ok(())
}

/// The beginning of a transcript, for a table: a meeting's whole text is for `--json`.
fn preview(text: &str) -> String {
    const SHOWN: usize = 400;
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!(
            "\"{}…\" ({} characters; --json has all of them)",
            &text[..cut],
            text.chars().count()
        ),
        None => format!("\"{text}\""),
    }
}

pub async fn download_recording(
    config: &Config,
    id: &str,
    output: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let archived = with_database(config, async |db| Ok(db.archived_object(id).await?))
        .await?
        .with_context(|| format!("no recording {id}"))?;
    let key = archived
        .object_key
        .with_context(|| format!("recording {id} is not archived (yet)"))?;
    let store = crate::storage::from_config(config).await?;
    let output = output.unwrap_or_else(|| key.rsplit('/').next().unwrap_or("recording").into());
    let partial = output.with_extension("partial");
    let mut progress = Progress::new(
        &format!("downloading {id}"),
        archived.size_bytes.unwrap_or(0).max(0) as u64,
        Unit::Bytes,
    );
    let (_, sha256) = fetch_to_file(&*store, &key, &partial, |n| progress.advance(n)).await?;
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("writing {}", partial.display()))?;
    progress.finish();
    if let Some(expected) = &archived.sha256
        && *expected != sha256
    {
        let _ = tokio::fs::remove_file(&partial).await;
        anyhow::bail!("the stored object's SHA-256 is {sha256}, not {expected} as archived");
    }
    tokio::fs::rename(&partial, &output)
        .await
        .with_context(|| format!("writing {}", output.display()))?;
    println!("{} written (SHA-256 {sha256} verified)", output.display());
    Ok(())
}

/// Streams a stored object into `dest` (created or replaced), never whole in memory: recordings
/// can be gigabytes. Returns its size and SHA-256; `on_bytes` hears of every chunk.
pub(crate) async fn fetch_to_file(
    store: &dyn Store,
    key: &str,
    dest: &Path,
    mut on_bytes: impl FnMut(u64),
) -> anyhow::Result<(u64, String)> {
    let mut file = tokio::fs::File::create(dest)
        .await
        .with_context(|| format!("creating {}", dest.display()))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut copied = |chunk: &[u8]| {
        hasher.update(chunk);
        size += chunk.len() as u64;
        on_bytes(chunk.len() as u64);
    };
    let written = |e| anyhow::Error::new(e).context(format!("writing {}", dest.display()));
    match store
        .playback(key)
        .await
        .context("locating the recording in storage")?
    {
        Playback::File(path) => {
            let mut source = tokio::fs::File::open(&path)
                .await
                .with_context(|| format!("opening {}", path.display()))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = source
                    .read(&mut buf)
                    .await
                    .with_context(|| format!("reading {}", path.display()))?;
                if n == 0 {
                    break;
                }
                file.write_all(&buf[..n]).await.map_err(written)?;
                copied(&buf[..n]);
            }
        }
        Playback::Redirect(url) => {
            // Errors drop the URL: a presigned URL is a credential until it expires.
            let response = reqwest::get(url)
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(reqwest::Error::without_url)
                .context("reading the recording from storage")?;
            let mut body = response.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk
                    .map_err(reqwest::Error::without_url)
                    .context("reading the recording from storage")?;
                file.write_all(&chunk).await.map_err(written)?;
                copied(&chunk);
            }
        }
    }
    file.flush().await.map_err(written)?;
    Ok((size, hex::encode(hasher.finalize())))
}

//! `confvault people list`, `access who-can-see`, `access end-sessions` and `audit`: who may
//! sign in, who may see a meeting (the service's own rule, asked of the database), and what
//! the audit log holds.

use std::io::Write;

use anyhow::Context;
use clap::Subcommand;

use super::with_database;
use crate::access::people::{People, bare_address};
use crate::config::Config;
use crate::db::access::{AuditEvent, AuditQuery, Visibility};
use crate::db::model::AuditAction;

#[derive(Debug, Subcommand)]
pub enum PeopleCommand {
    /// Everyone who may sign in: address, name, admin, numbers and routed conferences.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Everyone who may see a conference and its recordings.
    WhoCanSee {
        conference_uuid: String,
        #[arg(long)]
        json: bool,
    },
    /// End every session of a person: their browsers must sign in again.
    EndSessions { email: String },
}

pub async fn run_people(config: &Config, command: PeopleCommand) -> anyhow::Result<()> {
    let PeopleCommand::List { json } = command;
    let people = People::load(config)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &people.all().collect::<Vec<_>>())?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<32}  {:<20}  {:<5}  NUMBERS / ROUTES",
        "EMAIL", "NAME", "ADMIN"
    )?;
    for p in people.all() {
        writeln!(
            out,
            "{:<32}  {:<20}  {:<5}  {}",
            p.email,
            p.name.as_deref().unwrap_or("-"),
            if p.admin { "yes" } else { "" },
            p.numbers
                .iter()
                .chain(p.routes.iter())
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    Ok(())
}

pub async fn run_access(config: &Config, command: AccessCommand) -> anyhow::Result<()> {
    let people = People::load(config)?;
    match command {
        AccessCommand::WhoCanSee {
            conference_uuid,
            json,
        } => who_can_see(config, &people, &conference_uuid, json).await,
        AccessCommand::EndSessions { email } => {
            let email = bare_address(&email).with_context(|| format!("{email:?}"))?;
            let now = chrono::Utc::now();
            let ended = with_database(config, async |db| {
                let ended = db.end_sessions_of(&email, now).await?;
                db.record_audit(AuditEvent {
                    at: now,
                    actor: "cli".to_owned(),
                    action: AuditAction::SessionsEnded,
                    conference_uuid: None,
                    recording_id: None,
                    client: None,
                    subject: Some(email.clone()),
                })
                .await?;
                Ok(ended)
            })
            .await?;
            println!("ended {ended} session(s) of {email}");
            Ok(())
        }
    }
}

async fn who_can_see(
    config: &Config,
    people: &People,
    uuid: &str,
    json: bool,
) -> anyhow::Result<()> {
    let who = with_database(config, async |db| {
        db.conference_detail(uuid, Visibility::Everything)
            .await?
            .with_context(|| format!("no conference {uuid}"))?;
        let mut who = Vec::new();
        for person in people.all() {
            if db
                .conference_detail(uuid, person.visibility())
                .await?
                .is_some()
            {
                who.push(person.clone());
            }
        }
        Ok(who)
    })
    .await?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &who)?;
        writeln!(out)?;
        return Ok(());
    }
    for p in who {
        let why = if p.admin { " (admin)" } else { "" };
        writeln!(out, "{}{why}", p.email)?;
    }
    writeln!(out, "(and every holder of an api.tokens token)")?;
    Ok(())
}

pub async fn audit(
    config: &Config,
    conference: Option<String>,
    person: Option<String>,
    limit: u32,
    json: bool,
) -> anyhow::Result<()> {
    let actor = person
        .map(|p| bare_address(&p).unwrap_or(p))
        .map(|p| p.to_ascii_lowercase());
    let events = with_database(config, async |db| {
        Ok(db
            .audit_events(AuditQuery {
                conference_uuid: conference,
                actor,
                limit,
            })
            .await?)
    })
    .await?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &events)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<20}  {:<32}  {:<14}  {:<38}  RECORDING / PERSON",
        "AT", "WHO", "WHAT", "CONFERENCE"
    )?;
    for e in events {
        writeln!(
            out,
            "{:<20}  {:<32}  {:<14}  {:<38}  {}",
            crate::time::local(e.at, config.timezone, "%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.action.as_str(),
            e.conference_uuid.as_deref().unwrap_or("-"),
            e.recording_id
                .as_deref()
                .or(e.subject.as_deref())
                .unwrap_or("-"),
        )?;
    }
    Ok(())
}

//! The command line: `serve`, `migrate`, and the operator commands.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use crate::config::Config;
use crate::db::model::{JobId, JobState};
use crate::operator::people::{AccessCommand, PeopleCommand};

#[derive(Debug, Parser)]
#[command(
    name = "confvault",
    version,
    about = "Archive for Vobiz conference calls"
)]
pub struct Cli {
    /// TOML settings file; CONFVAULT_* variables override it.
    #[arg(long, global = true, env = "CONFVAULT_CONFIG")]
    config: Option<PathBuf>,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "CONFVAULT_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// See everything work: start the service on the embedded defaults, play signed
    /// conferences at it, and show where the recordings, sidecars and email landed.
    Demo {
        /// The demo's data directory (kept between runs).
        #[arg(long, default_value = "confvault-demo")]
        dir: PathBuf,
        /// Address to serve on; port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Stop once everything has been shown, instead of serving until Ctrl-C.
        #[arg(long)]
        exit: bool,
    },
    /// Receive callbacks, run jobs and serve the API.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Database commands.
    #[command(subcommand)]
    Db(crate::operator::db::DbCommand),
    /// Write, read back and delete a probe object in the configured storage.
    Check,
    /// See and replay background jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Mail commands.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Find conferences and see who attended.
    #[command(subcommand)]
    Conferences(ConferencesCommand),
    /// Find, get and prune recordings.
    #[command(subcommand)]
    Recordings(RecordingsCommand),
    /// The people who may sign in.
    #[command(subcommand)]
    People(PeopleCommand),
    /// Who may see what; ending someone's sessions.
    #[command(subcommand)]
    Access(AccessCommand),
    /// Outbound webhooks: secrets, the delivery log, replays, a test ping.
    #[command(subcommand)]
    Webhooks(crate::operator::webhooks::WebhooksCommand),
    /// What the audit log holds: plays, downloads, sign-ins; newest first.
    Audit {
        /// Only this conference's events.
        #[arg(long)]
        conference: Option<String>,
        /// Only this person's events (an address), or a token's (`token:…`).
        #[arg(long)]
        person: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// List the Vobiz account's recordings and archive every one not known yet (its callback
    /// never came, or it predates confvault).
    Sync {
        /// Only recordings made at or after (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Only recordings made before (RFC 3339, or YYYY-MM-DD inclusive).
        #[arg(long)]
        until: Option<String>,
        /// List and compare; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// One JSON document instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Developer tools (benchmarks).
    #[command(subcommand, hide = true)]
    Dev(DevCommand),
}

#[derive(Debug, Subcommand)]
enum DevCommand {
    /// Fill the database with a synthetic archive.
    GenArchive {
        #[arg(long, default_value_t = 1_000_000)]
        conferences: u64,
        /// Legs per conference.
        #[arg(long, default_value_t = 5)]
        legs: u64,
        /// Distinct phone numbers the legs are drawn from.
        #[arg(long, default_value_t = 200_000)]
        numbers: u64,
    },
}

#[derive(Debug, Subcommand)]
enum ConferencesCommand {
    /// List conferences, newest first.
    List {
        /// Part of the conference name.
        #[arg(long)]
        q: Option<String>,
        /// A participant's number, in any spelling (+91…, 91…, sip:…).
        #[arg(long)]
        participant: Option<String>,
        /// Started at or after (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Started before (RFC 3339, or YYYY-MM-DD inclusive).
        #[arg(long)]
        until: Option<String>,
        #[arg(long, value_parser = ["active", "ended"])]
        status: Option<String>,
        /// Words said in the meeting (all of them, whole words, in a transcript).
        #[arg(long)]
        said: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One conference: roster, recordings, jobs.
    Show {
        conference_uuid: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum RecordingsCommand {
    /// List recordings, newest first, linked to a conference or not.
    List {
        /// Recorded at or after (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Recorded before (RFC 3339, or YYYY-MM-DD inclusive).
        #[arg(long)]
        until: Option<String>,
        /// A number the recording is from or to, in any spelling.
        #[arg(long)]
        participant: Option<String>,
        #[arg(long, value_parser = ["pending", "archiving", "archived", "failed"])]
        status: Option<String>,
        /// Only recordings whose conference is known (true) or not (false).
        #[arg(long)]
        linked: Option<bool>,
        /// Words said in it (all of them, whole words, in its transcript).
        #[arg(long)]
        said: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete Vobiz's copies of recordings archived more than DAYS ago, each only after
    /// reading the archived copy back and checking its size and SHA-256. Permanent at Vobiz.
    PruneSource {
        /// Default: vobiz.delete_source_after_days.
        #[arg(long, value_name = "DAYS")]
        older_than: Option<u32>,
        /// Verify and show what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Copy an archived recording from storage to a file.
    Download {
        recording_id: String,
        /// Where to write it (default: its object name in the current directory).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Copy every archived recording and its sidecar from the storage of another settings file
    /// into the storage configured now (after moving the archive, say from the local directory
    /// to a bucket), check each SHA-256, and point the recordings at their new location.
    /// Objects keep their keys; those already in place are skipped, so it can be run again.
    Rearchive {
        /// The settings file in use before the move: its `[storage]` (and `data_dir`, for a
        /// local archive) says where the recordings are.
        #[arg(long, value_name = "CONFIG")]
        from: PathBuf,
        /// Recordings copied at a time. Each large one also has the store's parts in flight
        /// (`storage.parts_in_flight` × `storage.part_size_bytes` of memory).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
    },
}

#[derive(Debug, Subcommand)]
enum MailCommand {
    /// Send a test message through the configured transport and print the server's answer.
    Test {
        /// Where to send it.
        address: String,
    },
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only jobs in this state.
        #[arg(long, value_parser = ["pending", "running", "done", "failed"])]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Make failed jobs due again, with a fresh count of attempts.
    Retry {
        /// The job to retry.
        #[arg(required_unless_present = "all_failed", conflicts_with = "all_failed")]
        id: Option<i64>,
        /// Retry every failed job.
        #[arg(long)]
        all_failed: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // One TLS provider for every client (S3, SMTP, downloads), chosen before any is built.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // The demo's own report is the point; its log shows only trouble unless RUST_LOG says more.
    let default_level = match cli.command {
        Command::Demo { .. } => "warn",
        _ => "info",
    };
    let log_format = cli.log_format;
    init_logging(log_format, default_level);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once, in the form the log is read in: a plain line would break a JSON stream,
            // and a log line beside the plain one said the same thing twice.
            match log_format {
                LogFormat::Json => tracing::error!(error = format!("{e:#}"), "confvault failed"),
                LogFormat::Text => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let file = cli.config;
    // Read by every command but the demo, which runs on the embedded defaults whatever the
    // settings file says.
    let settings = || Config::load(file.as_deref()).context("invalid configuration");
    match cli.command {
        Command::Demo { dir, listen, exit } => {
            runtime()?.block_on(crate::demo::run(crate::demo::DemoOptions {
                dir,
                listen,
                exit,
            }))
        }
        Command::Serve => runtime()?.block_on(crate::app::serve(settings()?)),
        Command::Migrate => {
            let config = settings()?;
            let target = crate::db::describe(&config);
            let applied = runtime()?
                .block_on(crate::db::migrate(&config))
                .with_context(|| format!("migrating the database {target}"))?;
            for name in applied {
                println!("applied {name}");
            }
            println!("database is up to date: {target}");
            Ok(())
        }
        Command::Db(command) => {
            runtime()?.block_on(crate::operator::db::run(&settings()?, command))
        }
        Command::People(command) => {
            runtime()?.block_on(crate::operator::people::run_people(&settings()?, command))
        }
        Command::Webhooks(command) => {
            runtime()?.block_on(crate::operator::webhooks::run(&settings()?, command))
        }
        Command::Access(command) => {
            runtime()?.block_on(crate::operator::people::run_access(&settings()?, command))
        }
        Command::Audit {
            conference,
            person,
            limit,
            json,
        } => runtime()?.block_on(crate::operator::people::audit(
            &settings()?,
            conference,
            person,
            limit,
            json,
        )),
        Command::Check => runtime()?.block_on(crate::operator::check_storage(&settings()?)),
        Command::Jobs(JobsCommand::List { state, limit, json }) => {
            let state = state.as_deref().and_then(JobState::parse);
            runtime()?.block_on(crate::operator::list_jobs(&settings()?, state, limit, json))
        }
        Command::Jobs(JobsCommand::Retry { id, all_failed }) => {
            let id = if all_failed { None } else { id.map(JobId) };
            runtime()?.block_on(crate::operator::retry_jobs(&settings()?, id))
        }
        Command::Mail(MailCommand::Test { address }) => {
            runtime()?.block_on(crate::operator::send_test_mail(&settings()?, &address))
        }
        Command::Conferences(ConferencesCommand::List {
            q,
            participant,
            since,
            until,
            status,
            said,
            limit,
            json,
        }) => {
            let query = crate::search::ListQuery {
                q,
                participant,
                since,
                until,
                status,
                has_recording: None,
                said,
                limit: Some(limit),
                cursor: None,
            };
            runtime()?.block_on(crate::operator::list_conferences(&settings()?, query, json))
        }
        Command::Conferences(ConferencesCommand::Show {
            conference_uuid,
            json,
        }) => runtime()?.block_on(crate::operator::show_conference(
            &settings()?,
            &conference_uuid,
            json,
        )),
        Command::Dev(DevCommand::GenArchive {
            conferences,
            legs,
            numbers,
        }) => crate::db::sqlite::synthetic::gen_archive(
            &settings()?.database_path(),
            conferences,
            legs,
            numbers,
        ),
        Command::Recordings(RecordingsCommand::Download {
            recording_id,
            output,
        }) => runtime()?.block_on(crate::operator::download_recording(
            &settings()?,
            &recording_id,
            output,
        )),
        Command::Sync {
            since,
            until,
            dry_run,
            json,
        } => {
            let config = settings()?;
            let bound = |flag: &str, value: Option<String>, end_of_day: bool| {
                value
                    .map(|v| {
                        crate::search::parse_bound(&v, config.timezone, end_of_day).with_context(
                            || format!("--{flag} {v:?}: not an RFC 3339 time or a YYYY-MM-DD date"),
                        )
                    })
                    .transpose()
            };
            let options = crate::account::sync::SyncOptions {
                since: bound("since", since, false)?,
                until: bound("until", until, true)?,
                dry_run,
                unless_completed_after: None,
            };
            runtime()?.block_on(crate::operator::sync(&config, options, json))
        }
        Command::Recordings(RecordingsCommand::List {
            since,
            until,
            participant,
            status,
            linked,
            said,
            limit,
            json,
        }) => {
            let query = crate::search::RecordingQuery {
                since,
                until,
                participant,
                status,
                linked,
                said,
                limit: Some(limit),
                cursor: None,
            };
            runtime()?.block_on(crate::operator::list_recordings(&settings()?, query, json))
        }
        Command::Recordings(RecordingsCommand::PruneSource {
            older_than,
            dry_run,
        }) => runtime()?.block_on(crate::operator::prune_source(
            &settings()?,
            older_than,
            dry_run,
        )),
        Command::Recordings(RecordingsCommand::Rearchive { from, concurrency }) => runtime()?
            .block_on(crate::operator::rearchive(
                &settings()?,
                &from,
                usize::from(concurrency),
            )),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;

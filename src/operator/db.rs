//! `confvault db …`: moving the database to PostgreSQL, and rebuilding it from the archive.

use clap::Subcommand;

use super::rebuild::RebuildOptions;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy the SQLite database (database.path) into an empty PostgreSQL database: every
    /// conference, leg, callback, recording, job, message and link. Stop the server first.
    Copy {
        /// The target, postgres://user:password@host/db (or CONFVAULT_DB_COPY_TO, which keeps
        /// the password out of the process list).
        #[arg(long, env = "CONFVAULT_DB_COPY_TO", hide_env_values = true)]
        to: String,
    },
    /// Rebuild the database from the archive: every recording whose sidecar is in the
    /// configured storage (under storage.prefix) and whose file is there with the size and
    /// SHA-256 the sidecar gives comes back as archived, with its conference and roster.
    /// Recordings the database knows are left as they are, so it can be run again. Nothing is
    /// fetched from Vobiz, and no summary or webhook is sent for what is restored.
    Rebuild {
        /// Read and check every sidecar; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Read every recording back and check its SHA-256 (slower: reads the whole archive),
        /// not only its size and the checksum stored with it.
        #[arg(long)]
        verify: bool,
        /// Sidecars read and checked at a time.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
    },
}

pub async fn run(config: &Config, command: DbCommand) -> anyhow::Result<()> {
    match command {
        DbCommand::Copy { to } => super::copy::to_postgres(config, &to).await,
        DbCommand::Rebuild {
            dry_run,
            verify,
            concurrency,
        } => {
            let options = RebuildOptions {
                dry_run,
                verify,
                concurrency: usize::from(concurrency),
            };
            super::rebuild::rebuild(config, options).await
        }
    }
}

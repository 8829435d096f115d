//! The command line against the settings: variables meant for options stay out of them.

use clap::CommandFactory;

/// Every `CONFVAULT_*` variable an option of any command reads.
fn variables(command: &clap::Command, into: &mut Vec<String>) {
    for arg in command.get_arguments() {
        if let Some(name) = arg.get_env().and_then(|v| v.to_str()) {
            into.push(name.to_owned());
        }
    }
    for sub in command.get_subcommands() {
        variables(sub, into);
    }
}

/// The settings read every `CONFVAULT_*` variable as a setting and refuse one they do not
/// know, so a variable meant for an option (`CONFVAULT_DB_COPY_TO`, say) must be left out.
#[test]
fn every_variable_an_option_reads_is_left_out_of_the_settings() {
    let mut found = Vec::new();
    variables(&super::Cli::command(), &mut found);

    assert!(found.len() >= 3, "{found:?}");
    for name in found {
        let key = name
            .strip_prefix("CONFVAULT_")
            .unwrap_or(&name)
            .to_lowercase();
        assert!(
            crate::config::CLI_ONLY_VARIABLES.contains(&key.as_str()),
            "{name} would be read as a setting"
        );
    }
}

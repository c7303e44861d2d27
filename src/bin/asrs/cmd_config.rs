//! `asrs config set|unset|show`: the per-user config file from the command line.

use std::process::ExitCode;

use anyhow::{bail, Context as _};
use azure_signalr_rest::ConnectionString;
use clap::{Subcommand, ValueEnum};

use crate::config::{load, path, save, Config};
use crate::endpoint_spec::from_settings;
use crate::global::{GlobalArgs, RunnableCmd};

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Store a value in the config file.
    Set {
        /// What to set.
        key: ConfigKey,
        /// The value.
        value: String,
    },
    /// Remove a value from the config file.
    Unset {
        /// What to remove.
        key: ConfigKey,
    },
    /// Print the config file's path and contents (access keys redacted), with the endpoints of
    /// its `Azure:SignalR:Endpoints:<name>[:<Primary|Secondary>]` settings.
    Show,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ConfigKey {
    /// The connection string used when neither -c nor the environment gives one.
    ConnectionString,
    /// The hub used when -h/--hub is not given.
    Hub,
}

impl RunnableCmd for ConfigCommand {
    async fn run(self, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let path = path()?;
        let mut config = load(&path)?;
        match self {
            ConfigCommand::Set { key, value } => {
                let value = value.trim().to_owned();
                match key {
                    ConfigKey::ConnectionString => {
                        // Refuse a string that would fail later; the error never quotes the key.
                        value
                            .parse::<ConnectionString>()
                            .context("not saved: invalid connection string")?;
                        config.connection_string = Some(value);
                    }
                    ConfigKey::Hub => {
                        if value.is_empty() {
                            bail!("not saved: the hub name is empty");
                        }
                        config.hub = Some(value);
                    }
                }
                save(&path, &config)?;
                println!("saved {} to {}", key_name(key), path.display());
            }
            ConfigCommand::Unset { key } => {
                match key {
                    ConfigKey::ConnectionString => config.connection_string = None,
                    ConfigKey::Hub => config.hub = None,
                }
                save(&path, &config)?;
                println!("removed {} from {}", key_name(key), path.display());
            }
            ConfigCommand::Show => {
                println!("config file: {}", path.display());
                let connection_string = match &config.connection_string {
                    None => "(not set)".to_owned(),
                    // Display redacts the key.
                    Some(s) => match s.parse::<ConnectionString>() {
                        Ok(cs) => cs.to_string(),
                        Err(e) => format!("(invalid: {e})"),
                    },
                };
                println!("connection-string: {connection_string}");
                show_endpoints(&config)?;
                println!("hub: {}", config.hub.as_deref().unwrap_or("(not set)"));
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The named endpoints of the settings form, one a line, keys redacted.
fn show_endpoints(config: &Config) -> anyhow::Result<()> {
    let settings = config.settings();
    let specs = from_settings(settings.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    if specs.is_empty() {
        println!("endpoints: (none)");
        return Ok(());
    }
    println!("endpoints:");
    for spec in specs {
        let shown = match spec.connection_string.parse::<ConnectionString>() {
            Ok(cs) => cs.to_string(),
            Err(e) => format!("(invalid: {e})"),
        };
        println!("  {} ({}): {shown}", spec.name_or_default(), spec.kind);
    }
    Ok(())
}

/// The key as typed on the command line.
fn key_name(key: ConfigKey) -> String {
    key.to_possible_value()
        .expect("every key is a possible value")
        .get_name()
        .to_owned()
}

//! `asrs config set|unset|show`: the per-user config file from the command line.

use std::process::ExitCode;

use anyhow::{bail, Context as _};
use azure_signalr_rest::ConnectionString;
use clap::{Subcommand, ValueEnum};

use crate::config::{load, path, save, Config};
use crate::endpoint_spec::{from_settings, parse_option, plain_from_settings, settings_key};
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
        /// The endpoint's name (with `endpoint`).
        #[arg(required_if_eq("key", "endpoint"))]
        name: Option<String>,
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
    /// One of several endpoints: `NAME=CONNECTION_STRING[:secondary]`, written as the setting
    /// `Azure:SignalR:Endpoints:<NAME>:<Primary|Secondary>` (unset takes the NAME).
    Endpoint,
}

impl RunnableCmd for ConfigCommand {
    async fn run(self, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let path = path()?;
        let mut config = load(&path)?;
        match self {
            ConfigCommand::Set { key, value } => {
                let value = value.trim().to_owned();
                let mut what = key_name(key);
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
                    ConfigKey::Endpoint => {
                        let spec = parse_option(&value).context("not saved")?;
                        let Some(name) = spec.name else {
                            bail!(
                                "not saved: name the endpoint: NAME=CONNECTION_STRING[:secondary]"
                            );
                        };
                        spec.connection_string
                            .parse::<ConnectionString>()
                            .with_context(|| {
                                format!("not saved: invalid connection string of endpoint `{name}`")
                            })?;
                        // One setting per endpoint: a new type or string replaces the old.
                        config.remove_endpoint(&name);
                        config.other.insert(
                            settings_key(&name, spec.kind),
                            spec.connection_string.into(),
                        );
                        what = format!("endpoint {name} ({})", spec.kind);
                    }
                }
                save(&path, &config)?;
                println!("saved {what} to {}", path.display());
            }
            ConfigCommand::Unset { key, name } => {
                let what = match (key, name) {
                    (ConfigKey::ConnectionString, _) => {
                        config.connection_string = None;
                        key_name(key)
                    }
                    (ConfigKey::Hub, _) => {
                        config.hub = None;
                        key_name(key)
                    }
                    (ConfigKey::Endpoint, name) => {
                        let name = name.unwrap_or_default();
                        if config.remove_endpoint(&name) == 0 {
                            bail!("no endpoint `{name}` in {}", path.display());
                        }
                        format!("endpoint {name}")
                    }
                };
                save(&path, &config)?;
                println!("removed {what} from {}", path.display());
            }
            ConfigCommand::Show => {
                println!("config file: {}", path.display());
                let settings = config.settings();
                // As the lookup reads it: `connectionString`, else ASP.NET Core's key.
                let plain = config.connection_string.clone().or_else(|| {
                    plain_from_settings(settings.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                });
                let connection_string = match &plain {
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

//! Finding the connection string and hub, and building the clients from them.
//!
//! Lookup order: `-c/--connection-string`, the environment variables
//! `Azure__SignalR__ConnectionString` then `AZURE_SIGNALR_CONNECTION_STRING`, then the config file.
//! Errors list these ways and never quote the access key.

use std::fmt;

use anyhow::{anyhow, Context as _};
use azure_signalr_rest::{ConnectionString, HubClient, ServiceClient};

use crate::config;
use crate::global::GlobalArgs;

/// The environment variables read for the connection string, in order.
pub(crate) const CONNECTION_STRING_ENVS: [&str; 2] = [
    "Azure__SignalR__ConnectionString",
    "AZURE_SIGNALR_CONNECTION_STRING",
];

/// Where the connection string came from (named in errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    Flag,
    Env(&'static str),
    ConfigFile(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("-c/--connection-string"),
            Source::Env(name) => write!(f, "environment variable {name}"),
            Source::ConfigFile(path) => write!(f, "config file {path}"),
        }
    }
}

fn config_path_text() -> String {
    config::path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| format!("unavailable: {e}"))
}

fn ways_to_give_a_connection_string() -> String {
    format!(
        "give one in any of these ways (the first found is used):\n  \
         -c/--connection-string \"Endpoint=...;AccessKey=...;Version=1.0;\" (before or after the subcommand)\n  \
         environment variable {}\n  \
         environment variable {}\n  \
         asrs config set connection-string \"Endpoint=...;AccessKey=...;Version=1.0;\" (writes {})\n\
         For a local emulator, `asrs emulator start` prints one.",
        CONNECTION_STRING_ENVS[0],
        CONNECTION_STRING_ENVS[1],
        config_path_text()
    )
}

/// The connection string, parsed, and where it came from.
pub(crate) fn connection_string(global: &GlobalArgs) -> anyhow::Result<(ConnectionString, Source)> {
    let (text, source) = find_connection_string(global)?;
    let parsed = text.parse::<ConnectionString>().map_err(|e| {
        // The parse error names the bad key and never quotes the access key.
        anyhow!("invalid connection string from {source}: {e}")
    })?;
    Ok((parsed, source))
}

fn find_connection_string(global: &GlobalArgs) -> anyhow::Result<(String, Source)> {
    if let Some(text) = global.connection_string.as_deref() {
        if text.trim().is_empty() {
            anyhow::bail!(
                "-c/--connection-string is empty; {}",
                ways_to_give_a_connection_string()
            );
        }
        return Ok((text.to_owned(), Source::Flag));
    }
    for name in CONNECTION_STRING_ENVS {
        if let Some(text) = config::non_empty_env(name) {
            return Ok((text, Source::Env(name)));
        }
    }
    let path = config::path()?;
    let config = config::load(&path)?;
    match config.connection_string {
        Some(text) if !text.trim().is_empty() => {
            Ok((text, Source::ConfigFile(path.display().to_string())))
        }
        _ => Err(anyhow!(
            "no connection string found; {}",
            ways_to_give_a_connection_string()
        )),
    }
}

/// A client for the service, with the API version of `--api-version`.
pub(crate) fn service_client(global: &GlobalArgs) -> anyhow::Result<ServiceClient> {
    let (cs, source) = connection_string(global)?;
    tracing::info!(endpoint = %cs.endpoint(), from = %source, version = %global.api_version, "connection string");
    ServiceClient::builder()
        .connection_string(&cs)
        .api_version(global.api_version)
        .build()
        .with_context(|| format!("using the connection string from {source}"))
}

/// The hub name: `-h/--hub`, else the config file's.
pub(crate) fn hub_name(global: &GlobalArgs) -> anyhow::Result<String> {
    if let Some(hub) = global.hub.as_deref().filter(|h| !h.trim().is_empty()) {
        return Ok(hub.to_owned());
    }
    let path = config::path()?;
    if let Some(hub) = config::load(&path)?.hub.filter(|h| !h.trim().is_empty()) {
        return Ok(hub);
    }
    Err(anyhow!(
        "no hub given; name one with -h/--hub <HUB> (before or after the subcommand), \
         or store one with `asrs config set hub <HUB>` (writes {})",
        path.display()
    ))
}

/// A client for the hub.
pub(crate) fn hub_client(global: &GlobalArgs) -> anyhow::Result<HubClient> {
    let service = service_client(global)?;
    Ok(service.hub(&hub_name(global)?))
}

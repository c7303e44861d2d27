//! Finding the endpoints (connection strings) and hub, and building the clients from them.
//!
//! Lookup order, the first that gives any endpoint wins: `-c/--connection-string` (repeatable),
//! the environment (`Azure__SignalR__ConnectionString` or else `AZURE_SIGNALR_CONNECTION_STRING`,
//! plus `Azure__SignalR__Endpoints__<name>[__<type>]`), then the config file (`connectionString`
//! plus the `Azure:SignalR:Endpoints:<name>[:<type>]` settings). Within one source a plain
//! connection string and named endpoints add up, as in Microsoft's SDK; the plain one is then
//! named `default`. Errors list the ways and never quote an access key.

use std::fmt;

use anyhow::{anyhow, bail, Context as _};
use azure_signalr_rest::{
    ConnectionString, HubClient, PartialDelivery, ServiceClient, ServiceEndpoint,
};

use crate::config;
use crate::endpoint_spec::{
    check_names, env_key, from_settings, parse_option, plain_from_settings, EndpointSpec,
};
use crate::global::GlobalArgs;

/// The environment variables read for the connection string, in order.
pub(crate) const CONNECTION_STRING_ENVS: [&str; 2] = [
    "Azure__SignalR__ConnectionString",
    "AZURE_SIGNALR_CONNECTION_STRING",
];

/// Where the endpoints came from (named in errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    Flag,
    Env(String),
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
         -c/--connection-string \"Endpoint=...;AccessKey=...;Version=1.0;\" (before or after the subcommand;\n    \
         repeat it as -c NAME=\"Endpoint=...\"[:secondary] for several service instances)\n  \
         environment variable {} (or Azure__SignalR__Endpoints__<name>__<Primary|Secondary>)\n  \
         environment variable {}\n  \
         asrs config set connection-string \"Endpoint=...;AccessKey=...;Version=1.0;\" (writes {})\n\
         For a local emulator, `asrs emulator start` prints one.",
        CONNECTION_STRING_ENVS[0],
        CONNECTION_STRING_ENVS[1],
        config_path_text()
    )
}

/// The configured endpoints, parsed.
pub(crate) struct Configured {
    /// In configuration order, names unique.
    pub endpoints: Vec<ServiceEndpoint>,
    /// One connection string without a name: the client of a single instance, as before
    /// endpoints had names.
    pub plain: bool,
    pub source: Source,
}

/// The configured endpoints, parsed, and where they came from.
pub(crate) fn endpoints(global: &GlobalArgs) -> anyhow::Result<Configured> {
    let (specs, source) = find_endpoints(global)?;
    let plain = matches!(specs.as_slice(), [one] if one.name.is_none());
    check_names(&specs).with_context(|| format!("endpoints from {source}"))?;
    let mut parsed = Vec::with_capacity(specs.len());
    for spec in &specs {
        let cs = spec
            .connection_string
            .parse::<ConnectionString>()
            .map_err(|e| {
                // The parse error names the bad key and never quotes the access key.
                match &spec.name {
                    None => anyhow!("invalid connection string from {source}: {e}"),
                    Some(name) => {
                        anyhow!("invalid connection string of endpoint `{name}` from {source}: {e}")
                    }
                }
            })?;
        parsed.push(ServiceEndpoint::new(spec.name_or_default(), cs).endpoint_type(spec.kind));
    }
    Ok(Configured {
        endpoints: parsed,
        plain,
        source,
    })
}

fn find_endpoints(global: &GlobalArgs) -> anyhow::Result<(Vec<EndpointSpec>, Source)> {
    if !global.connection_string.is_empty() {
        let mut specs = Vec::new();
        for text in &global.connection_string {
            if text.trim().is_empty() {
                bail!(
                    "-c/--connection-string is empty; {}",
                    ways_to_give_a_connection_string()
                );
            }
            specs.push(parse_option(text).context("-c/--connection-string")?);
        }
        return Ok((specs, Source::Flag));
    }
    if let Some(found) = from_environment()? {
        return Ok(found);
    }
    let path = config::path()?;
    let config = config::load(&path)?;
    let source = Source::ConfigFile(path.display().to_string());
    let settings = config.settings();
    let mut specs = Vec::new();
    let pairs = || settings.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    if let Some(text) = config
        .connection_string
        .filter(|t| !t.trim().is_empty())
        .or_else(|| plain_from_settings(pairs()))
    {
        specs.push(EndpointSpec::plain(text));
    }
    specs.extend(from_settings(pairs()).with_context(|| format!("reading {source}"))?);
    if specs.is_empty() {
        bail!(
            "no connection string found; {}",
            ways_to_give_a_connection_string()
        );
    }
    Ok((specs, source))
}

/// The endpoints the environment gives, if any.
fn from_environment() -> anyhow::Result<Option<(Vec<EndpointSpec>, Source)>> {
    let mut specs = Vec::new();
    let mut names = Vec::new();
    if let Some((name, text)) = CONNECTION_STRING_ENVS
        .iter()
        .find_map(|name| config::non_empty_env(name).map(|text| (*name, text)))
    {
        specs.push(parse_option(&text).with_context(|| format!("environment variable {name}"))?);
        names.push(name.to_owned());
    }
    // Sorted, so the order does not depend on the environment's.
    let mut named: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .map(|(k, v)| (env_key(&k), v))
        .collect();
    named.sort();
    let found = from_settings(named.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .context("environment variables")?;
    if !found.is_empty() {
        names.push("Azure__SignalR__Endpoints__*".to_owned());
    }
    specs.extend(found);
    Ok((!specs.is_empty()).then(|| (specs, Source::Env(names.join(" and ")))))
}

/// A client for the service, with the API version of `--api-version`: over several endpoints
/// when several are configured.
pub(crate) fn service_client(global: &GlobalArgs) -> anyhow::Result<ServiceClient> {
    let Configured {
        endpoints,
        plain,
        source,
    } = endpoints(global)?;
    for e in &endpoints {
        tracing::info!(name = e.name(), kind = %e.kind(), endpoint = %e.connection_string().endpoint(), from = %source, version = %global.api_version, "endpoint");
    }
    let mut builder = ServiceClient::builder().api_version(global.api_version);
    if global.allow_partial {
        builder = builder.partial_delivery(PartialDelivery::Succeed);
    }
    let builder = match (plain, endpoints.as_slice()) {
        // One connection string: exactly the client of a single instance.
        (true, [one]) => builder.connection_string(one.connection_string()),
        _ => builder.endpoints(endpoints),
    };
    builder
        .build()
        .with_context(|| format!("using the endpoints from {source}"))
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

/// A client for the hub that new clients negotiate with. With several endpoints each is checked
/// first: a one-shot command would otherwise negotiate before any background check ran, and
/// could hand out an endpoint that is down.
pub(crate) async fn negotiating_hub_client(global: &GlobalArgs) -> anyhow::Result<HubClient> {
    let service = service_client(global)?;
    let hub = hub_name(global)?;
    if service.endpoints().len() > 1 {
        for (endpoint, result) in service.check_endpoints().await {
            if let Err(error) = result {
                tracing::info!(endpoint = endpoint.name(), %error, "not negotiating with it");
            }
        }
    }
    Ok(service.hub(&hub))
}

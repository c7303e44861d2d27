//! `asrs emulator ...`: the local emulator, with the official emulator's command line
//! (`start -p/-i/-c`, `upstream init|list`, `settings.json`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use azure_signalr_rest::emulator::{Emulator, DEFAULT_ACCESS_KEY};
use clap::{Args, Subcommand};

use crate::emulator_limits::{return_freed_memory, LimitArgs};
use crate::emulator_settings::{
    init, list, load_settings, settings_path, watch_settings, InitArgs, ListArgs,
};
use crate::global::{GlobalArgs, RunnableCmd};

#[derive(Debug, Subcommand)]
pub(crate) enum EmulatorCommand {
    /// Start the emulator and serve until Ctrl-C or SIGTERM; prints the connection string first.
    Start(StartArgs),
    /// Write or show the upstream settings (the official emulator's settings.json).
    #[command(subcommand)]
    Upstream(UpstreamCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum UpstreamCommand {
    /// Write the default upstream settings (every event to the local Functions host,
    /// http://localhost:7071/runtime/webhooks/signalr) to settings.json.
    Init(InitArgs),
    /// Print the upstream settings `start` would use.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub(crate) struct StartArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(short = 'p', long, default_value_t = 8888)]
    port: u16,
    /// Address to listen on (default: localhost, i.e. 127.0.0.1 and, when available, ::1).
    #[arg(short = 'i', long)]
    ip: Option<std::net::IpAddr>,
    /// Access key that signs tokens (default: the well-known emulator key).
    #[arg(long, env = "ASRS_EMULATOR_ACCESS_KEY", hide_env_values = true)]
    access_key: Option<String>,
    /// Upstream settings file, or a folder holding settings.json (default: ./settings.json
    /// when it exists). `-c` works too, as in the official emulator.
    #[arg(long, value_name = "FILE_OR_FOLDER", conflicts_with = "upstream")]
    config: Option<PathBuf>,
    /// One URL receiving every client invocation and connect/disconnect event (instead of a
    /// settings file); may hold {hub}, {category} and {event}.
    #[arg(long)]
    upstream: Option<String>,
    #[command(flatten, next_help_heading = "Limits")]
    limits: LimitArgs,
}

/// `-c` is the global connection-string option everywhere else; after `emulator start` or
/// `emulator upstream` it means `--config`, as in the official emulator's command line.
pub(crate) fn official_short_flags(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    let Some(at) = args
        .windows(2)
        .position(|w| w[0] == "emulator" && (w[1] == "start" || w[1] == "upstream"))
    else {
        return args;
    };
    for arg in &mut args[at + 2..] {
        if arg == "-c" {
            *arg = "--config".into();
        } else if let Some(value) = arg.to_str().and_then(|a| a.strip_prefix("-c"))
            && !value.is_empty()
            && !value.starts_with('-')
        {
            *arg = format!("--config={value}").into();
        }
    }
    args
}

impl RunnableCmd for EmulatorCommand {
    async fn run(self, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        match self {
            EmulatorCommand::Start(args) => start(args).await,
            EmulatorCommand::Upstream(UpstreamCommand::Init(args)) => init(args),
            EmulatorCommand::Upstream(UpstreamCommand::List(args)) => list(args),
        }
        .map(|()| ExitCode::SUCCESS)
    }
}

async fn start(args: StartArgs) -> anyhow::Result<()> {
    return_freed_memory();
    let stop = crate::signal::stop_requested().context("installing the Ctrl-C/SIGTERM handler")?;
    let bind = match args.ip {
        Some(ip) => std::net::SocketAddr::new(ip, args.port).to_string(),
        // Both stacks: a client resolving localhost may try ::1 first.
        None => format!("localhost:{}", args.port),
    };
    let builder = Emulator::builder()
        .bind(bind)
        .access_key(
            args.access_key
                .unwrap_or_else(|| DEFAULT_ACCESS_KEY.to_string()),
        )
        // A standalone process has no inspection API: keeping a delivery record would only
        // cost every delivery a copy.
        .delivery_record(0);
    let (mut builder, cap_note) = args.limits.apply(builder);
    let mut watched = None;
    let upstream_note = if let Some(upstream) = &args.upstream {
        builder = builder.upstream(upstream);
        "Upstream: every event to the --upstream URL".to_string()
    } else {
        let (path, required) = settings_path(args.config.as_deref())?;
        // Read before loading, so that a change made from here on is seen by the watcher.
        let seen = std::fs::read(&path).ok();
        let settings = load_settings(&path, required)?;
        let note = format!(
            "Loaded upstream settings from '{}'. Changes to the file are loaded while running.\nCurrent Upstream Settings:\n{settings}",
            path.display()
        );
        builder = builder.upstream_settings(settings);
        watched = Some((path, seen));
        note
    };
    let handle = builder.start().await.context("starting the emulator")?;
    // Clients reach a loopback or all-interfaces listener through localhost.
    let host = match args.ip {
        None => "localhost".to_string(),
        Some(ip) if ip.is_loopback() || ip.is_unspecified() => "localhost".to_string(),
        Some(ip) if ip.is_ipv6() => format!("[{ip}]"),
        Some(ip) => ip.to_string(),
    };
    // The official emulator's form; the real port, even when 0 was asked for.
    println!(
        "Endpoint=http://{host};Port={};AccessKey={};Version=1.0;",
        handle.local_addr().port(),
        handle.access_key()
    );
    let addresses: Vec<String> = handle
        .local_addrs()
        .iter()
        .map(|a| format!("http://{a}"))
        .collect();
    eprintln!("{}", upstream_note.trim_end());
    eprintln!("{cap_note}");
    if handle.exposes_default_key() {
        eprintln!(
            "warning: listening beyond loopback with the well-known default access key; anyone \
             who can reach this port can sign tokens. Pass --access-key <your own key>."
        );
    }
    eprintln!(
        "Emulator listening on {}; press Ctrl-C (or send SIGTERM) to stop.",
        addresses.join(" and ")
    );
    let handle = std::sync::Arc::new(handle);
    let watcher =
        watched.map(|(path, seen)| tokio::spawn(watch_settings(path, seen, handle.clone())));
    stop.await;
    if let Some(watcher) = watcher {
        // Once it has stopped, its share of the handle is gone and shutdown can take it.
        watcher.abort();
        let _ = watcher.await;
    }
    if let Ok(handle) = std::sync::Arc::try_unwrap(handle) {
        handle.shutdown().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::official_short_flags;

    fn rewrite(args: &[&str]) -> Vec<String> {
        official_short_flags(args.iter().map(|a| a.into()))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn dash_c_means_config_only_after_emulator_start_or_upstream() {
        assert_eq!(
            rewrite(&["asrs", "-v", "emulator", "start", "-p", "1", "-c", "x.json"]),
            ["asrs", "-v", "emulator", "start", "-p", "1", "--config", "x.json"]
        );
        assert_eq!(
            rewrite(&["asrs", "emulator", "upstream", "list", "-cdir"]),
            ["asrs", "emulator", "upstream", "list", "--config=dir"]
        );
        assert_eq!(
            rewrite(&["asrs", "-c", "Endpoint=x", "send", "user", "a"]),
            ["asrs", "-c", "Endpoint=x", "send", "user", "a"]
        );
    }
}

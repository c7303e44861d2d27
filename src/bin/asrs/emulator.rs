//! `asrs emulator ...`: the local emulator, with the official emulator's command line
//! (`start -p/-i/-c`, `upstream init|list`, `settings.json`).

use std::ffi::OsString;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use azure_signalr_rest::emulator::{Emulator, UpstreamSettings, DEFAULT_ACCESS_KEY};
use clap::{Args, Subcommand};

/// The settings file the official emulator reads and `upstream init` writes.
const SETTINGS_FILE: &str = "settings.json";
/// How often the settings file is checked for changes.
const SETTINGS_POLL: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Debug, Subcommand)]
pub enum EmulatorCommand {
    /// Start the emulator and serve until Ctrl-C or SIGTERM; prints the connection string first.
    Start(StartArgs),
    /// Write or show the upstream settings (the official emulator's settings.json).
    #[command(subcommand)]
    Upstream(UpstreamCommand),
}

#[derive(Debug, Subcommand)]
pub enum UpstreamCommand {
    /// Write the default upstream settings (every event to the local Functions host,
    /// http://localhost:7071/runtime/webhooks/signalr) to settings.json.
    Init(InitArgs),
    /// Print the upstream settings `start` would use.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder to write settings.json to (default: the current folder).
    #[arg(short = 'o', long, value_name = "FOLDER")]
    output: Option<PathBuf>,
    /// Overwrite an existing file without asking.
    #[arg(short = 'f', long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Upstream settings file, or a folder holding settings.json (default: ./settings.json).
    /// `-c` works too, as in the official emulator.
    #[arg(long, value_name = "FILE_OR_FOLDER")]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
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
}

/// `-c` is the global connection-string option everywhere else; after `emulator start` or
/// `emulator upstream` it means `--config`, as in the official emulator's command line.
pub fn official_short_flags(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
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
        } else if let Some(value) = arg.to_str().and_then(|a| a.strip_prefix("-c")) {
            if !value.is_empty() && !value.starts_with('-') {
                *arg = format!("--config={value}").into();
            }
        }
    }
    args
}

pub async fn run(command: EmulatorCommand) -> anyhow::Result<()> {
    match command {
        EmulatorCommand::Start(args) => start(args).await,
        EmulatorCommand::Upstream(UpstreamCommand::Init(args)) => init(args),
        EmulatorCommand::Upstream(UpstreamCommand::List(args)) => list(args),
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The settings file to read: `--config` as a file, else as a folder holding settings.json
/// (one of them must exist); without `--config`, ./settings.json, which may be absent.
fn settings_path(config: Option<&Path>) -> anyhow::Result<(PathBuf, bool)> {
    let Some(config) = config else {
        return Ok((absolute(Path::new(SETTINGS_FILE)), false));
    };
    let file = absolute(config);
    if file.is_file() {
        return Ok((file, true));
    }
    let in_folder = file.join(SETTINGS_FILE);
    if in_folder.is_file() {
        return Ok((in_folder, true));
    }
    anyhow::bail!(
        "unable to find config file '{}' or '{}'",
        file.display(),
        in_folder.display()
    )
}

/// The settings at `path`; an absent default file means no upstream.
fn load_settings(path: &Path, required: bool) -> anyhow::Result<UpstreamSettings> {
    if !required && !path.exists() {
        return Ok(UpstreamSettings::new());
    }
    Ok(UpstreamSettings::load(path)?)
}

fn init(args: InitArgs) -> anyhow::Result<()> {
    let folder = args.output.unwrap_or_else(|| PathBuf::from("."));
    let file = absolute(&folder.join(SETTINGS_FILE));
    if file.exists() && !args.force {
        println!(
            "Already contains '{}', still want to override it with the default one? (N/y)",
            file.display()
        );
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !answer.trim().eq_ignore_ascii_case("y") {
            return Ok(());
        }
    }
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&file, UpstreamSettings::official_default().to_json())
        .with_context(|| format!("writing {}", file.display()))?;
    println!("Exported default settings to '{}'.", file.display());
    Ok(())
}

fn list(args: ListArgs) -> anyhow::Result<()> {
    let (path, required) = settings_path(args.config.as_deref())?;
    let settings = load_settings(&path, required)?;
    println!("Loaded upstream settings from '{}'", path.display());
    print!("Current Upstream Settings:\n{settings}");
    Ok(())
}

/// glibc raises its mmap threshold each time a large block is freed, after which message
/// buffers come from the heap and stay resident once freed: a burst of 512 KiB messages to
/// ten slow clients left 238 MB resident after they were cut off and gone (23 MB with the
/// threshold fixed). Fixing it keeps big buffers in their own mappings, returned when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_freed_memory() {
    // SAFETY: mallopt only tunes glibc's allocator and is thread-safe there (it takes the arena
    // lock); a refusal (0) just leaves the default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_freed_memory() {}

async fn start(args: StartArgs) -> anyhow::Result<()> {
    return_freed_memory();
    let stop = crate::signal::stop_requested().context("installing the Ctrl-C/SIGTERM handler")?;
    let bind = match args.ip {
        Some(ip) => std::net::SocketAddr::new(ip, args.port).to_string(),
        // Both stacks: a client resolving localhost may try ::1 first.
        None => format!("localhost:{}", args.port),
    };
    let mut builder = Emulator::builder()
        .bind(bind)
        .access_key(
            args.access_key
                .unwrap_or_else(|| DEFAULT_ACCESS_KEY.to_string()),
        )
        // A standalone process has no inspection API: keeping a delivery record would only
        // cost every delivery a copy.
        .delivery_record(0);
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

/// Reloads the settings file when its content changes, as the official emulator does; an
/// unusable file leaves the settings in force, a removed one means no upstream.
async fn watch_settings(
    path: PathBuf,
    seen: Option<Vec<u8>>,
    handle: std::sync::Arc<azure_signalr_rest::emulator::EmulatorHandle>,
) {
    let read = |path: &Path| std::fs::read(path).ok();
    let mut last = seen;
    let mut tick = tokio::time::interval(SETTINGS_POLL);
    loop {
        tick.tick().await;
        let now = read(&path);
        if now == last {
            continue;
        }
        last = now;
        let loaded = match &last {
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => UpstreamSettings::from_json(text).map_err(|e| e.to_string()),
                Err(_) => Err("the file is not UTF-8".to_string()),
            },
            None => Ok(UpstreamSettings::new()),
        };
        match loaded {
            Ok(settings) => {
                eprint!(
                    "Reloaded upstream settings from '{}'.\nCurrent Upstream Settings:\n{settings}",
                    path.display()
                );
                handle.set_upstream_settings(settings);
            }
            Err(e) => eprintln!("Kept the upstream settings in force: {e}"),
        }
    }
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

//! The upstream settings file of `asrs emulator`: `upstream init` writes it, `upstream list`
//! prints it, `start` loads it and reloads it when it changes (the official emulator's
//! `settings.json`).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use azure_signalr_rest::emulator::{EmulatorHandle, UpstreamSettings};
use clap::Args;

/// The settings file the official emulator reads and `upstream init` writes.
const SETTINGS_FILE: &str = "settings.json";
/// How often the settings file is checked for changes.
const SETTINGS_POLL: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Folder to write settings.json to (default: the current folder).
    #[arg(short = 'o', long, value_name = "FOLDER")]
    output: Option<PathBuf>,
    /// Overwrite an existing file without asking.
    #[arg(short = 'f', long)]
    force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Upstream settings file, or a folder holding settings.json (default: ./settings.json).
    /// `-c` works too, as in the official emulator.
    #[arg(long, value_name = "FILE_OR_FOLDER")]
    config: Option<PathBuf>,
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The settings file to read: `--config` as a file, else as a folder holding settings.json
/// (one of them must exist); without `--config`, ./settings.json, which may be absent.
pub(crate) fn settings_path(config: Option<&Path>) -> anyhow::Result<(PathBuf, bool)> {
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
pub(crate) fn load_settings(path: &Path, required: bool) -> anyhow::Result<UpstreamSettings> {
    if !required && !path.exists() {
        return Ok(UpstreamSettings::new());
    }
    Ok(UpstreamSettings::load(path)?)
}

pub(crate) fn init(args: InitArgs) -> anyhow::Result<()> {
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

pub(crate) fn list(args: ListArgs) -> anyhow::Result<()> {
    let (path, required) = settings_path(args.config.as_deref())?;
    let settings = load_settings(&path, required)?;
    println!("Loaded upstream settings from '{}'", path.display());
    print!("Current Upstream Settings:\n{settings}");
    Ok(())
}

/// Reloads the settings file when its content changes, as the official emulator does; an
/// unusable file leaves the settings in force, a removed one means no upstream.
pub(crate) async fn watch_settings(
    path: PathBuf,
    seen: Option<Vec<u8>>,
    handle: std::sync::Arc<EmulatorHandle>,
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

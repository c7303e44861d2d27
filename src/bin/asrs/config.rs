//! The per-user config file: the connection string and hub, so they need not be typed each time
//! (the quickstart's user-secrets, without .NET). It may also hold several endpoints in the
//! settings form of Microsoft's SDKs, flat or nested (`"Azure:SignalR:Endpoints:east:Primary"`
//! = connection string, see `endpoint_spec`), so an `appsettings.json` section can be pasted in;
//! keys the tool does not know are kept as they are when it writes the file.
//!
//! JSON at `$ASRS_CONFIG` (a file path, for tests and scripts), else
//! `$XDG_CONFIG_HOME/asrs/config.json`, else `~/.config/asrs/config.json`. Written with mode 0600
//! on Unix, since it holds an access key.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

/// Environment variable naming the config file to use instead of the per-user one.
pub(crate) const CONFIG_ENV: &str = "ASRS_CONFIG";

/// The file's contents.
#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<String>,
    /// Every other key (the endpoint settings among them), kept on save.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl Config {
    /// Removes every setting of the endpoint `name` (any case, flat or nested, either
    /// section), and the objects that become empty; returns how many.
    pub(crate) fn remove_endpoint(&mut self, name: &str) -> usize {
        use serde_json::{Map, Value};
        fn walk(map: &mut Map<String, Value>, prefix: &str, name: &str) -> usize {
            let mut removed = 0;
            map.retain(|key, value| {
                let full = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}:{key}")
                };
                match value {
                    Value::Object(inner) => {
                        removed += walk(inner, &full, name);
                        !inner.is_empty()
                    }
                    _ => {
                        let hit = crate::endpoint_spec::endpoint_name(&full)
                            .is_some_and(|n| n.eq_ignore_ascii_case(name));
                        removed += usize::from(hit);
                        !hit
                    }
                }
            });
            removed
        }
        walk(&mut self.other, "", name)
    }

    /// The other keys as flat `a:b:c` settings.
    pub(crate) fn settings(&self) -> Vec<(String, String)> {
        crate::endpoint_spec::flatten(&serde_json::Value::Object(self.other.clone()))
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field(
                "connection_string",
                &self.connection_string.as_ref().map(|_| "<redacted>"),
            )
            .field("hub", &self.hub)
            .field("other", &self.other.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Where the config file is (it may not exist).
pub(crate) fn path() -> anyhow::Result<PathBuf> {
    if let Some(path) = non_empty_env(CONFIG_ENV) {
        return Ok(PathBuf::from(path));
    }
    let dir = match non_empty_env("XDG_CONFIG_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => match non_empty_env("HOME") {
            Some(home) => PathBuf::from(home).join(".config"),
            None => bail!(
                "cannot place the config file: none of {CONFIG_ENV}, XDG_CONFIG_HOME, HOME is set"
            ),
        },
    };
    Ok(dir.join("asrs").join("config.json"))
}

/// The variable `name`, unless unset or blank.
pub(crate) fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The config at `path`; empty when the file does not exist.
pub(crate) fn load(path: &Path) -> anyhow::Result<Config> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            // serde_json's message gives line and column, never the file's text.
            .with_context(|| format!("reading the config file {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(e).with_context(|| format!("reading the config file {}", path.display())),
    }
}

/// Writes `config` to `path` (through a temporary file, so a crash never leaves half a file).
pub(crate) fn save(path: &Path, config: &Config) -> anyhow::Result<()> {
    let context = || format!("writing the config file {}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(context)?;
    }
    let mut text = serde_json::to_string_pretty(config).expect("plain strings serialize");
    text.push('\n');
    let temporary = path.with_extension("json.tmp");
    write_private(&temporary, text.as_bytes()).with_context(context)?;
    std::fs::rename(&temporary, path).with_context(context)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_then_load_round_trips_and_debug_redacts() {
        let dir = std::env::temp_dir().join(format!("asrs-config-test-{}", std::process::id()));
        let path = dir.join("nested").join("config.json");
        let config = Config {
            connection_string: Some("Endpoint=http://localhost;AccessKey=s3cret;".into()),
            hub: Some("chat".into()),
            other: serde_json::from_str(r#"{"Azure:SignalR:Endpoints:east": "AccessKey=s3cret"}"#)
                .unwrap(),
        };
        save(&path, &config).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.connection_string, config.connection_string);
        assert_eq!(loaded.hub.as_deref(), Some("chat"));
        assert_eq!(loaded.other, config.other);
        assert!(!format!("{loaded:?}").contains("s3cret"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "config file readable by others: {mode:o}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_endpoint_is_removed_wherever_it_is_written() {
        let mut config = Config {
            other: serde_json::from_str(
                r#"{"Azure:SignalR:Endpoints:East:Primary": "a", "keep": {"x": 1},
                    "Azure": {"SignalR": {"ConnectionString": {"east": "b", "west": "c"}}}}"#,
            )
            .unwrap(),
            ..Config::default()
        };
        assert_eq!(config.remove_endpoint("east"), 2);
        assert_eq!(
            serde_json::Value::Object(config.other),
            serde_json::json!({"keep": {"x": 1},
                "Azure": {"SignalR": {"ConnectionString": {"west": "c"}}}})
        );
    }

    #[test]
    fn missing_file_is_an_empty_config() {
        let config = load(Path::new("/nonexistent/asrs/config.json")).unwrap();
        assert!(config.connection_string.is_none() && config.hub.is_none());
    }
}

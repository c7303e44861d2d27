//! Which upstream URL receives which event: [`UpstreamTemplate`]s, ordered in
//! [`UpstreamSettings`] (the official emulator's `settings.json`), and the emulator's
//! replaceable copy of them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};

/// What `asrs emulator upstream init` writes: the Functions host's local SignalR webhook.
pub const DEFAULT_UPSTREAM_URL: &str = "http://localhost:7071/runtime/webhooks/signalr";

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded
/// (what .NET's `Uri.EscapeDataString` does with a placeholder's value).
const DATA: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// An unusable upstream settings file or template.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamSettingsError {
    /// The file could not be read.
    #[error("cannot read upstream settings {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("upstream settings are not valid JSON: {0}")]
    Json(String),
    /// A value has the wrong shape or an unusable URL.
    #[error("invalid upstream settings: {0}")]
    Invalid(String),
}

/// One comma-separated pattern: `*` matches anything, otherwise one of the listed names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    text: String,
    any: bool,
    names: Vec<String>,
}

impl Pattern {
    fn new(text: &str) -> Self {
        let names: Vec<String> = text.split(',').map(|s| s.trim().to_string()).collect();
        Pattern {
            text: text.to_string(),
            any: names.iter().any(|n| n == "*"),
            names,
        }
    }

    fn matches(&self, value: &str, ignore_case: bool) -> bool {
        self.any
            || self.names.iter().any(|n| {
                if ignore_case {
                    n.eq_ignore_ascii_case(value)
                } else {
                    n == value
                }
            })
    }
}

/// One upstream: a URL template and the hubs, categories and events it receives.
///
/// The template may hold `{hub}`, `{category}` (`connections` or `messages`) and `{event}`
/// (`connected`, `disconnected` or the invoked method); each is replaced by its
/// percent-encoded value. Patterns are `*` (the default), a name, or a comma-separated list of
/// names. Hub names compare case-insensitively (hubs are case-insensitive), categories and
/// events exactly.
///
/// ```
/// use azure_signalr_rest::emulator::UpstreamTemplate;
///
/// let template = UpstreamTemplate::new("http://localhost:7071/api/{hub}/{category}/{event}")
///     .unwrap()
///     .hub_pattern("chat, game")
///     .category_pattern("messages");
/// assert_eq!(
///     template.url_for("Chat", "messages", "send it").as_deref(),
///     Some("http://localhost:7071/api/Chat/messages/send%20it")
/// );
/// assert_eq!(template.url_for("chat", "connections", "connected"), None);
/// assert_eq!(template.url_for("news", "messages", "send"), None);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamTemplate {
    url_template: String,
    hub: Pattern,
    category: Pattern,
    event: Pattern,
}

impl UpstreamTemplate {
    /// A template receiving every event; fails unless it makes an absolute http(s) URL.
    pub fn new(url_template: impl Into<String>) -> Result<Self, UpstreamSettingsError> {
        let url_template = url_template.into();
        let sample = expand(&url_template, "hub", "category", "event");
        match url::Url::parse(&sample) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
            _ => {
                return Err(UpstreamSettingsError::Invalid(format!(
                    "the upstream URL template '{url_template}' is not an absolute http(s) URL"
                )))
            }
        }
        Ok(UpstreamTemplate {
            url_template,
            hub: Pattern::new("*"),
            category: Pattern::new("*"),
            event: Pattern::new("*"),
        })
    }

    /// Which hubs this template receives (`*`, `name` or `a,b,c`).
    pub fn hub_pattern(mut self, pattern: &str) -> Self {
        self.hub = Pattern::new(pattern);
        self
    }

    /// Which categories (`connections`, `messages`) this template receives.
    pub fn category_pattern(mut self, pattern: &str) -> Self {
        self.category = Pattern::new(pattern);
        self
    }

    /// Which events (`connected`, `disconnected`, method names) this template receives.
    pub fn event_pattern(mut self, pattern: &str) -> Self {
        self.event = Pattern::new(pattern);
        self
    }

    /// The URL template as given.
    pub fn url_template(&self) -> &str {
        &self.url_template
    }

    /// The URL for this event, or `None` when the template does not match it.
    pub fn url_for(&self, hub: &str, category: &str, event: &str) -> Option<String> {
        (self.hub.matches(hub, true)
            && self.category.matches(category, false)
            && self.event.matches(event, false))
        .then(|| expand(&self.url_template, hub, category, event))
    }
}

impl fmt::Display for UpstreamTemplate {
    /// The official emulator's listing form: `url(event:'*',hub:'*',category:'*')`, with the
    /// value of a `code` query parameter (an Azure Functions key) hidden.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}(event:'{}',hub:'{}',category:'{}')",
            redacted(&self.url_template),
            self.event.text,
            self.hub.text,
            self.category.text
        )
    }
}

impl fmt::Debug for UpstreamTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UpstreamTemplate({self})")
    }
}

/// The URL template with the value of any `code` query parameter (a Functions key, which
/// the service's upstream URLs carry) replaced, for listings and logs.
fn redacted(url_template: &str) -> String {
    let Some((base, query)) = url_template.split_once('?') else {
        return url_template.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("code") => format!("{name}=<redacted>"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// An ordered list of upstream templates, in the official emulator's settings file format:
///
/// ```json
/// {
///   "UpstreamSettings": {
///     "Templates": [
///       {
///         "UrlTemplate": "http://localhost:7071/runtime/webhooks/signalr",
///         "EventPattern": "*",
///         "HubPattern": "*",
///         "CategoryPattern": "*"
///       }
///     ]
///   }
/// }
/// ```
///
/// Keys are matched case-insensitively (as .NET configuration does), a missing pattern is
/// `*`, and a file without `UpstreamSettings` has no upstream.
///
/// ```
/// use azure_signalr_rest::emulator::UpstreamSettings;
///
/// let settings = UpstreamSettings::from_json(r#"{"UpstreamSettings": {"Templates": [
///     {"UrlTemplate": "http://localhost:7071/api/connections", "CategoryPattern": "connections"},
///     {"UrlTemplate": "http://localhost:7071/api/{event}", "EventPattern": "send,join"}
/// ]}}"#).unwrap();
/// assert_eq!(
///     settings.url_for("chat", "messages", "join").as_deref(),
///     Some("http://localhost:7071/api/join")
/// );
/// assert_eq!(settings.url_for("chat", "messages", "leave"), None); // not sent
/// let roundtrip = UpstreamSettings::from_json(&settings.to_json()).unwrap();
/// assert_eq!(roundtrip, settings);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamSettings {
    templates: Vec<UpstreamTemplate>,
}

/// The value under `key`, compared case-insensitively.
fn get_ci<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

impl UpstreamSettings {
    /// No templates: no event is sent anywhere.
    pub fn new() -> Self {
        Self::default()
    }

    /// What `upstream init` writes: everything to the local Functions host's SignalR webhook.
    pub fn official_default() -> Self {
        let template =
            UpstreamTemplate::new(DEFAULT_UPSTREAM_URL).expect("the default URL is valid");
        UpstreamSettings {
            templates: vec![template],
        }
    }

    /// Appends a template (tried after the ones before it).
    pub fn push(&mut self, template: UpstreamTemplate) {
        self.templates.push(template);
    }

    /// The templates, in the order they are tried.
    pub fn templates(&self) -> &[UpstreamTemplate] {
        &self.templates
    }

    /// The URL of the first template matching the event, `None` when none does.
    pub fn url_for(&self, hub: &str, category: &str, event: &str) -> Option<String> {
        self.templates
            .iter()
            .find_map(|t| t.url_for(hub, category, event))
    }

    /// Parses the settings file format.
    pub fn from_json(text: &str) -> Result<Self, UpstreamSettingsError> {
        let root: Value =
            serde_json::from_str(text).map_err(|e| UpstreamSettingsError::Json(e.to_string()))?;
        let invalid = |what: String| UpstreamSettingsError::Invalid(what);
        let root = root
            .as_object()
            .ok_or_else(|| invalid("the file must hold a JSON object".into()))?;
        let Some(section) = get_ci(root, "UpstreamSettings").filter(|v| !v.is_null()) else {
            return Ok(Self::default());
        };
        let section = section
            .as_object()
            .ok_or_else(|| invalid("'UpstreamSettings' must be an object".into()))?;
        let templates = match get_ci(section, "Templates") {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(invalid("'Templates' must be an array".into())),
        };
        let mut settings = Self::default();
        for (i, item) in templates.iter().enumerate() {
            let item = item
                .as_object()
                .ok_or_else(|| invalid(format!("template {i} must be an object")))?;
            let text = |key: &str| -> Result<Option<&str>, UpstreamSettingsError> {
                match get_ci(item, key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s)),
                    Some(_) => Err(invalid(format!("template {i}: '{key}' must be a string"))),
                }
            };
            let url = text("UrlTemplate")?
                .filter(|u| !u.is_empty())
                .ok_or_else(|| invalid(format!("template {i} has no 'UrlTemplate'")))?;
            let mut template = UpstreamTemplate::new(url)?;
            if let Some(p) = text("HubPattern")? {
                template = template.hub_pattern(p);
            }
            if let Some(p) = text("CategoryPattern")? {
                template = template.category_pattern(p);
            }
            if let Some(p) = text("EventPattern")? {
                template = template.event_pattern(p);
            }
            settings.push(template);
        }
        Ok(settings)
    }

    /// Reads a settings file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, UpstreamSettingsError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| UpstreamSettingsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// The settings in the file format, pretty-printed, keys in the official order.
    pub fn to_json(&self) -> String {
        let templates: Vec<Value> = self
            .templates
            .iter()
            .map(|t| {
                let mut item = Map::new();
                item.insert("UrlTemplate".into(), json!(t.url_template));
                item.insert("EventPattern".into(), json!(t.event.text));
                item.insert("HubPattern".into(), json!(t.hub.text));
                item.insert("CategoryPattern".into(), json!(t.category.text));
                Value::Object(item)
            })
            .collect();
        let file = json!({ "UpstreamSettings": { "Templates": templates } });
        let mut text = serde_json::to_string_pretty(&file).expect("JSON values serialize");
        text.push('\n');
        text
    }
}

impl fmt::Display for UpstreamSettings {
    /// One `\t[i]url(event:..,hub:..,category:..)` line per template, as the official
    /// emulator lists them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.templates.is_empty() {
            return writeln!(
                f,
                "No upstream is set yet. Use 'upstream init' to create default upstreams."
            );
        }
        for (i, t) in self.templates.iter().enumerate() {
            writeln!(f, "\t[{i}]{t}")?;
        }
        Ok(())
    }
}

/// The emulator's upstream settings, replaceable while it runs (the file is hot-reloaded).
#[derive(Clone, Default)]
pub(crate) struct SharedUpstream(Arc<std::sync::RwLock<Arc<UpstreamSettings>>>);

impl SharedUpstream {
    /// The settings in force now.
    pub(crate) fn get(&self) -> Arc<UpstreamSettings> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set(&self, settings: UpstreamSettings) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
    }

    pub(crate) fn push(&self, template: UpstreamTemplate) {
        let mut settings = (*self.get()).clone();
        settings.push(template);
        self.set(settings);
    }
}

impl fmt::Debug for SharedUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.get().templates()).finish()
    }
}

fn expand(template: &str, hub: &str, category: &str, event: &str) -> String {
    let enc = |s: &str| utf8_percent_encode(s, DATA).to_string();
    // Encoded values hold no braces, so one replacement cannot create another placeholder.
    template
        .replace("{hub}", &enc(hub))
        .replace("{category}", &enc(category))
        .replace("{event}", &enc(event))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_hide_function_keys() {
        let t = UpstreamTemplate::new("http://h/api/{event}?x=1&code=s3cret").unwrap();
        assert_eq!(
            t.to_string(),
            "http://h/api/{event}?x=1&code=<redacted>(event:'*',hub:'*',category:'*')"
        );
        assert!(!format!("{t:?}").contains("s3cret"));
        let mut settings = UpstreamSettings::new();
        settings.push(t);
        assert!(
            settings.to_json().contains("code=s3cret"),
            "the file keeps it"
        );
    }

    #[test]
    fn placeholders_are_encoded_like_escape_data_string() {
        assert_eq!(
            expand(
                "http://h/{hub}/{category}/{event}?e={event}",
                "a b",
                "messages",
                "x/y~z-_."
            ),
            "http://h/a%20b/messages/x%2Fy~z-_.?e=x%2Fy~z-_."
        );
    }

    #[test]
    fn settings_reject_unusable_files() {
        for (text, wanted) in [
            ("[]", "JSON object"),
            (
                r#"{"UpstreamSettings":{"Templates":{}}}"#,
                "must be an array",
            ),
            (
                r#"{"UpstreamSettings":{"Templates":[{}]}}"#,
                "no 'UrlTemplate'",
            ),
            (
                r#"{"UpstreamSettings":{"Templates":[{"UrlTemplate":"ftp://x"}]}}"#,
                "not an absolute http(s) URL",
            ),
            (
                r#"{"UpstreamSettings":{"Templates":[{"UrlTemplate":"http://x","HubPattern":1}]}}"#,
                "must be a string",
            ),
            ("{", "not valid JSON"),
        ] {
            let error = UpstreamSettings::from_json(text).unwrap_err().to_string();
            assert!(error.contains(wanted), "{text}: {error}");
        }
        // Keys are case-insensitive, as in .NET configuration; no section means no upstream.
        let s = UpstreamSettings::from_json(
            r#"{"upstreamsettings":{"templates":[{"urltemplate":"http://x/{event}","eventpattern":"a, b"}]}}"#,
        )
        .unwrap();
        assert_eq!(
            s.url_for("h", "messages", "b").as_deref(),
            Some("http://x/b")
        );
        assert_eq!(s.url_for("h", "messages", "c"), None);
        assert!(UpstreamSettings::from_json("{}")
            .unwrap()
            .templates()
            .is_empty());
    }
}

//! The endpoints a user configures, before they are parsed into connection strings: one
//! `-c` value (`CONNSTR` or `NAME=CONNSTR[:primary|:secondary]`), or the settings form of
//! Microsoft's SDKs (`Azure:SignalR:Endpoints:<name>[:<type>]` = connection string, and the
//! ASP.NET Core spelling `Azure:SignalR:ConnectionString:<name>[:<type>]`), read from the config
//! file (flat or nested JSON) or from environment variables (`__` for `:`).
//!
//! Nothing here echoes a connection string: errors name the endpoint or the settings key.

use std::fmt;

use anyhow::{anyhow, bail};
use azure_signalr_rest::{ConnectionString, EndpointType};
use serde_json::Value;

/// The name given to a connection string without one, when it stands beside named endpoints
/// (the name the library gives the endpoint of a one-endpoint client).
pub(crate) const DEFAULT_NAME: &str = "default";

/// Settings sections that hold named endpoints: the Functions extension's and ASP.NET Core's.
const SECTIONS: [&str; 2] = ["Azure:SignalR:Endpoints", "Azure:SignalR:ConnectionString"];

/// One configured endpoint: a name (none for a plain connection string), a type, and the
/// connection string, not yet parsed. `Debug` hides the connection string.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct EndpointSpec {
    pub name: Option<String>,
    pub kind: EndpointType,
    pub connection_string: String,
}

impl fmt::Debug for EndpointSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("connection_string", &"<redacted>")
            .finish()
    }
}

impl EndpointSpec {
    /// A plain connection string (no name, primary).
    pub(crate) fn plain(connection_string: String) -> EndpointSpec {
        EndpointSpec {
            name: None,
            kind: EndpointType::Primary,
            connection_string,
        }
    }

    /// Its name, `default` when it has none.
    pub(crate) fn name_or_default(&self) -> &str {
        self.name.as_deref().unwrap_or(DEFAULT_NAME)
    }
}

/// Reads one `-c` value (or the environment variable that stands for it).
///
/// `NAME=CONNSTR` when the text before the first `=` is a name (letters, digits, `-`, `_`, `.`)
/// that is not a connection-string key, and the text after it opens with a connection-string key
/// and `=`. So every plain connection string keeps its meaning. A named one may end in
/// `:primary` or `:secondary` (any case).
pub(crate) fn parse_option(text: &str) -> anyhow::Result<EndpointSpec> {
    let text = text.trim();
    if let Some((name, rest)) = text.split_once('=')
        && is_name(name)
        && !is_key(name)
        && opens_with_key(rest)
    {
        let (connection_string, kind) = split_type_suffix(rest);
        return Ok(EndpointSpec {
            name: Some(name.to_owned()),
            kind,
            connection_string: connection_string.to_owned(),
        });
    }
    let (_, kind) = split_type_suffix(text);
    if kind == EndpointType::Secondary || text.to_ascii_lowercase().ends_with(":primary") {
        bail!(
            "an endpoint type (`:primary`, `:secondary`) needs a name: write NAME=CONNECTION_STRING:{kind}"
        );
    }
    Ok(EndpointSpec::plain(text.to_owned()))
}

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn is_key(text: &str) -> bool {
    // A `-c` value whose text before the first `=` is a connection-string key is a plain
    // connection string, never `NAME=...`.
    ConnectionString::is_known_key(text.trim())
}

fn opens_with_key(text: &str) -> bool {
    let first = text.split(';').next().unwrap_or_default();
    first.split_once('=').is_some_and(|(key, _)| is_key(key))
}

/// The connection string without a trailing `:primary`/`:secondary`, and that type.
fn split_type_suffix(text: &str) -> (&str, EndpointType) {
    if let Some((head, tail)) = text.rsplit_once(':')
        && let Ok(kind) = tail.trim().parse::<EndpointType>()
    {
        return (head.trim_end(), kind);
    }
    (text, EndpointType::Primary)
}

/// Flattens JSON settings into `a:b:c` keys with string values, as .NET configuration does
/// (arrays by index; numbers and booleans as text; null and empty objects dropped).
pub(crate) fn flatten(value: &Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
        let join = |key: &str| {
            if prefix.is_empty() {
                key.to_owned()
            } else {
                format!("{prefix}:{key}")
            }
        };
        match value {
            Value::Object(map) => map.iter().for_each(|(k, v)| walk(&join(k), v, out)),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(&join(&i.to_string()), v, out)),
            Value::String(s) => out.push((prefix.to_owned(), s.clone())),
            Value::Null => {}
            other => out.push((prefix.to_owned(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out
}

/// The named endpoints among settings (`key` = value, keys `:`-separated, any case; a leading
/// `Values:` is skipped, as in a Functions `local.settings.json`). Blank values are skipped, as
/// Microsoft's SDK does. In the order given.
pub(crate) fn from_settings<'a>(
    settings: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> anyhow::Result<Vec<EndpointSpec>> {
    let mut specs = Vec::new();
    for (key, value) in settings {
        let Some(rest) = endpoint_key(key) else {
            continue;
        };
        if value.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = rest.split(':').collect();
        let (name, kind) = match parts.as_slice() {
            [name] => (*name, EndpointType::Primary),
            [name, kind] => (
                *name,
                kind.parse::<EndpointType>().map_err(|_| {
                    anyhow!("settings key `{key}`: the endpoint type must be Primary or Secondary, got `{kind}`")
                })?,
            ),
            _ => bail!("settings key `{key}`: expected <section>:<name> or <section>:<name>:<Primary|Secondary>"),
        };
        if name.trim().is_empty() {
            bail!("settings key `{key}`: the endpoint name is empty");
        }
        specs.push(EndpointSpec {
            name: Some(name.to_owned()),
            kind,
            connection_string: value.trim().to_owned(),
        });
    }
    Ok(specs)
}

/// The plain connection string among settings: ASP.NET Core's `Azure:SignalR:ConnectionString`
/// (any case, after an optional `Values:`), when it is a string of its own and not a section.
pub(crate) fn plain_from_settings<'a>(
    settings: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<String> {
    settings.into_iter().find_map(|(key, value)| {
        let key = strip_prefix_ignore_case(key, "Values:").unwrap_or(key);
        (key.eq_ignore_ascii_case(SECTIONS[1]) && !value.trim().is_empty())
            .then(|| value.trim().to_owned())
    })
}

/// The endpoint a settings key names, if it names one.
pub(crate) fn endpoint_name(key: &str) -> Option<&str> {
    endpoint_key(key).and_then(|rest| rest.split(':').next())
}

/// The flat settings key `asrs config set endpoint` writes.
pub(crate) fn settings_key(name: &str, kind: EndpointType) -> String {
    let kind = match kind {
        EndpointType::Secondary => "Secondary",
        _ => "Primary",
    };
    format!("{}:{name}:{kind}", SECTIONS[0])
}

/// What follows `<section>:` in a settings key naming an endpoint.
fn endpoint_key(key: &str) -> Option<&str> {
    let key = strip_prefix_ignore_case(key, "Values:").unwrap_or(key);
    SECTIONS.iter().find_map(|section| {
        strip_prefix_ignore_case(key, section).and_then(|rest| rest.strip_prefix(':'))
    })
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// An environment variable's name as a settings key (`__` separates sections, as in .NET).
pub(crate) fn env_key(name: &str) -> String {
    name.replace("__", ":")
}

/// Checks that names are unique (case-insensitively, as the service's settings are) and gives
/// the unnamed one its default name; errors name the duplicate, never a connection string.
pub(crate) fn check_names(specs: &[EndpointSpec]) -> anyhow::Result<()> {
    for (i, spec) in specs.iter().enumerate() {
        let name = spec.name_or_default();
        if specs[..i]
            .iter()
            .any(|earlier| earlier.name_or_default().eq_ignore_ascii_case(name))
        {
            bail!(
                "two endpoints are named `{name}`; give each its own name (NAME=CONNECTION_STRING; \
                 a connection string without a name is `{DEFAULT_NAME}`)"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CS: &str = "Endpoint=http://localhost;Port=8888;AccessKey=s3cret;Version=1.0;";

    #[test]
    fn plain_connection_strings_keep_their_meaning() {
        for text in [
            CS,
            "AccessKey=s3cret;Endpoint=http://h",
            "endpoint=http://h;accesskey=k",
            "Foo=bar;Endpoint=http://h;AccessKey=k",
            "Foo=x=y;Endpoint=http://h;AccessKey=k",
            "Endpoint=https://h.service.signalr.net;AuthType=azure.msi;ClientId=c",
            "not a connection string",
        ] {
            let spec = parse_option(text).unwrap();
            assert_eq!(spec, EndpointSpec::plain(text.to_owned()), "{text}");
        }
    }

    #[test]
    fn named_forms_with_and_without_a_type() {
        let spec = parse_option(&format!("east={CS}")).unwrap();
        assert_eq!(spec.name.as_deref(), Some("east"));
        assert_eq!(spec.kind, EndpointType::Primary);
        assert_eq!(spec.connection_string, CS);
        let spec = parse_option(&format!("west-2={CS}:Secondary")).unwrap();
        assert_eq!(spec.name.as_deref(), Some("west-2"));
        assert_eq!(spec.kind, EndpointType::Secondary);
        assert_eq!(spec.connection_string, CS);
        let spec = parse_option("a.b=AccessKey=k;Endpoint=http://h:primary").unwrap();
        assert_eq!(spec.kind, EndpointType::Primary);
        assert_eq!(spec.connection_string, "AccessKey=k;Endpoint=http://h");
        // A port in the endpoint URL is not a type.
        let spec = parse_option("e=Endpoint=http://h:8080").unwrap();
        assert_eq!(spec.connection_string, "Endpoint=http://h:8080");
    }

    #[test]
    fn a_type_without_a_name_is_refused_without_the_key() {
        let err = parse_option(&format!("{CS}:secondary"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs a name"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn settings_in_both_spellings_flat_nested_and_as_environment_variables() {
        let json: Value = serde_json::from_str(&format!(
            r#"{{
                "connectionString": "ignored here",
                "Azure:SignalR:Endpoints:east:Primary": "{CS}",
                "Azure": {{ "SignalR": {{
                    "Endpoints": {{ "west": {{ "secondary": "{CS}" }}, "blank": "" }},
                    "ConnectionString": {{ "north": "{CS}" }}
                }} }},
                "Values": {{ "azure:signalr:endpoints:south": "{CS}" }}
            }}"#
        ))
        .unwrap();
        let flat = flatten(&json);
        let specs = from_settings(flat.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap();
        let got: Vec<(&str, EndpointType)> = specs
            .iter()
            .map(|s| (s.name.as_deref().unwrap(), s.kind))
            .collect();
        assert_eq!(
            got,
            // In the file's order.
            [
                ("east", EndpointType::Primary),
                ("west", EndpointType::Secondary),
                ("north", EndpointType::Primary),
                ("south", EndpointType::Primary),
            ]
        );
        assert!(specs.iter().all(|s| s.connection_string == CS));

        let key = env_key("Azure__SignalR__Endpoints__east__Secondary");
        let specs = from_settings([(key.as_str(), CS)]).unwrap();
        assert_eq!(specs[0].name.as_deref(), Some("east"));
        assert_eq!(specs[0].kind, EndpointType::Secondary);
    }

    #[test]
    fn bad_settings_keys_are_named_and_values_never_shown() {
        for key in [
            "Azure:SignalR:Endpoints:east:Tertiary",
            "Azure:SignalR:Endpoints:east:primary:x",
            "Azure:SignalR:Endpoints::primary",
        ] {
            let err = from_settings([(key, CS)]).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
        // The plain ASP.NET Core key is not a named endpoint, but the plain connection string.
        let plain = [("Values:azure:signalr:connectionString", CS)];
        assert!(from_settings(plain).unwrap().is_empty());
        assert_eq!(plain_from_settings(plain).as_deref(), Some(CS));
    }

    #[test]
    fn names_are_unique_and_the_unnamed_one_is_default() {
        let named = |n: &str| EndpointSpec {
            name: Some(n.into()),
            ..EndpointSpec::plain(CS.into())
        };
        check_names(&[named("east"), named("west"), EndpointSpec::plain(CS.into())]).unwrap();
        let err = check_names(&[named("east"), named("EAST")]).unwrap_err();
        assert!(err.to_string().contains("`EAST`"), "{err}");
        let err = check_names(&[EndpointSpec::plain(CS.into()), named("default")]).unwrap_err();
        assert!(err.to_string().contains("`default`"), "{err}");
        assert!(!format!("{:?}", named("x")).contains("s3cret"));
    }
}

//! Connection strings: `Endpoint=https://<name>.service.signalr.net;AccessKey=<key>;Version=1.0;`.

use std::fmt;
use std::str::FromStr;

use url::Url;

use super::entra_settings::{EntraAuthType, EntraId, CLIENT_SECRET};
use super::error::Error;
use super::token::AccessKey;
use super::version::Operation;

/// How a connection string authenticates.
///
/// ```
/// use azure_signalr_rest::{ConnectionString, Credential};
/// let cs: ConnectionString = "Endpoint=https://h;AuthType=azure".parse().unwrap();
/// assert!(matches!(cs.credential(), Credential::EntraId(_)));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Tokens signed with the access key.
    AccessKey(AccessKey),
    /// Microsoft Entra ID (`AuthType=aad`, `azure`, `azure.msi` or `azure.app`): with the
    /// `identity` feature the client signs in with the matching `azure_identity` credential.
    EntraId(EntraId),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::AccessKey(key) => f.debug_tuple("AccessKey").field(key).finish(),
            Credential::EntraId(e) => f.debug_tuple("EntraId").field(e).finish(),
        }
    }
}

/// A parsed connection string.
///
/// Pairs are separated by `;` and split at the first `=`; keys are case-insensitive; whitespace
/// around keys and values is trimmed; empty segments are ignored; unknown keys are ignored; a
/// repeated key is an error. `Endpoint` (an http or https URL) is required, and so is `AccessKey`
/// unless `AuthType` selects Microsoft Entra ID. `Version`, when present, must be `1.0`.
/// `Port` overrides the port of `Endpoint` (not of `ClientEndpoint`/`ServerEndpoint`, which are
/// used as written). No endpoint may carry credentials (`user:password@`): that is an error,
/// and the error does not quote them.
///
/// `Debug` and `Display` never show the access key.
///
/// ```
/// use azure_signalr_rest::ConnectionString;
///
/// let cs: ConnectionString = "Endpoint=http://localhost;Port=8888;AccessKey=abc;Version=1.0;"
///     .parse()
///     .unwrap();
/// assert_eq!(cs.endpoint().as_str(), "http://localhost:8888/");
/// assert_eq!(cs.port(), Some(8888));
/// assert_eq!(cs.access_key().unwrap().expose_secret(), "abc");
/// assert!(!format!("{cs:?} {cs}").contains("abc"));
///
/// let err = "Endpoint=localhost;AccessKey=abc".parse::<ConnectionString>().unwrap_err();
/// assert!(err.to_string().contains("Endpoint"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionString {
    endpoint: Url,
    port: Option<u16>,
    credential: Credential,
    version: Option<String>,
    client_endpoint: Option<Url>,
    server_endpoint: Option<Url>,
}

impl ConnectionString {
    /// Whether `key` (in any case) is one this parser reads, rather than skips as unknown: the
    /// rule for telling a connection string from other `name=value` text.
    ///
    /// ```
    /// use azure_signalr_rest::ConnectionString;
    /// assert!(ConnectionString::is_known_key("endpoint"));
    /// assert!(ConnectionString::is_known_key("ClientSecret"));
    /// assert!(!ConnectionString::is_known_key("primary"));
    /// ```
    pub fn is_known_key(key: &str) -> bool {
        canonical_key(key).is_some()
    }

    /// The service endpoint, with the `Port` override applied.
    ///
    /// ```
    /// use azure_signalr_rest::ConnectionString;
    /// let cs: ConnectionString = "Endpoint=https://h.example;AccessKey=k;Port=444;ClientEndpoint=https://c.example;ServerEndpoint=https://s.example".parse().unwrap();
    /// assert_eq!(cs.endpoint().as_str(), "https://h.example:444/");
    /// ```
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The `Port` value, if given.
    ///
    /// ```
    /// use azure_signalr_rest::ConnectionString;
    /// let cs: ConnectionString = "Endpoint=https://h.example;AccessKey=k;Port=444;ClientEndpoint=https://c.example;ServerEndpoint=https://s.example".parse().unwrap();
    /// assert_eq!(cs.port(), Some(444));
    /// ```
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether the endpoint names its port (in the URL or with `Port`); the 1.0-preview API uses
    /// port 5002 otherwise.
    ///
    /// ```
    /// use azure_signalr_rest::ConnectionString;
    /// let cs: ConnectionString = "Endpoint=https://h;AccessKey=k".parse().unwrap();
    /// assert!(!cs.has_explicit_port());
    /// ```
    pub fn has_explicit_port(&self) -> bool {
        self.port.is_some() || self.endpoint.port().is_some()
    }

    /// How the connection string authenticates.
    ///
    /// ```
    /// use azure_signalr_rest::{ConnectionString, Credential};
    /// let cs: ConnectionString = "Endpoint=https://h.example;AccessKey=k;Port=444;ClientEndpoint=https://c.example;ServerEndpoint=https://s.example".parse().unwrap();
    /// assert!(matches!(cs.credential(), Credential::AccessKey(_)));
    /// ```
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The access key, when authenticating with one.
    ///
    /// ```
    /// use azure_signalr_rest::ConnectionString;
    /// let cs: ConnectionString = "Endpoint=https://h.example;AccessKey=k;Port=444;ClientEndpoint=https://c.example;ServerEndpoint=https://s.example".parse().unwrap();
    /// assert_eq!(cs.access_key().unwrap().expose_secret(), "k");
    /// ```
    pub fn access_key(&self) -> Option<&AccessKey> {
        match &self.credential {
            Credential::AccessKey(key) => Some(key),
            Credential::EntraId(_) => None,
        }
    }

    /// The `Version` value, if given (always `1.0`).
    ///
    /// ```
    /// use azure_signalr_rest::ConnectionString;
    /// let cs: ConnectionString = "Endpoint=https://h;AccessKey=k;Version=1.0".parse().unwrap();
    /// assert_eq!(cs.version(), Some("1.0"));
    /// ```
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The URL handed to clients, when it differs from the endpoint.
    ///
    /// ```
    /// use azure_signalr_rest::ConnectionString;
    /// let cs: ConnectionString = "Endpoint=https://h.example;AccessKey=k;Port=444;ClientEndpoint=https://c.example;ServerEndpoint=https://s.example".parse().unwrap();
    /// assert_eq!(cs.client_endpoint().unwrap().as_str(), "https://c.example/");
    /// ```
    pub fn client_endpoint(&self) -> Option<&Url> {
        self.client_endpoint.as_ref()
    }

    /// The URL for REST calls, when it differs from the endpoint.
    ///
    /// ```
    /// use azure_signalr_rest::ConnectionString;
    /// let cs: ConnectionString = "Endpoint=https://h.example;AccessKey=k;Port=444;ClientEndpoint=https://c.example;ServerEndpoint=https://s.example".parse().unwrap();
    /// assert_eq!(cs.server_endpoint().unwrap().as_str(), "https://s.example/");
    /// ```
    pub fn server_endpoint(&self) -> Option<&Url> {
        self.server_endpoint.as_ref()
    }
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionString")
            .field("endpoint", &self.endpoint.as_str())
            .field("port", &self.port)
            .field("credential", &self.credential)
            .field("version", &self.version)
            .field(
                "client_endpoint",
                &self.client_endpoint.as_ref().map(Url::as_str),
            )
            .field(
                "server_endpoint",
                &self.server_endpoint.as_ref().map(Url::as_str),
            )
            .finish()
    }
}

/// Writes the connection string back with the key replaced by `<redacted>`.
impl fmt::Display for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint={};", trim_slash(self.endpoint.as_str()))?;
        match &self.credential {
            Credential::AccessKey(_) => f.write_str("AccessKey=<redacted>;")?,
            Credential::EntraId(e) => {
                write!(f, "AuthType={};", e.auth_type.as_str())?;
                if let Some(id) = &e.client_id {
                    write!(f, "ClientId={id};")?;
                }
                if let Some(id) = &e.tenant_id {
                    write!(f, "TenantId={id};")?;
                }
                if e.client_secret.is_some() {
                    f.write_str("ClientSecret=<redacted>;")?;
                }
            }
        }
        if let Some(v) = &self.version {
            write!(f, "Version={v};")?;
        }
        if let Some(u) = &self.client_endpoint {
            write!(f, "ClientEndpoint={};", trim_slash(u.as_str()))?;
        }
        if let Some(u) = &self.server_endpoint {
            write!(f, "ServerEndpoint={};", trim_slash(u.as_str()))?;
        }
        Ok(())
    }
}

pub(crate) fn trim_slash(s: &str) -> &str {
    s.strip_suffix('/').unwrap_or(s)
}

/// `value` with any `user:password@` of its authority replaced, for error messages.
fn without_credentials(value: &str) -> std::borrow::Cow<'_, str> {
    let start = value.find("://").map_or(0, |i| i + 3);
    let authority_end = value[start..]
        .find(['/', '?', '#'])
        .map_or(value.len(), |i| start + i);
    match value[start..authority_end].rfind('@') {
        Some(at) => format!("{}<credentials>{}", &value[..start], &value[start + at..]).into(),
        None => value.into(),
    }
}

fn invalid(key: &str, rule: impl Into<String>) -> Error {
    Error::invalid(
        Operation::ParseConnectionString,
        format!("connection string key `{key}`"),
        rule,
    )
}

/// Parses an http(s) URL value of `key`, dropping a trailing `/`. A URL carrying credentials
/// (`user:password@`) is refused: they would be sent nowhere useful and end up in logs and
/// config output; errors never echo them.
fn parse_url(key: &str, value: &str) -> Result<Url, Error> {
    let shown = without_credentials(value);
    let url = Url::parse(value).map_err(|e| {
        invalid(
            key,
            format!("must be an http or https URL, `{shown}` is not a URL ({e})"),
        )
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            key,
            format!(
                "must not carry credentials (`user:password@`), got `{shown}`; \
                 the key belongs in `AccessKey`"
            ),
        ));
    }
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(
            key,
            format!("must be an http or https URL with a host, got `{shown}`"),
        ));
    }
    let value = shown;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            key,
            format!("must not have a query or fragment, got `{value}`"),
        ));
    }
    Ok(url)
}

const KNOWN_KEYS: [&str; 10] = [
    "Endpoint",
    "AccessKey",
    "Version",
    "Port",
    "ClientEndpoint",
    "ServerEndpoint",
    "AuthType",
    "ClientId",
    "TenantId",
    "ClientCert",
];

/// The spelling this parser uses for `key`, a key in any case; `None` for a key it skips.
fn canonical_key(key: &str) -> Option<&'static str> {
    KNOWN_KEYS
        .into_iter()
        .chain([CLIENT_SECRET])
        .find(|k| k.eq_ignore_ascii_case(key))
}

impl FromStr for ConnectionString {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Values by canonical key name; unknown keys are skipped.
        let mut values: Vec<(&'static str, &str)> = Vec::new();
        for (index, segment) in s.split(';').enumerate() {
            let segment = segment.trim();
            if segment.is_empty() {
                continue;
            }
            // The segment may be a bare secret (a key pasted without `AccessKey=`): never echo it.
            let Some((key, value)) = segment.split_once('=') else {
                return Err(Error::invalid(
                    Operation::ParseConnectionString,
                    "connection string",
                    format!("segment {} has no `=` (expected `Key=Value`)", index + 1),
                ));
            };
            let key = key.trim();
            let Some(canonical) = canonical_key(key) else {
                continue;
            };
            if values.iter().any(|(k, _)| *k == canonical) {
                return Err(invalid(canonical, "appears more than once"));
            }
            values.push((canonical, value.trim()));
        }
        let get = |key: &str| values.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);

        let endpoint = get("Endpoint").ok_or_else(|| invalid("Endpoint", "is required"))?;
        let mut endpoint = parse_url("Endpoint", endpoint)?;

        let port = match get("Port") {
            None => None,
            Some(p) => match p.parse::<u32>() {
                Ok(n @ 1..=65535) => Some(n as u16),
                Ok(_) => {
                    return Err(invalid("Port", format!("must be 1 to 65535, got `{p}`")));
                }
                Err(_) => {
                    return Err(invalid("Port", format!("must be a number, got `{p}`")));
                }
            },
        };
        if let Some(port) = port {
            endpoint
                .set_port(Some(port))
                .map_err(|()| invalid("Port", "cannot be set on this endpoint"))?;
        }

        let version = match get("Version") {
            None => None,
            Some("1.0") => Some("1.0".to_owned()),
            Some(v) => {
                return Err(invalid(
                    "Version",
                    format!("only `1.0` is supported, got `{v}`"),
                ))
            }
        };

        // As Microsoft's .NET parser: an `AuthType` it does not know falls back to the access
        // key, and with an Entra type any `AccessKey` is ignored.
        let auth_type = get("AuthType").and_then(|auth| match auth.to_ascii_lowercase().as_str() {
            "aad" => Some(EntraAuthType::Aad),
            "azure" => Some(EntraAuthType::Default),
            "azure.msi" => Some(EntraAuthType::ManagedIdentity),
            "azure.app" => Some(EntraAuthType::Application),
            _ => None,
        });
        let credential = match auth_type {
            None => {
                let key = get("AccessKey").ok_or_else(|| {
                    invalid(
                        "AccessKey",
                        "is required (or AuthType=aad|azure|azure.msi|azure.app for Entra ID)",
                    )
                })?;
                if key.is_empty() {
                    return Err(invalid("AccessKey", "must not be empty"));
                }
                Credential::AccessKey(AccessKey::new(key))
            }
            Some(auth_type) => {
                let entra = EntraId {
                    auth_type,
                    client_id: get("ClientId").map(str::to_owned),
                    tenant_id: get("TenantId").map(str::to_owned),
                    client_secret: get(CLIENT_SECRET).map(AccessKey::new),
                    client_cert: get("ClientCert").map(str::to_owned),
                };
                entra.source()?;
                Credential::EntraId(entra)
            }
        };

        Ok(ConnectionString {
            endpoint,
            port,
            credential,
            version,
            client_endpoint: get("ClientEndpoint")
                .map(|v| parse_url("ClientEndpoint", v))
                .transpose()?,
            server_endpoint: get("ServerEndpoint")
                .map(|v| parse_url("ServerEndpoint", v))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_an_endpoint_are_refused_without_echo() {
        for value in [
            "https://alice:s3cret-pw@h.example",
            "https://alice@h.example",
            "http://alice:s3cret-pw@h.example:8080/path",
        ] {
            let err = parse(&format!("Endpoint={value};AccessKey=k"))
                .expect_err("credentials refused")
                .to_string();
            assert!(err.contains("must not carry credentials"), "{err}");
            assert!(!err.contains("s3cret") && !err.contains("alice"), "{err}");
            assert!(err.contains("<credentials>@h.example"), "{err}");
        }
        // Not even an unparsable URL quotes them.
        let err = parse("Endpoint=https://alice:s3cret@h x;AccessKey=k")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
        let err = parse(
            "Endpoint=https://h.example;ClientEndpoint=https://u:s3cret@c.example;AccessKey=k",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("ClientEndpoint") && !err.contains("s3cret"),
            "{err}"
        );
    }

    fn parse(s: &str) -> Result<ConnectionString, Error> {
        s.parse()
    }

    fn rule_of(s: &str) -> (String, String) {
        let err = parse(s).unwrap_err();
        assert_eq!(err.operation(), Operation::ParseConnectionString);
        match err.into_kind() {
            crate::ErrorKind::InvalidInput { subject, rule } => (subject, rule),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn azure_style() {
        let cs = parse("Endpoint=https://abc.service.signalr.net;AccessKey=K3y/+=;Version=1.0;")
            .unwrap();
        assert_eq!(cs.endpoint().as_str(), "https://abc.service.signalr.net/");
        // Split at the first `=` only: base64 padding stays in the key.
        assert_eq!(cs.access_key().unwrap().expose_secret(), "K3y/+=");
        assert_eq!(cs.version(), Some("1.0"));
        assert_eq!(cs.port(), None);
        assert!(!cs.has_explicit_port());
    }

    #[test]
    fn emulator_style_with_port() {
        let cs = parse("Endpoint=http://localhost;Port=8888;AccessKey=abc;Version=1.0;").unwrap();
        assert_eq!(cs.endpoint().as_str(), "http://localhost:8888/");
        assert!(cs.has_explicit_port());
    }

    #[test]
    fn case_whitespace_empty_segments_trailing_slash() {
        let cs = parse(" ;endpoint = https://h.example/ ;; ACCESSKEY= k ;  ").unwrap();
        assert_eq!(cs.endpoint().as_str(), "https://h.example/");
        assert_eq!(cs.access_key().unwrap().expose_secret(), "k");
        assert_eq!(
            cs.to_string(),
            "Endpoint=https://h.example;AccessKey=<redacted>;"
        );
    }

    #[test]
    fn client_and_server_endpoints() {
        let cs = parse(
            "Endpoint=https://h;AccessKey=k;ClientEndpoint=https://proxy.example/;ServerEndpoint=http://internal:8080",
        )
        .unwrap();
        assert_eq!(
            cs.client_endpoint().unwrap().as_str(),
            "https://proxy.example/"
        );
        assert_eq!(
            cs.server_endpoint().unwrap().as_str(),
            "http://internal:8080/"
        );
        let (subject, _) = rule_of("Endpoint=https://h;AccessKey=k;ClientEndpoint=nope");
        assert!(subject.contains("ClientEndpoint"));
    }

    #[test]
    fn unknown_keys_ignored() {
        assert!(parse("Endpoint=https://h;AccessKey=k;Foo=bar").is_ok());
    }

    #[test]
    fn missing_endpoint() {
        let (subject, rule) = rule_of("AccessKey=k");
        assert!(subject.contains("`Endpoint`"));
        assert_eq!(rule, "is required");
    }

    #[test]
    fn missing_access_key() {
        let (subject, rule) = rule_of("Endpoint=https://h");
        assert!(subject.contains("`AccessKey`"));
        assert!(rule.contains("required"));
        let (subject, _) = rule_of("Endpoint=https://h;AccessKey=");
        assert!(subject.contains("`AccessKey`"));
    }

    #[test]
    fn duplicate_key() {
        let (subject, rule) = rule_of("Endpoint=https://h;AccessKey=k;accesskey=other");
        assert!(subject.contains("`AccessKey`"));
        assert!(rule.contains("more than once"));
    }

    #[test]
    fn segment_without_equals_is_not_echoed() {
        let err = parse("Endpoint=https://h;s3cr3tkeyvalue").unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains("segment 2"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }

    #[test]
    fn endpoint_must_be_http_url() {
        for bad in ["localhost", "ftp://h", "https://", "http://h?x=1"] {
            let (subject, rule) = rule_of(&format!("Endpoint={bad};AccessKey=k"));
            assert!(subject.contains("`Endpoint`"), "{bad}: {subject}");
            assert!(
                rule.contains("URL") || rule.contains("query"),
                "{bad}: {rule}"
            );
        }
    }

    #[test]
    fn bad_ports() {
        let (subject, rule) = rule_of("Endpoint=http://h;Port=abc;AccessKey=k");
        assert!(subject.contains("`Port`"));
        assert!(rule.contains("number"));
        for p in ["0", "65536", "99999999999"] {
            let (subject, rule) = rule_of(&format!("Endpoint=http://h;Port={p};AccessKey=k"));
            assert!(subject.contains("`Port`"));
            assert!(
                rule.contains("65535") || rule.contains("number"),
                "{p}: {rule}"
            );
        }
    }

    #[test]
    fn unsupported_version() {
        let (subject, rule) = rule_of("Endpoint=http://h;AccessKey=k;Version=2.0");
        assert!(subject.contains("`Version`"));
        assert!(rule.contains("`2.0`"));
    }

    #[test]
    fn entra_id() {
        let cs = parse("Endpoint=https://h;AuthType=azure.msi;ClientId=cid").unwrap();
        match cs.credential() {
            Credential::EntraId(e) => {
                assert_eq!(e.auth_type, EntraAuthType::ManagedIdentity);
                assert_eq!(e.client_id.as_deref(), Some("cid"));
            }
            other => panic!("{other:?}"),
        }
        assert!(cs.access_key().is_none());

        let cs = parse(
            "Endpoint=https://h;AuthType=azure.app;ClientId=c;TenantId=t;ClientSecret=topsecret",
        )
        .unwrap();
        let shown = format!("{cs:?} {cs}");
        assert!(!shown.contains("topsecret"), "{shown}");

        let (subject, _) = rule_of("Endpoint=https://h;AuthType=azure.app;ClientId=c;TenantId=t");
        assert!(subject.contains("ClientSecret"));
        // As the .NET parser: an unknown AuthType means the access key.
        let (subject, _) = rule_of("Endpoint=https://h;AuthType=kerberos");
        assert!(subject.contains("AccessKey"));
    }

    #[test]
    fn debug_redacts_key() {
        let cs = parse("Endpoint=https://h;AccessKey=verysecret").unwrap();
        let shown = format!("{cs:?} {cs}");
        assert!(!shown.contains("verysecret"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}

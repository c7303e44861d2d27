//! `ServiceClient`: one endpoint, one credential, one API version.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::connection_string::{trim_slash, ConnectionString, Credential};
// Entra ID (issue 13).
#[cfg(feature = "identity")]
use super::entra::{EntraSigner, EntraTokens};
use super::entra_settings::EntraId;
use super::error::Error;
use super::hub::HubClient;
use super::message::validate_hub_name;
use super::retry::RetryPolicy;
use super::token::{AccessKey, Token, TokenClaims, TokenMinter};
use super::transport::{Raw, Transport};
use super::version::{ApiVersion, Operation};
#[cfg(feature = "identity")]
use azure_core::credentials::TokenCredential;

/// The port the 1.0-preview API was served on, for an endpoint that names no port.
///
/// ```
/// assert_eq!(azure_signalr_rest::PREVIEW_PORT, 5002);
/// ```
pub const PREVIEW_PORT: u16 = 5002;

/// Default timeout of a whole call, retries and the waits between them included.
///
/// ```
/// assert_eq!(azure_signalr_rest::DEFAULT_TIMEOUT.as_secs(), 30);
/// ```
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How REST calls are authorized.
#[derive(Clone)]
pub(crate) enum Auth {
    /// Tokens signed with the access key, one per request URL (cached).
    Key {
        minter: Arc<TokenMinter>,
        audience: Arc<AudienceBase>,
    },
    /// Microsoft Entra ID tokens from an `azure_core` credential (cached).
    #[cfg(feature = "identity")]
    Entra(Arc<EntraTokens>),
}

impl Auth {
    /// The bearer token for a request to `url` (see [`AudienceBase::rest_audience`]).
    pub(crate) async fn token_for(&self, url: &Url) -> Result<Token, String> {
        match self {
            Auth::Key { minter, audience } => minter
                .rest_token(&audience.rest_audience(url))
                .map_err(|e| e.to_string()),
            #[cfg(feature = "identity")]
            Auth::Entra(tokens) => tokens.token().await,
        }
    }
}

/// Characters `Uri.EscapeDataString` leaves alone (RFC 3986 unreserved): the .NET SDK escapes
/// the application name with it in the audience.
const ESCAPE_DATA: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What token audiences are built from: the `Endpoint`'s scheme and host, as Microsoft's .NET
/// SDK builds them.
///
/// The audience never carries a port, and never the `ClientEndpoint` or `ServerEndpoint`: the
/// service checks `aud` against its own public name, not against the port or proxy a request
/// came through, and signing exactly what the SDK signs means a service (or emulator) that
/// accepts the SDK's tokens accepts ours.
#[derive(Debug)]
pub(crate) struct AudienceBase {
    /// `scheme://host`, no trailing slash.
    origin: String,
    /// The path of the REST endpoint (empty, or e.g. `/signalr` behind a proxy): not part of the
    /// audience.
    rest_prefix: String,
}

impl AudienceBase {
    pub(crate) fn new(endpoint: &Url, rest_endpoint: &Url) -> AudienceBase {
        let host = endpoint.host_str().unwrap_or_default();
        AudienceBase {
            origin: format!("{}://{host}", endpoint.scheme()),
            rest_prefix: trim_slash(rest_endpoint.path()).to_owned(),
        }
    }

    /// The `aud` of a REST token for a request to `url`: `scheme://host` of the endpoint, the
    /// API path (no trailing `/`), then `?api-version=...` with `application=...` first when
    /// the URL has them. Other query parameters (`excluded`, `reason`, `ttl`) are not signed,
    /// like the .NET SDK, which appends them after signing.
    pub(crate) fn rest_audience(&self, url: &Url) -> String {
        let path = url.path();
        let path = path
            .strip_prefix(self.rest_prefix.as_str())
            .filter(|p| p.starts_with('/'))
            .unwrap_or(path);
        let mut aud = format!("{}{}", self.origin, trim_slash(path));
        let mut separator = '?';
        for name in ["application", "api-version"] {
            if let Some((_, value)) = url.query_pairs().find(|(k, _)| k == name) {
                aud.push(separator);
                aud.push_str(name);
                aud.push('=');
                aud.extend(percent_encoding::utf8_percent_encode(&value, ESCAPE_DATA));
                separator = '&';
            }
        }
        aud
    }

    /// The `aud` of a client token for `hub` (already lower-cased and application-prefixed):
    /// `scheme://host/client/?hub=<hub>`.
    pub(crate) fn client_audience(&self, hub: &str) -> String {
        format!("{}/client/?hub={hub}", self.origin)
    }
}

/// A client of one Azure SignalR Service instance (or the emulator) for one API version. Cheap to
/// clone; clones share the HTTP connection pool and the token cache.
///
/// With an access key, each REST call carries a token signed exactly as Microsoft's .NET server
/// SDK signs it: `aud` is `scheme://host` of the `Endpoint` (**no port**, and never the
/// `ServerEndpoint` or `ClientEndpoint`), the API path, then `?api-version=...` (after
/// `application=...` when set) on 2022-06-01; `excluded`, `reason` and `ttl` stay out of it.
/// Requests themselves still go to the `ServerEndpoint` (or the endpoint and its port). Why: the
/// service checks the audience against its own public name, not against the port or the
/// private address a request came through, and a server (or emulator) that accepts the SDK's
/// tokens then accepts ours. [`HubClient::negotiate`] signs client tokens the same way.
///
/// ```
/// use azure_signalr_rest::{ApiVersion, ServiceClient};
///
/// let client = ServiceClient::from_connection_string(
///     "Endpoint=http://localhost;Port=8888;AccessKey=secret;Version=1.0;",
/// )
/// .unwrap();
/// assert_eq!(client.api_version(), ApiVersion::V2022_06_01);
/// assert_eq!(client.rest_endpoint(), "http://localhost:8888");
/// let chat = client.hub("Chat");
/// assert_eq!(chat.name(), "chat");
/// ```
#[derive(Clone)]
pub struct ServiceClient {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) version: ApiVersion,
    pub(crate) rest_endpoint: String,
    pub(crate) client_endpoint: String,
    pub(crate) minter: Option<Arc<TokenMinter>>,
    pub(crate) audience: Arc<AudienceBase>,
    pub(crate) application: Option<String>,
    pub(crate) local_validation: bool,
    pub(crate) transport: Transport,
    /// Signs client tokens with a key from the service, under Entra ID (issue 13).
    #[cfg(feature = "identity")]
    pub(crate) entra_signer: Option<Arc<EntraSigner>>,
}

impl fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.shared;
        f.debug_struct("ServiceClient")
            .field("version", &s.version)
            .field("rest_endpoint", &s.rest_endpoint)
            .field("client_endpoint", &s.client_endpoint)
            .field("application", &s.application)
            .field("retry", &s.transport.retry)
            .field("timeout", &s.transport.timeout)
            .finish_non_exhaustive()
    }
}

impl ServiceClient {
    /// A client for the connection string, with the default API version (2022-06-01).
    /// Connection strings with `AuthType` (Microsoft Entra ID) need the `identity` feature,
    /// which signs in with the matching `azure_identity` credential.
    ///
    /// ```
    /// use azure_signalr_rest::ServiceClient;
    /// let err = ServiceClient::from_connection_string("Endpoint=https://x.service.signalr.net;AuthType=azure.app;ClientId=c")
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("TenantId"));
    /// ```
    pub fn from_connection_string(connection_string: &str) -> Result<ServiceClient, Error> {
        ServiceClient::builder()
            .connection_string(&connection_string.parse()?)
            .build()
    }

    /// A builder for every setting.
    ///
    /// ```
    /// use azure_signalr_rest::{AccessKey, ServiceClient};
    /// let client = ServiceClient::builder().endpoint("https://h").access_key(AccessKey::new("k")).build().unwrap();
    /// assert_eq!(client.rest_endpoint(), "https://h");
    /// ```
    pub fn builder() -> ServiceClientBuilder {
        ServiceClientBuilder::default()
    }

    /// The client for `hub` (lower-cased: hub names are case-insensitive). The name is checked
    /// when an operation is called.
    ///
    /// ```
    /// let client = azure_signalr_rest::ServiceClient::from_connection_string("Endpoint=https://h;AccessKey=k").unwrap();
    /// assert_eq!(client.hub("Chat").name(), "chat");
    /// ```
    pub fn hub(&self, hub: &str) -> HubClient {
        HubClient::new(self.clone(), hub)
    }

    /// The API version in use.
    ///
    /// ```
    /// use azure_signalr_rest::{ApiVersion, ServiceClient};
    /// let client = ServiceClient::from_connection_string("Endpoint=https://h;AccessKey=k").unwrap();
    /// assert_eq!(client.api_version(), ApiVersion::V2022_06_01);
    /// ```
    pub fn api_version(&self) -> ApiVersion {
        self.shared.version
    }

    /// The base URL of REST calls (no trailing slash).
    ///
    /// ```
    /// let client = azure_signalr_rest::ServiceClient::from_connection_string("Endpoint=https://h;AccessKey=k;ServerEndpoint=https://internal").unwrap();
    /// assert_eq!(client.rest_endpoint(), "https://internal");
    /// ```
    pub fn rest_endpoint(&self) -> &str {
        &self.shared.rest_endpoint
    }

    /// The base URL handed to clients by negotiate (no trailing slash).
    ///
    /// ```
    /// let client = azure_signalr_rest::ServiceClient::from_connection_string("Endpoint=https://h;AccessKey=k;ClientEndpoint=https://proxy").unwrap();
    /// assert_eq!(client.client_endpoint(), "https://proxy");
    /// ```
    pub fn client_endpoint(&self) -> &str {
        &self.shared.client_endpoint
    }

    /// The application name that prefixes hubs, if set.
    ///
    /// ```
    /// use azure_signalr_rest::{AccessKey, ServiceClient};
    /// let client = ServiceClient::builder().endpoint("https://h").access_key(AccessKey::new("k")).application("App").build().unwrap();
    /// assert_eq!(client.application(), Some("app"));
    /// ```
    pub fn application(&self) -> Option<&str> {
        self.shared.application.as_deref()
    }

    /// The minter signing this client's tokens, when it authenticates with an access key.
    ///
    /// ```
    /// let client = azure_signalr_rest::ServiceClient::from_connection_string("Endpoint=https://h;AccessKey=k").unwrap();
    /// assert_eq!(client.token_minter().unwrap().signatures(), 0);
    /// ```
    pub fn token_minter(&self) -> Option<&TokenMinter> {
        self.shared.minter.as_deref()
    }

    /// Signs a client token: locally with the access key, or under Microsoft Entra ID with the
    /// key the service hands out for the credential (fetched, and refreshed, as needed).
    pub(crate) async fn mint_client_token(&self, claims: &TokenClaims) -> Result<Token, Error> {
        if let Some(minter) = self.token_minter() {
            return minter.mint(claims);
        }
        #[cfg(feature = "identity")]
        if let Some(signer) = &self.shared.entra_signer {
            return signer.mint(claims).await;
        }
        Err(Error::Credential {
            operation: Operation::Negotiate,
            message: "no access key or Entra ID credential to sign client tokens with".into(),
        })
    }

    /// Checks the service's health: `Ok(())` when it answers 200.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), azure_signalr_rest::Error> {
    /// let client = azure_signalr_rest::ServiceClient::from_connection_string(
    ///     "Endpoint=http://localhost;Port=8888;AccessKey=k;Version=1.0;",
    /// )?;
    /// client.health().await?;
    /// # Ok(()) }
    /// ```
    pub async fn health(&self) -> Result<(), Error> {
        let op = Operation::Health;
        self.shared.version.require(op)?;
        let t = &self.shared.transport;
        match &t.raw {
            Raw::V1Preview(_) => unreachable!("1.0-preview has no health operation"),
            Raw::V1(c) => t.run(op, "", || c.health_v1_get_health_status()).await,
            Raw::V2022(c) => {
                t.run(op, "", || {
                    c.health_api_get_health_status(ApiVersion::V2022_06_01.as_str())
                })
                .await
            }
        }
        .map(|_| ())
    }
}

/// Builds a [`ServiceClient`].
///
/// ```
/// use std::time::Duration;
/// use azure_signalr_rest::{AccessKey, ApiVersion, RetryPolicy, ServiceClient};
///
/// let client = ServiceClient::builder()
///     .endpoint("https://x.service.signalr.net")
///     .access_key(AccessKey::new("secret"))
///     .api_version(ApiVersion::V1Preview)
///     .timeout(Duration::from_secs(10))
///     .retry_policy(RetryPolicy::none())
///     .build()
///     .unwrap();
/// // 1.0-preview is served on port 5002 when the endpoint names no port.
/// assert_eq!(client.rest_endpoint(), "https://x.service.signalr.net:5002");
/// assert_eq!(client.client_endpoint(), "https://x.service.signalr.net");
/// ```
#[derive(Default)]
pub struct ServiceClientBuilder {
    endpoint: Option<String>,
    port: Option<u16>,
    client_endpoint: Option<Url>,
    server_endpoint: Option<Url>,
    key: Option<AccessKey>,
    entra: Option<EntraId>,
    #[cfg(feature = "identity")]
    credential: Option<Arc<dyn TokenCredential>>,
    version: ApiVersion,
    application: Option<String>,
    timeout: Option<Duration>,
    retry: RetryPolicy,
    http: Option<reqwest::Client>,
    no_local_validation: bool,
}

impl fmt::Debug for ServiceClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("version", &self.version)
            .field("application", &self.application)
            .finish_non_exhaustive()
    }
}

impl ServiceClientBuilder {
    /// Takes endpoint, port, client/server endpoints and credential from a connection string.
    ///
    /// ```
    /// use azure_signalr_rest::ServiceClient;
    /// let cs = "Endpoint=http://localhost;Port=8888;AccessKey=k;Version=1.0;".parse().unwrap();
    /// let client = ServiceClient::builder().connection_string(&cs).build().unwrap();
    /// assert_eq!(client.rest_endpoint(), "http://localhost:8888");
    /// ```
    pub fn connection_string(mut self, cs: &ConnectionString) -> ServiceClientBuilder {
        self.endpoint = Some(cs.endpoint().to_string());
        self.port = cs.port();
        self.client_endpoint = cs.client_endpoint().cloned();
        self.server_endpoint = cs.server_endpoint().cloned();
        match cs.credential() {
            Credential::AccessKey(key) => self.key = Some(key.clone()),
            Credential::EntraId(e) => self.entra = Some(e.clone()),
        }
        self
    }

    /// The service endpoint, e.g. `https://<name>.service.signalr.net`.
    ///
    /// ```
    /// use azure_signalr_rest::{AccessKey, ServiceClient};
    /// let client = ServiceClient::builder().endpoint("http://127.0.0.1:8888/").access_key(AccessKey::new("k")).build().unwrap();
    /// assert_eq!(client.rest_endpoint(), "http://127.0.0.1:8888");
    /// ```
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> ServiceClientBuilder {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Signs tokens with this access key.
    ///
    /// ```
    /// use azure_signalr_rest::{AccessKey, ServiceClient};
    /// let client = ServiceClient::builder().endpoint("https://h").access_key(AccessKey::new("k")).build().unwrap();
    /// assert!(client.token_minter().is_some());
    /// ```
    pub fn access_key(mut self, key: AccessKey) -> ServiceClientBuilder {
        self.key = Some(key);
        self
    }

    /// Signs in with Microsoft Entra ID through any `azure_core` credential (e.g.
    /// `azure_identity::ManagedIdentityCredential`) instead of an access key: REST calls carry
    /// its token for [`SIGNALR_SCOPE`](crate::SIGNALR_SCOPE) (cached until shortly before it
    /// expires), and negotiate signs client tokens with a key the service hands out for it.
    /// It replaces the credential a connection string's `AuthType` would select.
    ///
    /// ```
    /// use azure_signalr_rest::{ConnectionString, Credential, ServiceClient};
    /// let cs: ConnectionString = "Endpoint=https://h;AuthType=azure.msi".parse().unwrap();
    /// let Credential::EntraId(entra) = cs.credential() else { unreachable!() };
    /// let client = ServiceClient::builder()
    ///     .connection_string(&cs)
    ///     .credential(entra.token_credential().unwrap())
    ///     .build()
    ///     .unwrap();
    /// assert!(client.token_minter().is_none());
    /// ```
    #[cfg(feature = "identity")]
    pub fn credential(mut self, credential: Arc<dyn TokenCredential>) -> ServiceClientBuilder {
        self.credential = Some(credential);
        self
    }

    /// The API version (default 2022-06-01).
    ///
    /// ```
    /// use azure_signalr_rest::{AccessKey, ApiVersion, ServiceClient};
    /// let client = ServiceClient::builder().endpoint("https://h").access_key(AccessKey::new("k")).api_version(ApiVersion::V1).build().unwrap();
    /// assert_eq!(client.api_version(), ApiVersion::V1);
    /// ```
    pub fn api_version(mut self, version: ApiVersion) -> ServiceClientBuilder {
        self.version = version;
        self
    }

    /// Prefixes every hub with an application name (same rule as hub names).
    ///
    /// ```
    /// use azure_signalr_rest::{AccessKey, ServiceClient};
    /// let err = ServiceClient::builder().endpoint("https://h").access_key(AccessKey::new("k")).application("1app").build().unwrap_err();
    /// assert!(err.to_string().contains("application"));
    /// ```
    pub fn application(mut self, application: impl Into<String>) -> ServiceClientBuilder {
        self.application = Some(application.into());
        self
    }

    /// Time allowed for a whole call, retries and the waits between them included (default
    /// 30 s). An attempt still running at the end is cut off, and no retry is started that
    /// could not finish in time; the call then fails with [`Error::Timeout`](crate::Error).
    ///
    /// ```
    /// use std::time::Duration;
    /// use azure_signalr_rest::{AccessKey, ServiceClient};
    /// let client = ServiceClient::builder().endpoint("https://h").access_key(AccessKey::new("k")).timeout(Duration::from_secs(5)).build();
    /// assert!(client.is_ok());
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> ServiceClientBuilder {
        self.timeout = Some(timeout);
        self
    }

    /// When to retry failed calls (default [`RetryPolicy::default`]).
    ///
    /// ```
    /// use azure_signalr_rest::{AccessKey, RetryPolicy, ServiceClient};
    /// let client = ServiceClient::builder().endpoint("https://h").access_key(AccessKey::new("k")).retry_policy(RetryPolicy::default().retry_sends(true)).build();
    /// assert!(client.is_ok());
    /// ```
    pub fn retry_policy(mut self, retry: RetryPolicy) -> ServiceClientBuilder {
        self.retry = retry;
        self
    }

    /// Sends through this `reqwest::Client` (proxies, TLS settings, connection pool).
    ///
    /// ```
    /// use azure_signalr_rest::{AccessKey, ServiceClient};
    /// let http = reqwest::Client::builder().user_agent("my-app/1.0").build().unwrap();
    /// let client = ServiceClient::builder().endpoint("https://h").access_key(AccessKey::new("k")).http_client(http).build();
    /// assert!(client.is_ok());
    /// ```
    pub fn http_client(mut self, http: reqwest::Client) -> ServiceClientBuilder {
        self.http = Some(http);
        self
    }

    /// Whether names, messages and sizes are checked before sending (default `true`). Turning it
    /// off lets the service judge them, e.g. to test a server's validation.
    ///
    /// ```
    /// use azure_signalr_rest::{AccessKey, ServiceClient};
    /// let client = ServiceClient::builder().endpoint("https://h").access_key(AccessKey::new("k")).local_validation(false).build();
    /// assert!(client.is_ok());
    /// ```
    pub fn local_validation(mut self, enabled: bool) -> ServiceClientBuilder {
        self.no_local_validation = !enabled;
        self
    }

    /// Builds the client.
    ///
    /// ```
    /// use azure_signalr_rest::ServiceClient;
    /// let err = ServiceClient::builder().endpoint("https://h").build().unwrap_err();
    /// assert!(err.to_string().contains("access key"));
    /// ```
    pub fn build(self) -> Result<ServiceClient, Error> {
        let op = Operation::BuildClient;
        let endpoint = self
            .endpoint
            .ok_or_else(|| Error::invalid(op, "endpoint", "is required"))?;
        let endpoint = Url::parse(&endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                Error::invalid(
                    op,
                    "endpoint",
                    format!("must be an http or https URL, got `{endpoint}`"),
                )
            })?;
        let explicit_port = self.port.is_some() || endpoint.port().is_some();

        let client_endpoint =
            trim_slash(self.client_endpoint.as_ref().unwrap_or(&endpoint).as_str()).to_owned();
        let mut rest = self.server_endpoint.unwrap_or_else(|| endpoint.clone());
        if self.version == ApiVersion::V1Preview && !explicit_port && rest.port().is_none() {
            rest.set_port(Some(PREVIEW_PORT))
                .map_err(|()| Error::invalid(op, "endpoint", "cannot carry a port"))?;
        }
        let rest_endpoint = trim_slash(rest.as_str()).to_owned();
        let audience = Arc::new(AudienceBase::new(&endpoint, &rest));
        #[cfg(feature = "identity")]
        let credential = match (self.credential, &self.entra) {
            (Some(credential), _) => Some(credential),
            (None, Some(entra)) if self.key.is_none() => Some(entra.token_credential()?),
            (None, _) => None,
        };
        #[cfg(not(feature = "identity"))]
        if let (None, Some(entra)) = (&self.key, &self.entra) {
            entra.source()?;
            return Err(Error::Credential {
                operation: op,
                message: format!(
                    "AuthType={} (Microsoft Entra ID) needs this crate's `identity` feature",
                    entra.auth_type.as_str()
                ),
            });
        }
        #[cfg(feature = "identity")]
        if self.key.is_some() && credential.is_some() {
            return Err(Error::invalid(
                op,
                "credential",
                "give either an access key or a token credential, not both",
            ));
        }
        let (auth, minter) = match self.key {
            Some(key) => {
                let minter = Arc::new(TokenMinter::new(key));
                let auth = Auth::Key {
                    minter: minter.clone(),
                    audience: audience.clone(),
                };
                (auth, Some(minter))
            }
            #[cfg(feature = "identity")]
            None if credential.is_some() => {
                let tokens = Arc::new(EntraTokens::new(credential.clone().expect("checked")));
                (Auth::Entra(tokens), None)
            }
            None => {
                return Err(Error::Credential {
                    operation: op,
                    message: "an access key or an Entra ID credential is required".into(),
                })
            }
        };

        if let Some(app) = &self.application {
            validate_hub_name(op, "application", app)?;
        }

        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .build()
                .map_err(|source| Error::Transport {
                    operation: op,
                    source,
                })?,
        };
        #[cfg(feature = "identity")]
        let entra_signer = match &auth {
            Auth::Entra(tokens) => Some(Arc::new(EntraSigner::new(
                tokens.clone(),
                &rest_endpoint,
                http.clone(),
                self.timeout.unwrap_or(DEFAULT_TIMEOUT),
            ))),
            Auth::Key { .. } => None,
        };
        let transport = Transport::new(
            self.version,
            &rest_endpoint,
            http,
            auth,
            self.retry,
            self.timeout.unwrap_or(DEFAULT_TIMEOUT),
        );
        Ok(ServiceClient {
            shared: Arc::new(Shared {
                version: self.version,
                rest_endpoint,
                client_endpoint,
                minter,
                audience,
                application: self.application.map(|a| a.to_lowercase()),
                local_validation: !self.no_local_validation,
                transport,
                #[cfg(feature = "identity")]
                entra_signer,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(cs: &str, version: ApiVersion) -> ServiceClient {
        ServiceClient::builder()
            .connection_string(&cs.parse().unwrap())
            .api_version(version)
            .build()
            .unwrap()
    }

    #[test]
    fn preview_port_only_without_explicit_port() {
        let c = build(
            "Endpoint=https://h.example;AccessKey=k",
            ApiVersion::V1Preview,
        );
        assert_eq!(c.rest_endpoint(), "https://h.example:5002");
        assert_eq!(c.client_endpoint(), "https://h.example");
        let c = build(
            "Endpoint=https://h.example:7000;AccessKey=k",
            ApiVersion::V1Preview,
        );
        assert_eq!(c.rest_endpoint(), "https://h.example:7000");
        for version in ApiVersion::ALL {
            let c = build("Endpoint=http://localhost;Port=8888;AccessKey=k", version);
            assert_eq!(c.rest_endpoint(), "http://localhost:8888", "{version}");
            assert_eq!(c.client_endpoint(), "http://localhost:8888", "{version}");
        }
        let c = build("Endpoint=https://h.example;AccessKey=k", ApiVersion::V1);
        assert_eq!(c.rest_endpoint(), "https://h.example");
    }

    #[test]
    fn client_and_server_endpoints() {
        let c = build(
            "Endpoint=https://h.example;AccessKey=k;ClientEndpoint=https://proxy.example/sr/;ServerEndpoint=http://10.0.0.1:81",
            ApiVersion::V1,
        );
        assert_eq!(c.rest_endpoint(), "http://10.0.0.1:81");
        assert_eq!(c.client_endpoint(), "https://proxy.example/sr");
    }

    #[test]
    fn entra_id_without_the_identity_feature_says_so() {
        let cs: ConnectionString = "Endpoint=https://h;AuthType=azure.msi".parse().unwrap();
        let built = ServiceClient::builder().connection_string(&cs).build();
        if cfg!(feature = "identity") {
            assert!(built.unwrap().token_minter().is_none());
        } else {
            let err = built.unwrap_err().to_string();
            assert!(
                err.contains("azure.msi") && err.contains("identity"),
                "{err}"
            );
        }
    }

    #[test]
    fn bad_application_refused() {
        let err = ServiceClient::builder()
            .endpoint("https://h")
            .access_key(AccessKey::new("k"))
            .application("no spaces")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("application name"), "{err}");
    }

    #[test]
    fn rest_audience_is_the_sdk_one() {
        let base = AudienceBase::new(
            &Url::parse("http://localhost:8888/").unwrap(),
            &Url::parse("http://localhost:8888/").unwrap(),
        );
        let url = Url::parse(
            "http://localhost:8888/api/hubs/chat/:send?excluded=a&api-version=2022-06-01&application=my%60app",
        )
        .unwrap();
        assert_eq!(
            base.rest_audience(&url),
            "http://localhost/api/hubs/chat/:send?application=my%60app&api-version=2022-06-01"
        );
        let url = Url::parse("https://h:444/api/v1/health/?excluded=x").unwrap();
        let endpoint = Url::parse("https://h:444").unwrap();
        let base = AudienceBase::new(&endpoint, &endpoint);
        assert_eq!(base.rest_audience(&url), "https://h/api/v1/health");
        // A ServerEndpoint with a path: the path prefix is not part of the audience.
        let base = AudienceBase::new(
            &Url::parse("https://public.example").unwrap(),
            &Url::parse("http://10.0.0.1:81/signalr").unwrap(),
        );
        let url = Url::parse("http://10.0.0.1:81/signalr/api/v1/hubs/chat").unwrap();
        assert_eq!(
            base.rest_audience(&url),
            "https://public.example/api/v1/hubs/chat"
        );
        assert_eq!(
            base.client_audience("app_chat"),
            "https://public.example/client/?hub=app_chat"
        );
    }

    #[test]
    fn debug_shows_no_key() {
        let c = build("Endpoint=https://h;AccessKey=topsecretkey", ApiVersion::V1);
        assert!(!format!("{c:?}").contains("topsecretkey"));
    }
}

//! Building a [`ServiceClient`]: from one connection string (or endpoint and credential), or
//! over several named endpoints.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::api::RawClient;
use super::auth::{AudienceBase, Auth, USER_AGENT};
use super::connection_string::{trim_slash, ConnectionString, Credential};
use super::endpoints::{
    DefaultEndpointRouter, EndpointRouter, EndpointStatus, EndpointType, Fleet, PartialDelivery,
    ServiceEndpoint,
};
// Entra ID (issue 13).
#[cfg(feature = "identity")]
use super::entra::{EntraSigner, EntraTokens};
use super::entra_settings::EntraId;
use super::error::Error;
use super::executor::Executor;
use super::message::validate_hub_name;
use super::retry::RetryPolicy;
use super::service::{ServiceClient, DEFAULT_TIMEOUT, PREVIEW_PORT};
use super::shared::Shared;
use super::token::{AccessKey, TokenMinter};
use super::version::{ApiVersion, Operation};
#[cfg(feature = "identity")]
use azure_core::credentials::TokenCredential;

/// Default time between two health checks of each endpoint of a client with several.
pub const DEFAULT_HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(10);

impl ServiceClient {
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
#[derive(Clone, Default)]
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
    /// Several endpoints (instead of `endpoint` and a credential).
    endpoints: Vec<ServiceEndpoint>,
    router: Option<Arc<dyn EndpointRouter>>,
    health_check_interval: Option<Duration>,
    partial_delivery: PartialDelivery,
    /// The name and type of the one endpoint being built.
    name: Option<(String, EndpointType)>,
}

impl fmt::Debug for ServiceClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("version", &self.version)
            .field("application", &self.application)
            .field("endpoints", &self.endpoints)
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
    /// could not finish in time; the call then fails with [`ErrorKind::Timeout`](crate::ErrorKind::Timeout).
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

    /// Builds the client over several service instances (instead of [`endpoint`](Self::endpoint)
    /// or [`connection_string`](Self::connection_string)): every other setting of this builder
    /// applies to each. Names must be unique. With one endpoint the client is exactly a
    /// client of that endpoint.
    ///
    /// ```
    /// use azure_signalr_rest::{EndpointType, ServiceClient, ServiceEndpoint};
    /// let client = ServiceClient::builder()
    ///     .endpoints([
    ///         ServiceEndpoint::new("east", "Endpoint=http://localhost;Port=8888;AccessKey=k".parse().unwrap()),
    ///         ServiceEndpoint::new("west", "Endpoint=http://localhost;Port=8889;AccessKey=k".parse().unwrap())
    ///             .endpoint_type(EndpointType::Secondary),
    ///     ])
    ///     .build()
    ///     .unwrap();
    /// let names: Vec<_> = client.endpoints().iter().map(|e| e.name().to_owned()).collect();
    /// assert_eq!(names, ["east", "west"]);
    /// ```
    pub fn endpoints(
        mut self,
        endpoints: impl IntoIterator<Item = ServiceEndpoint>,
    ) -> ServiceClientBuilder {
        self.endpoints.extend(endpoints);
        self
    }

    /// Routes calls over several endpoints (default [`DefaultEndpointRouter`]; see
    /// [`EndpointRouter`] for writing one).
    ///
    /// ```
    /// use azure_signalr_rest::{DefaultEndpointRouter, ServiceClient};
    /// let builder = ServiceClient::builder().router(DefaultEndpointRouter::default());
    /// # let _ = builder;
    /// ```
    pub fn router(mut self, router: impl EndpointRouter) -> ServiceClientBuilder {
        self.router = Some(Arc::new(router));
        self
    }

    /// Time between two health checks of each endpoint, with several (default
    /// [`DEFAULT_HEALTH_CHECK_INTERVAL`]). Each check is also bounded by it (and by the
    /// [`timeout`](Self::timeout)); an offline endpoint is skipped by sends and negotiate
    /// until a check finds it back.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = azure_signalr_rest::ServiceClient::builder().health_check_interval(Duration::from_secs(2));
    /// # let _ = builder;
    /// ```
    pub fn health_check_interval(mut self, interval: Duration) -> ServiceClientBuilder {
        self.health_check_interval = Some(interval);
        self
    }

    /// Whether a call that reached only some of several endpoints succeeds (default
    /// [`PartialDelivery::Fail`]).
    ///
    /// ```
    /// use azure_signalr_rest::{PartialDelivery, ServiceClient};
    /// let builder = ServiceClient::builder().partial_delivery(PartialDelivery::Succeed);
    /// # let _ = builder;
    /// ```
    pub fn partial_delivery(mut self, policy: PartialDelivery) -> ServiceClientBuilder {
        self.partial_delivery = policy;
        self
    }

    /// Builds the client.
    ///
    /// ```
    /// use azure_signalr_rest::ServiceClient;
    /// let err = ServiceClient::builder().endpoint("https://h").build().unwrap_err();
    /// assert!(err.to_string().contains("access key"));
    /// ```
    pub fn build(mut self) -> Result<ServiceClient, Error> {
        if self.endpoints.is_empty() {
            return Ok(ServiceClient {
                shared: self.build_one()?,
                fleet: None,
            });
        }
        let op = Operation::BuildClient;
        if self.endpoint.is_some() || self.key.is_some() || self.entra.is_some() {
            return Err(Error::invalid(
                op,
                "endpoints",
                "give either several endpoints or one endpoint and its credential, not both",
            ));
        }
        #[cfg(feature = "identity")]
        if self.credential.is_some() {
            return Err(Error::invalid(
                op,
                "endpoints",
                "give each endpoint its own credential (ServiceEndpoint::credential)",
            ));
        }
        if self.http.is_none() {
            // One connection pool for all the endpoints.
            self.http = Some(default_http()?);
        }
        let endpoints = std::mem::take(&mut self.endpoints);
        let mut members: Vec<Arc<Shared>> = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            if members.iter().any(|m| &*m.status.name == endpoint.name()) {
                return Err(Error::invalid(
                    op,
                    "endpoints",
                    format!("two endpoints are named `{}`", endpoint.name()),
                ));
            }
            let mut one = self.clone().connection_string(endpoint.connection_string());
            #[cfg(feature = "identity")]
            if let Some(credential) = &endpoint.credential {
                one = one.credential(credential.clone());
            }
            one.name = Some((endpoint.name().to_owned(), endpoint.kind()));
            members.push(one.build_one()?);
        }
        let shared = members[0].clone();
        if members.len() == 1 {
            return Ok(ServiceClient {
                shared,
                fleet: None,
            });
        }
        let router = self
            .router
            .unwrap_or_else(|| Arc::new(DefaultEndpointRouter::default()));
        let fleet = Fleet::new(
            members,
            router,
            self.partial_delivery,
            self.health_check_interval
                .unwrap_or(DEFAULT_HEALTH_CHECK_INTERVAL),
        );
        Ok(ServiceClient {
            shared,
            fleet: Some(fleet),
        })
    }

    /// The client of one endpoint.
    fn build_one(self) -> Result<Arc<Shared>, Error> {
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
            return Err(Error::credential(
                op,
                format!(
                    "AuthType={} (Microsoft Entra ID) needs this crate's `identity` feature",
                    entra.auth_type.as_str()
                ),
            ));
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
                return Err(Error::credential(
                    op,
                    "an access key or an Entra ID credential is required",
                ))
            }
        };

        if let Some(app) = &self.application {
            validate_hub_name(op, "application", app)?;
        }

        let http = match self.http {
            Some(http) => http,
            None => default_http()?,
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
        let executor = Executor::new(
            self.version,
            &rest_endpoint,
            http,
            auth,
            self.retry,
            self.timeout.unwrap_or(DEFAULT_TIMEOUT),
        );
        let raw = RawClient::new(
            self.version,
            &rest_endpoint,
            executor.http(),
            executor.request_hook(),
        );
        let (name, kind) = self
            .name
            .unwrap_or_else(|| ("default".to_owned(), EndpointType::Primary));
        Ok(Arc::new(Shared {
            status: EndpointStatus::new(&name, kind, &rest_endpoint),
            version: self.version,
            rest_endpoint,
            client_endpoint,
            minter,
            audience,
            application: self.application.map(|a| a.to_lowercase()),
            local_validation: !self.no_local_validation,
            executor,
            raw,
            #[cfg(feature = "identity")]
            entra_signer,
        }))
    }
}

/// The HTTP client of a builder given none.
fn default_http() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(USER_AGENT.clone())
        .build()
        .map_err(|source| {
            Error::new(
                Operation::BuildClient,
                super::error::ErrorKind::Transport { source },
            )
        })
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
    fn debug_shows_no_key() {
        let c = build("Endpoint=https://h;AccessKey=topsecretkey", ApiVersion::V1);
        assert!(!format!("{c:?}").contains("topsecretkey"));
    }
}

//! `ServiceClient`: one API version over one endpoint (or several, see `endpoints/`). Its
//! builder is in `builder.rs`, what one endpoint holds in `shared.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::api::{Call, Target};
use super::endpoints::{EndpointStatus, Fleet};
use super::error::Error;
use super::shared::Shared;
use super::token::TokenMinter;
use super::version::ApiVersion;

/// The port the 1.0-preview API was served on, for an endpoint that names no port.
pub const PREVIEW_PORT: u16 = 5002;

/// Default timeout of a whole call, retries and the waits between them included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

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
/// tokens then accepts ours. [`HubClient::negotiate`](crate::HubClient::negotiate) signs client tokens the same way.
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
    /// The endpoint calls go to; with several endpoints, the first one (its settings are every
    /// endpoint's).
    pub(crate) shared: Arc<Shared>,
    /// The endpoints, when there are several: calls then go through them.
    pub(crate) fleet: Option<Arc<Fleet>>,
}

impl fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.shared;
        f.debug_struct("ServiceClient")
            .field("version", &s.version)
            .field("rest_endpoint", &s.rest_endpoint)
            .field("client_endpoint", &s.client_endpoint)
            .field("application", &s.application)
            .field("retry", &s.executor.retry)
            .field("timeout", &s.executor.timeout)
            .field("endpoints", &self.endpoints())
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

    /// The endpoints of this client, in configuration order, with their health. A client of
    /// one endpoint has one (named `default` unless it was built from a named
    /// [`ServiceEndpoint`](crate::ServiceEndpoint)).
    ///
    /// ```
    /// let client = azure_signalr_rest::ServiceClient::from_connection_string("Endpoint=https://h;AccessKey=k").unwrap();
    /// let endpoints = client.endpoints();
    /// assert_eq!(endpoints.len(), 1);
    /// assert_eq!(endpoints[0].name(), "default");
    /// assert!(endpoints[0].is_online());
    /// ```
    pub fn endpoints(&self) -> Vec<EndpointStatus> {
        match &self.fleet {
            Some(fleet) => fleet.statuses(),
            None => vec![self.shared.status.clone()],
        }
    }

    /// The client of one endpoint alone, by name: its calls go to that endpoint only.
    ///
    /// ```
    /// let client = azure_signalr_rest::ServiceClient::from_connection_string("Endpoint=https://h;AccessKey=k").unwrap();
    /// assert_eq!(client.endpoint("default").unwrap().rest_endpoint(), "https://h");
    /// assert!(client.endpoint("east").is_none());
    /// ```
    pub fn endpoint(&self, name: &str) -> Option<ServiceClient> {
        let shared = match &self.fleet {
            Some(fleet) => fleet.member(name)?.clone(),
            None if &*self.shared.status.name == name => self.shared.clone(),
            None => return None,
        };
        Some(ServiceClient {
            shared,
            fleet: None,
        })
    }

    /// Checks the service's health: `Ok(())` when it answers 200. With several endpoints,
    /// every endpoint is checked (offline ones too, marking each online or offline) and the
    /// result follows the client's [`PartialDelivery`](crate::PartialDelivery) policy.
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
        let to = Target {
            hub: "",
            application: None,
        };
        if let Some(fleet) = &self.fleet {
            return fleet.call(&to, "", Call::Health).await.map(drop);
        }
        let shared = &self.shared;
        shared
            .raw
            .send(&shared.executor, &to, &Call::Health)
            .await
            .map(|_| ())
    }

    /// Checks the health of each endpoint now, concurrently (each check bounded by the
    /// health-check interval and the client's timeout), marks each online or offline as the
    /// background checks do, and returns each endpoint's status with its result, in
    /// configuration order.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use azure_signalr_rest::{RetryPolicy, ServiceClient, ServiceEndpoint};
    /// // Nothing listens on port 9 (discard): both checks fail, and both endpoints go offline.
    /// let client = ServiceClient::builder()
    ///     .endpoints([
    ///         ServiceEndpoint::new("east", "Endpoint=http://127.0.0.1;Port=9;AccessKey=k".parse().unwrap()),
    ///         ServiceEndpoint::new("west", "Endpoint=http://127.0.0.1;Port=9;AccessKey=k".parse().unwrap()),
    ///     ])
    ///     .retry_policy(RetryPolicy::none())
    ///     .build()
    ///     .unwrap();
    /// for (endpoint, result) in client.check_endpoints().await {
    ///     assert!(result.is_err());
    ///     assert!(!endpoint.is_online(), "{}", endpoint.name());
    /// }
    /// # }
    /// ```
    pub async fn check_endpoints(&self) -> Vec<(EndpointStatus, Result<(), Error>)> {
        match &self.fleet {
            Some(fleet) => fleet.check_all().await,
            None => {
                let result = self.health().await;
                let status = self.shared.status.clone();
                status.set_online(result.is_ok());
                vec![(status, result)]
            }
        }
    }
}

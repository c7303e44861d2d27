//! Several service instances behind one [`ServiceClient`](super::ServiceClient): the endpoints
//! (name, type, connection), how calls are routed to them ([`EndpointRouter`]), their health,
//! and what a call that reached only some of them returns ([`PartialDelivery`]).
//!
//! Semantics follow Microsoft's server SDK in persistent mode (`ServiceEndpoint`,
//! `EndpointType`, `IEndpointRouter`), which over REST refuses several endpoints outright.

mod fleet;
mod health;
mod outcome;
mod route;
mod router;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub(crate) use fleet::Fleet;
pub use router::{DefaultEndpointRouter, EndpointRouter};

use super::connection_string::ConnectionString;
use super::error::Error;
use super::version::Operation;
#[cfg(feature = "identity")]
use azure_core::credentials::TokenCredential;

/// Whether an endpoint takes new clients first (`Primary`) or only when no primary is online
/// (`Secondary`, e.g. a standby in another region). Messages go to both kinds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndpointType {
    /// Takes new clients whenever it is online.
    #[default]
    Primary,
    /// Takes new clients only when no primary is online.
    Secondary,
}

impl EndpointType {
    /// `primary` or `secondary`.
    ///
    /// ```
    /// assert_eq!(azure_signalr_rest::EndpointType::Secondary.as_str(), "secondary");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointType::Primary => "primary",
            EndpointType::Secondary => "secondary",
        }
    }
}

impl fmt::Display for EndpointType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EndpointType {
    type Err = Error;

    /// `primary` or `secondary`, in any case.
    fn from_str(s: &str) -> Result<EndpointType, Error> {
        if s.eq_ignore_ascii_case("primary") {
            Ok(EndpointType::Primary)
        } else if s.eq_ignore_ascii_case("secondary") {
            Ok(EndpointType::Secondary)
        } else {
            Err(Error::invalid(
                Operation::BuildClient,
                "endpoint type",
                format!("must be `primary` or `secondary`, got `{s}`"),
            ))
        }
    }
}

/// One service instance to build a [`ServiceClient`](super::ServiceClient) over: a name, a type
/// and its connection string (or an Entra ID credential). `Debug` shows no key.
///
/// ```
/// use azure_signalr_rest::{EndpointType, ServiceEndpoint};
/// let east = ServiceEndpoint::new("east", "Endpoint=http://localhost;Port=8888;AccessKey=k".parse().unwrap());
/// let west = ServiceEndpoint::new("west", "Endpoint=http://localhost;Port=8889;AccessKey=k".parse().unwrap())
///     .endpoint_type(EndpointType::Secondary);
/// assert_eq!(west.name(), "west");
/// assert_eq!(east.kind(), EndpointType::Primary);
/// ```
#[derive(Clone)]
pub struct ServiceEndpoint {
    pub(crate) name: String,
    pub(crate) kind: EndpointType,
    pub(crate) connection_string: ConnectionString,
    #[cfg(feature = "identity")]
    pub(crate) credential: Option<Arc<dyn TokenCredential>>,
}

impl fmt::Debug for ServiceEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceEndpoint")
            .field("name", &self.name)
            .field("type", &self.kind)
            .field("endpoint", &self.connection_string.endpoint().as_str())
            .finish_non_exhaustive()
    }
}

impl ServiceEndpoint {
    /// A primary endpoint named `name`.
    pub fn new(name: impl Into<String>, connection_string: ConnectionString) -> ServiceEndpoint {
        ServiceEndpoint {
            name: name.into(),
            kind: EndpointType::Primary,
            connection_string,
            #[cfg(feature = "identity")]
            credential: None,
        }
    }

    /// Sets the endpoint's type (default [`EndpointType::Primary`]).
    pub fn endpoint_type(mut self, kind: EndpointType) -> ServiceEndpoint {
        self.kind = kind;
        self
    }

    /// Signs in to this endpoint with `credential` instead of its connection string's own.
    #[cfg(feature = "identity")]
    pub fn credential(mut self, credential: Arc<dyn TokenCredential>) -> ServiceEndpoint {
        self.credential = Some(credential);
        self
    }

    /// The endpoint's name, unique within a client.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The endpoint's type.
    pub fn kind(&self) -> EndpointType {
        self.kind
    }

    /// Its connection string.
    pub fn connection_string(&self) -> &ConnectionString {
        &self.connection_string
    }
}

/// What [`PartialDelivery`] decides: a call reached some of its endpoints and not others
/// (one failed, or was offline and skipped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartialDelivery {
    /// The call fails with [`ErrorKind::Endpoints`](crate::ErrorKind::Endpoints), naming each
    /// endpoint that failed or was skipped, and those that succeeded (what Microsoft's server
    /// SDK does when one endpoint of several fails).
    #[default]
    Fail,
    /// The call succeeds when at least one endpoint succeeded; the others are logged at
    /// `warn` and visible in [`ServiceClient::endpoints`](crate::ServiceClient::endpoints).
    Succeed,
}

/// An endpoint of a built client as the router and the caller see it: its name, type, where it
/// is, and whether the last health check found it online.
#[derive(Clone)]
pub struct EndpointStatus {
    pub(crate) name: Arc<str>,
    pub(crate) kind: EndpointType,
    pub(crate) rest_endpoint: Arc<str>,
    pub(crate) online: Arc<AtomicBool>,
}

impl fmt::Debug for EndpointStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointStatus")
            .field("name", &self.name)
            .field("type", &self.kind)
            .field("rest_endpoint", &self.rest_endpoint)
            .field("online", &self.is_online())
            .finish()
    }
}

impl EndpointStatus {
    pub(crate) fn new(name: &str, kind: EndpointType, rest_endpoint: &str) -> EndpointStatus {
        EndpointStatus {
            name: name.into(),
            kind,
            rest_endpoint: rest_endpoint.into(),
            online: Arc::new(AtomicBool::new(true)),
        }
    }

    /// The endpoint's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The endpoint's type.
    pub fn kind(&self) -> EndpointType {
        self.kind
    }

    /// The base URL of its REST calls.
    pub fn rest_endpoint(&self) -> &str {
        &self.rest_endpoint
    }

    /// Whether the last health check (or call) found it reachable; `true` until one did not.
    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::Relaxed)
    }

    /// Sets the flag, returning what it was.
    pub(crate) fn set_online(&self, online: bool) -> bool {
        self.online.swap(online, Ordering::Relaxed)
    }
}

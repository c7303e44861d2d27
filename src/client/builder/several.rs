//! The builder's settings for several endpoints, and building a client over them.

use std::sync::Arc;
use std::time::Duration;

use super::{default_http, ServiceClientBuilder, DEFAULT_HEALTH_CHECK_INTERVAL};
use crate::client::endpoints::{
    DefaultEndpointRouter, EndpointRouter, Fleet, PartialDelivery, ServiceEndpoint,
};
use crate::client::error::Error;
use crate::client::service::ServiceClient;
use crate::client::shared::Shared;
use crate::client::version::Operation;

impl ServiceClientBuilder {
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
}

impl ServiceClientBuilder {
    /// Builds one client per endpoint with this builder's other settings, behind a fleet when
    /// there are several.
    pub(super) fn build_several(mut self) -> Result<ServiceClient, Error> {
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
}

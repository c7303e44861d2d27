//! Which endpoints a call goes to: [`EndpointRouter`] and its default.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{EndpointStatus, EndpointType};
use crate::client::negotiate::NegotiateOptions;

/// Chooses endpoints for each call of a client with several endpoints (the shape of
/// `IEndpointRouter` in Microsoft's server SDK). Every method has a default; override the ones
/// your deployment knows better, e.g. negotiate by the client's region.
///
/// `hub` is the hub's name, lower-cased, without the client's application prefix.
/// Routers see every endpoint; offline ones they return for a message are skipped and reported.
/// Negotiate sees only online endpoints, so it can never hand out an offline one.
///
/// ```
/// use azure_signalr_rest::{EndpointRouter, EndpointStatus, NegotiateOptions};
///
/// /// Sends a client to the endpoint named after the `region` claim it negotiates with.
/// #[derive(Debug)]
/// struct ByRegion;
///
/// impl EndpointRouter for ByRegion {
///     fn negotiate_endpoint<'a>(
///         &self,
///         hub: &str,
///         options: &NegotiateOptions,
///         online: &'a [EndpointStatus],
///     ) -> Option<&'a EndpointStatus> {
///         let region = options.claims.get("region").and_then(|r| r.as_str());
///         online
///             .iter()
///             .find(|e| Some(e.name()) == region)
///             .or_else(|| azure_signalr_rest::DefaultEndpointRouter::default().negotiate_endpoint(hub, options, online))
///     }
/// }
/// ```
pub trait EndpointRouter: Send + Sync + std::fmt::Debug + 'static {
    /// The endpoint a new client connects to, among the online ones (in configuration order).
    /// Default: online primaries in turn, else online secondaries in turn.
    fn negotiate_endpoint<'a>(
        &self,
        hub: &str,
        options: &NegotiateOptions,
        online: &'a [EndpointStatus],
    ) -> Option<&'a EndpointStatus>;

    /// Where a broadcast goes. Default: every endpoint.
    fn endpoints_for_broadcast<'a>(
        &self,
        hub: &str,
        endpoints: &'a [EndpointStatus],
    ) -> Vec<&'a EndpointStatus> {
        let _ = hub;
        endpoints.iter().collect()
    }

    /// Where a send to (or a change for) `user` goes. Default: every endpoint, since the user
    /// may have connections on any of them.
    fn endpoints_for_user<'a>(
        &self,
        hub: &str,
        user: &str,
        endpoints: &'a [EndpointStatus],
    ) -> Vec<&'a EndpointStatus> {
        let _ = (hub, user);
        endpoints.iter().collect()
    }

    /// Where a send to (or a change of) `group` goes. Default: every endpoint.
    fn endpoints_for_group<'a>(
        &self,
        hub: &str,
        group: &str,
        endpoints: &'a [EndpointStatus],
    ) -> Vec<&'a EndpointStatus> {
        let _ = (hub, group);
        endpoints.iter().collect()
    }

    /// Which endpoints are asked about `connection`; the call goes to the one that knows it.
    /// Default: every endpoint.
    fn endpoints_for_connection<'a>(
        &self,
        hub: &str,
        connection: &str,
        endpoints: &'a [EndpointStatus],
    ) -> Vec<&'a EndpointStatus> {
        let _ = (hub, connection);
        endpoints.iter().collect()
    }
}

/// The default routing: messages and membership changes to every endpoint; new clients to the
/// online primaries in turn, and to the online secondaries in turn only when no primary is
/// online.
///
/// ```
/// use azure_signalr_rest::{DefaultEndpointRouter, EndpointRouter};
/// let router = DefaultEndpointRouter::default();
/// assert!(router.negotiate_endpoint("chat", &Default::default(), &[]).is_none());
/// ```
#[derive(Debug, Default)]
pub struct DefaultEndpointRouter {
    /// Spreads clients over the eligible endpoints.
    next: AtomicUsize,
}

impl EndpointRouter for DefaultEndpointRouter {
    fn negotiate_endpoint<'a>(
        &self,
        _hub: &str,
        _options: &NegotiateOptions,
        online: &'a [EndpointStatus],
    ) -> Option<&'a EndpointStatus> {
        let of = |kind| -> Vec<&'a EndpointStatus> {
            online.iter().filter(|e| e.kind() == kind).collect()
        };
        let mut eligible = of(EndpointType::Primary);
        if eligible.is_empty() {
            eligible = of(EndpointType::Secondary);
        }
        if eligible.is_empty() {
            return None;
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        Some(eligible[turn % eligible.len()])
    }
}

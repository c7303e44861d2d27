//! Configuring and starting an emulator: [`Emulator::builder`], [`EmulatorBuilder::start`], and
//! [`app`], the one function that builds the whole HTTP application from the state.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use super::config::Settings;
use super::entra::EntraTrust;
use super::error::EmulatorError;
use super::handle::EmulatorHandle;
use super::state::negotiations;
use super::state::Inner;
use super::upstream::{UpstreamSettings, UpstreamTemplate};
use super::{access_key, connections, request_log, rest, server};

/// The whole application: the REST API and the client endpoint, behind the body deadline and
/// the request log.
pub(crate) fn app(inner: Arc<Inner>) -> Router {
    let limits = http_limits(&inner.config);
    let app = rest::router(inner.clone())
        .merge(connections::router(inner.clone()))
        .merge(access_key::router(inner));
    request_log::with_request_log(server::with_body_deadline(app, limits))
}

/// The HTTP server's limits, with the largest body taken set from the message size.
fn http_limits(config: &Settings) -> server::HttpLimits {
    let mut limits = config.http_limits;
    // Above the largest body any route takes (a hub message plus its framing, or a 1 MiB
    // REST body), so the routes' own limits and messages still apply.
    limits.max_body = config.max_message_size.max(1 << 20) + 64 * 1024;
    limits
}

/// Entry point: `Emulator::builder()`.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// A builder with the defaults: `127.0.0.1:8888`, the well-known access key, no upstream,
    /// pings every 15 s, clients dropped after 30 s of silence.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder {
            config: Settings::default(),
            upstream_error: None,
        }
    }
}

/// Configures and starts an emulator.
#[derive(Debug)]
pub struct EmulatorBuilder {
    /// The settings so far (visible to the other emulator modules, which may add their own).
    pub(super) config: Settings,
    upstream_error: Option<String>,
}

impl EmulatorBuilder {
    /// The address to listen on; port 0 picks a free port. `localhost:<port>` listens on
    /// both 127.0.0.1 and, when available, ::1 (same port).
    pub fn bind(mut self, addr: impl Into<String>) -> Self {
        self.config.bind = addr.into();
        self
    }

    /// The access key that signs REST and client tokens.
    pub fn access_key(mut self, key: impl Into<String>) -> Self {
        self.config.access_key = key.into();
        self
    }

    /// Where client invocations and `connected`/`disconnected` events are POSTed: a template
    /// receiving every event, tried after any added before it. The URL may hold `{hub}`,
    /// `{category}` and `{event}` placeholders.
    pub fn upstream(mut self, url: impl AsRef<str>) -> Self {
        match UpstreamTemplate::new(url.as_ref()) {
            Ok(t) => self.config.upstream.push(t),
            Err(e) => self.upstream_error = Some(e.to_string()),
        }
        self
    }

    /// Adds upstream templates (the official emulator's `settings.json`, see
    /// [`UpstreamSettings`]), tried in order after any added before; the first that matches
    /// an event receives it, and an event none matches is not sent.
    pub fn upstream_settings(self, settings: UpstreamSettings) -> Self {
        for template in settings.templates() {
            self.config.upstream.push(template.clone());
        }
        self
    }

    /// How often the server pings each client (default 15 s).
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.config.ping_interval = interval;
        self
    }

    /// How long a client may stay silent before it is dropped (default 30 s).
    pub fn client_timeout(mut self, timeout: Duration) -> Self {
        self.config.client_timeout = timeout;
        self
    }

    /// How many messages may wait for one client before it is closed as too slow
    /// (default 1024).
    pub fn outbound_queue(mut self, messages: usize) -> Self {
        self.config.outbound_queue = messages;
        self
    }

    /// How many bytes of encoded messages may wait for one client (queued or being written)
    /// before it is closed as too slow (default 16 MiB). A message is always let into an
    /// empty queue, whatever its size.
    pub fn outbound_budget(mut self, bytes: usize) -> Self {
        self.config.outbound_budget = bytes;
        self
    }

    /// How many deliveries the inspection record keeps, oldest dropped first (default 10 000).
    ///
    /// `0` turns the record off: [`EmulatorHandle::deliveries`] stays empty and a delivery
    /// costs nothing extra unless a [`EmulatorHandle::wait_for_delivery`] is waiting (which
    /// still sees deliveries made while it waits). Use `0` where nobody inspects the emulator
    /// (a standalone process, a benchmark); keep the default in tests.
    pub fn delivery_record(mut self, deliveries: usize) -> Self {
        self.config.delivery_record = deliveries;
        self
    }

    /// How long a connection may take to send a complete request head, counted from when it
    /// opens or its previous response was sent (default 30 s). This bounds both slow headers
    /// and idle keep-alive connections; the connection is closed when it runs out. WebSockets,
    /// SSE streams and pending Long Polling requests are not affected.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.config.http_limits.header_timeout = timeout;
        self
    }

    /// How long a request body may take to arrive in full (default 30 s); a body that does not
    /// is answered `408` and its connection closed. It is a total deadline, so a body sent a
    /// byte at a time or an endless chunked body ends too.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.config.http_limits.body_timeout = timeout;
        self
    }

    /// How many connections are served at once (default 10 000), WebSockets and streams
    /// included. One more is answered `503 Service Unavailable` with `Retry-After: 1` and
    /// closed. Keep it below the process's descriptor limit (`ulimit -n`).
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.config.http_limits.max_connections = connections;
        self
    }

    /// How many negotiations may wait for their transport at once: per user of a hub (all
    /// anonymous clients of a hub count as one user) and per hub (defaults 1 000 and 10 000).
    /// A negotiation waits until its transport opens or for two minutes; one over a limit is
    /// answered `429` with `Retry-After`, and only that user or hub is refused.
    pub fn negotiation_limits(mut self, per_user: usize, per_hub: usize) -> Self {
        self.config.negotiation_limits = negotiations::NegotiationLimits { per_user, per_hub };
        self
    }

    /// Opens the socket and starts serving.
    pub async fn start(self) -> Result<EmulatorHandle, EmulatorError> {
        if let Some(e) = self.upstream_error {
            return Err(EmulatorError::Config(e));
        }
        if self.config.ping_interval.is_zero()
            || self.config.outbound_queue == 0
            || self.config.outbound_budget == 0
        {
            return Err(EmulatorError::Config(
                "ping interval, outbound queue and outbound budget must be positive".into(),
            ));
        }
        let limits = &self.config.http_limits;
        if limits.header_timeout.is_zero()
            || limits.body_timeout.is_zero()
            || limits.max_connections == 0
            || self.config.negotiation_limits.per_user == 0
            || self.config.negotiation_limits.per_hub == 0
        {
            return Err(EmulatorError::Config(
                "header timeout, body timeout, connection and negotiation limits must be positive"
                    .into(),
            ));
        }
        let listeners = bind_listeners(&self.config.bind).await?;
        let local_addrs = listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| EmulatorError::Bind {
                addr: self.config.bind.clone(),
                source,
            })?;
        let inner = Arc::new(Inner::new(self.config));
        let limits = http_limits(&inner.config);
        let app = app(inner.clone());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stop = futures::FutureExt::shared(stop_rx);
        let serving = listeners.into_iter().map(|listener| {
            let stop = stop.clone();
            server::serve(listener, app.clone(), limits, async move {
                let _ = stop.await;
            })
        });
        let serving: Vec<_> = serving.collect();
        let server = tokio::spawn(async move {
            futures::future::join_all(serving).await;
        });
        tracing::info!(addresses = ?local_addrs, "SignalR emulator listening");
        let handle = EmulatorHandle::new(inner, local_addrs, stop_tx, server);
        if handle.exposes_default_key() {
            tracing::warn!(
                addresses = ?handle.local_addrs(),
                "the emulator listens beyond loopback with the well-known default access key: \
                 anyone who can reach it can sign tokens; set an access key of your own"
            );
        }
        Ok(handle)
    }

    /// Trusts an Entra-like issuer for REST calls and hands out signing keys for its tokens at
    /// `/api/v1/auth/accessKey`: its RS256 tokens must have the audience [`SIGNALR_AUDIENCE`](super::SIGNALR_AUDIENCE),
    /// its issuer name and one of its keys, and be within `exp`/`nbf` give or take
    /// [`CLOCK_SKEW`](super::CLOCK_SKEW); client tokens signed with a handed-out key name it in `kid`. The access
    /// key keeps working.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use azure_signalr_rest::emulator::{Emulator, EntraIssuer};
    /// let issuer = EntraIssuer::new();
    /// let emulator = Emulator::builder().bind("127.0.0.1:0").trust_entra(issuer.trust()).start().await?;
    /// # Ok(()) }
    /// ```
    pub fn trust_entra(mut self, trust: EntraTrust) -> Self {
        self.config.entra = Some(Arc::new(trust));
        self
    }
}

/// Opens the listening sockets. `localhost:<port>` listens on 127.0.0.1 and, when it can, on
/// ::1 with the same port, since a client resolving `localhost` may try either; any other
/// address on itself alone.
async fn bind_listeners(bind: &str) -> Result<Vec<tokio::net::TcpListener>, EmulatorError> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use tokio::net::TcpListener;
    let failed = |source| EmulatorError::Bind {
        addr: bind.to_string(),
        source,
    };
    let localhost_port = bind
        .rsplit_once(':')
        .filter(|(host, _)| host.eq_ignore_ascii_case("localhost"))
        .map(|(_, port)| port);
    let Some(port) = localhost_port else {
        return Ok(vec![TcpListener::bind(bind).await.map_err(failed)?]);
    };
    let port: u16 = port
        .parse()
        .map_err(|_| EmulatorError::Config(format!("invalid port in '{bind}'")))?;
    let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(failed)?;
    // The port actually taken (port 0 picks one), so both stacks share it.
    let port = v4.local_addr().map_err(failed)?.port();
    let mut listeners = vec![v4];
    match TcpListener::bind((Ipv6Addr::LOCALHOST, port)).await {
        Ok(v6) => listeners.push(v6),
        Err(e) => {
            tracing::debug!(error = %e, port, "cannot listen on [::1]; carrying on with 127.0.0.1 only")
        }
    }
    Ok(listeners)
}

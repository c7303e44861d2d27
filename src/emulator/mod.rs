//! A local emulator of Azure SignalR Service in serverless mode.
//!
//! It serves the data-plane REST API (1.0-preview, 1.0 and 2022-06-01 on one port) and the
//! client endpoint (negotiate, then WebSockets, Server-Sent Events or Long Polling with the
//! JSON or MessagePack hub protocol), so tests can run against a real socket without Azure.
//!
//! The handle also lets a test look inside: which connections, users and groups a hub has,
//! and what was delivered to whom.
//!
//! Where it differs from the service, knowingly:
//! - no throttling and no per-unit connection or message quotas (the only 429 is for too many
//!   pending negotiations, see [`EmulatorBuilder::negotiation_limits`]);
//! - CORS like the official emulator, but on the client endpoint (`/client/...`) only: a page
//!   of any origin may negotiate and connect (with credentials); the REST API answers no
//!   preflight and sends no CORS headers, since only servers call it;
//! - HTTP/1.1 only (no HTTP/2), with limits against careless or hostile clients: a request
//!   head must arrive within [`EmulatorBuilder::header_timeout`] (which also closes idle
//!   keep-alive connections), a body within [`EmulatorBuilder::body_timeout`], and at most
//!   [`EmulatorBuilder::max_connections`] connections are served at once (one more gets `503`
//!   with `Retry-After`);
//! - stateful reconnect (Ack/Sequence) is decoded but not honoured;
//! - upstreams get the `connected`, `disconnected` and message events, not the blocking
//!   `connect` event;
//! - a client that falls behind is closed once its outbound queue holds more than
//!   [`EmulatorBuilder::outbound_budget`] bytes (default 16 MiB) or
//!   [`EmulatorBuilder::outbound_queue`] messages: what was queued for it is dropped, it gets a
//!   Close message with the reason (if it reads within two seconds) and a WebSocket close frame
//!   with status 1008, and the cut-off is logged and listed by [`EmulatorHandle::cutoffs`];
//! - an SSE or Long Polling request, and a WebSocket naming a negotiated `id`, must carry a
//!   token for the user that negotiated, else `403`.
//!
//! Tokens are checked as the service checks them and accepted as Microsoft's .NET SDK signs
//! them: at most 4096 characters; HS256, HS384 or HS512 with the access key; `exp` required,
//! `exp` and `nbf` checked with [`CLOCK_SKEW`] (five minutes) of leeway; `aud` must name the
//! scheme, host and path of the request (a port in a REST `aud` must match, an `aud` without
//! one matches any port; the query of a REST audience is ignored; a client audience must name
//! the hub, `<endpoint>/client/?hub=<hub>`, and its port and other parameters are not compared);
//! the user id is `asrs.s.uid`, else `nameid`, else `sub`. A token in the `access_token` query
//! parameter is taken only on client transport requests (`/client/?hub=...&id=...`: browsers
//! cannot put headers on a WebSocket or an `EventSource`), never on negotiate or REST calls.
//! Every 401 carries `WWW-Authenticate: Bearer`. Hub and `application` names compare
//! case-insensitively; `application` is read on 1.0 and 2022-06-01 routes, and an empty one
//! means none.
//!
//! ```
//! use std::time::Duration;
//! use azure_signalr_rest::emulator::Emulator;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::builder().bind("127.0.0.1:0").start().await?;
//! assert!(emulator.connection_string().starts_with("Endpoint=http://127.0.0.1;Port="));
//!
//! // Nobody is connected yet, so nothing can be delivered: waiting times out.
//! let waited = emulator
//!     .wait_for_delivery(|d| d.target == "newMessage", Duration::from_millis(50))
//!     .await;
//! assert!(waited.is_err());
//! assert!(emulator.hub("chat").connections.is_empty());
//!
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod auth;
mod client;
#[doc(hidden)]
pub mod fuzzing;
mod negotiations;
mod rest;
mod server;
mod state;
mod upstream;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
pub use upstream::{
    UpstreamSettings, UpstreamSettingsError, UpstreamTemplate, DEFAULT_UPSTREAM_URL,
};

use serde_json::Value;
use tokio::sync::broadcast;

pub use crate::protocol::TransportType;
pub use auth::CLOCK_SKEW;
use state::{Event, Inner};

/// The access key used when none is given (the official emulator's well-known key).
pub const DEFAULT_ACCESS_KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";

/// Errors starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A builder setting is unusable.
    #[error("invalid emulator setting: {0}")]
    Config(String),
}

/// The waiting in [`EmulatorHandle::wait_for_delivery`] ran out of time.
#[derive(Debug, thiserror::Error)]
#[error("no matching event within {0:?}")]
pub struct WaitTimeout(pub Duration);

/// Settings of an emulator, collected by [`EmulatorBuilder`].
#[derive(Clone)]
pub(crate) struct Config {
    pub bind: String,
    pub access_key: String,
    pub upstream: upstream::SharedUpstream,
    pub ping_interval: Duration,
    pub client_timeout: Duration,
    pub handshake_timeout: Duration,
    pub long_poll_timeout: Duration,
    pub outbound_queue: usize,
    pub outbound_budget: usize,
    pub delivery_record: usize,
    pub max_message_size: usize,
    pub http_limits: server::Limits,
    pub negotiation_limits: negotiations::Limits,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("access_key", &"<redacted>")
            .field("upstream", &self.upstream)
            .field("ping_interval", &self.ping_interval)
            .field("client_timeout", &self.client_timeout)
            .field("outbound_queue", &self.outbound_queue)
            .field("outbound_budget", &self.outbound_budget)
            .field("http_limits", &self.http_limits)
            .finish_non_exhaustive()
    }
}

/// Entry point: `Emulator::builder()`.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// A builder with the defaults: `127.0.0.1:8888`, the well-known access key, no upstream,
    /// pings every 15 s, clients dropped after 30 s of silence.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder {
            config: Config {
                bind: "127.0.0.1:8888".into(),
                access_key: DEFAULT_ACCESS_KEY.into(),
                upstream: Default::default(),
                ping_interval: Duration::from_secs(15),
                client_timeout: Duration::from_secs(30),
                handshake_timeout: Duration::from_secs(15),
                long_poll_timeout: Duration::from_secs(90),
                outbound_queue: 1024,
                outbound_budget: 16 * 1024 * 1024,
                delivery_record: 10_000,
                max_message_size: crate::protocol::DEFAULT_MAX_MESSAGE_SIZE,
                http_limits: server::Limits {
                    header_timeout: Duration::from_secs(30),
                    body_timeout: Duration::from_secs(30),
                    // Set at start from the message size (see `start`).
                    max_body: 0,
                    max_connections: 10_000,
                },
                negotiation_limits: negotiations::Limits {
                    per_user: 1_000,
                    per_hub: 10_000,
                },
            },
            upstream_error: None,
        }
    }
}

/// Configures and starts an emulator.
#[derive(Debug)]
pub struct EmulatorBuilder {
    config: Config,
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
        self.config.negotiation_limits = negotiations::Limits { per_user, per_hub };
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
        let local_addr = local_addrs[0];
        let inner = Arc::new(Inner::new(self.config));
        let mut limits = inner.config.http_limits;
        // Above the largest body any route takes (a hub message plus its framing, or a 1 MiB
        // REST body), so the routes' own limits and messages still apply.
        limits.max_body = inner.config.max_message_size.max(1 << 20) + 64 * 1024;
        let app = rest::router(inner.clone()).merge(client::router(inner.clone()));
        let app = server::with_body_deadline(app, limits);
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
        let handle = EmulatorHandle {
            inner,
            local_addr,
            local_addrs,
            stop: Some(stop_tx),
            server: Some(server),
        };
        if handle.exposes_default_key() {
            tracing::warn!(
                addresses = ?handle.local_addrs,
                "the emulator listens beyond loopback with the well-known default access key: \
                 anyone who can reach it can sign tokens; set an access key of your own"
            );
        }
        Ok(handle)
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

/// One message handed to one client's transport.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The hub (lower-cased, application-prefixed when an application was given).
    pub hub: String,
    /// The receiving connection.
    pub connection_id: String,
    /// The user of the receiving connection, if its token named one.
    pub user_id: Option<String>,
    /// The invoked client method.
    pub target: String,
    /// The arguments (shared with every other receiver of the same message).
    pub arguments: Arc<Vec<Value>>,
    /// When it was written to the transport.
    pub at: SystemTime,
}

/// A client closed for falling behind its outbound budget (see
/// [`EmulatorBuilder::outbound_budget`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cutoff {
    /// The hub (lower-cased).
    pub hub: String,
    /// The connection closed.
    pub connection_id: String,
    /// Its user, if any.
    pub user_id: Option<String>,
    /// Encoded bytes that were waiting for it.
    pub queued_bytes: usize,
    /// The error sent in its Close message.
    pub reason: String,
    /// When it was cut off.
    pub at: SystemTime,
}

/// One client connection as seen by [`EmulatorHandle::hub`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The connection id REST calls name.
    pub connection_id: String,
    /// The hub it belongs to.
    pub hub: String,
    /// The user, if its token named one.
    pub user_id: Option<String>,
    /// The transport it uses.
    pub transport: TransportType,
    /// `json` or `messagepack`.
    pub protocol: crate::protocol::HubProtocol,
}

/// A hub's state at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubSnapshot {
    /// Connected clients, ordered by id.
    pub connections: Vec<ConnectionInfo>,
    /// Each user with at least one connection, and its connection ids.
    pub users: BTreeMap<String, Vec<String>>,
    /// Each group with at least one member connection (directly or through its user), and
    /// those connection ids.
    pub groups: BTreeMap<String, Vec<String>>,
}

/// A running emulator. Dropping it stops the server abruptly; prefer [`shutdown`](Self::shutdown).
pub struct EmulatorHandle {
    inner: Arc<Inner>,
    local_addr: SocketAddr,
    local_addrs: Vec<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// The socket address the emulator listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Every address listened on: one, or for `localhost` 127.0.0.1 and (when available) ::1.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Replaces the upstream settings of a running emulator (what the official emulator does
    /// when its `settings.json` changes). Events are routed by the new templates from now on;
    /// a connection made while there was no upstream at all stays without one.
    pub fn set_upstream_settings(&self, settings: UpstreamSettings) {
        self.inner.config.upstream.set(settings);
    }

    /// Whether the emulator listens on an address other than loopback with
    /// [`DEFAULT_ACCESS_KEY`], which anyone can use to sign tokens (a warning is logged at
    /// start when it does).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use azure_signalr_rest::emulator::Emulator;
    /// let emulator = Emulator::builder().bind("127.0.0.1:0").start().await?;
    /// assert!(!emulator.exposes_default_key());
    /// emulator.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn exposes_default_key(&self) -> bool {
        self.inner.config.access_key == DEFAULT_ACCESS_KEY
            && self.local_addrs.iter().any(|a| !a.ip().is_loopback())
    }

    /// `http://<ip>:<port>`, the base of every REST and client URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The access key in force (needed to mint tokens; it is a secret: do not log it).
    pub fn access_key(&self) -> &str {
        &self.inner.config.access_key
    }

    /// `Endpoint=http://<ip>;Port=<port>;AccessKey=<key>;Version=1.0;`
    pub fn connection_string(&self) -> String {
        let ip = self.local_addr.ip();
        let host = if ip.is_ipv6() {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        format!(
            "Endpoint=http://{host};Port={};AccessKey={};Version=1.0;",
            self.local_addr.port(),
            self.inner.config.access_key
        )
    }

    /// The state of one hub (name matched case-insensitively; for a 2022-06-01
    /// `application`, pass `<application>_<hub>`).
    pub fn hub(&self, hub: &str) -> HubSnapshot {
        self.inner.snapshot(&hub.to_lowercase())
    }

    /// Every hub that has ever held a connection or membership, lower-cased.
    pub fn hubs(&self) -> Vec<String> {
        self.inner.hub_names()
    }

    /// Clients closed for falling behind (slow consumers), oldest first; the latest 1 000.
    pub fn cutoffs(&self) -> Vec<Cutoff> {
        self.inner.cutoffs()
    }

    /// The most recent deliveries, oldest first (bounded by
    /// [`EmulatorBuilder::delivery_record`]).
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.deliveries()
    }

    /// Waits for a delivery matching `filter`, looking at the record first so a delivery that
    /// already happened counts.
    ///
    /// A whole test: a client connects over WebSockets, the app broadcasts through the REST
    /// API, and the test waits until the emulator has written the message to that client.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime, UNIX_EPOCH};
    /// use azure_signalr_rest::emulator::Emulator;
    /// use futures::SinkExt;
    /// use jsonwebtoken::{encode, EncodingKey, Header};
    /// use serde_json::json;
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let emulator = Emulator::builder().bind("127.0.0.1:0").start().await?;
    /// let key = EncodingKey::from_secret(emulator.access_key().as_bytes());
    /// let exp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 600;
    /// let http = reqwest::Client::new();
    ///
    /// // A client: negotiate, open the WebSocket, send the JSON handshake.
    /// let client_url = format!("{}/client/?hub=chat", emulator.endpoint());
    /// let client_token = encode(&Header::default(), &json!({"aud": client_url, "exp": exp, "nameid": "ann"}), &key)?;
    /// let negotiated: serde_json::Value = http
    ///     .post(format!("{}/client/negotiate?hub=chat&negotiateVersion=1", emulator.endpoint()))
    ///     .bearer_auth(&client_token)
    ///     .send().await?.json().await?;
    /// let ws_url = format!(
    ///     "ws://{}/client/?hub=chat&id={}&access_token={client_token}",
    ///     emulator.local_addr(),
    ///     negotiated["connectionToken"].as_str().unwrap()
    /// );
    /// let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await?;
    /// socket.send("{\"protocol\":\"json\",\"version\":1}\u{1e}".into()).await?;
    /// emulator.wait_for_connection(|c| c.user_id.as_deref() == Some("ann"), Duration::from_secs(5)).await?;
    ///
    /// // The app: a REST broadcast with a token for that URL.
    /// let rest_url = format!("{}/api/v1/hubs/chat", emulator.endpoint());
    /// let rest_token = encode(&Header::default(), &json!({"aud": rest_url, "exp": exp}), &key)?;
    /// let status = http.post(&rest_url).bearer_auth(rest_token)
    ///     .json(&json!({"target": "newMessage", "arguments": ["hello"]}))
    ///     .send().await?.status();
    /// assert_eq!(status, 202);
    ///
    /// // The test: wait for the delivery instead of sleeping.
    /// let delivery = emulator
    ///     .wait_for_delivery(|d| d.target == "newMessage", Duration::from_secs(5))
    ///     .await?;
    /// assert_eq!(delivery.user_id.as_deref(), Some("ann"));
    /// assert_eq!(*delivery.arguments, vec![json!("hello")]);
    /// emulator.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn wait_for_delivery(
        &self,
        filter: impl Fn(&Delivery) -> bool,
        timeout: Duration,
    ) -> Result<Delivery, WaitTimeout> {
        let mut events = self.inner.events.subscribe();
        if let Some(found) = self.inner.deliveries().into_iter().find(|d| filter(d)) {
            return Ok(found);
        }
        let wait = async {
            loop {
                match events.recv().await {
                    Ok(Event::Delivered(d)) if filter(&d) => return Some((*d).clone()),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if let Some(found) = self.inner.deliveries().into_iter().find(|d| filter(d))
                        {
                            return Some(found);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(Some(d)) => Ok(d),
            _ => Err(WaitTimeout(timeout)),
        }
    }

    /// Waits until a connection matching `filter` is connected (after its handshake).
    pub async fn wait_for_connection(
        &self,
        filter: impl Fn(&ConnectionInfo) -> bool,
        timeout: Duration,
    ) -> Result<ConnectionInfo, WaitTimeout> {
        let mut events = self.inner.events.subscribe();
        let current = || self.inner.all_connections().into_iter().find(|c| filter(c));
        if let Some(found) = current() {
            return Ok(found);
        }
        let wait = async {
            loop {
                match events.recv().await {
                    Ok(Event::Connected(c)) if filter(&c) => return Some(c),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if let Some(found) = current() {
                            return Some(found);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(Some(c)) => Ok(c),
            _ => Err(WaitTimeout(timeout)),
        }
    }

    /// Waits until connection `connection_id` has ended.
    pub async fn wait_for_disconnect(
        &self,
        connection_id: &str,
        timeout: Duration,
    ) -> Result<(), WaitTimeout> {
        let mut events = self.inner.events.subscribe();
        let gone = || {
            !self
                .inner
                .all_connections()
                .iter()
                .any(|c| c.connection_id == connection_id)
        };
        let wait = async {
            loop {
                if gone() {
                    return;
                }
                match events.recv().await {
                    Ok(Event::Disconnected(c)) if c.connection_id == connection_id => return,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| WaitTimeout(timeout))
    }

    /// Closes every client with a Close message, then stops the server.
    pub async fn shutdown(mut self) {
        self.inner.begin_shutdown();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.inner.wait_all_closed()).await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut server) = self.server.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
        tracing::info!("SignalR emulator stopped");
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
        self.inner.begin_shutdown();
    }
}

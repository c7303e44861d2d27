//! A receiving SignalR client for hubs behind Azure SignalR Service (or the emulator).
//!
//! A [`Listener`] connects the way the official SignalR clients do: it negotiates
//! (`POST <client url>/negotiate`), then opens WebSockets, falling back to Server-Sent Events
//! and Long Polling, speaks the JSON or MessagePack hub protocol (the codec in
//! [`crate::protocol`], shared with the emulator), and yields what the server invokes as a
//! stream of [`Event`]s. It pings the server every 15 s, treats 30 s without a word from the
//! server as a dropped link, and reconnects with exponential backoff (a new negotiate, so a
//! new connection id, reported by [`Event::Reconnected`]). A server Close message that does not
//! allow reconnecting ends the stream with [`Event::Closed`] carrying its error.
//!
//! Connect from a connection string, a hub and a user id (the token is minted by
//! [`HubClient::negotiate`](crate::HubClient::negotiate)), or from the `{url, accessToken}` an
//! app's negotiate endpoint hands out ([`ListenerBuilder::negotiate_response`]).
//!
//! Tokens (the access token and the negotiate `connectionToken`) never appear in logs, errors
//! or `Debug` output.
//!
//! ```
//! # #[cfg(feature = "emulator")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use azure_signalr_rest::emulator::Emulator;
//! use azure_signalr_rest::listener::{Event, Listener};
//! use azure_signalr_rest::{Message, ServiceClient};
//!
//! let emulator = Emulator::builder().bind("127.0.0.1:0").start().await?;
//! let connection_string = emulator.connection_string();
//!
//! let mut listener = Listener::builder()
//!     .connection_string(&connection_string, "chat")
//!     .user_id("alice")
//!     .connect()
//!     .await?;
//! let connection_id = listener.connection_id().expect("connected");
//!
//! let chat = ServiceClient::from_connection_string(&connection_string)?.hub("chat");
//! assert!(chat.connection_exists(&connection_id).await?);
//! chat.send_to_user("alice", &Message::new("newMessage", ("hello",))?).await?;
//!
//! let event = tokio::time::timeout(Duration::from_secs(10), listener.next()).await?;
//! assert_eq!(
//!     event,
//!     Some(Event::Invocation {
//!         target: "newMessage".into(),
//!         arguments: vec!["hello".into()],
//!     })
//! );
//!
//! listener.close().await;
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "emulator"))]
//! # fn main() {}
//! ```

mod negotiate;
mod transport;

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rand::Rng;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use url::Url;

pub use crate::protocol::TransportType;
use crate::protocol::{
    HandshakeReader, HandshakeRecord, HandshakeRequest, HandshakeResponse, HubMessage, HubProtocol,
    MessageReader, ProtocolError,
};
use crate::{HubClient, NegotiateOptions, NegotiateResponse, ServiceClient};
use negotiate::Negotiated;
use transport::Link;

/// How often the listener pings the server unless told otherwise.
pub const DEFAULT_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// How long the server may stay silent before the link counts as dropped.
pub const DEFAULT_SERVER_TIMEOUT: Duration = Duration::from_secs(30);
/// The first reconnect delay; each failed attempt doubles it.
pub const DEFAULT_RECONNECT_INITIAL_DELAY: Duration = Duration::from_secs(1);
/// The longest reconnect delay.
pub const DEFAULT_RECONNECT_MAX_DELAY: Duration = Duration::from_secs(30);

/// How long the hub-protocol handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Events waiting for the application; when full the listener stops reading the link.
const EVENT_QUEUE: usize = 1024;

/// What a [`Listener`] yields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The server invoked `target` with `arguments` (a REST send reached this connection).
    Invocation {
        /// The client method named by the sender.
        target: String,
        /// Its arguments, in order (MessagePack values are converted to JSON).
        arguments: Vec<Value>,
    },
    /// The link dropped; the listener is reconnecting. `error` says why it dropped.
    Reconnecting {
        /// Why the link dropped.
        error: String,
    },
    /// The listener reconnected under a new connection id.
    Reconnected {
        /// The new connection id (what REST calls name).
        connection_id: String,
    },
    /// The connection ended for good; the stream ends after this event. `error` is `None` after
    /// [`Listener::close`], else the server's Close error or why reconnecting gave up.
    Closed {
        /// Why it ended, when it was not asked to.
        error: Option<String>,
    },
}

/// Errors connecting a [`Listener`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenerError {
    /// The client layer could not produce a client URL and token (bad connection string, bad
    /// hub name, no access key...).
    #[error(transparent)]
    Client(#[from] crate::Error),
    /// The listener was configured inconsistently.
    #[error("invalid listener configuration: {0}")]
    Config(String),
    /// Negotiate failed (the message quotes the server's `error` when it gave one).
    #[error("negotiate failed: {0}")]
    Negotiate(String),
    /// No transport could be opened; lists why each one failed.
    #[error("no transport could connect: {0}")]
    Transport(String),
    /// The server refused the hub-protocol handshake.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// The server sent something the hub-protocol codec cannot read.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
}

/// Where client URLs and tokens come from.
#[derive(Clone, Debug)]
enum Source {
    /// Minted by the client layer for each (re)connection.
    Hub {
        hub: HubClient,
        options: NegotiateOptions,
    },
    /// Handed out by an app's negotiate endpoint; reused for reconnects.
    Fixed(NegotiateResponse),
}

impl Source {
    async fn access(&self) -> Result<NegotiateResponse, ListenerError> {
        match self {
            Source::Hub { hub, options } => Ok(hub.negotiate(options.clone()).await?),
            Source::Fixed(response) => Ok(response.clone()),
        }
    }
}

/// Reconnect delays: exponential from `initial` up to `max`, with up to 20% jitter.
#[derive(Clone, Debug)]
struct Backoff {
    initial: Duration,
    max: Duration,
    max_attempts: Option<u32>,
}

impl Backoff {
    fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(16));
        let base = self.initial.saturating_mul(factor).min(self.max);
        let jitter = rand::rng().random_range(0.0..0.2);
        base.mul_f64(1.0 + jitter)
    }
}

#[derive(Clone, Debug)]
struct Config {
    source: Source,
    protocol: HubProtocol,
    transport: Option<TransportType>,
    keep_alive_interval: Duration,
    server_timeout: Duration,
    backoff: Backoff,
    http: reqwest::Client,
    /// Whether `http` came from the caller (else the listener may replace it).
    http_given: bool,
}

/// Configures and connects a [`Listener`]; start with [`Listener::builder`].
#[derive(Debug)]
pub struct ListenerBuilder {
    connection_string: Option<(Result<ServiceClient, crate::Error>, String)>,
    hub: Option<HubClient>,
    options: NegotiateOptions,
    response: Option<NegotiateResponse>,
    protocol: HubProtocol,
    transport: Option<TransportType>,
    keep_alive_interval: Duration,
    server_timeout: Duration,
    backoff: Backoff,
    http: Option<reqwest::Client>,
}

impl ListenerBuilder {
    /// Connects to `hub` of the service a connection string names; the client token is minted
    /// with its access key.
    pub fn connection_string(mut self, connection_string: &str, hub: &str) -> Self {
        self.connection_string = Some((
            ServiceClient::from_connection_string(connection_string),
            hub.to_string(),
        ));
        self
    }

    /// Connects to this hub; the client token is minted by [`HubClient::negotiate`].
    pub fn hub_client(mut self, hub: HubClient) -> Self {
        self.hub = Some(hub);
        self
    }

    /// The user to connect as (the token's `asrs.s.uid`); REST sends to this user reach the
    /// listener.
    pub fn user_id(mut self, user_id: impl Into<String>) -> Self {
        self.options.user_id = Some(user_id.into());
        self
    }

    /// All the token options at once (user id, extra claims, lifetime).
    pub fn negotiate_options(mut self, options: NegotiateOptions) -> Self {
        self.options = options;
        self
    }

    /// Connects with what an app's negotiate endpoint handed out. Reconnects reuse this token,
    /// so it must outlive the connection.
    pub fn negotiate_response(mut self, response: NegotiateResponse) -> Self {
        self.response = Some(response);
        self
    }

    /// The hub protocol (JSON by default). MessagePack rules out Server-Sent Events.
    pub fn protocol(mut self, protocol: HubProtocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Uses only this transport instead of trying WebSockets, Server-Sent Events and Long
    /// Polling in turn.
    pub fn transport(mut self, transport: TransportType) -> Self {
        self.transport = Some(transport);
        self
    }

    /// How often to ping the server ([`DEFAULT_KEEP_ALIVE_INTERVAL`] by default).
    pub fn keep_alive_interval(mut self, interval: Duration) -> Self {
        self.keep_alive_interval = interval;
        self
    }

    /// How long the server may stay silent before the link counts as dropped
    /// ([`DEFAULT_SERVER_TIMEOUT`] by default; the server pings every 15 s).
    pub fn server_timeout(mut self, timeout: Duration) -> Self {
        self.server_timeout = timeout;
        self
    }

    /// Reconnect delays: the first wait is `initial`, doubled after each failed attempt, never
    /// more than `max` (defaults [`DEFAULT_RECONNECT_INITIAL_DELAY`],
    /// [`DEFAULT_RECONNECT_MAX_DELAY`]).
    pub fn reconnect_delays(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff.initial = initial;
        self.backoff.max = max.max(initial);
        self
    }

    /// Gives up after this many failed reconnect attempts in a row (`None`, the default, keeps
    /// trying; `Some(0)` never reconnects).
    pub fn max_reconnect_attempts(mut self, attempts: Option<u32>) -> Self {
        self.backoff.max_attempts = attempts;
        self
    }

    /// The HTTP client for negotiate, Server-Sent Events and Long Polling. It must not set an
    /// overall request timeout (an event stream stays open).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Negotiates and connects; returns once the handshake has succeeded.
    pub async fn connect(self) -> Result<Listener, ListenerError> {
        let source =
            match (self.connection_string, self.hub, self.response) {
                (Some((service, hub)), None, None) => Source::Hub {
                    hub: service?.hub(&hub),
                    options: self.options,
                },
                (None, Some(hub), None) => Source::Hub {
                    hub,
                    options: self.options,
                },
                (None, None, Some(response)) => Source::Fixed(response),
                (None, None, None) => {
                    return Err(ListenerError::Config(
                        "give a connection string, a hub client or a negotiate response".into(),
                    ))
                }
                _ => return Err(ListenerError::Config(
                    "give only one of a connection string, a hub client or a negotiate response"
                        .into(),
                )),
            };
        if self.transport == Some(TransportType::ServerSentEvents) && self.protocol.is_binary() {
            return Err(ListenerError::Config(
                "MessagePack needs a binary transport; Server-Sent Events carry text only".into(),
            ));
        }
        if self.keep_alive_interval.is_zero() || self.server_timeout.is_zero() {
            return Err(ListenerError::Config(
                "the keep-alive interval and server timeout must be positive".into(),
            ));
        }
        let config = Config {
            source,
            protocol: self.protocol,
            transport: self.transport,
            keep_alive_interval: self.keep_alive_interval,
            server_timeout: self.server_timeout,
            backoff: self.backoff,
            http_given: self.http.is_some(),
            http: self.http.unwrap_or_default(),
        };
        let session = establish(&config).await?;
        let (event_tx, event_rx) = mpsc::channel(EVENT_QUEUE);
        let (state_tx, state_rx) = watch::channel(Some(session.state()));
        let (stop_tx, stop_rx) = oneshot::channel();
        let protocol = config.protocol;
        let task = tokio::spawn(run(config, session, event_tx, state_tx, stop_rx));
        Ok(Listener {
            events: event_rx,
            state: state_rx,
            stop: Some(stop_tx),
            task: Some(task),
            protocol,
        })
    }
}

/// What the listener is connected through right now.
#[derive(Clone, Debug, PartialEq)]
struct LinkState {
    connection_id: String,
    transport: TransportType,
}

/// A connected SignalR client that only listens.
///
/// Read events with [`next`](Self::next) or as a [`futures::Stream`]. Dropping the listener
/// stops it; [`close`](Self::close) stops it politely.
pub struct Listener {
    events: mpsc::Receiver<Event>,
    state: watch::Receiver<Option<LinkState>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    protocol: HubProtocol,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("connection_id", &self.connection_id())
            .field("transport", &self.transport())
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// A builder; give it a connection string and hub, a [`HubClient`] or a negotiate
    /// response, then [`connect`](ListenerBuilder::connect).
    pub fn builder() -> ListenerBuilder {
        ListenerBuilder {
            connection_string: None,
            hub: None,
            options: NegotiateOptions::default(),
            response: None,
            protocol: HubProtocol::Json,
            transport: None,
            keep_alive_interval: DEFAULT_KEEP_ALIVE_INTERVAL,
            server_timeout: DEFAULT_SERVER_TIMEOUT,
            backoff: Backoff {
                initial: DEFAULT_RECONNECT_INITIAL_DELAY,
                max: DEFAULT_RECONNECT_MAX_DELAY,
                max_attempts: None,
            },
            http: None,
        }
    }

    /// Connects to `hub` with a connection string, as `user_id` when given, with the defaults
    /// (JSON, any transport).
    pub async fn connect(
        connection_string: &str,
        hub: &str,
        user_id: Option<&str>,
    ) -> Result<Listener, ListenerError> {
        let mut builder = Listener::builder().connection_string(connection_string, hub);
        if let Some(user_id) = user_id {
            builder = builder.user_id(user_id);
        }
        builder.connect().await
    }

    /// The next event; `None` once the stream has ended (after [`Event::Closed`]).
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The current connection id (what REST calls name); `None` while reconnecting or once
    /// closed.
    pub fn connection_id(&self) -> Option<String> {
        self.state
            .borrow()
            .as_ref()
            .map(|s| s.connection_id.clone())
    }

    /// The transport in use; `None` while reconnecting or once closed.
    pub fn transport(&self) -> Option<TransportType> {
        self.state.borrow().as_ref().map(|s| s.transport)
    }

    /// The hub protocol in use.
    pub fn protocol(&self) -> HubProtocol {
        self.protocol
    }

    /// Sends a Close message, ends the transport and waits for the listener to stop.
    pub async fn close(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Dropping `stop` tells the task to end; it closes the link on its way out.
        self.stop.take();
    }
}

impl futures::Stream for Listener {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.get_mut().events.poll_recv(cx)
    }
}

/// A link after a successful handshake.
struct Session {
    link: Link,
    connection_id: String,
    reader: MessageReader,
}

impl Session {
    fn state(&self) -> LinkState {
        LinkState {
            connection_id: self.connection_id.clone(),
            transport: self.link.kind(),
        }
    }
}

/// Negotiates and opens the first transport that works, renegotiating after a failed one
/// (a connection token is good for one attempt).
async fn establish(config: &Config) -> Result<Session, ListenerError> {
    let access = config.source.access().await?;
    let client_url = Url::parse(&access.url)
        .map_err(|e| ListenerError::Config(format!("invalid client URL: {e}")))?;
    let binary = config.protocol.is_binary();
    let candidates: Vec<TransportType> = match config.transport {
        Some(t) => vec![t],
        None => [
            TransportType::WebSockets,
            TransportType::ServerSentEvents,
            TransportType::LongPolling,
        ]
        .into_iter()
        .filter(|t| t.is_binary() || !binary)
        .collect(),
    };
    let mut failures = Vec::new();
    let mut negotiated: Option<Negotiated> = None;
    for kind in candidates {
        let current = match negotiated.take() {
            Some(n) => n,
            None => {
                negotiate::negotiate(
                    &config.http,
                    client_url.clone(),
                    access.access_token.clone(),
                )
                .await?
            }
        };
        if !current.offers(kind, binary) {
            failures.push(format!("{kind}: not offered by the server"));
            negotiated = Some(current);
            continue;
        }
        let link = match Link::open(
            kind,
            &config.http,
            current.transport_url(),
            &current.access_token,
        )
        .await
        {
            Ok(link) => link,
            Err(e) => {
                tracing::debug!(transport = %kind, error = %e, "transport failed; trying the next");
                failures.push(format!("{kind}: {e}"));
                continue;
            }
        };
        let session = handshake(link, config.protocol, current.connection_id).await?;
        tracing::debug!(connection_id = %session.connection_id, transport = %kind, "listener connected");
        return Ok(session);
    }
    Err(ListenerError::Transport(failures.join("; ")))
}

/// Sends the handshake request and waits for the answer.
async fn handshake(
    mut link: Link,
    protocol: HubProtocol,
    connection_id: String,
) -> Result<Session, ListenerError> {
    link.send(HandshakeRequest::new(protocol).encode(), false)
        .await
        .map_err(ListenerError::Handshake)?;
    let mut handshake = HandshakeReader::new();
    let answer = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        loop {
            match link.recv().await {
                Some(Ok(data)) => {
                    if let Some(done) = handshake.take(&data)? {
                        return Ok(done);
                    }
                }
                Some(Err(e)) => return Err(ListenerError::Handshake(e)),
                None => {
                    return Err(ListenerError::Handshake(
                        "the server ended the connection".into(),
                    ))
                }
            }
        }
    })
    .await
    .map_err(|_| ListenerError::Handshake(format!("no answer within {HANDSHAKE_TIMEOUT:?}")))??;
    let HandshakeRecord { record, rest } = answer;
    if let Some(error) = HandshakeResponse::parse(&record)?.error {
        link.close().await;
        return Err(ListenerError::Handshake(error));
    }
    let mut reader = protocol.reader();
    reader.push(&rest)?;
    Ok(Session {
        link,
        connection_id,
        reader,
    })
}

/// Why a session ended.
enum End {
    /// [`Listener::close`] or the listener was dropped.
    Stopped,
    /// Nobody reads events any more.
    Abandoned,
    /// A Close message that does not allow reconnecting.
    Closed(Option<String>),
    /// The link dropped (or the server allowed reconnecting); reconnect.
    Dropped(String),
}

/// The listener's task: drive the session, reconnect when it drops, until told to stop.
async fn run(
    mut config: Config,
    mut session: Session,
    events: mpsc::Sender<Event>,
    state: watch::Sender<Option<LinkState>>,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        let end = drive(&config, &mut session, &events, &mut stop).await;
        let error = match end {
            End::Stopped => {
                if let Ok(close) = config.protocol.encode(&HubMessage::Close {
                    error: None,
                    allow_reconnect: false,
                }) {
                    let _ = session.link.send(close, config.protocol.is_binary()).await;
                }
                session.link.close().await;
                state.send_replace(None);
                let _ = events.try_send(Event::Closed { error: None });
                return;
            }
            End::Abandoned => {
                session.link.close().await;
                return;
            }
            End::Closed(error) => {
                session.link.close().await;
                state.send_replace(None);
                let _ = send_event(&events, &mut stop, Event::Closed { error }).await;
                return;
            }
            End::Dropped(error) => error,
        };
        tracing::info!(connection_id = %session.connection_id, %error, "link dropped; reconnecting");
        state.send_replace(None);
        drop(session);
        if !config.http_given {
            // Pooled connections may have died with the link; start afresh.
            config.http = reqwest::Client::new();
        }
        if !send_event(
            &events,
            &mut stop,
            Event::Reconnecting {
                error: error.clone(),
            },
        )
        .await
        {
            return;
        }
        match reconnect(&config, &events, &mut stop, error).await {
            Ok(Some(new)) => {
                session = new;
                state.send_replace(Some(session.state()));
                let event = Event::Reconnected {
                    connection_id: session.connection_id.clone(),
                };
                if !send_event(&events, &mut stop, event).await {
                    session.link.close().await;
                    return;
                }
            }
            Ok(None) => return,
            Err(error) => {
                let _ = send_event(&events, &mut stop, Event::Closed { error: Some(error) }).await;
                return;
            }
        }
    }
}

/// Tries to connect again with backoff. `Ok(None)`: stopped meanwhile; `Err`: gave up.
async fn reconnect(
    config: &Config,
    events: &mpsc::Sender<Event>,
    stop: &mut oneshot::Receiver<()>,
    mut last_error: String,
) -> Result<Option<Session>, String> {
    let mut attempt = 0u32;
    loop {
        if config
            .backoff
            .max_attempts
            .is_some_and(|max| attempt >= max)
        {
            return Err(format!(
                "gave up reconnecting after {attempt} attempts: {last_error}"
            ));
        }
        let delay = config.backoff.delay(attempt);
        tokio::select! {
            _ = &mut *stop => {
                let _ = events.try_send(Event::Closed { error: None });
                return Ok(None);
            }
            _ = tokio::time::sleep(delay) => {}
        }
        attempt += 1;
        let attempt_result = tokio::select! {
            _ = &mut *stop => {
                let _ = events.try_send(Event::Closed { error: None });
                return Ok(None);
            }
            r = establish(config) => r,
        };
        match attempt_result {
            Ok(session) => return Ok(Some(session)),
            // A refused handshake will be refused again.
            Err(e @ ListenerError::Handshake(_)) => return Err(e.to_string()),
            Err(e) => {
                tracing::debug!(attempt, error = %e, "reconnect attempt failed");
                last_error = e.to_string();
            }
        }
    }
}

/// Hands an event to the application unless it has gone or asked to stop. Returns whether
/// the listener should go on.
async fn send_event(
    events: &mpsc::Sender<Event>,
    stop: &mut oneshot::Receiver<()>,
    event: Event,
) -> bool {
    tokio::select! {
        sent = events.send(event) => sent.is_ok(),
        _ = stop => false,
    }
}

/// Reads the link until the session ends.
async fn drive(
    config: &Config,
    session: &mut Session,
    events: &mpsc::Sender<Event>,
    stop: &mut oneshot::Receiver<()>,
) -> End {
    let binary = config.protocol.is_binary();
    let ping = config
        .protocol
        .encode(&HubMessage::Ping)
        .unwrap_or_default();
    let mut ping_timer = tokio::time::interval_at(
        Instant::now() + config.keep_alive_interval,
        config.keep_alive_interval,
    );
    // After a wait on a full event queue, one ping is enough.
    ping_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The silence timer is moved only when it fires (to the last time the server was heard):
    // resetting it for every message cost a timer-wheel update per message.
    let mut last_heard = Instant::now();
    let silence = tokio::time::sleep(config.server_timeout);
    tokio::pin!(silence);
    loop {
        // Deliver every message already decoded before waiting for more.
        loop {
            let message = match session.reader.next_message() {
                Ok(Some(message)) => message,
                Ok(None) => break,
                Err(e) => return End::Dropped(format!("unreadable message from the server: {e}")),
            };
            match message {
                HubMessage::Invocation(invocation) => {
                    let event = Event::Invocation {
                        target: invocation.target,
                        arguments: invocation.arguments,
                    };
                    tokio::select! {
                        sent = events.send(event) => if sent.is_err() { return End::Abandoned },
                        _ = &mut *stop => return End::Stopped,
                    }
                }
                HubMessage::Close {
                    error,
                    allow_reconnect: true,
                } => {
                    return End::Dropped(error.unwrap_or_else(|| {
                        "the server closed the connection and allowed reconnecting".into()
                    }))
                }
                HubMessage::Close { error, .. } => return End::Closed(error),
                // Pings only keep the link alive; nothing else is expected by a listener.
                _ => {}
            }
        }
        tokio::select! {
            biased;
            _ = &mut *stop => return End::Stopped,
            chunk = session.link.recv() => match chunk {
                Some(Ok(data)) => {
                    last_heard = Instant::now();
                    if let Err(e) = session.reader.push(&data) {
                        return End::Dropped(format!("unreadable message from the server: {e}"));
                    }
                }
                Some(Err(e)) => return End::Dropped(e),
                None => return End::Dropped("the server ended the connection without a Close message".into()),
            },
            _ = ping_timer.tick() => {
                if let Err(e) = session.link.send(ping.clone(), binary).await {
                    return End::Dropped(e);
                }
            }
            _ = &mut silence => {
                let quiet_until = last_heard + config.server_timeout;
                if quiet_until > Instant::now() {
                    silence.as_mut().reset(quiet_until);
                    continue;
                }
                return End::Dropped(format!(
                    "nothing heard from the server for {:?}",
                    config.server_timeout
                ));
            }
        }
    }
}

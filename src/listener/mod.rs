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

mod error;
mod event;
mod negotiate;
mod session;
mod sse;
mod transport;

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::protocol::HubProtocol;
pub use crate::protocol::TransportType;
use crate::{HubClient, NegotiateOptions, NegotiateResponse, ServiceClient};
pub use error::{
    HandshakeError, ListenerError, NegotiateError, TransportCause, TransportError, TransportStep,
};
pub use event::Event;
use session::{establish, run, Backoff, Config, LinkState, Source};

/// How often the listener pings the server unless told otherwise.
pub const DEFAULT_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// How long the server may stay silent before the link counts as dropped.
pub const DEFAULT_SERVER_TIMEOUT: Duration = Duration::from_secs(30);
/// The first reconnect delay; each failed attempt doubles it.
pub const DEFAULT_RECONNECT_INITIAL_DELAY: Duration = Duration::from_secs(1);
/// The longest reconnect delay.
pub const DEFAULT_RECONNECT_MAX_DELAY: Duration = Duration::from_secs(30);

/// Events waiting for the application; when full the listener stops reading the link.
const EVENT_QUEUE: usize = 1024;

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
                        "give a connection string, a hub client or a negotiate response",
                    ))
                }
                _ => return Err(ListenerError::Config(
                    "give only one of a connection string, a hub client or a negotiate response",
                )),
            };
        if self.transport == Some(TransportType::ServerSentEvents) && self.protocol.is_binary() {
            return Err(ListenerError::Config(
                "MessagePack needs a binary transport; Server-Sent Events carry text only",
            ));
        }
        if self.keep_alive_interval.is_zero() || self.server_timeout.is_zero() {
            return Err(ListenerError::Config(
                "the keep-alive interval and server timeout must be positive",
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

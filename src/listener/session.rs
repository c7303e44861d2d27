//! The listener's work behind the public types: connecting (negotiate, then the first
//! transport that opens, then the handshake), driving a session, and reconnecting with backoff.

use std::time::Duration;

use rand::Rng;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use url::Url;

use super::error::{HandshakeError, ListenerError, TransportCause, TransportError, TransportStep};
use super::event::Event;
use super::negotiate::{self, Negotiated};
use super::transport::Link;
use crate::protocol::{
    HandshakeReader, HandshakeRecord, HandshakeRequest, HandshakeResponse, HubMessage, HubProtocol,
    MessageReader, TransportType,
};
use crate::{HubClient, NegotiateOptions, NegotiateResponse};

/// How long the hub-protocol handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// Where client URLs and tokens come from.
#[derive(Clone, Debug)]
pub(super) enum Source {
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
pub(super) struct Backoff {
    pub(super) initial: Duration,
    pub(super) max: Duration,
    pub(super) max_attempts: Option<u32>,
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
pub(super) struct Config {
    pub(super) source: Source,
    pub(super) protocol: HubProtocol,
    pub(super) transport: Option<TransportType>,
    pub(super) keep_alive_interval: Duration,
    pub(super) server_timeout: Duration,
    pub(super) backoff: Backoff,
    pub(super) http: reqwest::Client,
    /// Whether `http` came from the caller (else the listener may replace it).
    pub(super) http_given: bool,
}

/// What the listener is connected through right now.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct LinkState {
    pub(super) connection_id: String,
    pub(super) transport: TransportType,
}

/// A link after a successful handshake.
pub(super) struct Session {
    link: Link,
    connection_id: String,
    reader: MessageReader,
}

impl Session {
    pub(super) fn state(&self) -> LinkState {
        LinkState {
            connection_id: self.connection_id.clone(),
            transport: self.link.kind(),
        }
    }
}

/// Negotiates and opens the first transport that works, renegotiating after a failed one
/// (a connection token is good for one attempt).
pub(super) async fn establish(config: &Config) -> Result<Session, ListenerError> {
    let access = config.source.access().await?;
    let client_url = Url::parse(&access.url).map_err(ListenerError::ClientUrl)?;
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
            failures.push(TransportError::new(
                kind,
                TransportStep::Connect,
                TransportCause::NotOffered,
            ));
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
                failures.push(e);
                continue;
            }
        };
        let session = handshake(link, config.protocol, current.connection_id).await?;
        // Not the connection id: from a version-0 server it is also the transport's `id=`.
        tracing::debug!(transport = %kind, "listener connected");
        return Ok(session);
    }
    Err(ListenerError::Transport(failures))
}

/// Sends the handshake request and waits for the answer.
async fn handshake(
    mut link: Link,
    protocol: HubProtocol,
    connection_id: String,
) -> Result<Session, ListenerError> {
    link.send(HandshakeRequest::new(protocol).encode(), false)
        .await
        .map_err(HandshakeError::Transport)?;
    let mut handshake = HandshakeReader::new();
    let answer = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        loop {
            match link.recv().await {
                Some(Ok(data)) => {
                    if let Some(done) = handshake.take(&data)? {
                        return Ok::<_, ListenerError>(done);
                    }
                }
                Some(Err(e)) => return Err(HandshakeError::Transport(e).into()),
                None => return Err(HandshakeError::Ended.into()),
            }
        }
    })
    .await
    .map_err(|_| HandshakeError::Timeout(HANDSHAKE_TIMEOUT))??;
    let HandshakeRecord { record, rest } = answer;
    if let Some(error) = HandshakeResponse::parse(&record)?.error {
        link.close().await;
        return Err(HandshakeError::Refused(error).into());
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
pub(super) async fn run(
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
        tracing::info!(%error, "link dropped; reconnecting");
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
                Some(Err(e)) => return End::Dropped(e.to_string()),
                None => return End::Dropped("the server ended the connection without a Close message".into()),
            },
            _ = ping_timer.tick() => {
                if let Err(e) = session.link.send(ping.clone(), binary).await {
                    return End::Dropped(e.to_string());
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

//! The emulator's settings and their defaults.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::entra::EntraTrust;
use super::server;
use super::state::negotiations;
use super::upstream::settings::SharedUpstream;

/// The access key used when none is given (the official emulator's well-known key).
pub const DEFAULT_ACCESS_KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";

/// How long a connection may take to send a request head (and stay idle between requests).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request body may take to arrive in full.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once, WebSockets and streams included.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Bytes of messages that may wait for one client before it is closed as too slow.
pub const DEFAULT_OUTBOUND_BUDGET: usize = 16 * 1024 * 1024;
/// Messages that may wait for one client before it is closed as too slow.
pub const DEFAULT_OUTBOUND_QUEUE: usize = 1024;
/// Negotiations that may wait for their transport at once, per user of a hub.
pub const DEFAULT_NEGOTIATIONS_PER_USER: usize = 1_000;
/// Negotiations that may wait for their transport at once, per hub.
pub const DEFAULT_NEGOTIATIONS_PER_HUB: usize = 10_000;

/// Settings of an emulator, collected by [`EmulatorBuilder`](super::EmulatorBuilder).
#[derive(Clone)]
pub(crate) struct Settings {
    /// The address to listen on.
    pub bind: String,
    /// The key that signs REST and client tokens (a secret: never logged).
    pub access_key: String,
    /// Where client events go; replaceable while running.
    pub upstream: SharedUpstream,
    /// How often each client is pinged.
    pub ping_interval: Duration,
    /// How long a client may stay silent.
    pub client_timeout: Duration,
    /// How long a client may take to send its handshake.
    pub handshake_timeout: Duration,
    /// How long a long poll waits for data before answering empty.
    pub long_poll_timeout: Duration,
    /// Messages that may wait for one client.
    pub outbound_queue: usize,
    /// Bytes that may wait for one client.
    pub outbound_budget: usize,
    /// Deliveries the inspection record keeps (0: none).
    pub delivery_record: usize,
    /// The largest hub message a client may send.
    pub max_message_size: usize,
    /// Timeouts and caps of the HTTP server.
    pub http_limits: server::HttpLimits,
    /// Pending negotiations allowed per user and per hub.
    pub negotiation_limits: negotiations::NegotiationLimits,
    /// The Entra ID issuer trusted for REST calls and signing-key requests, if any.
    pub entra: Option<Arc<EntraTrust>>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
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

impl Default for Settings {
    /// `127.0.0.1:8888`, the well-known access key, no upstream, pings every 15 s, clients
    /// dropped after 30 s of silence.
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8888".into(),
            access_key: DEFAULT_ACCESS_KEY.into(),
            upstream: Default::default(),
            ping_interval: Duration::from_secs(15),
            client_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(15),
            long_poll_timeout: Duration::from_secs(90),
            outbound_queue: DEFAULT_OUTBOUND_QUEUE,
            outbound_budget: DEFAULT_OUTBOUND_BUDGET,
            delivery_record: 10_000,
            max_message_size: crate::protocol::DEFAULT_MAX_MESSAGE_SIZE,
            http_limits: server::HttpLimits {
                header_timeout: DEFAULT_HEADER_TIMEOUT,
                body_timeout: DEFAULT_BODY_TIMEOUT,
                // Set at start from the message size (see `start`).
                max_body: 0,
                max_connections: DEFAULT_MAX_CONNECTIONS,
            },
            negotiation_limits: negotiations::NegotiationLimits {
                per_user: DEFAULT_NEGOTIATIONS_PER_USER,
                per_hub: DEFAULT_NEGOTIATIONS_PER_HUB,
            },
            entra: None,
        }
    }
}

//! The transports of the SignalR protocol, one name shared by the emulator (which serves them)
//! and the listener (which connects over them).

use std::fmt;
use std::str::FromStr;

/// A SignalR transport, named as negotiate names it (ASP.NET Core's `HttpTransportType`).
///
/// ```
/// use azure_signalr_rest::protocol::TransportType;
///
/// let t: TransportType = "ServerSentEvents".parse().unwrap();
/// assert_eq!(t, TransportType::ServerSentEvents);
/// assert!(!t.is_binary());
/// assert!("Carrier pigeon".parse::<TransportType>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportType {
    /// WebSockets (text or binary frames) both ways.
    WebSockets,
    /// Server-Sent Events to the client, HTTP POST from it (text only).
    ServerSentEvents,
    /// HTTP long polls to the client, HTTP POST from it, DELETE to close.
    LongPolling,
}

impl TransportType {
    /// Every transport, in the order a client tries them.
    pub const ALL: [TransportType; 3] = [
        TransportType::WebSockets,
        TransportType::ServerSentEvents,
        TransportType::LongPolling,
    ];

    /// The name negotiate uses (`WebSockets`, `ServerSentEvents`, `LongPolling`).
    pub fn name(self) -> &'static str {
        match self {
            TransportType::WebSockets => "WebSockets",
            TransportType::ServerSentEvents => "ServerSentEvents",
            TransportType::LongPolling => "LongPolling",
        }
    }

    /// Whether the transport carries binary data (needed by MessagePack).
    pub fn is_binary(self) -> bool {
        !matches!(self, TransportType::ServerSentEvents)
    }
}

impl fmt::Display for TransportType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a [`TransportType`] from a name negotiate does not use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown transport '{0}' (expected WebSockets, ServerSentEvents or LongPolling)")]
pub struct UnknownTransport(pub String);

impl FromStr for TransportType {
    type Err = UnknownTransport;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TransportType::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| UnknownTransport(s.to_string()))
    }
}

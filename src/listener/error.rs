//! Why a [`Listener`](super::Listener) could not connect, as values a caller can match on:
//! negotiate's status and the server's error, each transport's failure, the handshake's.
//!
//! No variant holds a token or a transport URL (it carries the connection token): HTTP errors
//! are kept without their URL and library texts are scrubbed before they are stored.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;

use crate::protocol::{ProtocolError, TransportType};

/// Errors connecting a [`Listener`](super::Listener).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenerError {
    /// The client layer could not produce a client URL and token (bad connection string, bad
    /// hub name, no access key...).
    #[error(transparent)]
    Client(#[from] crate::Error),
    /// The listener was configured inconsistently.
    #[error("invalid listener configuration: {0}")]
    Config(&'static str),
    /// The client URL (from the client layer or a negotiate response) is not a URL.
    #[error("invalid client URL: {0}")]
    ClientUrl(#[source] url::ParseError),
    /// Negotiate failed.
    #[error("negotiate failed: {0}")]
    Negotiate(#[from] NegotiateError),
    /// No transport could be opened: why each one tried failed, in the order tried.
    #[error("no transport could connect: {}", list(.0))]
    Transport(Vec<TransportError>),
    /// The hub-protocol handshake failed.
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The server sent something the hub-protocol codec cannot read.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
}

fn list(errors: &[TransportError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why `POST <client url>/negotiate` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NegotiateError {
    /// The request could not be made or its answer not read (the error has no URL).
    #[error("{0}")]
    Request(#[source] reqwest::Error),
    /// The server answered with an error status.
    #[error("{}", status_text(*.status, .detail))]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// The `error` of a JSON body, else the start of the body (may be empty).
        detail: String,
    },
    /// The answer is not a negotiate response.
    #[error("invalid response: {0}")]
    InvalidResponse(#[source] reqwest::Error),
    /// The server answered 200 with an `error` (the SignalR way to refuse a connection).
    #[error("{0}")]
    Refused(String),
    /// A redirect named something that is not a URL.
    #[error("redirect to an invalid URL: {0}")]
    InvalidRedirect(#[source] url::ParseError),
    /// The response has neither a redirect nor a `connectionId`.
    #[error("the response has no connectionId")]
    MissingConnectionId,
    /// Redirects went on past the limit the official clients keep.
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
}

/// What went wrong with one transport, and in which step.
#[derive(Debug, thiserror::Error)]
#[error("{transport} {step} failed: {cause}")]
#[non_exhaustive]
pub struct TransportError {
    /// The transport.
    pub transport: TransportType,
    /// Opening it, sending on it or receiving from it.
    pub step: TransportStep,
    /// What happened.
    pub cause: TransportCause,
}

impl TransportError {
    pub(crate) fn new(
        transport: TransportType,
        step: TransportStep,
        cause: TransportCause,
    ) -> Self {
        TransportError {
            transport,
            step,
            cause,
        }
    }
}

/// A step of a transport's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportStep {
    /// Opening it (a WebSocket upgrade, the event stream, the first poll).
    Connect,
    /// Sending (a frame, or an HTTP POST).
    Send,
    /// Receiving (a frame, an event, a poll).
    Receive,
}

impl fmt::Display for TransportStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportStep::Connect => "connect",
            TransportStep::Send => "send",
            TransportStep::Receive => "receive",
        })
    }
}

/// What happened to a transport.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportCause {
    /// The negotiate response did not offer it (or not with binary frames when needed).
    #[error("not offered by the server")]
    NotOffered,
    /// It did not open in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The server answered with an error status.
    #[error("{}", status_text(*.status, .detail))]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// The `error` of a JSON body, else the start of the body (may be empty).
        detail: String,
    },
    /// An HTTP request (SSE, Long Polling) failed (the error has no URL).
    #[error("{0}")]
    Http(#[source] reqwest::Error),
    /// The WebSocket library failed; its text, with any token removed.
    #[error("{0}")]
    WebSocket(String),
    /// The server ended the transport.
    #[error("the server ended the connection")]
    Ended,
    /// A Server-Sent Event larger than the hub protocol allows.
    #[error("a Server-Sent Event exceeds the size limit")]
    EventTooLarge,
    /// Something this side cannot send (a text record that is not UTF-8, a token that is not a
    /// header value, a URL that cannot become a WebSocket URL).
    #[error("{0}")]
    Unusable(&'static str),
}

/// Why the hub-protocol handshake failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Sending the request or receiving the answer failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The server ended the connection before answering.
    #[error("the server ended the connection")]
    Ended,
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The server refused it; its error.
    #[error("{0}")]
    Refused(String),
}

fn status_text(status: StatusCode, detail: &str) -> String {
    if detail.trim().is_empty() {
        status.to_string()
    } else {
        format!("{status}: {}", detail.trim())
    }
}

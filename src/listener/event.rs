//! What a [`Listener`](super::Listener) yields.

use serde_json::Value;

/// What a [`Listener`](super::Listener) yields.
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
    /// [`Listener::close`](super::Listener::close), else the server's Close error or why reconnecting gave up.
    Closed {
        /// Why it ended, when it was not asked to.
        error: Option<String>,
    },
}

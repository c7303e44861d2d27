//! What is sent to connections: a message encoded once per protocol, and each live
//! connection's handle (its bounded outbound queue, its byte budget and its close signal).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::emulator::inspect::{ConnectionInfo, Cutoff};
use crate::protocol::{HubMessage, HubProtocol, Invocation};

/// A message to fan out: encoded at most once per protocol, however many receive it, and
/// shared (not copied) by the delivery record.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub target: String,
    pub arguments: Arc<Vec<Value>>,
    json: OnceLock<Option<Bytes>>,
    msgpack: OnceLock<Option<Bytes>>,
    /// Entries of the delivery record that hold this message.
    pub(super) recorded: AtomicUsize,
}

impl Outgoing {
    pub(crate) fn new(target: String, arguments: Vec<Value>) -> Arc<Self> {
        Arc::new(Outgoing {
            target,
            arguments: Arc::new(arguments),
            json: OnceLock::new(),
            msgpack: OnceLock::new(),
            recorded: AtomicUsize::new(0),
        })
    }

    /// A message whose records arrived already encoded (a binary REST send): each protocol's
    /// clients get exactly these bytes, and none for a protocol left out. `target` and
    /// `arguments` only describe it in the delivery record.
    pub(crate) fn pre_encoded(
        target: String,
        arguments: Vec<Value>,
        json: Option<Bytes>,
        msgpack: Option<Bytes>,
    ) -> Arc<Self> {
        Arc::new(Outgoing {
            target,
            arguments: Arc::new(arguments),
            json: OnceLock::from(json),
            msgpack: OnceLock::from(msgpack),
            recorded: AtomicUsize::new(0),
        })
    }

    /// The encoded record, `None` if the message cannot be encoded in this protocol.
    pub(crate) fn bytes(&self, protocol: HubProtocol) -> Option<Bytes> {
        let cell = match protocol {
            HubProtocol::Json => &self.json,
            HubProtocol::MessagePack => &self.msgpack,
        };
        cell.get_or_init(|| {
            let invocation = Invocation::new(self.target.clone(), (*self.arguments).clone());
            protocol
                .encode(&HubMessage::Invocation(invocation))
                .ok()
                .map(Bytes::from)
        })
        .clone()
    }

    /// Approximate memory held by the message (its JSON size, else its MessagePack size).
    pub(super) fn size(&self) -> usize {
        self.bytes(HubProtocol::Json)
            .or_else(|| self.bytes(HubProtocol::MessagePack))
            .map_or(0, |b| b.len())
    }
}

/// Why and how a connection is to be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseRequest {
    /// The error carried by the Close message (`None`: a normal close).
    pub error: Option<String>,
    /// Whether the client can write at all (false for a client that stopped reading).
    pub graceful: bool,
    /// The client fell behind its outbound budget: what is queued is dropped, not sent, and
    /// a WebSocket ends with status 1008 and the error as its reason.
    pub overflow: bool,
}

/// The emulator's handle on one live connection.
#[derive(Debug)]
pub(crate) struct ConnHandle {
    pub info: ConnectionInfo,
    queue: mpsc::Sender<Arc<Outgoing>>,
    close: watch::Sender<Option<CloseRequest>>,
    /// Encoded bytes queued or being written, counted against `budget`.
    queued_bytes: AtomicUsize,
    budget: usize,
}

impl ConnHandle {
    pub(crate) fn new(
        info: ConnectionInfo,
        queue: mpsc::Sender<Arc<Outgoing>>,
        close: watch::Sender<Option<CloseRequest>>,
        budget: usize,
    ) -> Self {
        ConnHandle {
            info,
            queue,
            close,
            queued_bytes: AtomicUsize::new(0),
            budget,
        }
    }

    /// Queues a message; a client past its budget (bytes or count) is closed and told why.
    /// Returns the cut-off when this call closed it.
    pub(super) fn deliver(&self, message: &Arc<Outgoing>) -> Option<Cutoff> {
        let size = message.bytes(self.info.protocol).map_or(0, |b| b.len());
        let before = self.queued_bytes.fetch_add(size, Ordering::Relaxed);
        // One message is always let in, so a budget below the message size still delivers.
        let error = if before > 0 && before + size > self.budget {
            format!(
                "Connection closed: the client fell behind by more than {} bytes of messages",
                self.budget
            )
        } else {
            match self.queue.try_send(message.clone()) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => return None,
                Err(mpsc::error::TrySendError::Full(_)) => format!(
                    "Connection closed: the client fell behind by more than {} messages",
                    self.queue.max_capacity()
                ),
            }
        };
        self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
        let first = self.request_close(CloseRequest {
            error: Some(error.clone()),
            graceful: true,
            overflow: true,
        });
        first.then(|| Cutoff {
            hub: self.info.hub.clone(),
            connection_id: self.info.connection_id.clone(),
            user_id: self.info.user_id.clone(),
            queued_bytes: before,
            reason: error,
            at: SystemTime::now(),
        })
    }

    /// Takes written messages' bytes off the budget.
    pub(crate) fn written(&self, bytes: usize) {
        self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Asks the connection's session to close; the first request wins (true for it).
    pub(crate) fn request_close(&self, request: CloseRequest) -> bool {
        self.close.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(request);
                true
            } else {
                false
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_message_is_encoded_once_per_protocol() {
        let message = Outgoing::new("t".into(), vec![json!({"big": "x".repeat(1000)})]);
        let a = message.bytes(HubProtocol::Json).unwrap();
        let b = message.bytes(HubProtocol::Json).unwrap();
        // Same buffer, not an equal copy: the second receiver reused the first encoding.
        assert_eq!(a.as_ptr(), b.as_ptr());
        let c = message.bytes(HubProtocol::MessagePack).unwrap();
        let d = message.bytes(HubProtocol::MessagePack).unwrap();
        assert_eq!(c.as_ptr(), d.as_ptr());
        assert_ne!(a, c);
    }
}

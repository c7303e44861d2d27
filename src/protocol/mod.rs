//! The SignalR hub-protocol codec (JSON and MessagePack).
//!
//! Shared by the emulator (which writes to clients) and the listener (which reads as a
//! client). Decoding is written for untrusted input: sizes are bounded, nesting is bounded
//! and every malformed record becomes a [`ProtocolError`] instead of a panic.
//!
//! ```
//! use azure_signalr_rest::protocol::{HubMessage, HubProtocol, Invocation};
//!
//! let message = HubMessage::Invocation(Invocation::new("greet", vec!["hi".into()]));
//! let bytes = HubProtocol::Json.encode(&message).unwrap();
//! assert_eq!(bytes, b"{\"type\":1,\"target\":\"greet\",\"arguments\":[\"hi\"]}\x1e");
//!
//! let mut reader = HubProtocol::Json.reader();
//! reader.push(&bytes).unwrap();
//! assert_eq!(reader.next_message().unwrap(), Some(message));
//! ```

mod handshake;
mod json;
mod msgpack;
mod transport;

use std::collections::BTreeMap;

pub use handshake::{HandshakeReader, HandshakeRecord, HandshakeRequest, HandshakeResponse};
pub use transport::{TransportType, UnknownTransport};

use serde_json::Value;

/// The record separator that ends every JSON record (handshake and JSON hub messages).
pub const RECORD_SEPARATOR: u8 = 0x1e;

/// The largest record a [`MessageReader`] accepts unless told otherwise (1 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1024 * 1024;

/// How deep arrays and maps may nest inside a decoded message.
const MAX_NESTING: usize = 64;

/// Errors from encoding or decoding hub-protocol records.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    /// A record grew past the configured limit before it ended.
    #[error("message of at least {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Bytes seen so far (or announced by a length prefix).
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The record is not valid JSON / MessagePack, or its shape is not a hub message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The record is well formed but names a message type this codec does not know.
    #[error("unknown message type {0}")]
    UnknownType(i64),
    /// A value cannot be represented in the target protocol.
    #[error("cannot encode message: {0}")]
    Unencodable(String),
}

impl ProtocolError {
    fn malformed(what: impl Into<String>) -> Self {
        ProtocolError::Malformed(what.into())
    }
}

/// The hub protocols spoken over a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HubProtocol {
    /// `json`: UTF-8 JSON records ending with 0x1E.
    Json,
    /// `messagepack`: varint length prefix followed by a MessagePack array.
    MessagePack,
}

impl HubProtocol {
    /// The name used in the handshake (`json` or `messagepack`).
    pub fn name(self) -> &'static str {
        match self {
            HubProtocol::Json => "json",
            HubProtocol::MessagePack => "messagepack",
        }
    }

    /// Parses a handshake protocol name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("json") {
            Some(HubProtocol::Json)
        } else if name.eq_ignore_ascii_case("messagepack") {
            Some(HubProtocol::MessagePack)
        } else {
            None
        }
    }

    /// Whether records of this protocol are binary (and so need binary transport frames).
    pub fn is_binary(self) -> bool {
        matches!(self, HubProtocol::MessagePack)
    }

    /// Encodes one message as a complete record (separator or length prefix included).
    pub fn encode(self, message: &HubMessage) -> Result<Vec<u8>, ProtocolError> {
        match self {
            HubProtocol::Json => json::encode(message),
            HubProtocol::MessagePack => msgpack::encode(message),
        }
    }

    /// Decodes every complete record in `data`, which must hold whole records only.
    pub fn decode_all(self, data: &[u8]) -> Result<Vec<HubMessage>, ProtocolError> {
        let mut reader = self.reader();
        reader.push(data)?;
        let mut messages = Vec::new();
        while let Some(message) = reader.next_message()? {
            messages.push(message);
        }
        if reader.buffered() > 0 {
            return Err(ProtocolError::malformed("incomplete record at end of data"));
        }
        Ok(messages)
    }

    /// A reader for a stream of records that may arrive split or batched.
    pub fn reader(self) -> MessageReader {
        MessageReader::new(self, DEFAULT_MAX_MESSAGE_SIZE)
    }
}

/// Headers carried by invocation-like messages (MessagePack and JSON both allow them).
pub type Headers = BTreeMap<String, String>;

/// An `Invocation` (type 1) or `StreamInvocation` (type 4).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Invocation {
    /// Set when the caller expects a completion.
    pub invocation_id: Option<String>,
    /// The method to call on the receiving side.
    pub target: String,
    /// The arguments, in order.
    pub arguments: Vec<Value>,
    /// Ids of streams the caller will send as arguments.
    pub stream_ids: Vec<String>,
    /// Message headers.
    pub headers: Headers,
}

impl Invocation {
    /// A non-blocking invocation of `target` with `arguments`.
    pub fn new(target: impl Into<String>, arguments: Vec<Value>) -> Self {
        Invocation {
            target: target.into(),
            arguments,
            ..Invocation::default()
        }
    }
}

/// What a `Completion` reports.
#[derive(Debug, Clone, PartialEq)]
pub enum CompletionResult {
    /// The invocation finished without a value.
    Void,
    /// The invocation returned this value.
    Value(Value),
    /// The invocation failed with this message.
    Error(String),
}

/// One SignalR hub-protocol message.
#[derive(Debug, Clone, PartialEq)]
pub enum HubMessage {
    /// Type 1: call a method.
    Invocation(Invocation),
    /// Type 2: one item of a stream.
    StreamItem {
        /// The stream's invocation id.
        invocation_id: String,
        /// The item.
        item: Value,
        /// Message headers.
        headers: Headers,
    },
    /// Type 3: the end of an invocation or stream.
    Completion {
        /// The invocation being completed.
        invocation_id: String,
        /// Its outcome.
        result: CompletionResult,
        /// Message headers.
        headers: Headers,
    },
    /// Type 4: call a streaming method.
    StreamInvocation(Invocation),
    /// Type 5: cancel a stream.
    CancelInvocation {
        /// The stream to cancel.
        invocation_id: String,
        /// Message headers.
        headers: Headers,
    },
    /// Type 6: keep-alive.
    Ping,
    /// Type 7: the sender is closing the connection.
    Close {
        /// Why, when it is an error.
        error: Option<String>,
        /// Whether the client may reconnect.
        allow_reconnect: bool,
    },
    /// Type 8: acknowledges messages up to `sequence_id` (stateful reconnect).
    Ack {
        /// The last sequence id received.
        sequence_id: u64,
    },
    /// Type 9: the sequence id of the next message (stateful reconnect).
    Sequence {
        /// The next sequence id.
        sequence_id: u64,
    },
}

impl HubMessage {
    /// The numeric message type of the protocol.
    pub fn type_id(&self) -> u8 {
        match self {
            HubMessage::Invocation(_) => 1,
            HubMessage::StreamItem { .. } => 2,
            HubMessage::Completion { .. } => 3,
            HubMessage::StreamInvocation(_) => 4,
            HubMessage::CancelInvocation { .. } => 5,
            HubMessage::Ping => 6,
            HubMessage::Close { .. } => 7,
            HubMessage::Ack { .. } => 8,
            HubMessage::Sequence { .. } => 9,
        }
    }
}

/// Splits a byte stream into hub messages of one protocol.
///
/// Push bytes as they arrive with [`push`](Self::push), then call
/// [`next_message`](Self::next_message) until it returns `Ok(None)`. A record longer than the
/// limit is refused as soon as that is known, without buffering it whole. Work is linear in
/// the bytes received, however they are split or batched.
#[derive(Debug)]
pub struct MessageReader {
    protocol: HubProtocol,
    max_message_size: usize,
    buffer: Vec<u8>,
    /// Bytes before `start` have been decoded already.
    start: usize,
    /// JSON only: bytes at the end of the buffer after the last separator.
    unterminated: usize,
}

impl MessageReader {
    /// A reader refusing records larger than `max_message_size` bytes.
    pub fn new(protocol: HubProtocol, max_message_size: usize) -> Self {
        MessageReader {
            protocol,
            max_message_size,
            buffer: Vec::new(),
            start: 0,
            unterminated: 0,
        }
    }

    /// Bytes received but not yet returned as messages.
    pub fn buffered(&self) -> usize {
        self.buffer.len() - self.start
    }

    fn reset(&mut self) {
        self.buffer.clear();
        self.start = 0;
        self.unterminated = 0;
    }

    /// Appends received bytes. Fails when the incomplete record at the end grows past the limit.
    pub fn push(&mut self, data: &[u8]) -> Result<(), ProtocolError> {
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        let pending = match self.protocol {
            // Only the bytes after the last separator are an unfinished record; scanning just
            // the new bytes keeps this linear.
            HubProtocol::Json => match data.iter().rposition(|&b| b == RECORD_SEPARATOR) {
                Some(pos) => data.len() - pos - 1,
                None => self.unterminated + data.len(),
            },
            // A length prefix is checked by `next_message` as soon as it is complete.
            HubProtocol::MessagePack => 0,
        };
        if self.protocol == HubProtocol::Json && pending > self.max_message_size {
            self.reset();
            return Err(ProtocolError::TooLarge {
                size: pending,
                limit: self.max_message_size,
            });
        }
        self.unterminated = pending;
        self.buffer.extend_from_slice(data);
        Ok(())
    }

    /// The next complete message, `Ok(None)` when more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<HubMessage>, ProtocolError> {
        Ok(self.take(false)?.map(|(message, _)| message))
    }

    /// Like [`next_message`](Self::next_message), with the message's bytes exactly as
    /// received, without framing (no record separator, no length prefix): what a
    /// serverless upstream is sent.
    ///
    /// ```
    /// use azure_signalr_rest::protocol::HubProtocol;
    ///
    /// let mut reader = HubProtocol::Json.reader();
    /// reader.push(b"{ \"type\":6 }\x1e").unwrap();
    /// let (_, payload) = reader.next_message_with_payload().unwrap().unwrap();
    /// assert_eq!(payload, b"{ \"type\":6 }");
    /// ```
    pub fn next_message_with_payload(
        &mut self,
    ) -> Result<Option<(HubMessage, Vec<u8>)>, ProtocolError> {
        self.take(true)
    }

    /// The next message, with its unframed bytes when `keep_payload` (else an empty vector).
    fn take(&mut self, keep_payload: bool) -> Result<Option<(HubMessage, Vec<u8>)>, ProtocolError> {
        let data = &self.buffer[self.start..];
        if self.protocol == HubProtocol::Json && self.unterminated >= data.len() {
            return Ok(None); // no separator left in the buffer
        }
        let result = match self.protocol {
            HubProtocol::Json => json::take_record(data, self.max_message_size),
            HubProtocol::MessagePack => msgpack::take_record(data, self.max_message_size),
        };
        match result {
            Ok(Some((message, used))) => {
                let payload = if keep_payload {
                    let record = &data[..used];
                    match self.protocol {
                        HubProtocol::Json => record[..used - 1].to_vec(),
                        HubProtocol::MessagePack => msgpack::record_body(record).to_vec(),
                    }
                } else {
                    Vec::new()
                };
                self.start += used;
                if self.start == self.buffer.len() {
                    self.buffer.clear();
                    self.start = 0;
                }
                Ok(Some((message, payload)))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                // The stream cannot be resynchronised after a bad record.
                self.reset();
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests;

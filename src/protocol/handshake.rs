//! The handshake that opens every hub connection: a JSON record ending with 0x1E, whatever
//! hub protocol follows.

use serde::{Deserialize, Serialize};

use super::{HubProtocol, ProtocolError, RECORD_SEPARATOR};

/// The largest handshake record accepted; real ones are a few dozen bytes.
const MAX_HANDSHAKE_SIZE: usize = 4096;

/// The client's first record: `{"protocol":"json","version":1}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeRequest {
    /// `json` or `messagepack`.
    pub protocol: String,
    /// The protocol version (1).
    pub version: u32,
}

impl HandshakeRequest {
    /// A request for `protocol` version 1.
    pub fn new(protocol: HubProtocol) -> Self {
        HandshakeRequest {
            protocol: protocol.name().to_string(),
            version: 1,
        }
    }

    /// The record to send: JSON followed by 0x1E.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising two plain fields cannot fail.
        let mut out = serde_json::to_vec(self).unwrap_or_default();
        out.push(RECORD_SEPARATOR);
        out
    }

    /// Parses one record (without the separator).
    pub fn parse(record: &[u8]) -> Result<Self, ProtocolError> {
        serde_json::from_slice(record)
            .map_err(|e| ProtocolError::Malformed(format!("invalid handshake request: {e}")))
    }

    /// The requested protocol when it is one this codec speaks.
    pub fn hub_protocol(&self) -> Option<HubProtocol> {
        HubProtocol::from_name(&self.protocol)
    }
}

/// The server's answer: `{}` on success, `{"error":"..."}` otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HandshakeResponse {
    /// Why the handshake failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl HandshakeResponse {
    /// The success answer, `{}`.
    pub fn ok() -> Self {
        HandshakeResponse { error: None }
    }

    /// A failure answer carrying `error`.
    pub fn error(error: impl Into<String>) -> Self {
        HandshakeResponse {
            error: Some(error.into()),
        }
    }

    /// The record to send: JSON followed by 0x1E.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).unwrap_or_default();
        out.push(RECORD_SEPARATOR);
        out
    }

    /// Parses one record (without the separator).
    pub fn parse(record: &[u8]) -> Result<Self, ProtocolError> {
        serde_json::from_slice(record)
            .map_err(|e| ProtocolError::Malformed(format!("invalid handshake response: {e}")))
    }
}

/// A complete handshake record and the bytes that followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRecord {
    /// The record without its separator.
    pub record: Vec<u8>,
    /// Bytes after the separator: the start of the hub-protocol stream.
    pub rest: Vec<u8>,
}

/// Collects bytes until a handshake record is complete.
///
/// The bytes after the separator already belong to the hub protocol; [`take`](Self::take)
/// hands them back.
#[derive(Debug, Default)]
pub struct HandshakeReader {
    buffer: Vec<u8>,
}

impl HandshakeReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes; once the separator has arrived, returns the record and what followed.
    pub fn take(&mut self, data: &[u8]) -> Result<Option<HandshakeRecord>, ProtocolError> {
        self.buffer.extend_from_slice(data);
        match self.buffer.iter().position(|&b| b == RECORD_SEPARATOR) {
            Some(pos) if pos <= MAX_HANDSHAKE_SIZE => {
                let rest = self.buffer.split_off(pos + 1);
                let mut record = std::mem::take(&mut self.buffer);
                record.truncate(pos);
                Ok(Some(HandshakeRecord { record, rest }))
            }
            Some(pos) => Err(ProtocolError::TooLarge {
                size: pos,
                limit: MAX_HANDSHAKE_SIZE,
            }),
            None if self.buffer.len() > MAX_HANDSHAKE_SIZE => Err(ProtocolError::TooLarge {
                size: self.buffer.len(),
                limit: MAX_HANDSHAKE_SIZE,
            }),
            None => Ok(None),
        }
    }
}

//! What a test sees when it looks inside a running emulator: connections, hub snapshots,
//! deliveries and slow-consumer cut-offs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;

use crate::protocol::TransportType;

/// One message handed to one client's transport.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The hub (lower-cased, application-prefixed when an application was given).
    pub hub: String,
    /// The receiving connection.
    pub connection_id: String,
    /// The user of the receiving connection, if its token named one.
    pub user_id: Option<String>,
    /// The invoked client method.
    pub target: String,
    /// The arguments (shared with every other receiver of the same message).
    pub arguments: Arc<Vec<Value>>,
    /// When it was written to the transport.
    pub at: SystemTime,
}

/// A client closed for falling behind its outbound budget (see
/// [`EmulatorBuilder::outbound_budget`](super::EmulatorBuilder::outbound_budget)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cutoff {
    /// The hub (lower-cased).
    pub hub: String,
    /// The connection closed.
    pub connection_id: String,
    /// Its user, if any.
    pub user_id: Option<String>,
    /// Encoded bytes that were waiting for it.
    pub queued_bytes: usize,
    /// The error sent in its Close message.
    pub reason: String,
    /// When it was cut off.
    pub at: SystemTime,
}

/// One client connection as seen by [`EmulatorHandle::hub`](super::EmulatorHandle::hub).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The connection id REST calls name.
    pub connection_id: String,
    /// The hub it belongs to.
    pub hub: String,
    /// The user, if its token named one.
    pub user_id: Option<String>,
    /// The transport it uses.
    pub transport: TransportType,
    /// `json` or `messagepack`.
    pub protocol: crate::protocol::HubProtocol,
}

/// A hub's state at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubSnapshot {
    /// Connected clients, ordered by id.
    pub connections: Vec<ConnectionInfo>,
    /// Each user with at least one connection, and its connection ids.
    pub users: BTreeMap<String, Vec<String>>,
    /// Each group with at least one member connection (directly or through its user), and
    /// those connection ids.
    pub groups: BTreeMap<String, Vec<String>>,
}

//! The HTTP side of SSE and Long Polling connections, found by connection token: each client
//! request (a poll, a POST of messages, a DELETE) looks its connection up here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::protocol::TransportType;

/// Milliseconds-since-start clock shared by a session and its HTTP requests.
#[derive(Debug)]
pub(crate) struct Activity {
    origin: Instant,
    last_ms: AtomicU64,
    /// A long poll is waiting: the client is there even though it sends nothing.
    pub polling: AtomicBool,
}

impl Activity {
    pub(crate) fn new() -> Self {
        Activity {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            polling: AtomicBool::new(false),
        }
    }

    pub(crate) fn touch(&self) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    pub(crate) fn idle(&self) -> Duration {
        if self.polling.load(Ordering::Relaxed) {
            return Duration::ZERO;
        }
        let now = self.origin.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// The HTTP side of an SSE or Long Polling connection.
#[derive(Debug)]
pub(crate) struct HttpConn {
    /// SSE or Long Polling.
    pub transport: TransportType,
    /// The hub it negotiated for (lower-cased).
    pub hub: String,
    /// The user that negotiated it: only that user's requests may use it.
    pub user_id: Option<String>,
    /// Where the client's POSTed bytes go; taken (dropped) when the client says it is leaving.
    pub inbound: Mutex<Option<mpsc::Sender<Bytes>>>,
    /// Long Polling: the records waiting for the next poll.
    pub poll: Option<tokio::sync::Mutex<mpsc::Receiver<Bytes>>>,
    /// When the client was last heard from.
    pub activity: Arc<Activity>,
}

impl HttpConn {
    /// The sender of the client's bytes, unless the client has left.
    pub(crate) fn inbound(&self) -> Option<mpsc::Sender<Bytes>> {
        self.inbound
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Tells the session the client has left (its inbound channel closes).
    pub(crate) fn leave(&self) {
        self.inbound
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}

/// HTTP-transport connections by connection token.
#[derive(Debug, Default)]
pub(super) struct HttpConns(HashMap<String, Arc<HttpConn>>);

impl HttpConns {
    pub(super) fn get(&self, token: &str) -> Option<Arc<HttpConn>> {
        self.0.get(token).cloned()
    }

    pub(super) fn insert(&mut self, token: String, conn: Arc<HttpConn>) {
        self.0.insert(token, conn);
    }

    pub(super) fn remove(&mut self, token: &str) {
        self.0.remove(token);
    }
}

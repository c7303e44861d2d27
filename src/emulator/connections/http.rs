//! What SSE and Long Polling share: the HTTP side of a connection, registered by token, its
//! session task, and the client's POST and DELETE requests.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::emulator::state::{Activity, HttpConn, Inner, PendingConnection};
use crate::emulator::upstream::ClientContext;
use crate::protocol::TransportType;

use super::request::json_error;
use super::session::run_session;
use super::wire::{Inbound, Wire};

/// Frames from an HTTP-transport client waiting for the session.
const INBOUND_QUEUE: usize = 16;
/// Records waiting for an SSE stream or a long poll to take them.
pub(super) const WIRE_QUEUE: usize = 64;

/// Registers the HTTP side of a new SSE / Long Polling connection under its token.
fn new_http_conn(
    inner: &Inner,
    token: &str,
    transport: TransportType,
    negotiated: &PendingConnection,
    poll: Option<mpsc::Receiver<Bytes>>,
) -> (Arc<HttpConn>, mpsc::Receiver<Bytes>) {
    let (in_tx, in_rx) = mpsc::channel(INBOUND_QUEUE);
    let activity = Arc::new(Activity::new());
    activity.touch();
    let conn = Arc::new(HttpConn {
        transport,
        hub: negotiated.hub.clone(),
        user_id: negotiated.user_id.clone(),
        inbound: Mutex::new(Some(in_tx)),
        poll: poll.map(tokio::sync::Mutex::new),
        activity,
    });
    inner.add_http_conn(token.to_string(), conn.clone());
    (conn, in_rx)
}

/// A client let in: its negotiation and what the upstream is to learn about it.
pub(super) struct Accepted {
    pub negotiated: PendingConnection,
    pub context: ClientContext,
}

/// Registers an SSE / Long Polling connection and runs its session in a task of its own.
/// After the session, its HTTP side stays registered for `linger` (Long Polling's last poll
/// collects what remains and sees 204).
pub(super) fn spawn_http_session(
    inner: Arc<Inner>,
    token: String,
    client: Accepted,
    transport: TransportType,
    wire: Wire,
    poll: Option<mpsc::Receiver<Bytes>>,
    linger: Duration,
) {
    let (conn, in_rx) = new_http_conn(&inner, &token, transport, &client.negotiated, poll);
    let activity = conn.activity.clone();
    tokio::spawn(async move {
        run_session(
            inner.clone(),
            client.negotiated,
            client.context,
            transport,
            wire,
            Inbound::Http(in_rx),
            activity,
        )
        .await;
        if !linger.is_zero() {
            tokio::time::sleep(linger).await;
        }
        inner.remove_http_conn(&token);
    });
}

/// `POST /client/?id=...`: bytes from the client, handed to its session.
pub(super) async fn post(inner: &Inner, conn: &HttpConn, body: Body) -> Response {
    let limit = inner.config.max_message_size + 4096;
    let data = match axum::body::to_bytes(body, limit).await {
        Ok(d) => d,
        Err(_) => return json_error(StatusCode::PAYLOAD_TOO_LARGE, "message too large"),
    };
    conn.activity.touch();
    match conn.inbound() {
        Some(tx) if tx.send(data).await.is_ok() => StatusCode::OK.into_response(),
        _ => json_error(StatusCode::NOT_FOUND, "connection has ended"),
    }
}

/// `DELETE /client/?id=...`: the client is leaving.
pub(super) fn delete(conn: &HttpConn) -> Response {
    // Dropping the inbound sender tells the session the client has left.
    conn.leave();
    StatusCode::ACCEPTED.into_response()
}

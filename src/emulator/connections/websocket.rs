//! WebSockets: the upgrade, with small per-connection buffers, and the session over the socket.

use std::sync::Arc;

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::emulator::state::{Activity, Inner, PendingConnection};
use crate::emulator::upstream::ClientContext;
use crate::protocol::TransportType;

use super::session::run_session;
use super::wire::{Inbound, Wire};

/// WebSocket read buffer per connection, allocated up front (it grows for bigger messages):
/// small, so that thousands of idle clients cost little memory. Clients send little (a
/// handshake, pings), so reading it in 1 KiB steps costs nothing measurable.
const WS_READ_BUFFER: usize = 1024;
/// Bytes of outgoing frames gathered before a socket write (the buffer grows on demand).
const WS_WRITE_BUFFER: usize = 16 * 1024;

/// Upgrades the request and runs the session on the socket.
pub(super) async fn upgrade(
    inner: Arc<Inner>,
    parts: &mut axum::http::request::Parts,
    negotiated: PendingConnection,
    context: ClientContext,
) -> Response {
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &()).await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    let limit = inner.config.max_message_size + 4096;
    // Small per-connection buffers: thousands of idle clients should cost little memory.
    upgrade
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(WS_WRITE_BUFFER)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| websocket_session(inner, negotiated, context, socket))
}

async fn websocket_session(
    inner: Arc<Inner>,
    negotiated: PendingConnection,
    context: ClientContext,
    socket: WebSocket,
) {
    // One task per connection: the session reads the socket itself.
    let (sink, stream) = socket.split();
    let activity = Arc::new(Activity::new());
    activity.touch();
    run_session(
        inner,
        negotiated,
        context,
        TransportType::WebSockets,
        Wire::WebSocket(sink),
        Inbound::WebSocket(stream),
        activity,
    )
    .await;
}

//! Server-Sent Events: one long response carrying the records as `data:` lines.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::emulator::state::{Inner, PendingConnection};
use crate::emulator::upstream::ClientContext;
use crate::protocol::TransportType;

use super::http::{spawn_http_session, Accepted, WIRE_QUEUE};
use super::wire::Wire;

pub(super) fn start_sse(
    inner: Arc<Inner>,
    token: String,
    negotiated: PendingConnection,
    context: ClientContext,
) -> Response {
    let (out_tx, out_rx) = mpsc::channel(WIRE_QUEUE);
    spawn_http_session(
        inner,
        token,
        Accepted {
            negotiated,
            context,
        },
        TransportType::ServerSentEvents,
        Wire::Sse(out_tx),
        None,
        Duration::ZERO,
    );
    // An SSE comment first, so the client sees the stream open before any record.
    let opening = futures::stream::once(async {
        Ok::<Bytes, std::convert::Infallible>(Bytes::from_static(b":\r\n\r\n"))
    });
    let records = tokio_stream::wrappers::ReceiverStream::new(out_rx).map(Ok);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .header("X-Accel-Buffering", "no")
        .body(Body::from_stream(opening.chain(records)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

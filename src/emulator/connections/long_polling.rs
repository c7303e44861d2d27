//! Long Polling: each GET waits for records (or a timeout); the first one only opens the
//! connection.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use tokio::sync::mpsc;

use crate::emulator::state::{HttpConn, Inner, PendingConnection};
use crate::emulator::upstream::ClientContext;
use crate::protocol::TransportType;

use super::http::{spawn_http_session, Accepted, WIRE_QUEUE};
use super::wire::Wire;

/// How long an ended Long Polling connection stays for a last poll to collect the rest.
const LONG_POLLING_LINGER: Duration = Duration::from_secs(30);
/// A long poll returns at most this many bytes at once.
const MAX_POLL_BYTES: usize = 1024 * 1024;

pub(super) fn start_long_polling(
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
        TransportType::LongPolling,
        Wire::LongPolling(out_tx),
        Some(out_rx),
        LONG_POLLING_LINGER,
    );
    // The first poll only establishes the connection and returns at once, without data.
    StatusCode::OK.into_response()
}

pub(super) async fn long_poll(inner: &Inner, token: &str, conn: &HttpConn) -> Response {
    let Some(poll) = &conn.poll else {
        return StatusCode::CONFLICT.into_response();
    };
    conn.activity.touch();
    let mut rx = poll.lock().await;
    conn.activity.polling.store(true, Ordering::Relaxed);
    let first = tokio::time::timeout(inner.config.long_poll_timeout, rx.recv()).await;
    conn.activity.polling.store(false, Ordering::Relaxed);
    conn.activity.touch();
    match first {
        Err(_) => StatusCode::OK.into_response(),
        Ok(None) => {
            drop(rx);
            inner.remove_http_conn(token);
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(Some(first)) => {
            let mut body = BytesMut::from(&first[..]);
            while body.len() < MAX_POLL_BYTES {
                match rx.try_recv() {
                    Ok(more) => body.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/octet-stream")],
                body.freeze(),
            )
                .into_response()
        }
    }
}

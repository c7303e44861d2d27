//! Where a session's bytes come from ([`Inbound`]) and where its records go ([`Wire`]), for
//! each transport.

use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use bytes::{BufMut, Bytes, BytesMut};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use crate::emulator::state::Inner;

/// How long a closing connection may take to write its last records.
pub(super) const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a session's received bytes come from.
pub(super) enum Inbound {
    /// SSE and Long Polling: bodies of the client's POSTs.
    Http(mpsc::Receiver<Bytes>),
    WebSocket(SplitStream<WebSocket>),
}

impl Inbound {
    /// The next received data; `None` once the client has left. Cancel-safe.
    pub(super) async fn recv(&mut self) -> Option<Bytes> {
        match self {
            Inbound::Http(rx) => rx.recv().await,
            Inbound::WebSocket(stream) => loop {
                match stream.next().await? {
                    Ok(Message::Text(t)) => return Some(t.into()),
                    Ok(Message::Binary(b)) => return Some(b),
                    Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                    Ok(Message::Close(_)) | Err(_) => return None,
                }
            },
        }
    }
}

/// Where a session's records go.
pub(super) enum Wire {
    WebSocket(SplitSink<WebSocket, Message>),
    Sse(mpsc::Sender<Bytes>),
    LongPolling(mpsc::Sender<Bytes>),
}

impl Wire {
    /// Sends one record and flushes it.
    pub(super) async fn send(&mut self, record: Bytes, binary: bool) -> Result<(), ()> {
        self.feed(record, binary).await?;
        self.flush().await
    }

    /// Queues one record; WebSocket frames reach the socket at the latest on [`Wire::flush`].
    pub(super) async fn feed(&mut self, record: Bytes, binary: bool) -> Result<(), ()> {
        match self {
            Wire::WebSocket(sink) => {
                let message = if binary {
                    Message::Binary(record)
                } else {
                    // Shares the encoded record (no copy per client); only checks it is UTF-8.
                    Message::Text(Utf8Bytes::try_from(record).map_err(|_| ())?)
                };
                sink.feed(message).await.map_err(|_| ())
            }
            Wire::Sse(tx) => {
                let mut framed = BytesMut::with_capacity(record.len() + 16);
                for line in record.split(|&b| b == b'\n') {
                    framed.put_slice(b"data: ");
                    framed.put_slice(line.strip_suffix(b"\r").unwrap_or(line));
                    framed.put_slice(b"\r\n");
                }
                framed.put_slice(b"\r\n");
                tx.send(framed.freeze()).await.map_err(|_| ())
            }
            Wire::LongPolling(tx) => tx.send(record).await.map_err(|_| ()),
        }
    }

    pub(super) async fn flush(&mut self) -> Result<(), ()> {
        match self {
            Wire::WebSocket(sink) => sink.flush().await.map_err(|_| ()),
            Wire::Sse(_) | Wire::LongPolling(_) => Ok(()),
        }
    }

    /// Resolves when the client can no longer receive (SSE stream dropped).
    pub(super) async fn gone(&self) {
        match self {
            Wire::Sse(tx) => tx.closed().await,
            _ => std::future::pending().await,
        }
    }

    /// Ends the transport; a WebSocket gets a Close frame with status 1001 (going away) when
    /// the emulator is shutting down, 1008 (policy violation) with `overflow`'s reason for a
    /// client that fell behind its budget, else 1000 (normal closure).
    pub(super) async fn finish(self, inner: &Inner, overflow: Option<&str>) {
        if let Wire::WebSocket(mut sink) = self {
            let (code, reason) = match overflow {
                Some(reason) => (
                    axum::extract::ws::close_code::POLICY,
                    Utf8Bytes::from(close_reason(reason)),
                ),
                None if inner.is_shutting_down() => (
                    axum::extract::ws::close_code::AWAY,
                    Utf8Bytes::from_static(""),
                ),
                None => (
                    axum::extract::ws::close_code::NORMAL,
                    Utf8Bytes::from_static(""),
                ),
            };
            let frame = axum::extract::ws::CloseFrame { code, reason };
            let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, async {
                let _ = sink.send(Message::Close(Some(frame))).await;
                let _ = sink.close().await;
            })
            .await;
        }
    }
}

/// A close frame's reason fits in 123 bytes; longer text is cut at a character boundary.
fn close_reason(text: &str) -> String {
    let mut end = text.len().min(123);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

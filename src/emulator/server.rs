//! The HTTP server under the emulator's router: accepting connections, their limits and their
//! timeouts.
//!
//! `axum::serve` has no header-read timeout, no body deadline and no connection cap, so a
//! handful of careless or hostile clients (slow headers, a stalled or endless body, idle
//! keep-alive sockets) could hold descriptors until the process ran out of them. Here hyper's
//! HTTP/1 server is driven directly with the same router:
//! - hyper's header-read timeout runs from the moment a connection is waiting for a request
//!   head (just opened, or its previous response sent) until the head is complete, so it bounds
//!   both slow headers and idle keep-alive connections;
//! - a request body must arrive in full within the body timeout (a total deadline, not a
//!   per-chunk one, so a body trickled byte by byte ends too); one larger than any route takes
//!   is left to the route to refuse;
//! - at most `max_connections` connections are served at once; one more is answered `503`
//!   with `Retry-After` once its request head is in (within a second) and closed; a few dozen
//!   such refusals run at once, and connections beyond them are closed unanswered.
//!
//! None of these touch long-lived exchanges: a WebSocket leaves hyper once upgraded, and an SSE
//! stream or a pending Long Polling request has no body to read and is not waiting for a head.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The limits of the HTTP server (see [`super::EmulatorBuilder`] for the defaults).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_body: usize,
    pub max_connections: usize,
}

/// Connections over the cap being answered at once; beyond these they are closed unanswered.
const REFUSAL_SLOTS: usize = 64;

/// How long a connection over the cap may take to send its request head before it is closed
/// unanswered.
const REFUSAL_WAIT: Duration = Duration::from_secs(1);

/// What a connection over the cap is told before it is closed: written straight to the socket
/// once its request head has arrived (an HTTP client reads an answer sent before its request as
/// a broken connection), without hyper and its timeouts.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
    Retry-After: 1\r\n\
    Content-Type: application/json\r\n\
    Connection: close\r\n\
    Content-Length: 56\r\n\r\n\
    {\"error\":\"too many connections to the emulator; retry\"}\n";

/// Adds the body deadline in front of `app`.
pub(crate) fn with_body_deadline(app: Router, limits: HttpLimits) -> Router {
    app.layer(axum::middleware::from_fn(
        move |request: Request, next: axum::middleware::Next| {
            read_body_in_time(request, next, limits)
        },
    ))
}

/// Reads the request body within the body timeout and hands the handler the buffered body;
/// 408 when it does not arrive in time. A body larger than `max_body` is handed on as it is
/// (what was read, then the rest), so the route refuses it with its own limit and message.
async fn read_body_in_time(
    request: Request,
    next: axum::middleware::Next,
    limits: HttpLimits,
) -> Response {
    use axum::body::HttpBody;
    use futures::StreamExt;
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let mut stream = body.into_data_stream();
    let mut read = bytes::BytesMut::new();
    let complete = tokio::time::timeout(limits.body_timeout, async {
        while let Some(chunk) = stream.next().await {
            read.extend_from_slice(&chunk?);
            if read.len() > limits.max_body {
                return Ok(false);
            }
        }
        Ok::<bool, axum::Error>(true)
    })
    .await;
    match complete {
        Ok(Ok(true)) => {
            next.run(Request::from_parts(parts, Body::from(read.freeze())))
                .await
        }
        Ok(Ok(false)) => {
            let read =
                futures::stream::once(std::future::ready(Ok::<_, axum::Error>(read.freeze())));
            let body = Body::from_stream(read.chain(stream));
            next.run(Request::from_parts(parts, body)).await
        }
        Ok(Err(_)) => refuse(
            StatusCode::BAD_REQUEST,
            "request body unreadable (broken framing or connection)".into(),
        ),
        Err(_) => {
            tracing::debug!(method = %parts.method, path = parts.uri.path(), "request body timed out");
            refuse(
                StatusCode::REQUEST_TIMEOUT,
                format!("request body not received within {:?}", limits.body_timeout),
            )
        }
    }
}

/// An error answer that also closes the connection (the rest of the body is never read).
fn refuse(status: StatusCode, message: String) -> Response {
    let mut response =
        (status, axum::Json(serde_json::json!({ "error": message }))).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Serves `app` on `listener` until `stop` resolves, then lets open requests finish.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    stop: impl std::future::Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSAL_SLOTS));
    // Every connection task holds a clone of `running` and watches `closing`: on stop they
    // finish their current request, and `finished` sees the last clone go.
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let (running, mut finished) = tokio::sync::mpsc::channel::<()>(1);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before it was accepted: the
                    // listener itself is fine, so pause briefly rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(
                %peer,
                max_connections = limits.max_connections,
                "connection refused: too many connections"
            );
            if let Ok(slot) = refusals.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse_connection(tcp).await;
                    drop(slot);
                });
            }
            continue;
        };
        // Hub messages are small writes: without TCP_NODELAY, Nagle's algorithm holds a frame
        // back until the previous one is acknowledged, and delayed ACKs make that tens of ms.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let io = TokioIo::new(Counted {
            tcp,
            _permit: permit,
        });
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = http.serve_connection(io, service).with_upgrades();
        let mut closing = closing.clone();
        let running = running.clone();
        tokio::spawn(async move {
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = closing.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(running);
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    drop(running);
    let _ = finished.recv().await;
}

/// Answers a connection over the cap `503` after reading its request head, then closes it;
/// within [`REFUSAL_WAIT`] in all.
async fn refuse_connection(mut tcp: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(REFUSAL_WAIT, async {
        let mut head = Vec::new();
        let mut buf = [0u8; 2048];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
            if head.len() > 64 * 1024 {
                break;
            }
        }
        let _ = tcp.write_all(REFUSAL).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

/// A connection's socket holding its place under the connection cap: the place is given back
/// when the socket closes, which for a WebSocket is long after hyper has handed it over.
struct Counted {
    tcp: tokio::net::TcpStream,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl tokio::io::AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Counted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::REFUSAL;

    #[test]
    fn refusal_length_matches_its_body() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(serde_json::from_str::<serde_json::Value>(body).is_ok());
    }
}

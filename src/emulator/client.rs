//! The client endpoint: negotiate, the three transports and the per-connection session.
//!
//! Every transport feeds one session task: received bytes arrive on an `inbound` channel,
//! records leave through a [`Wire`]. The session does the handshake, registers the
//! connection, pumps its bounded outbound queue, pings, and watches for close requests.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::auth::{self, Audience};
use super::rest::valid_hub_name;
use super::state::{Activity, CloseRequest, ConnHandle, Inner, Negotiated, Outgoing, TakeRefused};
use super::upstream::{self, ClientContext, UpstreamEvent};
use super::ConnectionInfo;
use crate::protocol::TransportType;
use crate::protocol::{
    HandshakeReader, HandshakeRecord, HandshakeRequest, HandshakeResponse, HubMessage, HubProtocol,
    MessageReader,
};

/// Frames from an HTTP-transport client waiting for the session.
const INBOUND_QUEUE: usize = 16;
/// Records waiting for an SSE stream or a long poll to take them.
const WIRE_QUEUE: usize = 64;
/// How long a closing connection may take to write its last records.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// WebSocket read buffer per connection, allocated up front (it grows for bigger messages):
/// small, so that thousands of idle clients cost little memory. Clients send little (a
/// handshake, pings), so reading it in 1 KiB steps costs nothing measurable.
const WS_READ_BUFFER: usize = 1024;
/// Bytes of outgoing frames gathered before a socket write (the buffer grows on demand).
const WS_WRITE_BUFFER: usize = 16 * 1024;
/// Most messages taken from the outbound queue per wake-up and written with one flush.
const SEND_BATCH: usize = 64;
/// How long an ended Long Polling connection stays for a last poll to collect the rest.
const LONG_POLLING_LINGER: Duration = Duration::from_secs(30);
/// A long poll returns at most this many bytes at once.
const MAX_POLL_BYTES: usize = 1024 * 1024;

/// The client routes, open to pages of any origin like the official emulator's policy (any
/// origin echoed back, with credentials, any method and header): the JavaScript client sends
/// cookies (`withCredentials`) and custom headers (`Authorization`, `X-Requested-With`,
/// `X-SignalR-User-Agent`), so a page on another origin needs both a preflight answer and the
/// headers on every response. The REST API is for servers and gets none of this.
pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/client/negotiate", post(negotiate))
        .route("/client/negotiate/", post(negotiate))
        .route("/client", any(transport))
        .route("/client/", any(transport))
        .layer(tower_http::cors::CorsLayer::very_permissive())
        .with_state(inner)
}

fn random_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn json_error(status: StatusCode, error: impl Into<String>) -> Response {
    (status, Json(json!({ "error": error.into() }))).into_response()
}

/// A transport request whose token names another user than the one that negotiated: the
/// connection id alone must not let anyone read, write or end someone else's connection.
fn other_user() -> Response {
    json_error(
        StatusCode::FORBIDDEN,
        "this connection belongs to another user",
    )
}

fn refused_negotiation(refused: TakeRefused) -> Response {
    match refused {
        TakeRefused::Missing => json_error(StatusCode::NOT_FOUND, "no such connection"),
        TakeRefused::OtherUser => other_user(),
    }
}

/// Checks the hub parameter and the client token (found where `place` allows); returns
/// (lower-cased hub, user id).
#[allow(clippy::result_large_err)]
fn authorize(
    inner: &Inner,
    headers: &HeaderMap,
    uri: &Uri,
    place: auth::TokenPlace,
) -> Result<(String, Option<String>), Response> {
    let Some(hub) = query_param(uri, "hub") else {
        return Err(json_error(
            StatusCode::BAD_REQUEST,
            "the 'hub' query parameter is required",
        ));
    };
    if !valid_hub_name(&hub) {
        return Err(json_error(
            StatusCode::BAD_REQUEST,
            "invalid hub name: must match ^[A-Za-z][A-Za-z0-9_`,.[\\]]{0,127}$",
        ));
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let verified = auth::bearer_token(headers, uri, place).and_then(|token| {
        auth::verify(
            token.as_deref(),
            &inner.config.access_key,
            inner.config.entra.as_deref(),
            host,
            Audience::Client { hub: &hub },
        )
    });
    match verified {
        Ok(v) => Ok((hub.to_lowercase(), v.user_id)),
        Err(reason) => {
            let mut response = json_error(StatusCode::UNAUTHORIZED, reason);
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, auth::CHALLENGE);
            Err(response)
        }
    }
}

async fn negotiate(State(inner): State<Arc<Inner>>, headers: HeaderMap, uri: Uri) -> Response {
    if inner.is_shutting_down() {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is shutting down",
        );
    }
    // Browsers send the negotiate request with an Authorization header: no query token here.
    let (hub, user_id) = match authorize(&inner, &headers, &uri, auth::TokenPlace::Header) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let version: u32 = query_param(&uri, "negotiateVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let connection_id = random_id(16);
    let token = if version >= 1 {
        random_id(32)
    } else {
        connection_id.clone()
    };
    let negotiated = Negotiated {
        connection_id: connection_id.clone(),
        hub,
        user_id,
        created: std::time::Instant::now(),
    };
    if let Err(refused) = inner.add_negotiation(token.clone(), negotiated) {
        let mut response = json_error(StatusCode::TOO_MANY_REQUESTS, refused.reason);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, refused.retry_after.as_secs().into());
        return response;
    }
    let body = NegotiateResponse {
        connection_id: &connection_id,
        connection_token: (version >= 1).then_some(token.as_str()),
        negotiate_version: version.min(1),
        available_transports: &TRANSPORTS,
    };
    Json(body).into_response()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TransportOffer {
    transport: &'static str,
    transfer_formats: &'static [&'static str],
}

const TRANSPORTS: [TransportOffer; 3] = [
    TransportOffer {
        transport: "WebSockets",
        transfer_formats: &["Text", "Binary"],
    },
    TransportOffer {
        transport: "ServerSentEvents",
        transfer_formats: &["Text"],
    },
    TransportOffer {
        transport: "LongPolling",
        transfer_formats: &["Text", "Binary"],
    },
];

/// The negotiate answer, fields in the documented order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NegotiateResponse<'a> {
    connection_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    connection_token: Option<&'a str>,
    negotiate_version: u32,
    available_transports: &'a [TransportOffer],
}

/// The HTTP side of an SSE or Long Polling connection.
#[derive(Debug)]
pub(crate) struct HttpConn {
    transport: TransportType,
    hub: String,
    user_id: Option<String>,
    inbound: Mutex<Option<mpsc::Sender<Bytes>>>,
    poll: Option<tokio::sync::Mutex<mpsc::Receiver<Bytes>>>,
    activity: Arc<Activity>,
}

async fn transport(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let (hub, user_id) = match authorize(
        &inner,
        &parts.headers,
        &parts.uri,
        auth::TokenPlace::HeaderOrQuery,
    ) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let id = query_param(&parts.uri, "id");
    // What an upstream learns about the client comes from its connect request.
    let context = if inner.config.upstream.get().templates().is_empty() {
        ClientContext::default()
    } else {
        // Already authorized above, so the token is where this request may carry it.
        let token = auth::bearer_token(&parts.headers, &parts.uri, auth::TokenPlace::HeaderOrQuery)
            .ok()
            .flatten();
        ClientContext::new(token.as_deref(), parts.uri.query())
    };
    let is_upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));

    if parts.method == Method::GET && is_upgrade {
        let negotiated = match id {
            Some(id) => match inner.take_negotiation_for(&id, &hub, user_id.as_deref()) {
                Ok(n) => n,
                Err(refused) => return refused_negotiation(refused),
            },
            // A client that skipped negotiation gets a connection here.
            None => Negotiated {
                connection_id: random_id(16),
                hub,
                user_id,
                created: std::time::Instant::now(),
            },
        };
        let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(u) => u,
            Err(rejection) => return rejection.into_response(),
        };
        let limit = inner.config.max_message_size + 4096;
        // Small per-connection buffers: thousands of idle clients should cost little memory.
        return upgrade
            .read_buffer_size(WS_READ_BUFFER)
            .write_buffer_size(WS_WRITE_BUFFER)
            .max_message_size(limit)
            .max_frame_size(limit)
            .on_upgrade(move |socket| websocket_session(inner, negotiated, context, socket));
    }

    let Some(id) = id else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "the 'id' query parameter is required",
        );
    };
    let existing = inner.http_conns_get(&id);
    if existing
        .as_ref()
        .is_some_and(|c| c.hub == hub && c.user_id != user_id)
    {
        return other_user();
    }
    match parts.method {
        Method::GET => {
            let wants_sse = parts
                .headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/event-stream"));
            match existing {
                Some(conn) if conn.transport == TransportType::LongPolling && conn.hub == hub => {
                    long_poll(&inner, &id, &conn).await
                }
                Some(_) => json_error(
                    StatusCode::CONFLICT,
                    "this connection already has a transport",
                ),
                None => {
                    let negotiated = match inner.take_negotiation_for(&id, &hub, user_id.as_deref())
                    {
                        Ok(n) => n,
                        Err(refused) => return refused_negotiation(refused),
                    };
                    if wants_sse {
                        start_sse(inner, id, negotiated, context)
                    } else {
                        start_long_polling(inner, id, negotiated, context)
                    }
                }
            }
        }
        Method::POST => {
            let Some(conn) = existing.filter(|c| c.hub == hub) else {
                return json_error(StatusCode::NOT_FOUND, "no such connection");
            };
            let limit = inner.config.max_message_size + 4096;
            let data = match axum::body::to_bytes(body, limit).await {
                Ok(d) => d,
                Err(_) => return json_error(StatusCode::PAYLOAD_TOO_LARGE, "message too large"),
            };
            conn.activity.touch();
            let sender = conn
                .inbound
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            match sender {
                Some(tx) if tx.send(data).await.is_ok() => StatusCode::OK.into_response(),
                _ => json_error(StatusCode::NOT_FOUND, "connection has ended"),
            }
        }
        Method::DELETE => {
            let Some(conn) = existing.filter(|c| c.hub == hub) else {
                return json_error(StatusCode::NOT_FOUND, "no such connection");
            };
            // Dropping the inbound sender tells the session the client has left.
            conn.inbound
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            StatusCode::ACCEPTED.into_response()
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

impl Inner {
    fn http_conns_get(&self, token: &str) -> Option<Arc<HttpConn>> {
        self.http_conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
    }

    fn http_conns_remove(&self, token: &str) {
        self.http_conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
    }
}

/// Registers the HTTP side of a new SSE / Long Polling connection under its token.
fn new_http_conn(
    inner: &Inner,
    token: &str,
    transport: TransportType,
    negotiated: &Negotiated,
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
    inner
        .http_conns
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(token.to_string(), conn.clone());
    (conn, in_rx)
}

/// A client let in: its negotiation and what the upstream is to learn about it.
struct Accepted {
    negotiated: Negotiated,
    context: ClientContext,
}

/// Registers an SSE / Long Polling connection and runs its session in a task of its own.
/// After the session, its HTTP side stays registered for `linger` (Long Polling's last poll
/// collects what remains and sees 204).
fn spawn_http_session(
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
        inner.http_conns_remove(&token);
    });
}

fn start_sse(
    inner: Arc<Inner>,
    token: String,
    negotiated: Negotiated,
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

fn start_long_polling(
    inner: Arc<Inner>,
    token: String,
    negotiated: Negotiated,
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

async fn long_poll(inner: &Inner, token: &str, conn: &HttpConn) -> Response {
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
            inner.http_conns_remove(token);
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

async fn websocket_session(
    inner: Arc<Inner>,
    negotiated: Negotiated,
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

/// Where a session's received bytes come from.
enum Inbound {
    /// SSE and Long Polling: bodies of the client's POSTs.
    Http(mpsc::Receiver<Bytes>),
    WebSocket(SplitStream<WebSocket>),
}

impl Inbound {
    /// The next received data; `None` once the client has left. Cancel-safe.
    async fn recv(&mut self) -> Option<Bytes> {
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
enum Wire {
    WebSocket(SplitSink<WebSocket, Message>),
    Sse(mpsc::Sender<Bytes>),
    LongPolling(mpsc::Sender<Bytes>),
}

impl Wire {
    /// Sends one record and flushes it.
    async fn send(&mut self, record: Bytes, binary: bool) -> Result<(), ()> {
        self.feed(record, binary).await?;
        self.flush().await
    }

    /// Queues one record; WebSocket frames reach the socket at the latest on [`Wire::flush`].
    async fn feed(&mut self, record: Bytes, binary: bool) -> Result<(), ()> {
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

    async fn flush(&mut self) -> Result<(), ()> {
        match self {
            Wire::WebSocket(sink) => sink.flush().await.map_err(|_| ()),
            Wire::Sse(_) | Wire::LongPolling(_) => Ok(()),
        }
    }

    /// Resolves when the client can no longer receive (SSE stream dropped).
    async fn gone(&self) {
        match self {
            Wire::Sse(tx) => tx.closed().await,
            _ => std::future::pending().await,
        }
    }

    /// Ends the transport; a WebSocket gets a Close frame with status 1001 (going away) when
    /// the emulator is shutting down, 1008 (policy violation) with `overflow`'s reason for a
    /// client that fell behind its budget, else 1000 (normal closure).
    async fn finish(self, inner: &Inner, overflow: Option<&str>) {
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

/// Reads the handshake; answers it. Returns the protocol and bytes that followed it.
async fn handshake(
    inner: &Inner,
    transport: TransportType,
    wire: &mut Wire,
    inbound: &mut Inbound,
) -> Option<(HubProtocol, Vec<u8>)> {
    let mut reader = HandshakeReader::new();
    let deadline = tokio::time::sleep(inner.config.handshake_timeout);
    tokio::pin!(deadline);
    let HandshakeRecord { record, rest } = loop {
        tokio::select! {
            data = inbound.recv() => {
                let data = data?;
                match reader.take(&data) {
                    Ok(Some(done)) => break done,
                    Ok(None) => continue,
                    Err(e) => {
                        let _ = wire.send(HandshakeResponse::error(e.to_string()).encode().into(), false).await;
                        return None;
                    }
                }
            }
            _ = &mut deadline => {
                tracing::debug!("handshake timed out");
                return None;
            }
        }
    };
    let failure = |message: String| HandshakeResponse::error(message).encode();
    let protocol = match HandshakeRequest::parse(&record) {
        Err(e) => Err(failure(e.to_string())),
        Ok(request) => match request.hub_protocol() {
            None => Err(failure(format!(
                "the protocol '{}' is not supported",
                request.protocol
            ))),
            Some(_) if request.version != 1 => Err(failure(format!(
                "protocol version {} is not supported",
                request.version
            ))),
            Some(HubProtocol::MessagePack) if transport == TransportType::ServerSentEvents => Err(
                failure("the messagepack protocol cannot be used over Server-Sent Events".into()),
            ),
            Some(p) => Ok(p),
        },
    };
    match protocol {
        Ok(p) => {
            let ok = HandshakeResponse::ok().encode();
            wire.send(ok.into(), p.is_binary()).await.ok()?;
            Some((p, rest))
        }
        Err(response) => {
            let _ = wire.send(response.into(), false).await;
            None
        }
    }
}

async fn run_session(
    inner: Arc<Inner>,
    negotiated: Negotiated,
    context: ClientContext,
    transport: TransportType,
    mut wire: Wire,
    mut inbound: Inbound,
    activity: Arc<Activity>,
) {
    let Some((protocol, rest)) = handshake(&inner, transport, &mut wire, &mut inbound).await else {
        wire.finish(&inner, None).await;
        return;
    };
    let binary = protocol.is_binary();
    let info = ConnectionInfo {
        connection_id: negotiated.connection_id,
        hub: negotiated.hub,
        user_id: negotiated.user_id,
        transport,
        protocol,
    };
    let (queue_tx, mut queue_rx) = mpsc::channel(inner.config.outbound_queue);
    let (close_tx, mut close_rx) = watch::channel(None::<CloseRequest>);
    let handle = Arc::new(ConnHandle::new(
        info.clone(),
        queue_tx,
        close_tx,
        inner.config.outbound_budget,
    ));
    if !inner.register(handle.clone()) {
        let close = HubMessage::Close {
            error: Some("The service is shutting down.".into()),
            allow_reconnect: false,
        };
        if let Ok(bytes) = protocol.encode(&close) {
            let _ =
                tokio::time::timeout(CLOSE_WRITE_TIMEOUT, wire.send(bytes.into(), binary)).await;
        }
        wire.finish(&inner, None).await;
        return;
    }
    // Replies from the upstream only exist with an upstream; without one there is no channel
    // (its first block of slots would be most of an idle connection's memory).
    let (upstream, mut replies) = if inner.config.upstream.get().templates().is_empty() {
        (None, None)
    } else {
        let (reply_tx, reply_rx) = mpsc::channel::<Bytes>(16);
        let up = upstream::spawn(inner.clone(), info.clone(), context, reply_tx);
        let _ = up.try_send(UpstreamEvent::Connected);
        (Some(up), Some(reply_rx))
    };

    let ping = protocol
        .encode(&HubMessage::Ping)
        .map(Bytes::from)
        .unwrap_or_default();
    let mut ping_timer = tokio::time::interval(inner.config.ping_interval);
    ping_timer.reset();
    let check_every = (inner.config.client_timeout / 4).max(Duration::from_millis(50));
    let mut timeout_timer = tokio::time::interval(check_every);
    let mut reader = MessageReader::new(protocol, inner.config.max_message_size);
    let mut pending_input = Some(Bytes::from(rest));

    // Resolves once with the close request. Created once and kept across iterations:
    // re-creating it on every wake-up was most of the cost of a delivery.
    let closed = async {
        let _ = close_rx.changed().await;
        close_rx.borrow().clone()
    };
    tokio::pin!(closed);
    let mut batch = Vec::with_capacity(0);

    // Why the loop ended: a Close to send (graceful) or nothing to send.
    let close: Option<CloseRequest> = 'session: loop {
        if let Some(data) = pending_input.take() {
            if !data.is_empty() {
                if let Some(req) =
                    handle_input(&inner, &info, &mut reader, &data, upstream.as_ref())
                {
                    break 'session Some(req);
                }
            }
        }
        tokio::select! {
            biased;
            request = &mut closed => break 'session request,
            // Takes what is queued (up to a batch) and writes it with one flush.
            taken = queue_rx.recv_many(&mut batch, SEND_BATCH) => {
                if taken == 0 {
                    break 'session None;
                }
                let sent = tokio::select! {
                    r = send_batch(&mut wire, &batch, protocol, binary) => r,
                    request = &mut closed => break 'session request,
                };
                if sent.is_err() {
                    break 'session None;
                }
                handle.written(batch.iter().filter_map(|m| m.bytes(protocol)).map(|b| b.len()).sum());
                inner.record_deliveries(
                    &info,
                    batch.iter().filter(|m| m.bytes(protocol).is_some()),
                );
                batch.clear();
            }
            // Already encoded in the client's protocol (the upstream's answer as it came).
            reply = next_reply(&mut replies) => {
                if wire.send(reply, binary).await.is_err() {
                    break 'session None;
                }
            }
            data = inbound.recv() => {
                let Some(data) = data else { break 'session None };
                activity.touch();
                pending_input = Some(data);
            }
            _ = ping_timer.tick() => {
                let sent = tokio::select! {
                    r = wire.send(ping.clone(), binary) => r,
                    _ = &mut closed => break 'session None,
                };
                if sent.is_err() {
                    break 'session None;
                }
            }
            _ = timeout_timer.tick() => {
                if activity.idle() > inner.config.client_timeout {
                    tracing::info!(connection_id = %info.connection_id, "client timed out");
                    break 'session Some(CloseRequest {
                        error: Some("Connection closed: the client sent nothing within the timeout".into()),
                        graceful: true,
                        overflow: false,
                    });
                }
            }
            _ = wire.gone() => break 'session None,
        }
    };

    let close_error = close.as_ref().and_then(|r| r.error.clone());
    // Leave the hub first: from here on nothing new is queued for this connection.
    inner.unregister(&info);
    drop(handle);
    drop(batch);
    let overflow = close
        .as_ref()
        .filter(|r| r.overflow)
        .map(|r| r.error.clone().unwrap_or_default());
    if overflow.is_some() || close.as_ref().is_some_and(|r| !r.graceful) {
        // Nothing queued will be sent: free it now, not after the last writes time out.
        queue_rx.close();
        while queue_rx.try_recv().is_ok() {}
    }
    if let Some(request) = close.filter(|r| r.graceful) {
        let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, async {
            // Messages accepted before the close still go out, then the Close itself.
            while let Ok(message) = queue_rx.try_recv() {
                if let Some(bytes) = message.bytes(protocol) {
                    if wire.send(bytes, binary).await.is_err() {
                        return;
                    }
                    inner.record_deliveries(&info, [&message]);
                }
            }
            let close = HubMessage::Close {
                error: request.error,
                allow_reconnect: false,
            };
            if let Ok(bytes) = protocol.encode(&close) {
                let _ = wire.send(bytes.into(), binary).await;
            }
        })
        .await;
    }
    if let Some(up) = upstream {
        let _ = up.try_send(UpstreamEvent::Disconnected { error: close_error });
    }
    wire.finish(&inner, overflow.as_deref()).await;
}

/// The next reply from the upstream; never resolves without an upstream, or once it has gone
/// (resolving on a closed channel would spin the session loop).
async fn next_reply(replies: &mut Option<mpsc::Receiver<Bytes>>) -> Bytes {
    if let Some(rx) = replies {
        if let Some(reply) = rx.recv().await {
            return reply;
        }
    }
    std::future::pending().await
}

/// Writes queued messages with one flush at the end.
async fn send_batch(
    wire: &mut Wire,
    batch: &[Arc<Outgoing>],
    protocol: HubProtocol,
    binary: bool,
) -> Result<(), ()> {
    for message in batch {
        if let Some(bytes) = message.bytes(protocol) {
            wire.feed(bytes, binary).await?;
        }
    }
    wire.flush().await
}

/// Handles bytes from the client; returns a close request when the connection must end.
fn handle_input(
    inner: &Inner,
    info: &ConnectionInfo,
    reader: &mut MessageReader,
    data: &[u8],
    upstream: Option<&mpsc::Sender<UpstreamEvent>>,
) -> Option<CloseRequest> {
    let protocol_error = |e: crate::protocol::ProtocolError| {
        tracing::debug!(connection_id = %info.connection_id, error = %e, "bad message from client");
        Some(CloseRequest {
            error: Some(format!("Connection closed with an error: {e}")),
            graceful: true,
            overflow: false,
        })
    };
    if let Err(e) = reader.push(data) {
        return protocol_error(e);
    }
    loop {
        // With an upstream, invocations are forwarded as received: keep their bytes.
        let next = match upstream {
            Some(_) => reader.next_message_with_payload(),
            None => reader.next_message().map(|m| m.map(|m| (m, Vec::new()))),
        };
        match next {
            Ok(None) => return None,
            Err(e) => return protocol_error(e),
            Ok(Some((HubMessage::Close { .. }, _))) => {
                return Some(CloseRequest {
                    error: None,
                    graceful: false,
                    overflow: false,
                })
            }
            Ok(Some((
                HubMessage::Invocation(inv) | HubMessage::StreamInvocation(inv),
                payload,
            ))) => match upstream {
                Some(up) => {
                    let event = UpstreamEvent::Message {
                        target: inv.target,
                        invocation_id: inv.invocation_id,
                        payload: Bytes::from(payload),
                    };
                    if up.try_send(event).is_err() {
                        tracing::warn!(connection_id = %info.connection_id, "upstream queue full; invocation dropped");
                    }
                }
                None => {
                    let _ = inner;
                    return Some(CloseRequest {
                        error: Some(
                            "Connection closed with an error: invocations are not supported in serverless mode without an upstream URL".into(),
                        ),
                        graceful: true,
                        overflow: false,
                    });
                }
            },
            Ok(Some(_)) => {}
        }
    }
}

//! Step 2: the three transports behind one [`Link`]. A reader task per link turns whatever the
//! server sends into byte chunks on a channel, so receiving is cancel-safe and a long poll
//! in flight is never abandoned halfway.

use std::time::Duration;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use reqwest::header::{ACCEPT, AUTHORIZATION};
use reqwest::StatusCode;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use super::error::{TransportCause, TransportError, TransportStep};
use super::negotiate::{error_status, MAX_QUOTED_BODY};
use super::sse::SseParser;
use crate::protocol::TransportType;
use crate::Token;

/// How long opening a transport may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one send (an HTTP POST) may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// A long poll is held by the server for up to ~100 s; give it some slack.
const POLL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long closing may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Chunks waiting for the session; the reader waits (and so stops reading) when it is full.
const INBOUND_QUEUE: usize = 64;
/// Initial WebSocket read buffer (it grows for bigger messages).
const WS_READ_BUFFER: usize = 8 * 1024;

type WsSink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;
type WsStream = SplitStream<WebSocketStream<MaybeTlsStream<TcpStream>>>;

/// What a link receives: bytes, or why the link failed. The end of the stream (`None` from
/// [`Link::recv`]) means the server ended the transport without an error.
type Chunk = Result<Vec<u8>, TransportError>;

enum Sender {
    WebSocket(WsSink),
    Http {
        http: reqwest::Client,
        /// The transport URL; secret (it carries the connection token).
        url: Url,
        access_token: Token,
    },
}

/// Where received bytes come from.
enum Inbound {
    /// Read in place by [`Link::recv`]: no task and no channel between the socket and the
    /// listener, which halves the wake-ups per received message.
    WebSocket(WsStream),
    /// SSE and Long Polling: a reader task (a long poll cannot be cancelled and resumed)
    /// forwards what it gets.
    Task {
        chunks: mpsc::Receiver<Chunk>,
        reader: JoinHandle<()>,
    },
}

/// An open transport. Dropping it stops its reader.
pub(crate) struct Link {
    kind: TransportType,
    inbound: Inbound,
    sender: Sender,
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Inbound::Task { reader, .. } = &self.inbound {
            reader.abort();
        }
    }
}

impl Link {
    /// Opens `kind` on the transport URL (which carries the connection token).
    pub(super) async fn open(
        kind: TransportType,
        http: &reqwest::Client,
        url: Url,
        access_token: &Token,
    ) -> Result<Link, TransportError> {
        let secrets_of = url.clone();
        let opening = async {
            match kind {
                TransportType::WebSockets => open_websocket(url, access_token).await,
                TransportType::ServerSentEvents => open_sse(http, url, access_token).await,
                TransportType::LongPolling => open_long_polling(http, url, access_token).await,
            }
        };
        let failed = |cause| TransportError::new(kind, TransportStep::Connect, cause);
        let (inbound, sender) = tokio::time::timeout(OPEN_TIMEOUT, opening)
            .await
            .map_err(|_| failed(TransportCause::Timeout(OPEN_TIMEOUT)))?
            .map_err(|cause| failed(scrub_cause(cause, &secrets_of, access_token)))?;
        Ok(Link {
            kind,
            inbound,
            sender,
        })
    }

    /// The transport in use.
    pub(super) fn kind(&self) -> TransportType {
        self.kind
    }

    /// Sends one or more whole records; `binary` picks the WebSocket frame type.
    pub(super) async fn send(&mut self, data: Vec<u8>, binary: bool) -> Result<(), TransportError> {
        let failed = |cause| TransportError::new(self.kind, TransportStep::Send, cause);
        match &mut self.sender {
            Sender::WebSocket(sink) => {
                let message = if binary {
                    Message::Binary(data.into())
                } else {
                    let text = String::from_utf8(data).map_err(|_| {
                        failed(TransportCause::Unusable("a text record is not valid UTF-8"))
                    })?;
                    Message::Text(text.into())
                };
                sink.send(message)
                    .await
                    .map_err(|e| failed(TransportCause::WebSocket(e.to_string())))
            }
            Sender::Http {
                http,
                url,
                access_token,
            } => {
                let response = http
                    .post(url.clone())
                    .bearer_auth(access_token.expose_secret())
                    .timeout(SEND_TIMEOUT)
                    .body(data)
                    .send()
                    .await
                    .map_err(|e| failed(TransportCause::Http(e.without_url())))?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    let (status, detail) = error_status(response).await;
                    Err(failed(TransportCause::Status { status, detail }))
                }
            }
        }
    }

    /// The next chunk from the server; `None` when the server ended the transport cleanly.
    /// Cancel-safe.
    pub(super) async fn recv(&mut self) -> Option<Chunk> {
        match &mut self.inbound {
            // `next()` on the stream is cancel-safe: a partly read frame stays buffered.
            Inbound::WebSocket(stream) => loop {
                match stream.next().await? {
                    Ok(Message::Text(text)) => {
                        let bytes = tokio_tungstenite::tungstenite::Bytes::from(text);
                        return Some(Ok(Vec::from(bytes)));
                    }
                    Ok(Message::Binary(data)) => return Some(Ok(Vec::from(data))),
                    Ok(Message::Close(_)) => return None,
                    Err(e) => {
                        return Some(Err(TransportError::new(
                            self.kind,
                            TransportStep::Receive,
                            TransportCause::WebSocket(e.to_string()),
                        )))
                    }
                    // Pings and pongs: tungstenite answers them itself.
                    Ok(_) => {}
                }
            },
            Inbound::Task { chunks, .. } => chunks.recv().await,
        }
    }

    /// Ends the transport politely: a WebSocket close frame, a Long Polling `DELETE`, or
    /// dropping the event stream.
    pub(super) async fn close(mut self) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            match &mut self.sender {
                Sender::WebSocket(sink) => {
                    // 1000: leaving normally (a Close without a status reads as 1005).
                    let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                        code: tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal,
                        reason: "".into(),
                    };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    let _ = sink.close().await;
                }
                Sender::Http {
                    http,
                    url,
                    access_token,
                } if self.kind == TransportType::LongPolling => {
                    let _ = http
                        .delete(url.clone())
                        .bearer_auth(access_token.expose_secret())
                        .send()
                        .await;
                }
                Sender::Http { .. } => {}
            }
        })
        .await;
    }
}

/// Removes the connection token (the transport URL's `id`) and the access token from an
/// error text, whatever library wrote it.
fn scrub(text: String, url: &Url, access_token: &Token) -> String {
    let mut text = text.replace(access_token.expose_secret(), "<redacted>");
    for (key, value) in url.query_pairs() {
        if key == "id" && !value.is_empty() {
            let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
            text = text.replace(value.as_ref(), "<redacted>");
            text = text.replace(&encoded, "<redacted>");
        }
    }
    text
}

/// [`scrub`] applied to the texts a cause quotes.
fn scrub_cause(cause: TransportCause, url: &Url, access_token: &Token) -> TransportCause {
    match cause {
        TransportCause::WebSocket(text) => {
            TransportCause::WebSocket(scrub(text, url, access_token))
        }
        TransportCause::Status { status, detail } => TransportCause::Status {
            status,
            detail: scrub(detail, url, access_token),
        },
        other => other,
    }
}

type Opened = (Inbound, Sender);

async fn open_websocket(url: Url, access_token: &Token) -> Result<Opened, TransportCause> {
    let mut ws_url = url;
    let scheme = match ws_url.scheme() {
        "https" | "wss" => "wss",
        _ => "ws",
    };
    ws_url.set_scheme(scheme).map_err(|_| {
        TransportCause::Unusable("the client URL cannot be turned into a WebSocket URL")
    })?;
    let mut request = ws_url
        .as_str()
        .into_client_request()
        .map_err(|e| TransportCause::WebSocket(format!("invalid WebSocket request: {e}")))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {}", access_token.expose_secret()))
        .map_err(|_| TransportCause::Unusable("the access token is not a valid header value"))?;
    request.headers_mut().insert(AUTHORIZATION, bearer);
    // tungstenite zero-fills its whole spare read buffer before every read (128 KiB by
    // default), which was most of a receiving client's CPU time; hub messages are small and
    // the buffer grows for bigger ones. Small writes (pings) go out at once (TCP_NODELAY).
    let config = WebSocketConfig::default().read_buffer_size(WS_READ_BUFFER);
    let (socket, _response) =
        tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .map_err(websocket_refusal)?;
    let (sink, stream) = socket.split();
    Ok((Inbound::WebSocket(stream), Sender::WebSocket(sink)))
}

/// A refused upgrade as its HTTP status and body; any other failure as the library's text.
fn websocket_refusal(error: tokio_tungstenite::tungstenite::Error) -> TransportCause {
    match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            let status =
                StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let body = response.body().as_deref().unwrap_or_default();
            let detail = String::from_utf8_lossy(body)
                .chars()
                .take(MAX_QUOTED_BODY)
                .collect();
            TransportCause::Status { status, detail }
        }
        other => TransportCause::WebSocket(other.to_string()),
    }
}

async fn open_sse(
    http: &reqwest::Client,
    url: Url,
    access_token: &Token,
) -> Result<Opened, TransportCause> {
    let response = http
        .get(url.clone())
        .bearer_auth(access_token.expose_secret())
        .header(ACCEPT, "text/event-stream")
        .send()
        .await
        .map_err(|e| TransportCause::Http(e.without_url()))?;
    if !response.status().is_success() {
        let (status, detail) = error_status(response).await;
        return Err(TransportCause::Status { status, detail });
    }
    let mut parser = SseParser::default();
    let received = |cause| {
        TransportError::new(
            TransportType::ServerSentEvents,
            TransportStep::Receive,
            cause,
        )
    };
    let events = response.bytes_stream().map(move |part| match part {
        Ok(bytes) => parser.push(&bytes).map_err(received),
        Err(e) => Err(received(TransportCause::Http(e.without_url()))),
    });
    Ok((forward(events), http_sender(http, url, access_token)))
}

async fn open_long_polling(
    http: &reqwest::Client,
    url: Url,
    access_token: &Token,
) -> Result<Opened, TransportCause> {
    // The first poll establishes the connection and answers at once.
    let Some(initial) = poll(http, &url, access_token).await? else {
        return Err(TransportCause::Ended);
    };
    let state = (http.clone(), url.clone(), access_token.clone());
    // Poll until the server answers 204 (the connection ended) or a poll fails.
    let polls = futures::stream::unfold(state, |(http, url, token)| async move {
        let polled = poll(&http, &url, &token)
            .await
            .transpose()?
            .map_err(|cause| {
                TransportError::new(TransportType::LongPolling, TransportStep::Receive, cause)
            });
        Some((polled.map(non_empty), (http, url, token)))
    });
    let all = futures::stream::once(async { Ok(non_empty(initial)) }).chain(polls);
    Ok((forward(all), http_sender(http, url, access_token)))
}

/// A poll's data as chunks to forward: none for an empty answer (nothing was heard).
fn non_empty(data: Vec<u8>) -> Vec<Vec<u8>> {
    if data.is_empty() {
        Vec::new()
    } else {
        vec![data]
    }
}

/// The sending side of SSE and Long Polling: a POST per record batch.
fn http_sender(http: &reqwest::Client, url: Url, access_token: &Token) -> Sender {
    Sender::Http {
        http: http.clone(),
        url,
        access_token: access_token.clone(),
    }
}

/// Reads `source` in a task of its own (SSE and Long Polling: a long poll cannot be cancelled
/// and resumed, so it is not read in place) and forwards each chunk, until the source ends,
/// fails (the error is forwarded) or nobody reads any more.
fn forward<S>(source: S) -> Inbound
where
    S: futures::Stream<Item = Result<Vec<Vec<u8>>, TransportError>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(INBOUND_QUEUE);
    let reader = tokio::spawn(async move {
        futures::pin_mut!(source);
        while let Some(batch) = source.next().await {
            let chunks = match batch {
                Ok(chunks) => chunks,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            for chunk in chunks {
                if tx.send(Ok(chunk)).await.is_err() {
                    return;
                }
            }
        }
    });
    Inbound::Task { chunks: rx, reader }
}

/// One long poll: `Some(data)` (possibly empty) on 200, `None` on 204 (the connection ended).
async fn poll(
    http: &reqwest::Client,
    url: &Url,
    access_token: &Token,
) -> Result<Option<Vec<u8>>, TransportCause> {
    let response = http
        .get(url.clone())
        .bearer_auth(access_token.expose_secret())
        .timeout(POLL_TIMEOUT)
        .send()
        .await
        .map_err(|e| TransportCause::Http(e.without_url()))?;
    match response.status().as_u16() {
        204 => Ok(None),
        200 => response
            .bytes()
            .await
            .map(|b| Some(b.to_vec()))
            .map_err(|e| TransportCause::Http(e.without_url())),
        _ => {
            let (status, detail) = error_status(response).await;
            Err(TransportCause::Status { status, detail })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::scrub;
    use crate::Token;
    use url::Url;

    #[test]
    fn scrub_removes_both_tokens() {
        let mut url = Url::parse("http://h/client/?hub=a").unwrap();
        url.query_pairs_mut().append_pair("id", "conn+tok/en");
        assert!(url.as_str().ends_with("id=conn%2Btok%2Fen"));
        let text =
            "failed at http://h/client/?hub=a&id=conn%2Btok%2Fen with conn+tok/en and jwt.x.y";
        let scrubbed = scrub(text.into(), &url, &Token::new("jwt.x.y"));
        assert!(!scrubbed.contains("tok"), "{scrubbed}");
        assert!(!scrubbed.contains("jwt"), "{scrubbed}");
    }
}

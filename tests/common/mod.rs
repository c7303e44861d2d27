//! Helpers shared by the emulator integration tests: token minting, REST calls and a small
//! WebSocket receiver speaking the hub protocol through the crate's codec.
//!
//! Kept in one place so the tests can switch to the crate's own `HubClient` later.
#![allow(dead_code)]

mod http1;
mod wire;
// Each test file uses its own part.
#[allow(unused_imports)]
pub(crate) use http1::*;
#[allow(unused_imports)]
pub(crate) use wire::*;

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azure_signalr_rest::emulator::{Emulator, EmulatorHandle};
use azure_signalr_rest::protocol::{
    HubMessage, HubProtocol, Invocation, MessageReader, DEFAULT_MAX_MESSAGE_SIZE,
};
use futures::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// One HTTP client for every test: building one is costly (TLS set-up). Idle connections are
/// not pooled, because each test has its own runtime and a pooled connection belongs to one.
pub(crate) fn http() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap()
        })
        .clone()
}

pub(crate) async fn start() -> EmulatorHandle {
    Emulator::builder()
        .bind("127.0.0.1:0")
        .start()
        .await
        .expect("emulator starts")
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An HS256 token with `aud`, `exp` (one hour unless given) and optional `nameid`.
pub(crate) fn token(key: &str, aud: &str, user: Option<&str>, exp: Option<u64>) -> String {
    let mut claims = json!({ "aud": aud, "exp": exp.unwrap_or(now() + 3600), "iat": now() });
    if let Some(user) = user {
        claims["nameid"] = json!(user);
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap()
}

/// The REST URL for `path` (which may carry a query) and a token for it (aud without query).
pub(crate) fn rest_url(emu: &EmulatorHandle, path: &str) -> (String, String) {
    let url = format!("{}{}", emu.endpoint(), path);
    let aud = url.split('?').next().unwrap().to_string();
    let token = token(emu.access_key(), &aud, None, None);
    (url, token)
}

pub(crate) struct Reply {
    pub status: u16,
    pub content_type: String,
    pub error_code: Option<String>,
    pub body: String,
}

/// Calls the REST API with a valid token; `body` is sent as JSON when given.
pub(crate) async fn rest(
    emu: &EmulatorHandle,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let (url, token) = rest_url(emu, path);
    let mut request = http()
        .request(method.parse().unwrap(), &url)
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    into_reply(request.send().await.expect("REST call"), method).await
}

pub(crate) async fn into_reply(response: reqwest::Response, _method: &str) -> Reply {
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header("content-type").unwrap_or_default();
    let error_code = header("x-ms-error-code");
    let body = response.text().await.unwrap_or_default();
    Reply {
        status,
        content_type,
        error_code,
        body,
    }
}

pub(crate) fn msg(target: &str, args: Value) -> Option<Value> {
    Some(json!({ "target": target, "arguments": args }))
}

/// A receiving client over WebSockets: negotiates, connects, shakes hands.
pub(crate) struct WsClient {
    pub connection_id: String,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    reader: MessageReader,
    protocol: HubProtocol,
    queue: VecDeque<HubMessage>,
}

pub(crate) async fn negotiate(
    emu: &EmulatorHandle,
    hub: &str,
    user: Option<&str>,
) -> (String, String, String) {
    let token = client_token(emu, hub, user);
    let reply = negotiate_at(&emu.endpoint(), hub, &token, 1).await;
    (
        reply["connectionId"].as_str().unwrap().to_string(),
        reply["connectionToken"].as_str().unwrap().to_string(),
        token,
    )
}

impl WsClient {
    pub(crate) async fn connect(emu: &EmulatorHandle, hub: &str, user: Option<&str>) -> Self {
        Self::connect_with(emu, hub, user, HubProtocol::Json).await
    }

    pub(crate) async fn connect_with(
        emu: &EmulatorHandle,
        hub: &str,
        user: Option<&str>,
        protocol: HubProtocol,
    ) -> Self {
        let mut client = Self::open(emu, hub, user, protocol).await;
        client.handshake().await;
        emu.wait_for_connection(|c| c.connection_id == client.connection_id, WAIT)
            .await
            .expect("connection registered");
        client
    }

    /// Negotiates and opens the socket without the handshake.
    pub(crate) async fn open(
        emu: &EmulatorHandle,
        hub: &str,
        user: Option<&str>,
        protocol: HubProtocol,
    ) -> Self {
        let bearer = client_token(emu, hub, user);
        let (ws, connection_id) = open_websocket(&emu.local_addr().to_string(), hub, &bearer).await;
        WsClient {
            connection_id,
            ws,
            reader: MessageReader::new(protocol, DEFAULT_MAX_MESSAGE_SIZE),
            protocol,
            queue: VecDeque::new(),
        }
    }

    pub(crate) async fn send_raw(&mut self, data: Vec<u8>, binary: bool) {
        let message = if binary {
            Message::Binary(data.into())
        } else {
            Message::Text(String::from_utf8(data).unwrap().into())
        };
        self.ws.send(message).await.expect("send");
    }

    async fn handshake(&mut self) {
        let rest = handshake(&mut self.ws, self.protocol).await;
        self.reader.push(&rest).unwrap();
    }

    /// The next non-ping message; `None` when the socket ends or nothing comes in time.
    pub(crate) async fn next_message(&mut self, timeout: Duration) -> Option<HubMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            while let Some(m) = self.reader.next_message().expect("valid message") {
                self.queue.push_back(m);
            }
            if let Some(m) = self.queue.pop_front() {
                if m == HubMessage::Ping {
                    continue;
                }
                return Some(m);
            }
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match frame {
                Ok(Message::Text(t)) => self.reader.push(t.as_bytes()).unwrap(),
                Ok(Message::Binary(b)) => self.reader.push(&b).unwrap(),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    pub(crate) async fn next_invocation(&mut self) -> Invocation {
        match self.next_message(WAIT).await {
            Some(HubMessage::Invocation(inv)) => inv,
            other => panic!("expected an invocation, got {other:?}"),
        }
    }

    /// Waits for a Close message and returns its error.
    pub(crate) async fn expect_close(&mut self) -> Option<String> {
        loop {
            match self.next_message(WAIT).await {
                Some(HubMessage::Close { error, .. }) => return error,
                Some(HubMessage::Invocation(_)) => continue,
                other => panic!("expected a Close message, got {other:?}"),
            }
        }
    }

    /// Whether the server ends the socket within the timeout (after any messages).
    pub(crate) async fn ends_within(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}

//! The wire-level steps several test files take by hand, written once: a client token made
//! here (not by the crate), negotiate with it, the WebSocket opened with the negotiated id,
//! the hub-protocol handshake, and raw-socket HTTP reads.

use std::time::Duration;

use azure_signalr_rest::emulator::EmulatorHandle;
use azure_signalr_rest::protocol::{
    HandshakeReader, HandshakeRecord, HandshakeRequest, HandshakeResponse, HubProtocol,
};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{http, token, WAIT};

/// A client WebSocket as `connect_async` opens it.
pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The JSON hub-protocol handshake request.
pub(crate) const JSON_HANDSHAKE: &str = "{\"protocol\":\"json\",\"version\":1}\u{1e}";

/// The handshake request for `protocol` (`json` or `messagepack`).
pub(crate) fn handshake_request(protocol: &str) -> String {
    format!("{{\"protocol\":\"{protocol}\",\"version\":1}}\u{1e}")
}

/// A client token of `hub` on `emu`, for `user` when given, signed with its access key.
pub(crate) fn client_token(emu: &EmulatorHandle, hub: &str, user: Option<&str>) -> String {
    let aud = format!("{}/client/?hub={hub}", emu.endpoint());
    token(emu.access_key(), &aud, user, None)
}

/// `POST <base>/client/negotiate?hub=<hub>&negotiateVersion=<version>` with `bearer`; the
/// reply, which must be 200. `base` is `http://<ip>:<port>`.
pub(crate) async fn negotiate_at(base: &str, hub: &str, bearer: &str, version: u32) -> Value {
    let reply = http()
        .post(format!(
            "{base}/client/negotiate?hub={hub}&negotiateVersion={version}"
        ))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("negotiate");
    let status = reply.status();
    let body = reply.text().await.unwrap_or_default();
    assert_eq!(status, 200, "negotiate: {body}");
    serde_json::from_str(&body).expect("a JSON negotiate reply")
}

/// The WebSocket URL a negotiate reply (version 1) leads to: its connection token as `id`,
/// `bearer` as `access_token`, and `extra` (`&name=value...`) appended.
pub(crate) fn websocket_url(
    addr: &str,
    hub: &str,
    negotiated: &Value,
    bearer: &str,
    extra: &str,
) -> String {
    format!(
        "ws://{addr}/client/?hub={hub}&id={}{extra}&access_token={bearer}",
        negotiated["connectionToken"]
            .as_str()
            .expect("a connection token")
    )
}

/// Negotiates at `addr` (`ip:port`) with `bearer` and opens the WebSocket, without the
/// handshake; returns the socket and the connection id.
pub(crate) async fn open_websocket(addr: &str, hub: &str, bearer: &str) -> (Ws, String) {
    let negotiated = negotiate_at(&format!("http://{addr}"), hub, bearer, 1).await;
    let url = websocket_url(addr, hub, &negotiated, bearer, "");
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket");
    let id = negotiated["connectionId"].as_str().unwrap().to_string();
    (ws, id)
}

/// Sends the JSON handshake on `ws` and checks the empty answer.
pub(crate) async fn json_handshake<S>(ws: &mut WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::text(JSON_HANDSHAKE)).await.unwrap();
    let answer = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("handshake answer in time")
        .expect("socket open")
        .expect("frame");
    assert_eq!(answer.into_data().as_ref(), b"{}\x1e");
}

/// Sends the handshake request for `protocol` and reads the answer, which must accept it;
/// returns what came after the answer in the same frames (the first records, if any).
pub(crate) async fn handshake(ws: &mut Ws, protocol: HubProtocol) -> Vec<u8> {
    let request = String::from_utf8(HandshakeRequest::new(protocol).encode()).unwrap();
    ws.send(Message::text(request)).await.expect("send");
    let mut reader = HandshakeReader::new();
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("handshake answer in time")
            .expect("socket open")
            .expect("frame");
        if let Some(HandshakeRecord { record, rest }) = reader.take(&frame.into_data()).unwrap() {
            assert_eq!(
                HandshakeResponse::parse(&record).unwrap(),
                HandshakeResponse::ok()
            );
            return rest.to_vec();
        }
    }
}

/// One read from a raw HTTP connection within [`WAIT`]: the start of the server's answer.
pub(crate) async fn read_answer(tcp: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(WAIT, tcp.read(&mut buf))
        .await
        .expect("an answer in time")
        .expect("readable");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Reads until the server closes the connection; what it sent, or `None` if it is still open
/// after `within`.
pub(crate) async fn read_until_closed(tcp: &mut TcpStream, within: Duration) -> Option<String> {
    let mut seen = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read).await.ok()?;
    Some(String::from_utf8_lossy(&seen).into_owned())
}

/// The port of a printed connection string (`...;Port=<n>;...`).
pub(crate) fn port_of(connection_string: &str) -> u16 {
    connection_string
        .split(';')
        .find_map(|p| p.strip_prefix("Port="))
        .unwrap_or_else(|| panic!("no Port= in {connection_string:?}"))
        .parse()
        .expect("a numeric port")
}

/// An upstream that answers every call with `status` and passes on the URI it was sent to;
/// returns its base URL (`http://ip:port`) and the URIs.
pub(crate) async fn status_upstream(
    status: u16,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(request.uri().to_string());
            axum::http::StatusCode::from_u16(status).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), rx)
}

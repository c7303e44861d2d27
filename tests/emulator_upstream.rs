//! Client invocations and connection events forwarded to upstreams, checked by an upstream
//! that reads requests the way the Azure Functions SignalR extension does: content type JSON
//! or MessagePack, the body parsed as one serverless message (`type` 1, 10 or 11, no framing),
//! the `X-ASRS-*` headers split as it splits them, and the signature recomputed per key.
//! Its answer to an invocation is a completion message in the client's protocol, framed,
//! as the extension writes it; the client must receive exactly those bytes.
#![cfg(feature = "emulator")]

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use azure_signalr_rest::emulator::{Emulator, EmulatorHandle, UpstreamSettings};
use common::*;
use futures::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A serverless message as the extension reads it.
#[derive(Debug, Clone, PartialEq)]
enum Parsed {
    Open,
    Close {
        error: Option<String>,
    },
    Invocation {
        invocation_id: Option<String>,
        target: String,
        arguments: Value,
    },
}

/// One request the upstream received, and what it answered.
#[derive(Debug)]
struct Call {
    /// Path and query of the request URL.
    url: String,
    headers: HeaderMap,
    body: Vec<u8>,
    parsed: Parsed,
    /// `X-ASRS-Client-Query` split into pairs.
    query: HashMap<String, String>,
    /// `X-ASRS-User-Claims` split into `type: value` pairs.
    claims: HashMap<String, String>,
    /// Whether one of the signatures is the HMAC of the connection id with the key.
    signature_valid: bool,
    reply: Vec<u8>,
}

impl Call {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// `JObject.Parse` of the whole body, then the `type` property.
fn parse_json(body: &[u8]) -> Result<Parsed, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let object = value.as_object().ok_or("not an object")?;
    match object.get("type").and_then(Value::as_i64) {
        Some(1) => Ok(Parsed::Invocation {
            invocation_id: object
                .get("invocationId")
                .and_then(Value::as_str)
                .map(str::to_string),
            target: object["target"].as_str().ok_or("no target")?.to_string(),
            arguments: object.get("arguments").cloned().unwrap_or(json!([])),
        }),
        Some(10) => Ok(Parsed::Open),
        Some(11) => Ok(Parsed::Close {
            error: object
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_string),
        }),
        other => Err(format!("unknown type {other:?}")),
    }
}

/// An array `[1, headers, invocationId, target, arguments]`, nothing before or after it.
fn parse_msgpack(body: &[u8]) -> Result<Parsed, String> {
    let mut reader = body;
    let value = rmpv::decode::read_value(&mut reader).map_err(|e| e.to_string())?;
    if !reader.is_empty() {
        return Err("bytes after the message".into());
    }
    let items = value.as_array().ok_or("not an array")?;
    if items.first().and_then(|t| t.as_i64()) != Some(1) {
        return Err("not an invocation".into());
    }
    items[1].as_map().ok_or("headers are not a map")?;
    let arguments = items[4]
        .as_array()
        .ok_or("arguments are not an array")?
        .iter()
        .map(|a| match a {
            rmpv::Value::Integer(i) => json!(i.as_i64()),
            rmpv::Value::String(s) => json!(s.as_str()),
            other => json!(other.to_string()),
        })
        .collect();
    Ok(Parsed::Invocation {
        invocation_id: items[2].as_str().map(str::to_string),
        target: items[3].as_str().ok_or("no target")?.to_string(),
        arguments: Value::Array(arguments),
    })
}

/// The completion the extension writes for an invocation: `protocol.GetMessageBytes`, framed.
/// Spacing the crate's encoder would not produce shows the bytes are not re-encoded.
fn completion(content_type: &str, invocation_id: &str, target: &str) -> Vec<u8> {
    if content_type == "application/json" {
        let mut bytes = format!(
            "{{ \"type\": 3, \"invocationId\": \"{invocation_id}\", \"result\": \"done {target}\" }}"
        )
        .into_bytes();
        bytes.push(0x1e);
        bytes
    } else {
        let message = rmpv::Value::Array(vec![
            3.into(),
            rmpv::Value::Map(vec![]),
            invocation_id.into(),
            3.into(), // result kind: non-void result
            format!("done {target}").into(),
        ]);
        let mut body = Vec::new();
        rmpv::encode::write_value(&mut body, &message).unwrap();
        let mut framed = vec![u8::try_from(body.len()).unwrap()]; // < 128: a one-byte prefix
        framed.extend(body);
        framed
    }
}

/// `sha256=` + hex HMAC-SHA256(key, connection id), compared case-insensitively with each
/// comma-separated signature (the extension's check; .NET prints hex in upper case).
fn signature_valid(key: &str, headers: &HeaderMap) -> bool {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(header("x-asrs-connection-id").as_bytes());
    let expected = format!("sha256={}", hex::encode_upper(mac.finalize().into_bytes()));
    header("x-asrs-signature")
        .split(',')
        .map(str::trim)
        .any(|s| s.eq_ignore_ascii_case(&expected))
}

struct UpstreamState {
    key: String,
    calls: mpsc::UnboundedSender<Call>,
}

async fn receive(State(state): State<Arc<UpstreamState>>, request: Request) -> impl IntoResponse {
    let url = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let headers = request.headers().clone();
    let body: Bytes = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let parsed = match content_type.as_str() {
        "application/json" => parse_json(&body),
        "application/x-msgpack" => parse_msgpack(&body),
        other => Err(format!("content type {other:?} is refused")),
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let query = url::form_urlencoded::parse(
        header("x-asrs-client-query")
            .trim_start_matches('?')
            .as_bytes(),
    )
    .into_owned()
    .collect();
    let claims = header("x-asrs-user-claims")
        .split(',')
        .filter_map(|c| c.split_once(": "))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let reply = match &parsed {
        Parsed::Invocation {
            invocation_id: Some(id),
            target,
            ..
        } => completion(&content_type, id, target),
        _ => Vec::new(),
    };
    let call = Call {
        url,
        signature_valid: signature_valid(&state.key, &headers),
        headers,
        body: body.to_vec(),
        parsed,
        query,
        claims,
        reply: reply.clone(),
    };
    let _ = state.calls.send(call);
    (StatusCode::OK, reply).into_response()
}

/// An upstream on a free port: its base URL and the calls it receives.
async fn upstream(key: &str) -> (String, mpsc::UnboundedReceiver<Call>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .fallback(receive)
        .with_state(Arc::new(UpstreamState {
            key: key.to_string(),
            calls: tx,
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), rx)
}

async fn next(calls: &mut mpsc::UnboundedReceiver<Call>) -> Call {
    tokio::time::timeout(WAIT, calls.recv())
        .await
        .expect("upstream called in time")
        .expect("upstream open")
}

/// A client that sees the frames exactly as the emulator wrote them.
struct RawClient {
    connection_id: String,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl RawClient {
    /// Negotiates with a token holding `claims` (plus `aud`, `exp`), connects with `query`
    /// added to the URL, and completes the handshake.
    async fn connect(emu: &EmulatorHandle, claims: Value, protocol: &str, query: &str) -> Self {
        let aud = format!("{}/client/?hub=chat", emu.endpoint());
        let mut claims = claims;
        claims["aud"] = json!(aud);
        claims["exp"] = json!(now() + 3600);
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(emu.access_key().as_bytes()),
        )
        .unwrap();
        let negotiated = negotiate_at(&emu.endpoint(), "chat", &token, 1).await;
        let addr = emu.local_addr().to_string();
        let url = websocket_url(&addr, "chat", &negotiated, &token, query);
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut client = RawClient {
            connection_id: negotiated["connectionId"].as_str().unwrap().to_string(),
            ws,
        };
        let handshake = handshake_request(protocol);
        client.ws.send(Message::text(handshake)).await.unwrap();
        assert_eq!(client.frame().await, b"{}\x1e");
        client
    }

    /// The next frame's bytes, pings skipped.
    async fn frame(&mut self) -> Vec<u8> {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time")
                .expect("socket open")
                .expect("frame");
            let data = frame.into_data().to_vec();
            if data != b"{\"type\":6}\x1e" && data != [2, 0x91, 6] {
                return data;
            }
        }
    }

    async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    async fn send_binary(&mut self, data: Vec<u8>) {
        self.ws.send(Message::binary(data)).await.unwrap();
    }
}

#[tokio::test]
async fn json_client_events_reach_the_upstream_as_the_functions_extension_reads_them() {
    let (base, mut calls) = upstream(azure_signalr_rest::emulator::DEFAULT_ACCESS_KEY).await;
    let emu = Emulator::builder()
        .bind("127.0.0.1:0")
        .upstream(format!("{base}/runtime/webhooks/signalr"))
        .start()
        .await
        .unwrap();
    let mut client = RawClient::connect(
        &emu,
        json!({"nameid": "alice", "role": "admin"}),
        "json",
        "&room=blue%20one",
    )
    .await;
    let id = client.connection_id.clone();

    let connected = next(&mut calls).await;
    assert_eq!(connected.url, "/runtime/webhooks/signalr");
    assert_eq!(connected.parsed, Parsed::Open);
    assert_eq!(connected.body, br#"{"type":10}"#);
    assert_eq!(connected.header("content-type"), "application/json");
    assert_eq!(connected.header("x-asrs-connection-id"), id);
    assert_eq!(connected.header("x-asrs-hub"), "chat");
    assert_eq!(connected.header("x-asrs-category"), "connections");
    assert_eq!(connected.header("x-asrs-event"), "connected");
    assert_eq!(connected.header("x-asrs-user-id"), "alice");
    assert!(connected.signature_valid, "{:?}", connected.headers);
    assert_eq!(
        connected.claims.get("role").map(String::as_str),
        Some("admin")
    );
    assert_eq!(
        connected.claims.get("nameid").map(String::as_str),
        Some("alice")
    );
    assert_eq!(connected.query.get("hub").map(String::as_str), Some("chat"));
    assert_eq!(
        connected.query.get("room").map(String::as_str),
        Some("blue one")
    );
    assert!(
        !connected.query.contains_key("access_token"),
        "the client's token is not handed on: {:?}",
        connected.query
    );

    // A blocking invocation: forwarded as the client wrote it (spacing included), and the
    // upstream's completion reaches the client byte for byte.
    let sent = r#"{ "type":1, "invocationId":"7", "target":"echo", "arguments":[5,"five"] }"#;
    client.send_text(&format!("{sent}\u{1e}")).await;
    let invocation = next(&mut calls).await;
    assert_eq!(invocation.body, sent.as_bytes());
    assert_eq!(
        invocation.parsed,
        Parsed::Invocation {
            invocation_id: Some("7".into()),
            target: "echo".into(),
            arguments: json!([5, "five"]),
        }
    );
    assert_eq!(invocation.header("content-type"), "application/json");
    assert_eq!(invocation.header("x-asrs-category"), "messages");
    assert_eq!(invocation.header("x-asrs-event"), "echo");
    assert!(invocation.signature_valid);
    assert_eq!(client.frame().await, invocation.reply);

    // Non-blocking: forwarded, and nothing comes back to the client; the next frame it gets
    // is the REST broadcast sent after it.
    client
        .send_text("{\"type\":1,\"target\":\"fire\",\"arguments\":[]}\u{1e}")
        .await;
    let fired = next(&mut calls).await;
    assert!(
        matches!(fired.parsed, Parsed::Invocation { invocation_id: None, ref target, .. } if target == "fire")
    );
    rest(&emu, "POST", "/api/v1/hubs/chat", msg("after", json!([]))).await;
    let frame = client.frame().await;
    assert!(
        String::from_utf8_lossy(&frame).contains("\"after\""),
        "{frame:?}"
    );

    // A normal close: type 11 without an error.
    client.ws.close(None).await.unwrap();
    let disconnected = next(&mut calls).await;
    assert_eq!(disconnected.parsed, Parsed::Close { error: None });
    assert_eq!(disconnected.header("x-asrs-event"), "disconnected");
    assert_eq!(disconnected.header("x-asrs-connection-id"), id);

    // A client that breaks the protocol: type 11 with the error.
    let mut bad = RawClient::connect(&emu, json!({}), "json", "").await;
    assert_eq!(next(&mut calls).await.parsed, Parsed::Open);
    bad.send_text("{\"type\":1,\"target\":5}\u{1e}").await;
    let disconnected = next(&mut calls).await;
    assert_eq!(
        disconnected.header("x-asrs-connection-id"),
        bad.connection_id
    );
    assert_eq!(
        disconnected.header("x-asrs-user-id"),
        "",
        "no user, no header"
    );
    match disconnected.parsed {
        Parsed::Close { error: Some(e) } => assert!(!e.is_empty()),
        other => panic!("expected a close with an error, got {other:?}"),
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn messagepack_invocations_go_up_as_sent_and_the_completion_comes_back_as_is() {
    let (base, mut calls) = upstream(azure_signalr_rest::emulator::DEFAULT_ACCESS_KEY).await;
    let emu = Emulator::builder()
        .bind("127.0.0.1:0")
        .upstream(format!("{base}/api/{{hub}}/{{category}}/{{event}}"))
        .start()
        .await
        .unwrap();
    let mut client = RawClient::connect(&emu, json!({"nameid": "bob"}), "messagepack", "").await;
    let connected = next(&mut calls).await;
    assert_eq!(connected.url, "/api/chat/connections/connected");
    assert_eq!(connected.header("content-type"), "application/json");

    // [1, {}, "9", "add", [1, "x"]], length-prefixed.
    let message = rmpv::Value::Array(vec![
        1.into(),
        rmpv::Value::Map(vec![]),
        "9".into(),
        "add".into(),
        rmpv::Value::Array(vec![1.into(), "x".into()]),
    ]);
    let mut record = Vec::new();
    rmpv::encode::write_value(&mut record, &message).unwrap();
    let mut framed = vec![u8::try_from(record.len()).unwrap()];
    framed.extend(&record);
    client.send_binary(framed).await;

    let invocation = next(&mut calls).await;
    assert_eq!(invocation.url, "/api/chat/messages/add");
    assert_eq!(invocation.header("content-type"), "application/x-msgpack");
    assert_eq!(
        invocation.body, record,
        "the record without its length prefix"
    );
    assert_eq!(
        invocation.parsed,
        Parsed::Invocation {
            invocation_id: Some("9".into()),
            target: "add".into(),
            arguments: json!([1, "x"]),
        }
    );
    assert!(invocation.signature_valid);
    assert_eq!(client.frame().await, invocation.reply);
    emu.shutdown().await;
}

async fn next_url(urls: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(WAIT, urls.recv())
        .await
        .expect("upstream called in time")
        .unwrap()
}

#[tokio::test]
async fn templates_route_each_event_to_the_first_match_and_skip_the_rest() {
    let (base, mut urls) = status_upstream(204).await;
    // The official emulator's settings.json shape, read from a file.
    let file = std::env::temp_dir().join(format!("asrs-upstream-{}.json", std::process::id()));
    let settings = json!({"UpstreamSettings": {"Templates": [
        {"UrlTemplate": format!("{base}/other/{{event}}"), "HubPattern": "other",
         "EventPattern": "*", "CategoryPattern": "*"},
        {"UrlTemplate": format!("{base}/conn/{{category}}/{{event}}"), "HubPattern": "*",
         "EventPattern": "connected", "CategoryPattern": "connections"},
        {"UrlTemplate": format!("{base}/msg/{{event}}?code=k"), "HubPattern": "Chat, news",
         "EventPattern": "send, join", "CategoryPattern": "messages"},
        {"UrlTemplate": format!("{base}/late/{{event}}"), "HubPattern": "*",
         "EventPattern": "send,leave", "CategoryPattern": "*"}
    ]}});
    std::fs::write(&file, settings.to_string()).unwrap();
    let loaded = UpstreamSettings::load(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    let emu = Emulator::builder()
        .bind("127.0.0.1:0")
        .upstream_settings(loaded)
        .start()
        .await
        .unwrap();
    let mut client = WsClient::connect(&emu, "chat", Some("carol")).await;
    assert_eq!(next_url(&mut urls).await, "/conn/connections/connected");

    let invoke = |target: &str, id: Option<&str>| {
        let mut text = json!({"type": 1, "target": target, "arguments": []});
        if let Some(id) = id {
            text["invocationId"] = json!(id);
        }
        format!("{text}\u{1e}").into_bytes()
    };
    // `send` matches the third and the fourth template: the third, earlier, wins.
    client.send_raw(invoke("send", None), false).await;
    assert_eq!(next_url(&mut urls).await, "/msg/send?code=k");
    // `ignored` matches no template: not sent (the worker keeps order, so had it been sent
    // it would arrive before `leave`).
    client.send_raw(invoke("ignored", None), false).await;
    client.send_raw(invoke("leave", Some("1")), false).await;
    assert_eq!(next_url(&mut urls).await, "/late/leave");
    // 204 to a blocking invocation: an empty completion.
    match client.next_message(WAIT).await {
        Some(azure_signalr_rest::protocol::HubMessage::Completion {
            invocation_id,
            result,
            ..
        }) => {
            assert_eq!(invocation_id, "1");
            assert_eq!(result, azure_signalr_rest::protocol::CompletionResult::Void);
        }
        other => panic!("expected a completion, got {other:?}"),
    }
    // A blocking invocation no template takes gets an error instead of waiting forever.
    client.send_raw(invoke("nowhere", Some("2")), false).await;
    match client.next_message(WAIT).await {
        Some(azure_signalr_rest::protocol::HubMessage::Completion {
            invocation_id,
            result: azure_signalr_rest::protocol::CompletionResult::Error(e),
            ..
        }) => {
            assert_eq!(invocation_id, "2");
            assert!(e.contains("no upstream"), "{e}");
        }
        other => panic!("expected an error completion, got {other:?}"),
    }
    emu.shutdown().await;
}

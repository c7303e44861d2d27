//! The answers Microsoft's .NET server SDK (Microsoft.Azure.SignalR.Management) relies on, and
//! our client reading the same answers.
//!
//! The SDK cannot run here, so its requests are built by hand from its public sources:
//! `RestApiProvider` (2022-06-01 paths, `application=` before `api-version=`, each id
//! escaped), `RestHubLifetimeManager` (which method each check uses and which
//! `x-ms-error-code` turns its 404 into "no") and `BinaryPayloadMessageContent` (the binary
//! send body: a MessagePack map from protocol name to that protocol's serialized invocation,
//! sent as `application/octet-stream`).
#![cfg(all(feature = "emulator", feature = "listener"))]

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use azure_signalr_rest::emulator::EmulatorHandle;
use azure_signalr_rest::protocol::{HubMessage, HubProtocol};
use azure_signalr_rest::{
    ApiVersion, CloseOptions, ErrorKind, Message, Operation, RetryPolicy, SendOptions,
    ServiceClient,
};
use common::{client_token, handshake, http, open_websocket, start, token, WAIT};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const API: &str = "api-version=2022-06-01";

// ---------------------------------------------------------------------------------------------
// Requests as the SDK builds them.

/// `{endpoint}/api/hubs/{hub}{rest}?[application=<app>&]api-version=2022-06-01`, the SDK's
/// URL (hub and application lower-cased, `rest` already escaped), with a token for it.
///
/// The SDK signs `aud` without the port; this token names the URL the request goes to
/// (port and query included), which the emulator accepts whether or not it ignores the port.
fn sdk_request(
    emu: &EmulatorHandle,
    method: Method,
    hub: &str,
    rest: &str,
    application: Option<&str>,
) -> reqwest::RequestBuilder {
    let query = match application {
        Some(app) => format!("application={}&{API}", app.to_lowercase()),
        None => API.to_owned(),
    };
    let url = format!(
        "{}/api/hubs/{}{rest}?{query}",
        emu.endpoint(),
        hub.to_lowercase()
    );
    let token = token(emu.access_key(), &url, None, None);
    http().request(method, &url).bearer_auth(token)
}

struct Answer {
    status: u16,
    code: Option<String>,
    content_type: Option<String>,
    body: String,
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("REST call");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let code = header("x-ms-error-code");
    let content_type = header("content-type");
    Answer {
        status: response.status().as_u16(),
        code,
        content_type,
        body: response.text().await.unwrap(),
    }
}

/// A 404 as the SDK reads it: the header names `code`; a GET's body is the spec's
/// `ErrorDetail` with the same code.
fn assert_not_found(a: &Answer, code: &str, what: &str) {
    assert_eq!(a.status, 404, "{what}: {}", a.body);
    assert_eq!(a.code.as_deref(), Some(code), "{what}");
    if !a.body.is_empty() {
        assert_error_detail(a, code, what);
    }
}

/// The body is `{code, message[, target, details]}` and its code is the header's.
fn assert_error_detail(a: &Answer, code: &str, what: &str) {
    assert!(
        a.content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/json")),
        "{what}: {:?}",
        a.content_type
    );
    let body: Value = serde_json::from_str(&a.body).expect("JSON error body");
    let keys: BTreeSet<&str> = body
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    // `target` and `details` are optional and typed string and array: absent, never null.
    assert!(
        keys.is_superset(&BTreeSet::from(["code", "message"]))
            && keys.is_subset(&BTreeSet::from(["code", "message", "target", "details"])),
        "{what}: {body}"
    );
    assert!(
        body.as_object().unwrap().values().all(|v| !v.is_null()),
        "{what}: {body}"
    );
    assert_eq!(body["code"], code, "{what}: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

// ---------------------------------------------------------------------------------------------
// The SDK's binary send body, written as MessagePack-CSharp's writer writes it.

/// The .NET JSON hub protocol's record of an invocation without id.
fn json_record(target: &str, arguments: Value) -> Vec<u8> {
    let mut record = serde_json::to_vec(&json!({
        "type": 1, "target": target, "arguments": arguments
    }))
    .unwrap();
    record.push(0x1e);
    record
}

/// The .NET MessagePack hub protocol's record of `Invocation(target, ["a", 1, bin 01 02 03])`:
/// `[1, {}, nil, target, arguments, []]` behind its varint length prefix.
fn messagepack_record(target: &str) -> Vec<u8> {
    assert!(target.len() < 32);
    let mut body = vec![0x96, 0x01, 0x80, 0xc0, 0xa0 | target.len() as u8];
    body.extend_from_slice(target.as_bytes());
    body.extend_from_slice(&[0x93, 0xa1, b'a', 0x01, 0xc4, 0x03, 0x01, 0x02, 0x03, 0x90]);
    let mut record = vec![body.len() as u8];
    assert!(body.len() < 0x80, "a one-byte length prefix");
    record.extend(body);
    record
}

/// `WriteMapHeader(n)`, then per protocol `WriteString(name)` and `Write(bytes)` (bin 8/16).
fn payload_map(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = vec![0x80 | entries.len() as u8];
    for (name, bytes) in entries {
        out.push(0xa0 | name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        match bytes.len() {
            n @ 0..=0xff => out.extend_from_slice(&[0xc4, n as u8]),
            n => {
                out.push(0xc5);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(bytes);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// A client that keeps the records it receives as bytes.

struct RawClient {
    connection_id: String,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    protocol: HubProtocol,
    buffer: Vec<u8>,
}

impl RawClient {
    async fn connect(
        emu: &EmulatorHandle,
        hub: &str,
        user: Option<&str>,
        protocol: HubProtocol,
    ) -> RawClient {
        let bearer = client_token(emu, hub, user);
        let addr = emu.local_addr().to_string();
        let (mut ws, connection_id) = open_websocket(&addr, hub, &bearer).await;
        let buffer = handshake(&mut ws, protocol).await;
        emu.wait_for_connection(|c| c.connection_id == connection_id, WAIT)
            .await
            .expect("connection registered");
        RawClient {
            connection_id,
            ws,
            protocol,
            buffer,
        }
    }

    /// Splits one whole record off the front of the buffer.
    fn split_record(&mut self) -> Option<Vec<u8>> {
        let end = match self.protocol {
            HubProtocol::Json => self.buffer.iter().position(|b| *b == 0x1e)? + 1,
            HubProtocol::MessagePack => {
                let (mut len, mut shift, mut i) = (0usize, 0, 0);
                loop {
                    let b = *self.buffer.get(i)?;
                    len |= usize::from(b & 0x7f) << shift;
                    i += 1;
                    if b & 0x80 == 0 {
                        break;
                    }
                    shift += 7;
                }
                i + len
            }
        };
        (self.buffer.len() >= end).then(|| self.buffer.drain(..end).collect())
    }

    /// The bytes of the next record that is not a ping.
    async fn next_record(&mut self) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            while let Some(record) = self.split_record() {
                if self.protocol.decode_all(&record).unwrap() != [HubMessage::Ping] {
                    return record;
                }
            }
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("a record in time")
                .expect("socket open")
                .expect("frame");
            self.buffer.extend_from_slice(&frame.into_data());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The emulator, asked the way the SDK asks.

#[tokio::test]
async fn not_found_answers_name_what_is_missing_as_the_sdk_expects() {
    let emu = start().await;
    let alice = RawClient::connect(&emu, "chat", Some("alice"), HubProtocol::Json).await;
    let id = alice.connection_id.as_str();
    let ok = |a: &Answer, what: &str| assert_eq!(a.status, 200, "{what}: {}", a.body);

    // ConnectionExistsAsync: HEAD, "no" only with Warning.Connection.NotExisted.
    let a = answer(sdk_request(
        &emu,
        Method::HEAD,
        "Chat",
        "/connections/nope",
        None,
    ))
    .await;
    assert_not_found(&a, "Warning.Connection.NotExisted", "connection exists");
    let a = answer(sdk_request(
        &emu,
        Method::HEAD,
        "Chat",
        &format!("/connections/{id}"),
        None,
    ))
    .await;
    ok(&a, "live connection exists");

    // UserExistsAsync: HEAD, Warning.User.NotExisted.
    let a = answer(sdk_request(&emu, Method::HEAD, "Chat", "/users/bob", None)).await;
    assert_not_found(&a, "Warning.User.NotExisted", "user exists");
    let a = answer(sdk_request(
        &emu,
        Method::HEAD,
        "Chat",
        "/users/alice",
        None,
    ))
    .await;
    ok(&a, "alice exists");

    // GroupExistsAsync: HEAD, Warning.Group.NotExisted.
    let a = answer(sdk_request(
        &emu,
        Method::HEAD,
        "Chat",
        "/groups/room%201",
        None,
    ))
    .await;
    assert_not_found(&a, "Warning.Group.NotExisted", "group exists");

    // IsUserInGroup: GET (not HEAD), Info.User.NotInGroup, with an ErrorDetail body.
    let in_group = |emu: &EmulatorHandle| {
        sdk_request(
            emu,
            Method::GET,
            "Chat",
            "/users/alice/groups/room%201",
            None,
        )
    };
    let a = answer(in_group(&emu)).await;
    assert_not_found(&a, "Info.User.NotInGroup", "user in group");
    assert!(!a.body.is_empty(), "a GET's 404 has a body");
    let a = answer(sdk_request(
        &emu,
        Method::PUT,
        "Chat",
        "/users/alice/groups/room%201",
        None,
    ))
    .await;
    ok(&a, "add alice to the group");
    ok(
        &answer(in_group(&emu)).await,
        "alice in the group, asked with GET",
    );
    let a = answer(sdk_request(
        &emu,
        Method::HEAD,
        "Chat",
        "/groups/room%201",
        None,
    ))
    .await;
    ok(&a, "the group has alice's connection");

    // AddToGroupAsync: PUT, Error.Connection.NotExisted (which the SDK accepts; any other 404
    // makes it throw "inaccessible endpoint").
    let a = answer(sdk_request(
        &emu,
        Method::PUT,
        "Chat",
        "/groups/g/connections/nope",
        None,
    ))
    .await;
    assert_not_found(&a, "Error.Connection.NotExisted", "add connection to group");
    assert!(
        serde_json::from_str::<Value>(&a.body).unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("nope"),
        "{}",
        a.body
    );

    // The same under an application (`application=` first, lower-cased, as the SDK writes it).
    let a = answer(sdk_request(
        &emu,
        Method::GET,
        "Chat",
        "/users/alice/groups/room%201",
        Some("App"),
    ))
    .await;
    assert_not_found(&a, "Info.User.NotInGroup", "another application's hub");
    let a = answer(sdk_request(
        &emu,
        Method::HEAD,
        "Chat",
        "/users/alice",
        Some("App"),
    ))
    .await;
    assert_not_found(
        &a,
        "Warning.User.NotExisted",
        "user exists in the application's hub",
    );

    // A path the API does not have is a 404 too, but not one any check reads as "no".
    let a = answer(sdk_request(&emu, Method::GET, "Chat", "/userz/alice", None)).await;
    assert_eq!(a.status, 404);
    let code = a.code.clone().expect("a code");
    assert!(
        !code.contains("NotExisted") && !code.contains("NotInGroup"),
        "{code}"
    );
    assert_error_detail(&a, &code, "unknown path");
    emu.shutdown().await;
}

#[tokio::test]
async fn binary_payload_sends_arrive_byte_exact_in_each_protocol() {
    let emu = start().await;
    let mut json_client = RawClient::connect(&emu, "chat", Some("alice"), HubProtocol::Json).await;
    let mut mp_client =
        RawClient::connect(&emu, "chat", Some("alice"), HubProtocol::MessagePack).await;
    for c in [&json_client, &mp_client] {
        let path = format!("/groups/team/connections/{}", c.connection_id);
        let a = answer(sdk_request(&emu, Method::PUT, "chat", &path, None)).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let json_id = json_client.connection_id.clone();
    let sends = [
        ("/:send".to_owned(), "application/octet-stream"),
        ("/users/alice/:send".to_owned(), "application/x-msgpack"),
        ("/groups/team/:send".to_owned(), "application/octet-stream"),
        (
            format!("/connections/{json_id}/:send"),
            "application/octet-stream",
        ),
    ];
    for (i, (path, content_type)) in sends.iter().enumerate() {
        let target = format!("blob{i}");
        let json = json_record(&target, json!(["a", 1, "AQID"]));
        let mp = messagepack_record(&target);
        // The SDK's own test writes MessagePack first; the order carries no meaning.
        let body = payload_map(&[("messagepack", &mp), ("json", &json)]);
        let request = sdk_request(&emu, Method::POST, "Chat", path, None)
            .header("content-type", *content_type)
            .body(body);
        let a = answer(request).await;
        assert_eq!(a.status, 202, "{path}: {}", a.body);
        assert_eq!(json_client.next_record().await, json, "{path}: JSON client");
        if !path.starts_with("/connections/") {
            assert_eq!(
                mp_client.next_record().await,
                mp,
                "{path}: MessagePack client"
            );
        }
    }
    // What the MessagePack client got is a real binary argument, which JSON could not carry.
    let decoded = HubProtocol::MessagePack
        .decode_all(&messagepack_record("x"))
        .unwrap();
    assert!(matches!(&decoded[..], [HubMessage::Invocation(inv)] if inv.arguments.len() == 3));
    // The delivery record shows the JSON view of the message.
    let d = emu
        .deliveries()
        .into_iter()
        .find(|d| d.target == "blob0" && d.connection_id == json_id)
        .expect("recorded");
    assert_eq!(*d.arguments, vec![json!("a"), json!(1), json!("AQID")]);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_protocol_left_out_of_the_payloads_gets_nothing() {
    let emu = start().await;
    let mut json_client = RawClient::connect(&emu, "chat", Some("alice"), HubProtocol::Json).await;
    let mut mp_client =
        RawClient::connect(&emu, "chat", Some("alice"), HubProtocol::MessagePack).await;
    let json_only = json_record("onlyJson", json!([1]));
    let request = sdk_request(&emu, Method::POST, "chat", "/users/alice/:send", None)
        .header("content-type", "application/octet-stream")
        .body(payload_map(&[("json", &json_only)]));
    assert_eq!(answer(request).await.status, 202);
    let mp = messagepack_record("onlyMessagePack");
    let request = sdk_request(&emu, Method::POST, "chat", "/users/alice/:send", None)
        .header("content-type", "application/octet-stream")
        .body(payload_map(&[("messagepack", &mp)]));
    assert_eq!(answer(request).await.status, 202);
    // Each client's next record is the one message it has a payload for.
    assert_eq!(json_client.next_record().await, json_only);
    assert_eq!(mp_client.next_record().await, mp);
    // And a JSON body still reaches both, converted as before.
    let request = sdk_request(&emu, Method::POST, "chat", "/users/alice/:send", None)
        .json(&json!({"target": "plain", "arguments": [2]}));
    assert_eq!(answer(request).await.status, 202);
    let next = json_client.next_record().await;
    assert_eq!(next, json_record("plain", json!([2])));
    let next = HubProtocol::MessagePack
        .decode_all(&mp_client.next_record().await)
        .unwrap();
    assert!(matches!(&next[..], [HubMessage::Invocation(inv)] if inv.target == "plain"));
    emu.shutdown().await;
}

#[tokio::test]
async fn malformed_binary_bodies_get_400_with_an_error_detail() {
    let emu = start().await;
    let good_json = json_record("t", json!([]));
    let ping_json = b"{\"type\":6}\x1e".to_vec();
    let two = [good_json.clone(), good_json.clone()].concat();
    let unterminated = good_json[..good_json.len() - 1].to_vec();
    let empty_target = json_record("", json!([]));
    let mut truncated = payload_map(&[("json", &good_json)]);
    truncated.truncate(truncated.len() - 3);
    let mut trailing = payload_map(&[("json", &good_json)]);
    trailing.push(0xc0);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty body", Vec::new()),
        (
            "JSON sent as binary",
            br#"{"target":"t","arguments":[]}"#.to_vec(),
        ),
        ("no payload", payload_map(&[])),
        (
            "unknown protocol only",
            payload_map(&[("blazorpack", &good_json)]),
        ),
        ("not an invocation", payload_map(&[("json", &ping_json)])),
        ("two records", payload_map(&[("json", &two)])),
        ("no separator", payload_map(&[("json", &unterminated)])),
        ("empty target", payload_map(&[("json", &empty_target)])),
        (
            "bad messagepack",
            payload_map(&[("messagepack", &[0x05, 0x01])]),
        ),
        (
            "twice json",
            payload_map(&[("json", &good_json), ("json", &good_json)]),
        ),
        ("truncated", truncated),
        ("trailing bytes", trailing),
    ];
    for (what, body) in cases {
        let request = sdk_request(&emu, Method::POST, "chat", "/:send", None)
            .header("content-type", "application/octet-stream")
            .body(body);
        let a = answer(request).await;
        assert_eq!(a.status, 400, "{what}: {}", a.body);
        assert_eq!(a.code.as_deref(), Some("BadRequest"), "{what}");
        assert_error_detail(&a, "BadRequest", what);
    }
    emu.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Our client, as the sender.

fn our_client(emu: &EmulatorHandle, version: ApiVersion) -> ServiceClient {
    ServiceClient::builder()
        .connection_string(&emu.connection_string().parse().unwrap())
        .api_version(version)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn our_client_sends_pre_serialized_payloads_byte_exact() {
    let emu = start().await;
    let mut json_client = RawClient::connect(&emu, "chat", Some("alice"), HubProtocol::Json).await;
    let mut mp_client =
        RawClient::connect(&emu, "chat", Some("alice"), HubProtocol::MessagePack).await;
    let client = our_client(&emu, ApiVersion::V2022_06_01);
    let hub = client.hub("Chat");
    for c in [&json_client, &mp_client] {
        hub.add_connection_to_group(&c.connection_id, "team")
            .await
            .unwrap();
    }
    let message = |target: &str| {
        Message::from_payloads(
            target,
            Some(json_record(target, json!(["a", 1, "AQID"]))),
            Some(messagepack_record(target)),
        )
        .unwrap()
    };
    hub.send_to_user("alice", &message("toUser")).await.unwrap();
    hub.broadcast(&message("toAll"), None).await.unwrap();
    hub.send_to_group(
        "team",
        &message("toGroup"),
        Some(SendOptions::default().excluded([&json_client.connection_id])),
    )
    .await
    .unwrap();
    hub.send_to_users(&["alice"], &message("toUsers"))
        .await
        .unwrap();
    let mp_id = mp_client.connection_id.clone();
    hub.send_to_connection(&mp_id, &message("toConnection"))
        .await
        .unwrap();
    for target in ["toUser", "toAll", "toUsers"] {
        assert_eq!(
            json_client.next_record().await,
            json_record(target, json!(["a", 1, "AQID"])),
            "{target}"
        );
    }
    for target in ["toUser", "toAll", "toGroup", "toUsers", "toConnection"] {
        assert_eq!(
            mp_client.next_record().await,
            messagepack_record(target),
            "{target}"
        );
    }

    // 1.0 has no binary body: refused before sending.
    let v1 = our_client(&emu, ApiVersion::V1);
    let err = v1
        .hub("chat")
        .send_to_user("alice", &message("never"))
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { subject, rule, .. }
            if subject == "message" && rule.contains("2022-06-01")),
        "{err:?}"
    );
    emu.shutdown().await;
}

/// One request a mock service saw.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A stand-in service: answers each request with `respond(n, request)` (n counts from 0) and
/// keeps what it saw.
async fn mock_service(
    respond: impl Fn(usize, &Seen) -> (StatusCode, Option<&'static str>) + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let respond = Arc::new(respond);
    let kept = seen.clone();
    let app = Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
            let (seen, count, respond) = (kept.clone(), count.clone(), respond.clone());
            async move {
                let request = Seen {
                    method,
                    uri,
                    headers,
                    body: body.to_vec(),
                };
                let n = count.fetch_add(1, Ordering::SeqCst);
                let (status, code) = respond(n, &request);
                seen.lock().unwrap().push(request);
                let mut response = status.into_response();
                if let Some(code) = code {
                    response
                        .headers_mut()
                        .insert("x-ms-error-code", code.parse().unwrap());
                }
                response
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let connection_string =
        format!("Endpoint=http://127.0.0.1;Port={port};AccessKey=mock-key;Version=1.0;");
    (connection_string, seen)
}

fn mock_client(connection_string: &str, version: ApiVersion, retry: RetryPolicy) -> ServiceClient {
    ServiceClient::builder()
        .connection_string(&connection_string.parse().unwrap())
        .api_version(version)
        .retry_policy(retry)
        .build()
        .unwrap()
}

#[tokio::test]
async fn our_binary_send_goes_through_auth_retries_and_error_mapping() {
    // 429 first (a send is retried only when it cannot have been delivered), then 202; user
    // "ghost" gets a 404 with a code.
    let (cs, seen) = mock_service(|n, r| {
        if r.uri.path().contains("/users/ghost/") {
            (StatusCode::NOT_FOUND, Some("Warning.User.NotExisted"))
        } else if n == 0 {
            (StatusCode::TOO_MANY_REQUESTS, None)
        } else {
            (StatusCode::ACCEPTED, None)
        }
    })
    .await;
    let retry = RetryPolicy::default()
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(1));
    let client = mock_client(&cs, ApiVersion::V2022_06_01, retry);
    let json = json_record("blob", json!(["AQID"]));
    let mp = messagepack_record("blob");
    let message = Message::from_payloads("blob", Some(json.clone()), Some(mp.clone())).unwrap();
    client
        .hub("Chat")
        .send_to_group(
            "team a",
            &message,
            Some(SendOptions::default().excluded(["c1", "c2"])),
        )
        .await
        .unwrap();
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "retried once after the 429");
    for r in &requests {
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.uri.path(), "/api/hubs/chat/groups/team%20a/:send");
        let query: Vec<(String, String)> =
            url::form_urlencoded::parse(r.uri.query().unwrap().as_bytes())
                .into_owned()
                .collect();
        for pair in [
            ("api-version", "2022-06-01"),
            ("excluded", "c1"),
            ("excluded", "c2"),
        ] {
            assert!(
                query.contains(&(pair.0.into(), pair.1.into())),
                "{pair:?} in {query:?}"
            );
        }
        assert_eq!(r.headers["content-type"], "application/octet-stream");
        // The same layout the SDK writes, our order: json, then messagepack.
        assert_eq!(
            r.body,
            payload_map(&[("json", &json), ("messagepack", &mp)])
        );
        let bearer = r.headers["authorization"].to_str().unwrap();
        let jwt = bearer.strip_prefix("Bearer ").expect("a bearer token");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Value>(
            jwt,
            &jsonwebtoken::DecodingKey::from_secret(b"mock-key"),
            &validation,
        )
        .expect("signed with the access key")
        .claims;
        let aud = claims["aud"].as_str().unwrap();
        assert!(
            aud.contains("/api/hubs/chat/groups/team%20a/:send"),
            "audience names the request: {aud}"
        );
    }

    // A 404 is mapped like any other call's, code included.
    let err = client
        .hub("chat")
        .send_to_user("ghost", &message)
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotFound { .. }), "{err:?}");
    assert_eq!(err.operation(), Operation::SendToUser);
    assert_eq!(err.error_code(), Some("Warning.User.NotExisted"));
    assert!(!format!("{err} {err:?}").contains("mock-key"));
}

#[tokio::test]
async fn our_exists_calls_read_the_emulators_error_codes() {
    let emu = start().await;
    let alice = RawClient::connect(&emu, "chat", Some("alice"), HubProtocol::Json).await;
    let client = our_client(&emu, ApiVersion::V2022_06_01);
    let hub = client.hub("chat");
    assert!(hub.user_exists("alice").await.unwrap());
    assert!(!hub.user_exists("bob").await.unwrap());
    assert!(hub.connection_exists(&alice.connection_id).await.unwrap());
    assert!(!hub.connection_exists("nope").await.unwrap());
    assert!(!hub.group_exists("team").await.unwrap());
    assert!(!hub.user_in_group("alice", "team").await.unwrap());
    hub.add_user_to_group("alice", "team", None).await.unwrap();
    assert!(hub.user_in_group("alice", "team").await.unwrap());
    assert!(hub.group_exists("team").await.unwrap());
    // Not an existence check: the 404 is an error, and says why.
    let err = hub
        .add_connection_to_group("nope", "team")
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotFound { .. }), "{err:?}");
    assert_eq!(err.error_code(), Some("Error.Connection.NotExisted"));
    assert!(
        err.to_string().contains("[Error.Connection.NotExisted]"),
        "{err}"
    );
    // 1.0 answers carry no code: a 404 there still means "no".
    let v1 = our_client(&emu, ApiVersion::V1);
    assert!(!v1.hub("chat").user_exists("bob").await.unwrap());
    assert!(v1.hub("chat").user_exists("alice").await.unwrap());
    emu.shutdown().await;
}

#[tokio::test]
async fn a_404_without_the_expected_code_is_an_error_not_a_no() {
    // The user id picks the answer: its expected code, another code, or none.
    let (cs, _seen) = mock_service(|_, r| {
        let path = r.uri.path();
        let code = if path.ends_with("/right") || path.contains("/right/") {
            // Each check's own code, chosen by what the path asks.
            Some(if path.contains("/groups/") {
                "Info.User.NotInGroup"
            } else {
                "Warning.User.NotExisted"
            })
        } else if path.contains("other") {
            Some("Warning.Group.NotExisted")
        } else {
            None
        };
        (StatusCode::NOT_FOUND, code)
    })
    .await;
    let v2022 = mock_client(&cs, ApiVersion::V2022_06_01, RetryPolicy::none());
    let hub = v2022.hub("chat");
    assert!(!hub.user_exists("right").await.unwrap());
    assert!(!hub.user_in_group("right", "g").await.unwrap());
    // Another check's code: not this check's "no".
    let err = hub.user_exists("other").await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotFound { .. }), "{err:?}");
    assert_eq!(err.error_code(), Some("Warning.Group.NotExisted"));
    assert_eq!(err.operation(), Operation::UserExists);
    // No code at all: a misrouted request, not an answer.
    let err = hub.user_exists("misrouted").await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotFound { .. }), "{err:?}");
    assert_eq!(err.error_code(), None);
    let err = hub.user_in_group("misrouted", "g").await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotFound { .. }), "{err:?}");
    // A code meant for another check is an error too.
    let err = hub.user_in_group("other", "g").await.unwrap_err();
    assert_eq!(err.error_code(), Some("Warning.Group.NotExisted"));

    // 1.0 publishes no codes: a bare 404 means "no", another check's code is still an error.
    let v1 = mock_client(&cs, ApiVersion::V1, RetryPolicy::none());
    assert!(!v1.hub("chat").user_exists("misrouted").await.unwrap());
    let err = v1.hub("chat").user_exists("other").await.unwrap_err();
    assert_eq!(err.error_code(), Some("Warning.Group.NotExisted"));
}

#[tokio::test]
async fn closing_a_gone_connection_succeeds_only_when_the_service_says_so() {
    let (cs, _seen) = mock_service(|_, r| {
        let code = r
            .uri
            .path()
            .ends_with("/gone")
            .then_some("Warning.Connection.NotExisted");
        (StatusCode::NOT_FOUND, code)
    })
    .await;
    for version in [ApiVersion::V1, ApiVersion::V2022_06_01] {
        let hub = mock_client(&cs, version, RetryPolicy::none()).hub("chat");
        hub.close_connection("gone", Some(CloseOptions::default().reason("bye")))
            .await
            .unwrap();
        let err = hub.close_connection("misrouted", None).await.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::NotFound { .. }),
            "{version}: {err:?}"
        );
    }
}

#[tokio::test]
async fn error_codes_compare_ignoring_case() {
    // The SDK compares codes ignoring case; only the name matters.
    let (cs, _seen) = mock_service(|_, r| {
        let code = if r.uri.path().contains("/connections/") {
            "warning.connection.notexisted"
        } else {
            "WARNING.CONNECTION.NOTEXISTED"
        };
        (StatusCode::NOT_FOUND, Some(code))
    })
    .await;
    let client = mock_client(&cs, ApiVersion::V2022_06_01, RetryPolicy::none());
    assert!(!client.hub("chat").connection_exists("c").await.unwrap());
    let err = client.hub("chat").group_exists("g").await.unwrap_err();
    assert_eq!(err.error_code(), Some("WARNING.CONNECTION.NOTEXISTED"));
}

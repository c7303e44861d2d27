//! The emulator under careless and hostile HTTP clients, over real sockets: slow headers, idle
//! keep-alive connections, stalled and endless bodies, too many connections. Timeouts are set
//! short on the builder so each case ends in well under a second; long-lived exchanges
//! (WebSocket, SSE, Long Polling) must outlive them.
#![cfg(feature = "emulator")]

mod common;

use std::time::{Duration, Instant};

use azure_signalr_rest::emulator::{Emulator, EmulatorHandle};
use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The short timeout the hostile cases run under.
const SHORT: Duration = Duration::from_millis(400);

async fn start_with(max_connections: usize) -> EmulatorHandle {
    Emulator::builder()
        .bind("127.0.0.1:0")
        .header_timeout(SHORT)
        .body_timeout(SHORT)
        .max_connections(max_connections)
        .start()
        .await
        .expect("emulator starts")
}

/// A REST health request head for `emu`, without the final blank line.
fn health_head(emu: &EmulatorHandle) -> String {
    let (url, token) = rest_url(emu, "/api/v1/health");
    let path = url.trim_start_matches(&emu.endpoint()).to_string();
    format!(
        "HEAD {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n",
        emu.local_addr()
    )
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let emu = start_with(100).await;
    let mut tcp = TcpStream::connect(emu.local_addr()).await.unwrap();
    let started = Instant::now();
    // Slowloris: a header line every 100 ms, never the blank line that ends the head. Each
    // line is progress, so only a deadline on the whole head stops it.
    let head = health_head(&emu);
    tcp.write_all(head.as_bytes()).await.unwrap();
    let trickle = async {
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if tcp
                .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    };
    let cut = tokio::time::timeout(Duration::from_secs(5), trickle).await;
    assert!(cut.is_ok(), "the server still reads a head after 5 s");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let emu = start_with(100).await;
    let mut tcp = TcpStream::connect(emu.local_addr()).await.unwrap();
    // One full request, answered; then the connection sits idle.
    tcp.write_all(format!("{}\r\n", health_head(&emu)).as_bytes())
        .await
        .unwrap();
    let answer = read_answer(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    let closed = read_until_closed(&mut tcp, Duration::from_secs(5)).await;
    assert!(
        closed.is_some(),
        "idle keep-alive connection still open after 5 s"
    );

    // A connection that never sends a byte is closed too.
    let mut silent = TcpStream::connect(emu.local_addr()).await.unwrap();
    assert!(read_until_closed(&mut silent, Duration::from_secs(5))
        .await
        .is_some());
    emu.shutdown().await;
}

#[tokio::test]
async fn stalled_body_is_answered_408_and_closed() {
    let emu = start_with(100).await;
    let (url, token) = rest_url(&emu, "/api/v1/hubs/chat");
    let path = url.trim_start_matches(&emu.endpoint()).to_string();
    let mut tcp = TcpStream::connect(emu.local_addr()).await.unwrap();
    // Declares 100 bytes, sends 10, then nothing.
    tcp.write_all(
        format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"target\":",
            emu.local_addr()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut tcp, Duration::from_secs(5))
        .await
        .expect("connection closed after the body timeout");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("request body not received within"),
        "{answer}"
    );
    assert!(emu.deliveries().is_empty());
    emu.shutdown().await;
}

#[tokio::test]
async fn endless_chunked_body_is_cut_off() {
    let emu = start_with(100).await;
    let (url, token) = rest_url(&emu, "/api/v1/hubs/chat");
    let path = url.trim_start_matches(&emu.endpoint()).to_string();
    let mut tcp = TcpStream::connect(emu.local_addr()).await.unwrap();
    tcp.write_all(
        format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            emu.local_addr()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // One small chunk every 50 ms, for ever: always progress, never an end.
    let (mut reader, mut writer) = tcp.into_split();
    let trickle = tokio::spawn(async move {
        while writer.write_all(b"1\r\n \r\n").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut answer)).await;
    trickle.abort();
    assert!(read.is_ok(), "endless body still being read after 5 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    emu.shutdown().await;
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_with_retry_after() {
    let emu = Emulator::builder()
        .bind("127.0.0.1:0")
        .max_connections(3)
        .start()
        .await
        .unwrap();
    // Three places taken: one WebSocket (which hyper has handed over, so it must still count)
    // and two idle sockets.
    let ws = WsClient::connect(&emu, "chat", Some("ann")).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut tcp = TcpStream::connect(emu.local_addr()).await.unwrap();
        // A complete request proves the connection is being served, not just queued.
        tcp.write_all(format!("{}\r\n", health_head(&emu)).as_bytes())
            .await
            .unwrap();
        assert!(read_answer(&mut tcp).await.starts_with("HTTP/1.1 200"));
        held.push(tcp);
    }
    let mut extra = TcpStream::connect(emu.local_addr()).await.unwrap();
    extra
        .write_all(format!("{}\r\n", health_head(&emu)).as_bytes())
        .await
        .unwrap();
    let refusal = read_until_closed(&mut extra, WAIT)
        .await
        .expect("refused connection closed");
    assert!(refusal.starts_with("HTTP/1.1 503"), "{refusal}");
    assert!(refusal.contains("Retry-After: 1"), "{refusal}");
    // An HTTP client that sends its request at once reads the refusal too.
    let (url, token) = rest_url(&emu, "/api/v1/health");
    let refused = http().get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");

    // A place given back is usable again.
    drop(held.pop());
    let deadline = Instant::now() + WAIT;
    loop {
        let (url, token) = rest_url(&emu, "/api/v1/health");
        let status = http()
            .head(&url)
            .bearer_auth(token)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .ok();
        if status == Some(200) {
            break;
        }
        // The server notices the closed socket asynchronously; each try is a new connection.
        assert!(Instant::now() < deadline, "no place freed: {status:?}");
        tokio::task::yield_now().await;
    }
    drop(ws);
    emu.shutdown().await;
}

#[tokio::test]
async fn long_lived_transports_outlive_the_timeouts() {
    let emu = start_with(100).await;
    let http = http();
    let mut ws = WsClient::connect(&emu, "chat", Some("ws")).await;

    // SSE: stream open, handshake posted.
    let (_, sse_token, sse_bearer) = negotiate(&emu, "chat", Some("sse")).await;
    let sse_url = format!("{}/client/?hub=chat&id={sse_token}", emu.endpoint());
    let mut sse = http
        .get(&sse_url)
        .bearer_auth(&sse_bearer)
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    let sent = http
        .post(&sse_url)
        .bearer_auth(&sse_bearer)
        .body("{\"protocol\":\"json\",\"version\":1}\u{1e}")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    emu.wait_for_connection(|c| c.user_id.as_deref() == Some("sse"), WAIT)
        .await
        .unwrap();

    // Long Polling: connected, then a poll left waiting.
    let (_, lp_token, lp_bearer) = negotiate(&emu, "chat", Some("lp")).await;
    let lp_url = format!("{}/client/?hub=chat&id={lp_token}", emu.endpoint());
    let first = http
        .get(&lp_url)
        .bearer_auth(&lp_bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    http.post(&lp_url)
        .bearer_auth(&lp_bearer)
        .body("{\"protocol\":\"json\",\"version\":1}\u{1e}")
        .send()
        .await
        .unwrap();
    let handshake = http
        .get(&lp_url)
        .bearer_auth(&lp_bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(handshake.bytes().await.unwrap().as_ref(), b"{}\x1e");
    let pending = tokio::spawn({
        let http = http.clone();
        async move { http.get(&lp_url).bearer_auth(&lp_bearer).send().await }
    });

    // Several header and body timeouts pass with nothing to read: the point of this test is
    // that nothing happens, so here time itself is what is waited for.
    tokio::time::sleep(SHORT * 4).await;
    let reply = rest(&emu, "POST", "/api/v1/hubs/chat", msg("late", json!([1]))).await;
    assert_eq!(reply.status, 202);

    let invocation = ws.next_invocation().await;
    assert_eq!(invocation.target, "late");
    let mut text = String::new();
    while !text.contains("late") {
        let chunk = tokio::time::timeout(WAIT, sse.chunk())
            .await
            .unwrap()
            .unwrap()
            .expect("SSE stream still open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let polled = tokio::time::timeout(WAIT, pending)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(polled.status(), 200);
    let body = polled.text().await.unwrap();
    assert!(body.contains("late"), "{body}");
    emu.shutdown().await;
}

#[tokio::test]
async fn zero_limits_are_refused_at_start() {
    for builder in [
        Emulator::builder().header_timeout(Duration::ZERO),
        Emulator::builder().body_timeout(Duration::ZERO),
        Emulator::builder().max_connections(0),
        Emulator::builder().negotiation_limits(0, 10),
        Emulator::builder().negotiation_limits(10, 0),
    ] {
        let error = builder.bind("127.0.0.1:0").start().await.unwrap_err();
        assert!(error.to_string().contains("must be positive"), "{error}");
    }
}

/// A valid token for `aud` padded with a filler claim to exactly `length` characters.
fn token_of_length(key: &str, aud: &str, user: Option<&str>, length: usize) -> String {
    let make = |filler: usize| {
        let mut claims = json!({ "aud": aud, "exp": now() + 3600, "pad": "x".repeat(filler) });
        if let Some(user) = user {
            claims["nameid"] = json!(user);
        }
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
        )
        .unwrap()
    };
    // Base64 grows by 4/3: search for the filler that lands on the length exactly.
    let base = make(0).len();
    let mut filler = (length.saturating_sub(base)) * 3 / 4;
    loop {
        let token = make(filler);
        match token.len().cmp(&length) {
            std::cmp::Ordering::Equal => return token,
            std::cmp::Ordering::Less => filler += 1,
            std::cmp::Ordering::Greater => filler -= 1,
        }
        assert!(filler < length, "no token of {length} characters");
    }
}

#[tokio::test]
async fn tokens_longer_than_4k_are_refused() {
    let emu = start_with(100).await;
    let http = http();
    let (url, _) = rest_url(&emu, "/api/v1/hubs/chat");
    let aud = url.clone();
    for (length, accepted) in [(4096, true), (4097, false), (10_000, false)] {
        let token = token_of_length(emu.access_key(), &aud, None, length);
        let reply = http
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"target": "t", "arguments": []}))
            .send()
            .await
            .unwrap();
        let status = reply.status().as_u16();
        let body = reply.text().await.unwrap();
        if accepted {
            assert_eq!(status, 202, "{length}: {body}");
        } else {
            assert_eq!(status, 401, "{length}: {body}");
            assert!(body.contains("the limit is 4096"), "{body}");
            assert!(!body.contains(&token[..40]), "the token is echoed");
        }
    }

    // Client tokens: negotiate (header) and a WebSocket (access_token query parameter).
    let client_aud = format!("{}/client/?hub=chat", emu.endpoint());
    let negotiate_url = format!(
        "{}/client/negotiate?hub=chat&negotiateVersion=1",
        emu.endpoint()
    );
    let short = token_of_length(emu.access_key(), &client_aud, Some("ann"), 4096);
    let long = token_of_length(emu.access_key(), &client_aud, Some("ann"), 4097);
    let ok = http
        .post(&negotiate_url)
        .bearer_auth(&short)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let refused = http
        .post(&negotiate_url)
        .bearer_auth(&long)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.text().await.unwrap().contains("the limit is 4096"));

    let negotiated: serde_json::Value = ok.json().await.unwrap();
    let ws_url = format!(
        "ws://{}/client/?hub=chat&id={}&access_token={long}",
        emu.local_addr(),
        negotiated["connectionToken"].as_str().unwrap()
    );
    match tokio_tungstenite::connect_async(ws_url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("WebSocket with a 4097-character token: {other:?}"),
    }
    emu.shutdown().await;
}

/// One negotiation with a token for `hub` and `user`: the status and `Retry-After`.
async fn negotiate_status(
    emu: &EmulatorHandle,
    hub: &str,
    user: Option<&str>,
) -> (u16, Option<u64>, String) {
    let aud = format!("{}/client/?hub={hub}", emu.endpoint());
    let token = token(emu.access_key(), &aud, user, None);
    let reply = http()
        .post(format!(
            "{}/client/negotiate?hub={hub}&negotiateVersion=1",
            emu.endpoint()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let retry_after = reply
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (
        reply.status().as_u16(),
        retry_after,
        reply.text().await.unwrap(),
    )
}

#[tokio::test]
async fn negotiation_floods_are_limited_per_user_and_per_hub() {
    let emu = Emulator::builder()
        .bind("127.0.0.1:0")
        .negotiation_limits(3, 5)
        .start()
        .await
        .unwrap();
    // One user negotiating in a loop (never connecting) is refused after its limit...
    let mut flood_tokens = Vec::new();
    for _ in 0..3 {
        let (status, _, body) = negotiate_status(&emu, "chat", Some("flood")).await;
        assert_eq!(status, 200, "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        flood_tokens.push(body["connectionToken"].as_str().unwrap().to_string());
    }
    let (status, retry_after, body) = negotiate_status(&emu, "chat", Some("flood")).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("this user"), "{body}");
    let retry_after = retry_after.expect("Retry-After on 429");
    assert!((1..=120).contains(&retry_after), "{retry_after}");

    // ...while other users of the hub still get through, up to the hub's limit.
    assert_eq!(negotiate_status(&emu, "chat", Some("ann")).await.0, 200);
    assert_eq!(negotiate_status(&emu, "chat", None).await.0, 200);
    let (status, _, body) = negotiate_status(&emu, "chat", Some("bob")).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("on hub 'chat'"), "{body}");

    // A full hub does not block another hub, even for the flooding user.
    assert_eq!(negotiate_status(&emu, "other", Some("flood")).await.0, 200);

    // A negotiation used for its transport gives its place back.
    let aud = format!("{}/client/?hub=chat", emu.endpoint());
    let bearer = token(emu.access_key(), &aud, Some("flood"), None);
    let ws_url = format!(
        "ws://{}/client/?hub=chat&id={}&access_token={bearer}",
        emu.local_addr(),
        flood_tokens[0]
    );
    let (socket, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    assert_eq!(negotiate_status(&emu, "chat", Some("flood")).await.0, 200);
    drop(socket);
    emu.shutdown().await;
}

type RawSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A JSON-protocol WebSocket client of `hub` on the emulator at `addr` (`ip:port`) signed with
/// `key`, after its handshake; also its connection id.
async fn raw_client(addr: &str, key: &str, hub: &str) -> (RawSocket, String) {
    let aud = format!("http://{addr}/client/?hub={hub}");
    let bearer = token(key, &aud, Some("raw"), None);
    let (mut socket, id) = open_websocket(addr, hub, &bearer).await;
    json_handshake(&mut socket).await;
    (socket, id)
}

/// Reads until the WebSocket Close frame: the text messages before it and the frame's status
/// code (`None` for a Close without one, or a connection dropped without any Close).
async fn read_to_close(socket: &mut RawSocket) -> (String, Option<u16>) {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut texts = String::new();
    loop {
        match tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("the server closes in time")
        {
            Some(Ok(Message::Text(text))) => texts.push_str(text.as_str()),
            Some(Ok(Message::Close(frame))) => return (texts, frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return (texts, None),
        }
    }
}

#[tokio::test]
async fn close_frames_carry_a_status_code() {
    let emu = start_with(100).await;
    let addr = emu.local_addr().to_string();
    // Closed through the REST API: a normal closure.
    let (mut first, id) = raw_client(&addr, emu.access_key(), "chat").await;
    let reply = rest(
        &emu,
        "DELETE",
        &format!("/api/v1/hubs/chat/connections/{id}"),
        None,
    )
    .await;
    assert_eq!(reply.status, 202);
    let (texts, code) = read_to_close(&mut first).await;
    assert!(texts.contains("\"type\":7"), "{texts:?}");
    assert_eq!(code, Some(1000));

    // The emulator stopping: going away.
    let (mut second, _) = raw_client(&addr, emu.access_key(), "chat").await;
    let shutdown = tokio::spawn(emu.shutdown());
    let (texts, code) = read_to_close(&mut second).await;
    assert!(texts.contains("\"type\":7"), "{texts:?}");
    assert_eq!(code, Some(1001));
    shutdown.await.unwrap();
}

#[cfg(feature = "cli")]
#[tokio::test]
async fn sigterm_stops_the_cli_emulator_like_ctrl_c() {
    use tokio::io::AsyncBufReadExt;
    let key = "sigterm-test-key-0123456789";
    // A folder of its own: the emulator reads ./settings.json.
    let scratch = std::env::temp_dir().join(format!("asrs-hygiene-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_asrs"))
        .args(["emulator", "start", "--port", "0", "--access-key", key])
        .current_dir(&scratch)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("connection string in time")
        .unwrap()
        .expect("a line");
    let port = port_of(&line);
    let (mut socket, _) = raw_client(&format!("127.0.0.1:{port}"), key, "chat").await;

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    // The client is told, as on Ctrl-C: a hub Close message, then a Close frame.
    let (texts, code) = read_to_close(&mut socket).await;
    assert!(texts.contains("\"type\":7"), "{texts:?}");
    assert_eq!(code, Some(1001));
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("the emulator exits in time")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_default_key_beyond_loopback_is_flagged() {
    for (bind, key, exposed) in [
        ("0.0.0.0:0", None, true),
        ("0.0.0.0:0", Some("a-key-of-my-own-0123456789"), false),
        ("127.0.0.1:0", None, false),
    ] {
        let mut builder = Emulator::builder().bind(bind);
        if let Some(key) = key {
            builder = builder.access_key(key);
        }
        let emu = builder.start().await.unwrap();
        assert_eq!(emu.exposes_default_key(), exposed, "{bind} {key:?}");
        emu.shutdown().await;
    }
}

#[cfg(feature = "cli")]
#[tokio::test]
async fn the_cli_warns_when_the_default_key_listens_beyond_loopback() {
    use tokio::io::AsyncBufReadExt;
    let scratch = std::env::temp_dir().join(format!("asrs-hygiene-warn-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    for (extra, warned) in [
        (&[][..], true),
        (&["--access-key", "a-key-of-my-own-0123456789"][..], false),
    ] {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_asrs"))
            .args(["emulator", "start", "--ip", "0.0.0.0", "--port", "0"])
            .args(extra)
            .env_remove("ASRS_EMULATOR_ACCESS_KEY")
            .current_dir(&scratch)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let mut before = Vec::new();
        loop {
            let line = tokio::time::timeout(WAIT, lines.next_line())
                .await
                .expect("the listening line in time")
                .unwrap()
                .expect("stderr open until listening");
            if line.starts_with("Emulator listening on") {
                break;
            }
            before.push(line);
        }
        let warning = before
            .iter()
            .any(|l| l.starts_with("warning:") && l.contains("well-known default access key"));
        assert_eq!(warning, warned, "{extra:?}: {before:?}");
        child.start_kill().unwrap();
        let _ = child.wait().await;
    }
}

/// The crate's listener leaving on its own: its WebSocket Close frame says 1000 (normal). A
/// small service stand-in records the frame, since the emulator does not keep close codes.
#[cfg(feature = "listener")]
#[tokio::test]
async fn the_listener_closes_with_status_1000() {
    use axum::extract::ws::{Message as WsMessage, WebSocketUpgrade};
    use axum::routing::{get, post};
    use azure_signalr_rest::listener::Listener;

    let (code_tx, code_rx) = tokio::sync::mpsc::channel::<Option<u16>>(1);
    let app = axum::Router::new()
        .route(
            "/client/negotiate",
            post(|| async {
                axum::Json(json!({
                    "connectionId": "c1",
                    "connectionToken": "t1",
                    "negotiateVersion": 1,
                    "availableTransports": [
                        {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}
                    ]
                }))
            }),
        )
        .route(
            "/client/",
            get(move |upgrade: WebSocketUpgrade| {
                let code_tx = code_tx.clone();
                async move {
                    upgrade.on_upgrade(move |mut socket| async move {
                        // The handshake, answered; then everything up to the Close frame.
                        while let Some(Ok(message)) = socket.recv().await {
                            match message {
                                WsMessage::Text(text) if text.as_str().contains("protocol") => {
                                    let _ = socket.send(WsMessage::Text("{}\u{1e}".into())).await;
                                }
                                WsMessage::Close(frame) => {
                                    let _ = code_tx.send(frame.map(|f| f.code)).await;
                                    return;
                                }
                                _ => {}
                            }
                        }
                        let _ = code_tx.send(None).await;
                    })
                }
            }),
        );
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let server = tokio::spawn(async move { axum::serve(tcp, app).await });

    let connection_string = format!(
        "Endpoint=http://127.0.0.1;Port={port};AccessKey={};Version=1.0;",
        azure_signalr_rest::emulator::DEFAULT_ACCESS_KEY
    );
    let listener = tokio::time::timeout(WAIT, Listener::connect(&connection_string, "chat", None))
        .await
        .expect("connected in time")
        .expect("connected");
    listener.close().await;
    let mut code_rx = code_rx;
    let code = tokio::time::timeout(WAIT, code_rx.recv())
        .await
        .expect("a Close frame in time")
        .unwrap();
    assert_eq!(code, Some(1000));
    server.abort();
}

//! The emulator checked with the official `@microsoft/signalr` JavaScript client, for every
//! transport and protocol it supports, and with a REST token minted by Node's `jsonwebtoken`.
//!
//! Needs Node.js and `npm ci --prefix tests/node`.
#![cfg(feature = "emulator")]

mod common;

use std::path::PathBuf;
use std::process::Stdio;

use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

fn require_node_modules() {
    let dir = node_dir();
    assert!(
        dir.join("node_modules/@microsoft/signalr").is_dir()
            && dir
                .join("node_modules/@microsoft/signalr-protocol-msgpack")
                .is_dir()
            && dir.join("node_modules/jsonwebtoken").is_dir(),
        "tests/node/node_modules is missing: run `npm ci --prefix tests/node`"
    );
}

/// The official client running in Node, reporting JSON lines.
struct Receiver {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Receiver {
    fn spawn(url: &str, token: &str, transport: &str, protocol: &str) -> Self {
        require_node_modules();
        let mut child = Command::new("node")
            .arg("receiver.mjs")
            .arg(url)
            .arg(token)
            .arg(transport)
            .arg(protocol)
            .current_dir(node_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (is Node.js installed?)");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Receiver { child, lines }
    }

    /// The next JSON line, failing with the client's stderr if it ends or is silent too long.
    async fn next_event(&mut self) -> Value {
        match tokio::time::timeout(WAIT, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => serde_json::from_str(&line).expect("receiver prints JSON lines"),
            other => {
                let _ = self.child.start_kill();
                let mut stderr = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = tokio::time::timeout(WAIT, e.read_to_string(&mut stderr)).await;
                }
                panic!("receiver gave no event ({other:?}); its stderr:\n{stderr}");
            }
        }
    }

    async fn expect_message(&mut self, target: &str, arguments: Value) {
        let event = self.next_event().await;
        assert_eq!(event["event"], "message", "{event}");
        assert_eq!(event["target"], target, "{event}");
        assert_eq!(event["arguments"], arguments, "{event}");
    }
}

async fn exercise(transport: &str, protocol: &str) {
    let emu = start().await;
    let client_url = format!("{}/client/?hub=chat", emu.endpoint());
    let client_token = token(emu.access_key(), &client_url, Some("node-user"), None);
    let mut receiver = Receiver::spawn(&client_url, &client_token, transport, protocol);

    let connected = receiver.next_event().await;
    assert_eq!(connected["event"], "connected", "{connected}");
    let id = connected["connectionId"].as_str().unwrap().to_string();

    // The id the client reports is the one REST calls name.
    let r = rest(
        &emu,
        "GET",
        &format!("/api/v1/hubs/chat/connections/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let info = emu
        .wait_for_connection(|c| c.connection_id == id, WAIT)
        .await
        .unwrap();
    assert_eq!(info.user_id.as_deref(), Some("node-user"));
    assert_eq!(info.protocol.name(), protocol);
    // The transport really is the one forced on the client.
    assert_eq!(format!("{:?}", info.transport), transport);

    let args = json!([1, "two", {"three": [3.5, true, null]}]);
    let r = rest(
        &emu,
        "POST",
        "/api/v1/hubs/chat",
        msg("broadcast", args.clone()),
    )
    .await;
    assert_eq!(r.status, 202);
    receiver.expect_message("broadcast", args).await;

    let r = rest(
        &emu,
        "POST",
        "/api/v1/hubs/chat/users/node-user",
        msg("toUser", json!(["u"])),
    )
    .await;
    assert_eq!(r.status, 202);
    receiver.expect_message("toUser", json!(["u"])).await;

    let r = rest(
        &emu,
        "PUT",
        &format!("/api/v1/hubs/chat/groups/g/connections/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let r = rest(
        &emu,
        "POST",
        "/api/v1/hubs/chat/groups/g",
        msg("toGroup", json!(["g"])),
    )
    .await;
    assert_eq!(r.status, 202);
    receiver.expect_message("toGroup", json!(["g"])).await;

    let path = format!("/api/hubs/chat/connections/{id}/:send?api-version=2022-06-01");
    let r = rest(&emu, "POST", &path, msg("toConnection", json!([]))).await;
    assert_eq!(r.status, 202);
    receiver.expect_message("toConnection", json!([])).await;

    let path = format!("/api/v1/hubs/chat/connections/{id}?reason=closed%20by%20test");
    let r = rest(&emu, "DELETE", &path, None).await;
    assert_eq!(r.status, 202);
    let closed = receiver.next_event().await;
    assert_eq!(closed["event"], "closed", "{closed}");
    let error = closed["error"].as_str().unwrap_or_default();
    assert!(error.contains("closed by test"), "{closed}");
    emu.wait_for_disconnect(&id, WAIT).await.unwrap();
    let r = rest(
        &emu,
        "GET",
        &format!("/api/v1/hubs/chat/connections/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_over_websockets_json() {
    exercise("WebSockets", "json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_over_websockets_messagepack() {
    exercise("WebSockets", "messagepack").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_over_server_sent_events_json() {
    exercise("ServerSentEvents", "json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_over_long_polling_json() {
    exercise("LongPolling", "json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_over_long_polling_messagepack() {
    exercise("LongPolling", "messagepack").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_sees_shutdown_as_close() {
    let emu = start().await;
    let client_url = format!("{}/client/?hub=chat", emu.endpoint());
    let client_token = token(emu.access_key(), &client_url, None, None);
    let mut receiver = Receiver::spawn(&client_url, &client_token, "WebSockets", "json");
    assert_eq!(receiver.next_event().await["event"], "connected");
    emu.shutdown().await;
    let closed = receiver.next_event().await;
    assert_eq!(closed["event"], "closed", "{closed}");
    assert!(
        closed["error"]
            .as_str()
            .unwrap_or_default()
            .contains("shutting down"),
        "{closed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_token_minted_by_node_jsonwebtoken_is_accepted() {
    require_node_modules();
    let emu = start().await;
    let mut c = WsClient::connect(&emu, "chat", None).await;
    let run = |url: String, key: String| async move {
        let output = Command::new("node")
            .arg("rest_token.mjs")
            .arg(url)
            .arg(key)
            .current_dir(node_dir())
            .output()
            .await
            .expect("node runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).expect("one JSON line")
    };
    let url = format!("{}/api/v1/hubs/chat", emu.endpoint());
    let ok = run(url.clone(), emu.access_key().to_string()).await;
    assert_eq!(ok["status"], 202, "{ok}");
    let inv = c.next_invocation().await;
    assert_eq!(
        (inv.target.as_str(), inv.arguments),
        ("fromNode", vec![json!("signed by node")])
    );
    // Same library, wrong key: refused, so the acceptance above is the signature's doing.
    let refused = run(url, "not the emulator key".into()).await;
    assert_eq!(refused["status"], 401, "{refused}");
    // 2022-06-01 URL with its query string (aud without it).
    let url = format!(
        "{}/api/hubs/chat/:send?api-version=2022-06-01",
        emu.endpoint()
    );
    let ok = run(url, emu.access_key().to_string()).await;
    assert_eq!(ok["status"], 202, "{ok}");
    emu.shutdown().await;
}

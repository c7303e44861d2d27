//! Microsoft's `@microsoft/signalr` JavaScript client, run in Node, connecting with what one
//! client over two emulators hands out: each negotiate picks an instance and signs with that
//! instance's key; sends reach the official clients on both instances.
//!
//! Needs Node.js and `npm ci --prefix tests/node`.
#![cfg(all(feature = "listener", feature = "emulator"))]

mod endpoints_support;

use std::path::PathBuf;
use std::process::Stdio;

use azure_signalr_rest::NegotiateOptions;
use endpoints_support::*;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// `tests/node/receiver.mjs`: the official client, reporting JSON lines.
struct Official {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Official {
    fn spawn(url: &str, token: &str) -> Official {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node");
        assert!(
            dir.join("node_modules/@microsoft/signalr").is_dir(),
            "tests/node/node_modules is missing: run `npm ci --prefix tests/node`"
        );
        let mut child = Command::new("node")
            .args(["receiver.mjs", url, token, "WebSockets", "json"])
            .env("ASRS_TARGETS", "news,direct")
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (is Node.js installed?)");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Official {
            _child: child,
            lines,
        }
    }

    async fn next_event(&mut self) -> Value {
        match tokio::time::timeout(WAIT, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => serde_json::from_str(&line).expect("JSON lines"),
            other => panic!("the official client said nothing: {other:?}"),
        }
    }

    /// The connection id, once connected.
    async fn connected(&mut self) -> String {
        let event = self.next_event().await;
        assert_eq!(event["event"], "connected", "{event}");
        event["connectionId"].as_str().unwrap().to_owned()
    }

    async fn expect(&mut self, target: &str) {
        let event = self.next_event().await;
        assert_eq!(event["event"], "message", "{event}");
        assert_eq!(event["target"], target, "{event}");
    }
}

#[tokio::test]
async fn official_clients_on_two_instances() {
    let emulators = start(2).await;
    let client = builder(&emulators).build().unwrap();
    let hub = client.hub(HUB);
    let mut clients = Vec::new();
    let mut on = Vec::new();
    for user in ["u0", "u1"] {
        let r = hub
            .negotiate(NegotiateOptions::default().user_id(user))
            .await
            .unwrap();
        on.push(url_of(&emulators, &r.url));
        let mut official = Official::spawn(&r.url, r.access_token.expose_secret());
        let id = official.connected().await;
        clients.push((official, id));
    }
    assert_eq!(on, [0, 1], "one client on each instance");
    for (_, id) in &clients {
        // Fails on main's naive fleet: the other instance's 404 made it an error.
        assert!(hub.connection_exists(id).await.unwrap());
    }

    hub.send_to_connection(&clients[1].1, &message("direct"))
        .await
        .unwrap();
    hub.broadcast(&message("news"), None).await.unwrap();
    clients[0].0.expect("news").await;
    clients[1].0.expect("direct").await;
    clients[1].0.expect("news").await;
}

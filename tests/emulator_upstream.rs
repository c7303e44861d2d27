//! Client invocations and connection events forwarded to an upstream URL.
#![cfg(feature = "emulator")]

mod common;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use azure_signalr_rest::emulator::Emulator;
use azure_signalr_rest::protocol::{CompletionResult, HubMessage, HubProtocol, Invocation};
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use tokio::sync::mpsc;

#[derive(Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Value,
}

async fn upstream_server() -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new()
        .route(
            "/upstream/{hub}/{category}/{event}",
            post(
                |State(tx): State<Arc<mpsc::UnboundedSender<Received>>>,
                 Path((hub, category, event)): Path<(String, String, String)>,
                 headers: HeaderMap,
                 body: String| async move {
                    let body = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let _ = tx.send(Received {
                        path: format!("{hub}/{category}/{event}"),
                        headers,
                        body,
                    });
                    // The reply becomes the completion of a blocking invocation.
                    axum::Json(json!({"echoed": true}))
                },
            ),
        )
        .with_state(Arc::new(tx));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (
        format!("http://{addr}/upstream/{{hub}}/{{category}}/{{event}}"),
        rx,
    )
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("upstream called in time")
        .expect("upstream open")
}

fn header<'a>(r: &'a Received, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn invocations_and_connection_events_reach_the_upstream_signed() {
    let (url, mut calls) = upstream_server().await;
    let emu = Emulator::builder()
        .bind("127.0.0.1:0")
        .upstream(&url)
        .start()
        .await
        .unwrap();
    let mut client = WsClient::connect(&emu, "Chat", Some("alice")).await;
    let id = client.connection_id.clone();

    let connected = next(&mut calls).await;
    assert_eq!(connected.path, "chat/connections/connected");
    assert_eq!(header(&connected, "x-asrs-connection-id"), id);
    assert_eq!(header(&connected, "x-asrs-user-id"), "alice");
    assert_eq!(header(&connected, "x-asrs-hub"), "chat");
    assert_eq!(header(&connected, "x-asrs-category"), "connections");
    assert_eq!(header(&connected, "x-asrs-event"), "connected");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(emu.access_key().as_bytes()).unwrap();
    mac.update(id.as_bytes());
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(header(&connected, "x-asrs-signature"), expected);

    let invocation = HubMessage::Invocation(Invocation {
        invocation_id: Some("7".into()),
        ..Invocation::new("echo", vec![json!(5), json!("five")])
    });
    client
        .send_raw(HubProtocol::Json.encode(&invocation).unwrap(), false)
        .await;
    let message = next(&mut calls).await;
    assert_eq!(message.path, "chat/messages/echo");
    assert_eq!(header(&message, "x-asrs-category"), "messages");
    assert_eq!(header(&message, "x-asrs-event"), "echo");
    assert_eq!(header(&message, "x-asrs-signature"), expected);
    assert_eq!(message.body["target"], "echo");
    assert_eq!(message.body["arguments"], json!([5, "five"]));
    assert_eq!(message.body["invocationId"], "7");

    // The upstream's answer comes back as the invocation's completion.
    match client.next_message(WAIT).await {
        Some(HubMessage::Completion {
            invocation_id,
            result,
            ..
        }) => {
            assert_eq!(invocation_id, "7");
            assert_eq!(result, CompletionResult::Value(json!({"echoed": true})));
        }
        other => panic!("expected a completion, got {other:?}"),
    }
    // The connection stays open: a REST send still reaches it.
    rest(&emu, "POST", "/api/v1/hubs/chat", msg("still", json!([]))).await;
    assert_eq!(client.next_invocation().await.target, "still");

    drop(client);
    let disconnected = next(&mut calls).await;
    assert_eq!(disconnected.path, "chat/connections/disconnected");
    assert_eq!(header(&disconnected, "x-asrs-connection-id"), id);
    emu.shutdown().await;
}

//! The HTTP transports at the wire level: Long Polling and Server-Sent Events framing.
#![cfg(feature = "emulator")]

mod common;

use azure_signalr_rest::protocol::{HubMessage, HubProtocol};
use common::*;
use serde_json::json;

#[tokio::test]
async fn long_polling_round_trip() {
    let emu = start().await;
    let (id, connection_token, token) = negotiate(&emu, "chat", Some("lp")).await;
    let url = format!("{}/client/?hub=chat&id={connection_token}", emu.endpoint());
    let http = http();
    // The first poll establishes the connection and returns at once without data.
    let first = http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(first.bytes().await.unwrap().is_empty());
    let sent = http
        .post(&url)
        .bearer_auth(&token)
        .body("{\"protocol\":\"json\",\"version\":1}\u{1e}")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let poll = http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(poll.bytes().await.unwrap().as_ref(), b"{}\x1e");
    emu.wait_for_connection(|c| c.connection_id == id, WAIT)
        .await
        .unwrap();

    // Two sends queue up and come back together in one poll.
    rest(
        &emu,
        "POST",
        "/api/v1/hubs/chat/users/lp",
        msg("a", json!([1])),
    )
    .await;
    rest(
        &emu,
        "POST",
        "/api/v1/hubs/chat/users/lp",
        msg("b", json!([2])),
    )
    .await;
    emu.wait_for_delivery(|d| d.target == "b", WAIT)
        .await
        .unwrap();
    let body = http
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let messages = HubProtocol::Json.decode_all(&body).unwrap();
    let targets: Vec<String> = messages
        .into_iter()
        .filter_map(|m| match m {
            HubMessage::Invocation(i) => Some(i.target),
            _ => None,
        })
        .collect();
    assert_eq!(targets, ["a", "b"]);

    // A poll without a token is refused.
    let refused = http.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 401);

    // DELETE ends the connection; the next poll says 204.
    let deleted = http.delete(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(deleted.status(), 202);
    emu.wait_for_disconnect(&id, WAIT).await.unwrap();
    let last = http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(last.status(), 204);
    emu.shutdown().await;
}

#[tokio::test]
async fn server_sent_events_frame_records_and_refuse_messagepack() {
    let emu = start().await;
    let http = http();
    for (protocol, accepted) in [("json", true), ("messagepack", false)] {
        let (_, connection_token, token) = negotiate(&emu, "chat", None).await;
        let url = format!("{}/client/?hub=chat&id={connection_token}", emu.endpoint());
        let mut stream = http
            .get(&url)
            .bearer_auth(&token)
            .header("Accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        assert_eq!(
            stream.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        let handshake = format!("{{\"protocol\":\"{protocol}\",\"version\":1}}\u{1e}");
        let sent = http
            .post(&url)
            .bearer_auth(&token)
            .body(handshake)
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 200);
        let mut text = String::new();
        while !text.contains("\u{1e}\r\n\r\n") {
            let chunk = tokio::time::timeout(WAIT, stream.chunk())
                .await
                .unwrap()
                .unwrap()
                .expect("stream still open");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        if accepted {
            assert!(text.contains("data: {}\u{1e}\r\n\r\n"), "{text:?}");
        } else {
            assert!(text.contains("data: {\"error\":"), "{text:?}");
            assert!(text.contains("Server-Sent Events"), "{text:?}");
        }
    }
    emu.shutdown().await;
}

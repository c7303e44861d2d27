//! Clients that fall behind: the outbound queue is bounded in bytes as well as in messages,
//! and a client cut off for either is told why (a hub-protocol Close message with the error,
//! then a WebSocket close frame with status 1008 and the reason); a reading client is never
//! dropped silently.

mod common;

use azure_signalr_rest::emulator::{Emulator, EmulatorBuilder, EmulatorHandle};
use azure_signalr_rest::protocol::{HubMessage, HubProtocol, MessageReader};
use common::{json_handshake, negotiate, rest, WAIT};
use futures::StreamExt;
use serde_json::json;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;

fn builder() -> EmulatorBuilder {
    Emulator::builder().bind("127.0.0.1:0")
}

/// A JSON client over a socket with a small receive buffer (so that a client that does not
/// read fills it quickly). Returns its connection id and socket, after the handshake.
async fn connect(emu: &EmulatorHandle) -> (String, Ws) {
    let (connection_id, connection_token, token) = negotiate(emu, "chat", Some("ann")).await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(emu.local_addr()).await.unwrap();
    let url = format!(
        "ws://{}/client/?hub=chat&id={connection_token}&access_token={token}",
        emu.local_addr()
    );
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("websocket");
    json_handshake(&mut ws).await;
    emu.wait_for_connection(|c| c.connection_id == connection_id, WAIT)
        .await
        .expect("connection registered");
    (connection_id, ws)
}

/// What a client read until its socket ended (or it had `enough` invocations).
#[derive(Debug, Default)]
struct Outcome {
    invocations: usize,
    /// The error of the hub-protocol Close message, if one came.
    close_message: Option<Option<String>>,
    /// Status code and reason of the WebSocket close frame, if one came.
    close_frame: Option<(u16, String)>,
}

async fn read_all(mut ws: Ws, enough: usize) -> Outcome {
    let mut reader = MessageReader::new(HubProtocol::Json, 1 << 20);
    let mut outcome = Outcome::default();
    let deadline = tokio::time::Instant::now() + 3 * WAIT;
    while outcome.invocations < enough {
        let frame = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => panic!("the client was neither served nor closed in time: {outcome:?}"),
            Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(frame))) => frame,
        };
        match frame {
            Message::Text(t) => reader.push(t.as_bytes()).unwrap(),
            Message::Close(frame) => {
                outcome.close_frame = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                break;
            }
            _ => continue,
        }
        while let Some(message) = reader.next_message().unwrap() {
            match message {
                HubMessage::Invocation(_) => outcome.invocations += 1,
                HubMessage::Close { error, .. } => outcome.close_message = Some(error),
                _ => {}
            }
        }
    }
    outcome
}

#[tokio::test]
async fn a_client_past_its_byte_budget_is_closed_and_told_why() {
    const BUDGET: usize = 64 * 1024;
    // Far more messages allowed than the byte budget lets in: the bytes decide.
    let emu = builder()
        .outbound_budget(BUDGET)
        .outbound_queue(100_000)
        .start()
        .await
        .unwrap();
    let (id, ws) = connect(&emu).await;
    let payload = "x".repeat(32 * 1024);
    let mut sent = 0;
    // The client does not read: once the socket buffers are full, its queue grows.
    while emu.cutoffs().is_empty() {
        assert!(sent < 2_000, "no cut-off after {sent} messages of 32 KiB");
        let reply = rest(
            &emu,
            "POST",
            &format!("/api/v1/hubs/chat/connections/{id}"),
            Some(json!({"target": "big", "arguments": [payload]})),
        )
        .await;
        assert_eq!(reply.status, 202);
        sent += 1;
    }
    let cutoffs = emu.cutoffs();
    assert_eq!(cutoffs.len(), 1);
    let cutoff = &cutoffs[0];
    assert_eq!(cutoff.connection_id, id);
    assert_eq!(cutoff.user_id.as_deref(), Some("ann"));
    assert!(
        cutoff.queued_bytes > 0 && cutoff.queued_bytes <= BUDGET,
        "{cutoff:?}"
    );
    assert!(cutoff.reason.contains("fell behind"), "{}", cutoff.reason);
    // It has left the hub, and what was queued for it is gone with it.
    emu.wait_for_disconnect(&id, WAIT).await.expect("cut off");
    assert!(emu.hub("chat").connections.is_empty());

    // Reading now, the client gets what was already on its way, then the reason.
    let outcome = read_all(ws, usize::MAX).await;
    assert!(outcome.invocations < sent, "{outcome:?}");
    assert_eq!(outcome.close_message, Some(Some(cutoff.reason.clone())));
    assert_eq!(outcome.close_frame, Some((1008, cutoff.reason.clone())));
    emu.shutdown().await;
}

#[tokio::test]
async fn a_reading_client_in_a_burst_gets_everything_or_a_reason() {
    const MESSAGES: usize = 300;
    // A short queue, so that a burst outruns even a client that reads.
    let emu = builder().outbound_queue(2).start().await.unwrap();
    let (id, ws) = connect(&emu).await;
    let reader = tokio::spawn(read_all(ws, MESSAGES));
    let payload = "y".repeat(64 * 1024);
    let path = format!("/api/v1/hubs/chat/connections/{id}");
    let statuses: Vec<u16> = futures::stream::iter(0..MESSAGES)
        .map(|i| {
            let body = json!({"target": "burst", "arguments": [i, payload]});
            let (emu, path) = (&emu, &path);
            async move { rest(emu, "POST", path, Some(body)).await.status }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    let outcome = tokio::time::timeout(4 * WAIT, reader)
        .await
        .expect("reader ends")
        .unwrap();
    if outcome.invocations < MESSAGES {
        // Cut off: never silently. The Close message and the close frame say why.
        let reason = outcome
            .close_message
            .clone()
            .flatten()
            .unwrap_or_else(|| panic!("dropped without a Close message: {outcome:?}"));
        assert!(reason.contains("fell behind"), "{reason}");
        assert_eq!(
            outcome.close_frame,
            Some((1008, reason.clone())),
            "{outcome:?}"
        );
        assert!(emu
            .cutoffs()
            .iter()
            .any(|c| c.connection_id == id && c.reason == reason));
    } else {
        assert!(emu.cutoffs().is_empty());
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn the_outbound_budget_must_be_positive() {
    let refused = builder().outbound_budget(0).start().await;
    assert!(refused.is_err());
    // Sanity: a small budget still lets a message bigger than itself through.
    let emu = builder().outbound_budget(10).start().await.unwrap();
    let (id, ws) = connect(&emu).await;
    let reply = rest(
        &emu,
        "POST",
        &format!("/api/v1/hubs/chat/connections/{id}"),
        Some(json!({"target": "one", "arguments": ["a message longer than ten bytes"]})),
    )
    .await;
    assert_eq!(reply.status, 202);
    let outcome = tokio::time::timeout(WAIT, read_all(ws, 1)).await.unwrap();
    assert_eq!(outcome.invocations, 1);
    assert!(emu.cutoffs().is_empty());
    emu.shutdown().await;
}

//! A negotiated connection belongs to the user that negotiated it: with `negotiateVersion=0`
//! the transport id is the public connection id, so a token of another user (or an anonymous
//! one) of the same hub must not open, poll, post into or end that connection (403).

mod common;

use azure_signalr_rest::emulator::EmulatorHandle;
use common::{client_token, http, negotiate_at, start, WAIT};
use reqwest::StatusCode;

/// Negotiates with `negotiateVersion=0` (or 1) and returns the transport id.
async fn negotiate(emu: &EmulatorHandle, user: Option<&str>, version: u32) -> String {
    let bearer = client_token(emu, "chat", user);
    let reply = negotiate_at(&emu.endpoint(), "chat", &bearer, version).await;
    let field = if version == 0 {
        "connectionId"
    } else {
        "connectionToken"
    };
    reply[field].as_str().unwrap().to_string()
}

async fn call(
    emu: &EmulatorHandle,
    method: reqwest::Method,
    id: &str,
    user: Option<&str>,
    sse: bool,
    body: &'static str,
) -> reqwest::Response {
    let mut request = http()
        .request(
            method,
            format!("{}/client/?hub=chat&id={id}", emu.endpoint()),
        )
        .bearer_auth(client_token(emu, "chat", user))
        .timeout(WAIT);
    if sse {
        request = request.header("Accept", "text/event-stream");
    }
    if !body.is_empty() {
        request = request.body(body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn long_polling_requests_need_the_negotiating_user() {
    let emu = start().await;
    let id = negotiate(&emu, Some("ann"), 0).await;
    use reqwest::Method;

    // Another user cannot open the transport, and the negotiation stays for its owner.
    let opened = call(&emu, Method::GET, &id, Some("bob"), false, "").await;
    assert_eq!(opened.status(), StatusCode::FORBIDDEN);
    let opened = call(&emu, Method::GET, &id, None, false, "").await;
    assert_eq!(opened.status(), StatusCode::FORBIDDEN);
    let opened = call(&emu, Method::GET, &id, Some("ann"), false, "").await;
    assert_eq!(opened.status(), StatusCode::OK);
    let posted = call(
        &emu,
        Method::POST,
        &id,
        Some("ann"),
        false,
        "{\"protocol\":\"json\",\"version\":1}\u{1e}",
    )
    .await;
    assert_eq!(posted.status(), StatusCode::OK);

    // Once open, bob can neither poll, post nor delete it.
    for user in [Some("bob"), None] {
        let polled = call(&emu, Method::GET, &id, user, false, "").await;
        assert_eq!(polled.status(), StatusCode::FORBIDDEN, "poll as {user:?}");
        let posted = call(&emu, Method::POST, &id, user, false, "{\"type\":6}\u{1e}").await;
        assert_eq!(posted.status(), StatusCode::FORBIDDEN, "post as {user:?}");
        let deleted = call(&emu, Method::DELETE, &id, user, false, "").await;
        assert_eq!(
            deleted.status(),
            StatusCode::FORBIDDEN,
            "delete as {user:?}"
        );
    }

    // Ann's own poll still gets her handshake answer, and her connection is still there.
    let polled = call(&emu, Method::GET, &id, Some("ann"), false, "").await;
    assert_eq!(polled.status(), StatusCode::OK);
    assert_eq!(polled.bytes().await.unwrap().as_ref(), b"{}\x1e");
    emu.wait_for_connection(|c| c.connection_id == id, WAIT)
        .await
        .expect("ann's connection registered");
    assert_eq!(emu.hub("chat").connections.len(), 1);
    let deleted = call(&emu, Method::DELETE, &id, Some("ann"), false, "").await;
    assert_eq!(deleted.status(), StatusCode::ACCEPTED);
    emu.shutdown().await;
}

#[tokio::test]
async fn an_sse_stream_needs_the_negotiating_user() {
    let emu = start().await;
    let id = negotiate(&emu, Some("ann"), 0).await;
    let stolen = call(&emu, reqwest::Method::GET, &id, Some("bob"), true, "").await;
    assert_eq!(stolen.status(), StatusCode::FORBIDDEN);
    let own = call(&emu, reqwest::Method::GET, &id, Some("ann"), true, "").await;
    assert_eq!(own.status(), StatusCode::OK);
    assert_eq!(
        own.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    // Bob cannot post into the open stream's connection either.
    let posted = call(
        &emu,
        reqwest::Method::POST,
        &id,
        Some("bob"),
        false,
        "{\"protocol\":\"json\",\"version\":1}\u{1e}",
    )
    .await;
    assert_eq!(posted.status(), StatusCode::FORBIDDEN);
    drop(own);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_websocket_with_an_id_needs_the_negotiating_user() {
    let emu = start().await;
    for version in [0, 1] {
        let id = negotiate(&emu, Some("ann"), version).await;
        let url = |user: Option<&str>| {
            format!(
                "ws://{}/client/?hub=chat&id={id}&access_token={}",
                emu.local_addr(),
                client_token(&emu, "chat", user)
            )
        };
        match tokio_tungstenite::connect_async(url(Some("bob"))).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 403)
            }
            other => panic!("bob's upgrade was not refused: {:?}", other.map(|_| ())),
        }
        let (ws, response) = tokio_tungstenite::connect_async(url(Some("ann")))
            .await
            .expect("ann's own connection opens");
        assert_eq!(response.status().as_u16(), 101);
        drop(ws);
    }
    emu.shutdown().await;
}

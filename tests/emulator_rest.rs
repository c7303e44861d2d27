//! The emulator's REST API over real sockets: every operation of every version, the
//! semantics of sends and membership, authentication, validation and hostile input.
#![cfg(feature = "emulator")]

mod common;

use std::time::Duration;

use azure_signalr_rest::emulator::Emulator;
use azure_signalr_rest::protocol::{HubMessage, HubProtocol};
use common::*;
use serde_json::{json, Value};

const V: &str = "api-version=2022-06-01";

#[tokio::test]
async fn every_operation_of_every_version_answers_as_published() {
    let emu = start().await;
    let mut c = WsClient::connect(&emu, "chat", Some("alice")).await;
    let id = c.connection_id.clone();
    let m = || msg("m", json!([1]));
    let cases: Vec<(&str, String, Option<Value>, u16)> = vec![
        // 1.0-preview
        (
            "POST",
            "/api/v1-preview/hub/chat/user/alice".into(),
            m(),
            202,
        ),
        (
            "POST",
            "/api/v1-preview/hub/chat/users/alice,bob".into(),
            m(),
            202,
        ),
        ("POST", "/api/v1-preview/hub/chat".into(), m(), 202),
        ("POST", "/api/v1-preview/hub/chat/group/g1".into(), m(), 202),
        (
            "POST",
            "/api/v1-preview/hub/chat/groups/g1,g2".into(),
            m(),
            202,
        ),
        // 1.0
        ("HEAD", "/api/v1/health".into(), None, 200),
        ("GET", "/api/v1/health".into(), None, 200),
        ("POST", "/api/v1/hubs/chat".into(), m(), 202),
        ("POST", "/api/v1/hubs/chat/users/alice".into(), m(), 202),
        (
            "POST",
            format!("/api/v1/hubs/chat/connections/{id}"),
            m(),
            202,
        ),
        (
            "GET",
            format!("/api/v1/hubs/chat/connections/{id}"),
            None,
            200,
        ),
        (
            "HEAD",
            format!("/api/v1/hubs/chat/connections/{id}"),
            None,
            200,
        ),
        (
            "GET",
            "/api/v1/hubs/chat/connections/nope".into(),
            None,
            404,
        ),
        (
            "HEAD",
            "/api/v1/hubs/chat/connections/nope".into(),
            None,
            404,
        ),
        (
            "PUT",
            format!("/api/v1/hubs/chat/groups/g1/connections/{id}"),
            None,
            200,
        ),
        (
            "PUT",
            "/api/v1/hubs/chat/groups/g1/connections/nope".into(),
            None,
            404,
        ),
        ("GET", "/api/v1/hubs/chat/groups/g1".into(), None, 200),
        ("HEAD", "/api/v1/hubs/chat/groups/g1".into(), None, 200),
        ("POST", "/api/v1/hubs/chat/groups/g1".into(), m(), 202),
        (
            "DELETE",
            format!("/api/v1/hubs/chat/groups/g1/connections/{id}"),
            None,
            200,
        ),
        ("GET", "/api/v1/hubs/chat/groups/g1".into(), None, 404),
        (
            "PUT",
            format!("/api/v1/hubs/chat/connections/{id}/groups/g2"),
            None,
            200,
        ),
        ("HEAD", "/api/v1/hubs/chat/groups/g2".into(), None, 200),
        (
            "DELETE",
            format!("/api/v1/hubs/chat/connections/{id}/groups/g2"),
            None,
            200,
        ),
        ("HEAD", "/api/v1/hubs/chat/groups/g2".into(), None, 404),
        ("GET", "/api/v1/hubs/chat/users/alice".into(), None, 200),
        ("HEAD", "/api/v1/hubs/chat/users/alice".into(), None, 200),
        ("HEAD", "/api/v1/hubs/chat/users/bob".into(), None, 404),
        (
            "PUT",
            "/api/v1/hubs/chat/groups/g3/users/alice".into(),
            None,
            202,
        ),
        (
            "GET",
            "/api/v1/hubs/chat/groups/g3/users/alice".into(),
            None,
            200,
        ),
        (
            "HEAD",
            "/api/v1/hubs/chat/groups/g3/users/alice".into(),
            None,
            200,
        ),
        (
            "GET",
            "/api/v1/hubs/chat/users/alice/groups/g3".into(),
            None,
            200,
        ),
        (
            "HEAD",
            "/api/v1/hubs/chat/groups/g3/users/bob".into(),
            None,
            404,
        ),
        (
            "DELETE",
            "/api/v1/hubs/chat/users/alice/groups/g3".into(),
            None,
            202,
        ),
        (
            "HEAD",
            "/api/v1/hubs/chat/groups/g3/users/alice".into(),
            None,
            404,
        ),
        (
            "PUT",
            "/api/v1/hubs/chat/users/alice/groups/g4".into(),
            None,
            202,
        ),
        ("HEAD", "/api/v1/hubs/chat/groups/g4".into(), None, 200),
        (
            "DELETE",
            "/api/v1/hubs/chat/groups/g4/users/alice".into(),
            None,
            202,
        ),
        ("HEAD", "/api/v1/hubs/chat/groups/g4".into(), None, 404),
        (
            "PUT",
            "/api/v1/hubs/chat/groups/g5/users/alice?ttl=60".into(),
            None,
            202,
        ),
        (
            "DELETE",
            "/api/v1/hubs/chat/users/alice/groups".into(),
            None,
            200,
        ),
        (
            "HEAD",
            "/api/v1/hubs/chat/groups/g5/users/alice".into(),
            None,
            404,
        ),
        // 2022-06-01
        ("HEAD", format!("/api/health?{V}"), None, 200),
        ("POST", format!("/api/hubs/chat/:send?{V}"), m(), 202),
        (
            "POST",
            format!("/api/hubs/chat/connections/{id}/:send?{V}"),
            m(),
            202,
        ),
        (
            "HEAD",
            format!("/api/hubs/chat/connections/{id}?{V}"),
            None,
            200,
        ),
        (
            "HEAD",
            format!("/api/hubs/chat/connections/nope?{V}"),
            None,
            404,
        ),
        (
            "PUT",
            format!("/api/hubs/chat/groups/h1/connections/{id}?{V}"),
            None,
            200,
        ),
        (
            "PUT",
            format!("/api/hubs/chat/groups/h1/connections/nope?{V}"),
            None,
            404,
        ),
        ("HEAD", format!("/api/hubs/chat/groups/h1?{V}"), None, 200),
        (
            "POST",
            format!("/api/hubs/chat/groups/h1/:send?{V}"),
            m(),
            202,
        ),
        (
            "DELETE",
            format!("/api/hubs/chat/groups/h1/connections/{id}?{V}"),
            None,
            200,
        ),
        ("HEAD", format!("/api/hubs/chat/groups/h1?{V}"), None, 404),
        (
            "PUT",
            format!("/api/hubs/chat/groups/h2/connections/{id}?{V}"),
            None,
            200,
        ),
        (
            "DELETE",
            format!("/api/hubs/chat/connections/{id}/groups?{V}"),
            None,
            200,
        ),
        ("HEAD", format!("/api/hubs/chat/groups/h2?{V}"), None, 404),
        ("HEAD", format!("/api/hubs/chat/users/alice?{V}"), None, 200),
        ("HEAD", format!("/api/hubs/chat/users/bob?{V}"), None, 404),
        (
            "POST",
            format!("/api/hubs/chat/users/alice/:send?{V}"),
            m(),
            202,
        ),
        (
            "PUT",
            format!("/api/hubs/chat/users/alice/groups/h3?{V}"),
            None,
            200,
        ),
        (
            "HEAD",
            format!("/api/hubs/chat/users/alice/groups/h3?{V}"),
            None,
            200,
        ),
        (
            "DELETE",
            format!("/api/hubs/chat/users/alice/groups/h3?{V}"),
            None,
            204,
        ),
        (
            "HEAD",
            format!("/api/hubs/chat/users/alice/groups/h3?{V}"),
            None,
            404,
        ),
        (
            "PUT",
            format!("/api/hubs/chat/users/alice/groups/h4?ttl=30&{V}"),
            None,
            200,
        ),
        (
            "DELETE",
            format!("/api/hubs/chat/users/alice/groups?{V}"),
            None,
            204,
        ),
        (
            "HEAD",
            format!("/api/hubs/chat/users/alice/groups/h4?{V}"),
            None,
            404,
        ),
        (
            "POST",
            format!("/api/hubs/chat/groups/nobody/:closeConnections?{V}"),
            None,
            204,
        ),
        (
            "POST",
            format!("/api/hubs/chat/users/nobody/:closeConnections?{V}"),
            None,
            204,
        ),
        (
            "POST",
            format!("/api/hubs/chat/:closeConnections?excluded={id}&{V}"),
            None,
            204,
        ),
        // still connected: it was excluded from the bulk close
        (
            "HEAD",
            format!("/api/hubs/chat/connections/{id}?{V}"),
            None,
            200,
        ),
    ];
    for (method, path, body, expected) in cases {
        let reply = rest(&emu, method, &path, body).await;
        assert_eq!(reply.status, expected, "{method} {path}: {}", reply.body);
    }
    let reply = rest(
        &emu,
        "DELETE",
        &format!("/api/hubs/chat/connections/{id}?reason=bye&{V}"),
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(c.expect_close().await.as_deref(), Some("bye"));
    emu.wait_for_disconnect(&id, WAIT).await.unwrap();
    let reply = rest(
        &emu,
        "HEAD",
        &format!("/api/hubs/chat/connections/{id}?{V}"),
        None,
    )
    .await;
    assert_eq!(reply.status, 404);
    emu.shutdown().await;
}

#[tokio::test]
async fn sends_reach_exactly_their_audience() {
    let emu = start().await;
    let mut a1 = WsClient::connect(&emu, "chat", Some("alice")).await;
    let mut a2 = WsClient::connect(&emu, "chat", Some("alice")).await;
    let mut b = WsClient::connect(&emu, "chat", Some("bob")).await;
    let mut other_hub = WsClient::connect(&emu, "other", Some("alice")).await;

    // A user with two connections gets the message on both.
    let r = rest(
        &emu,
        "POST",
        "/api/v1/hubs/chat/users/alice",
        msg("toAlice", json!(["hi", {"n": 1}])),
    )
    .await;
    assert_eq!(r.status, 202);
    for c in [&mut a1, &mut a2] {
        let inv = c.next_invocation().await;
        assert_eq!(inv.target, "toAlice");
        assert_eq!(inv.arguments, vec![json!("hi"), json!({"n": 1})]);
    }

    // Groups via REST, then a group send with one member excluded.
    for c in [&a1, &b] {
        let r = rest(
            &emu,
            "PUT",
            &format!(
                "/api/v1/hubs/chat/groups/team/connections/{}",
                c.connection_id
            ),
            None,
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let path = format!("/api/v1/hubs/chat/groups/team?excluded={}", b.connection_id);
    assert_eq!(
        rest(&emu, "POST", &path, msg("toTeam", json!([])))
            .await
            .status,
        202
    );
    assert_eq!(a1.next_invocation().await.target, "toTeam");

    // Broadcast with two exclusions (repeated query parameter).
    let path = format!(
        "/api/hubs/chat/:send?excluded={}&excluded={}&{V}",
        a1.connection_id, a2.connection_id
    );
    assert_eq!(
        rest(&emu, "POST", &path, msg("toAll", json!([])))
            .await
            .status,
        202
    );
    // b missed toTeam (excluded) so its next message is toAll; a1 and a2 missed toAll.
    assert_eq!(b.next_invocation().await.target, "toAll");

    // Connection send; case-insensitive property names; the hub name is case-insensitive.
    let path = format!("/api/v1/hubs/CHAT/connections/{}", a2.connection_id);
    let r = rest(
        &emu,
        "POST",
        &path,
        Some(json!({"Target": "direct", "Arguments": [true]})),
    )
    .await;
    assert_eq!(r.status, 202);
    let inv = a2.next_invocation().await;
    assert_eq!(
        (inv.target.as_str(), inv.arguments),
        ("direct", vec![json!(true)])
    );

    // Preview API: user list and group list.
    let r = rest(
        &emu,
        "POST",
        "/api/v1-preview/hub/chat/users/bob,nobody",
        msg("pv", json!([])),
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(b.next_invocation().await.target, "pv");
    let r = rest(
        &emu,
        "POST",
        "/api/v1-preview/hub/chat/groups/team,empty",
        msg("pvg", json!([])),
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(a1.next_invocation().await.target, "pvg");
    assert_eq!(b.next_invocation().await.target, "pvg");

    // Nothing leaked into the other hub: its first message is the marker.
    let r = rest(&emu, "POST", "/api/v1/hubs/other", msg("marker", json!([]))).await;
    assert_eq!(r.status, 202);
    assert_eq!(other_hub.next_invocation().await.target, "marker");
    // a1 saw nothing after pvg but the marker sent to chat now.
    rest(&emu, "POST", "/api/v1/hubs/chat", msg("marker", json!([]))).await;
    assert_eq!(a1.next_invocation().await.target, "marker");
    assert_eq!(a2.next_invocation().await.target, "marker");

    // The inspection record saw the deliveries.
    let d = emu
        .wait_for_delivery(|d| d.target == "direct", WAIT)
        .await
        .unwrap();
    assert_eq!(d.connection_id, a2.connection_id);
    assert_eq!(d.user_id.as_deref(), Some("alice"));
    let snapshot = emu.hub("Chat");
    assert_eq!(snapshot.connections.len(), 3);
    assert_eq!(snapshot.users["alice"].len(), 2);
    assert_eq!(snapshot.groups["team"].len(), 2);
    emu.shutdown().await;
}

#[tokio::test]
async fn user_group_membership_ttl_and_lifetimes() {
    let emu = start().await;
    let mut a1 = WsClient::connect(&emu, "chat", Some("alice")).await;

    // ttl=0: only current connections join; a later connection of the user does not.
    let r = rest(
        &emu,
        "PUT",
        "/api/v1/hubs/chat/groups/now/users/alice?ttl=0",
        None,
    )
    .await;
    assert_eq!(r.status, 202);
    let mut a2 = WsClient::connect(&emu, "chat", Some("alice")).await;
    rest(
        &emu,
        "POST",
        "/api/v1/hubs/chat/groups/now",
        msg("g0", json!([])),
    )
    .await;
    assert_eq!(a1.next_invocation().await.target, "g0");
    rest(
        &emu,
        "POST",
        "/api/v1/hubs/chat/users/alice",
        msg("after", json!([])),
    )
    .await;
    assert_eq!(a2.next_invocation().await.target, "after");
    assert_eq!(a1.next_invocation().await.target, "after");

    // User membership outlives connections: bob joins before connecting.
    let r = rest(&emu, "PUT", "/api/v1/hubs/chat/groups/fans/users/bob", None).await;
    assert_eq!(r.status, 202);
    assert_eq!(
        rest(
            &emu,
            "HEAD",
            "/api/v1/hubs/chat/groups/fans/users/bob",
            None
        )
        .await
        .status,
        200
    );
    let mut b = WsClient::connect(&emu, "chat", Some("bob")).await;
    rest(
        &emu,
        "POST",
        "/api/v1/hubs/chat/groups/fans",
        msg("fans", json!([])),
    )
    .await;
    assert_eq!(b.next_invocation().await.target, "fans");
    drop(b);

    // Group membership of a connection ends with the connection.
    let id = a2.connection_id.clone();
    let r = rest(
        &emu,
        "PUT",
        &format!("/api/v1/hubs/chat/groups/solo/connections/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        rest(&emu, "GET", "/api/v1/hubs/chat/groups/solo", None)
            .await
            .status,
        200
    );
    drop(a2);
    emu.wait_for_disconnect(&id, WAIT).await.unwrap();
    assert_eq!(
        rest(&emu, "GET", "/api/v1/hubs/chat/groups/solo", None)
            .await
            .status,
        404
    );

    // ttl expiry: membership ends after the ttl; waited for by polling the state.
    let r = rest(
        &emu,
        "PUT",
        "/api/v1/hubs/chat/groups/brief/users/alice?ttl=1",
        None,
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(
        rest(
            &emu,
            "HEAD",
            "/api/v1/hubs/chat/groups/brief/users/alice",
            None
        )
        .await
        .status,
        200
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let status = rest(
            &emu,
            "HEAD",
            "/api/v1/hubs/chat/groups/brief/users/alice",
            None,
        )
        .await
        .status;
        if status == 404 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ttl=1 membership never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        rest(&emu, "HEAD", "/api/v1/hubs/chat/groups/brief", None)
            .await
            .status,
        404
    );

    // Only the latest 100 groups without ttl are kept per user.
    for i in 0..101 {
        let path = format!("/api/v1/hubs/chat/groups/cap{i}/users/carol");
        assert_eq!(rest(&emu, "PUT", &path, None).await.status, 202);
    }
    let member = |i: usize| format!("/api/v1/hubs/chat/groups/cap{i}/users/carol");
    assert_eq!(rest(&emu, "HEAD", &member(0), None).await.status, 404);
    assert_eq!(rest(&emu, "HEAD", &member(1), None).await.status, 200);
    assert_eq!(rest(&emu, "HEAD", &member(100), None).await.status, 200);
    drop(a1);
    emu.shutdown().await;
}

#[tokio::test]
async fn application_prefix_makes_separate_hubs() {
    let emu = start().await;
    let mut in_app = WsClient::connect(&emu, "app1_chat", None).await;
    let mut plain = WsClient::connect(&emu, "chat", None).await;
    let r = rest(
        &emu,
        "POST",
        &format!("/api/hubs/chat/:send?application=App1&{V}"),
        msg("app", json!([])),
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(in_app.next_invocation().await.target, "app");
    let r = rest(
        &emu,
        "POST",
        &format!("/api/hubs/chat/:send?{V}"),
        msg("plain", json!([])),
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(plain.next_invocation().await.target, "plain");
    let id = in_app.connection_id.clone();
    assert_eq!(
        rest(
            &emu,
            "HEAD",
            &format!("/api/hubs/chat/connections/{id}?application=app1&{V}"),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        rest(
            &emu,
            "HEAD",
            &format!("/api/hubs/chat/connections/{id}?application=app2&{V}"),
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        rest(
            &emu,
            "HEAD",
            &format!("/api/hubs/chat/connections/{id}?{V}"),
            None
        )
        .await
        .status,
        404
    );
    let r = rest(
        &emu,
        "HEAD",
        &format!("/api/hubs/chat/connections/{id}?application=9bad&{V}"),
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    emu.shutdown().await;
}

#[tokio::test]
async fn bulk_closes_carry_reason_and_honour_exclusions() {
    let emu = start().await;
    let mut a = WsClient::connect(&emu, "chat", Some("alice")).await;
    let mut b = WsClient::connect(&emu, "chat", Some("bob")).await;
    let mut c = WsClient::connect(&emu, "chat", Some("carol")).await;
    rest(
        &emu,
        "PUT",
        &format!(
            "/api/hubs/chat/groups/g/connections/{}?{V}",
            a.connection_id
        ),
        None,
    )
    .await;
    let r = rest(
        &emu,
        "POST",
        &format!("/api/hubs/chat/groups/g/:closeConnections?reason=group%20closed&{V}"),
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(a.expect_close().await.as_deref(), Some("group closed"));
    let r = rest(
        &emu,
        "POST",
        &format!("/api/hubs/chat/users/bob/:closeConnections?reason=user&{V}"),
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(b.expect_close().await.as_deref(), Some("user"));
    // 1.0 close of a single connection, with a reason.
    let r = rest(
        &emu,
        "DELETE",
        &format!(
            "/api/v1/hubs/chat/connections/{}?reason=one",
            c.connection_id
        ),
        None,
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(c.expect_close().await.as_deref(), Some("one"));
    emu.shutdown().await;
}

#[tokio::test]
async fn shutdown_sends_close_to_clients() {
    let emu = start().await;
    let mut a = WsClient::connect_with(&emu, "chat", None, HubProtocol::MessagePack).await;
    rest(
        &emu,
        "POST",
        "/api/v1/hubs/chat",
        msg("before", json!([1.5, null])),
    )
    .await;
    let inv = a.next_invocation().await;
    assert_eq!(inv.arguments, vec![json!(1.5), Value::Null]);
    emu.shutdown().await;
    let error = a.expect_close().await;
    assert!(error.unwrap().contains("shutting down"));
}

#[tokio::test]
async fn unauthorized_requests_get_401_with_a_reason() {
    let emu = start().await;
    let path = "/api/v1/hubs/chat";
    let url = format!("{}{path}", emu.endpoint());
    let key = emu.access_key().to_string();
    let http = http();
    let call = |token: Option<String>| {
        let mut r = http.post(&url).json(&json!({"target": "x"}));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let none_alg = {
        use base64::Engine as _;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = e.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = e.encode(json!({"aud": url, "exp": now() + 600}).to_string());
        format!("{header}.{claims}.")
    };
    let rs256 = {
        use base64::Engine as _;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = e.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = e.encode(json!({"aud": url, "exp": now() + 600}).to_string());
        format!("{header}.{claims}.c2ln")
    };
    let no_exp = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"aud": url}),
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap();
    let cases = [
        ("none", None, "missing"),
        ("alg none", Some(none_alg), "HS256"),
        ("RS256", Some(rs256), "HS256"),
        (
            "wrong key",
            Some(token("another key entirely", &url, None, None)),
            "signature",
        ),
        (
            "expired",
            // Beyond the five minutes of clock skew allowed.
            Some(token(&key, &url, None, Some(now() - 400))),
            "expired",
        ),
        ("no exp", Some(no_exp), "exp"),
        (
            "wrong aud",
            Some(token(
                &key,
                &format!("{}/api/v1/hubs/other", emu.endpoint()),
                None,
                None,
            )),
            "audience",
        ),
        (
            "wrong port",
            Some(token(
                &key,
                "http://127.0.0.1:1/api/v1/hubs/chat",
                None,
                None,
            )),
            "audience",
        ),
        ("garbage", Some("a.b.c".into()), "malformed"),
    ];
    for (name, token, reason) in cases {
        let response = call(token).await.unwrap();
        assert_eq!(response.status(), 401, "{name}");
        let body = response.text().await.unwrap();
        assert!(body.contains(reason), "{name}: {body}");
    }
    // aud with the query string and with a trailing slash are both accepted.
    let with_query = format!("{url}?excluded=x");
    let r = http
        .post(&with_query)
        .bearer_auth(token(&key, &with_query, None, None))
        .json(&json!({"target": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = http
        .post(&url)
        .bearer_auth(token(&key, &format!("{url}/"), None, None))
        .json(&json!({"target": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // The host as the client wrote it ("localhost") is what the audience must name.
    let local = format!("http://localhost:{}{path}", emu.local_addr().port());
    let r = http
        .post(&local)
        .bearer_auth(token(&key, &local, None, None))
        .json(&json!({"target": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // 2022-06-01 errors are JSON with an error code header.
    let url22 = format!("{}/api/hubs/chat/:send?{V}", emu.endpoint());
    let r = into_reply(
        http.post(&url22)
            .json(&json!({"target": "x"}))
            .send()
            .await
            .unwrap(),
        "POST",
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code.as_deref(), Some("Unauthorized"));
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["code"], "Unauthorized");
    assert!(body["message"].as_str().unwrap().contains("missing"));
    emu.shutdown().await;
}

#[tokio::test]
async fn invalid_requests_get_400_naming_the_rule() {
    let emu = start().await;
    let cases: Vec<(&str, String, Option<Value>, &str)> = vec![
        (
            "POST",
            "/api/v1/hubs/1chat".into(),
            msg("x", json!([])),
            "hub name",
        ),
        (
            "POST",
            format!("/api/v1/hubs/{}", "a".repeat(129)),
            msg("x", json!([])),
            "hub name",
        ),
        (
            "POST",
            "/api/v1/hubs/ch%20at".into(),
            msg("x", json!([])),
            "hub name",
        ),
        (
            "POST",
            "/api/v1/hubs/chat/groups/%20%20".into(),
            msg("x", json!([])),
            "white space",
        ),
        (
            "POST",
            format!("/api/v1/hubs/chat/groups/{}", "g".repeat(1025)),
            msg("x", json!([])),
            "1 to 1024",
        ),
        (
            "POST",
            "/api/v1/hubs/chat".into(),
            Some(json!({"arguments": []})),
            "non-empty \"target\"",
        ),
        (
            "POST",
            "/api/v1/hubs/chat".into(),
            Some(json!({"target": ""})),
            "non-empty \"target\"",
        ),
        (
            "POST",
            "/api/v1/hubs/chat".into(),
            Some(json!([1, 2])),
            "JSON object",
        ),
        (
            "POST",
            "/api/v1/hubs/chat".into(),
            Some(json!({"target": "x", "arguments": 5})),
            "array",
        ),
        (
            "PUT",
            "/api/v1/hubs/chat/groups/g/users/u?ttl=-1".into(),
            None,
            "ttl",
        ),
        (
            "PUT",
            "/api/v1/hubs/chat/groups/g/users/u?ttl=abc".into(),
            None,
            "ttl",
        ),
        (
            "POST",
            "/api/hubs/chat/:send".into(),
            msg("x", json!([])),
            "api-version",
        ),
    ];
    for (method, path, body, rule) in cases {
        let r = rest(&emu, method, &path, body).await;
        assert_eq!(r.status, 400, "{method} {path}");
        assert!(r.body.contains(rule), "{method} {path}: {}", r.body);
    }
    // A 1.0 error is plain text; a 2022-06-01 one is JSON.
    let r = rest(&emu, "POST", "/api/v1/hubs/chat", Some(json!({}))).await;
    assert!(
        r.content_type.starts_with("text/plain"),
        "{}",
        r.content_type
    );
    let r = rest(
        &emu,
        "POST",
        &format!("/api/hubs/chat/:send?{V}"),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.content_type.starts_with("application/json"));
    assert_eq!(r.error_code.as_deref(), Some("BadRequest"));
    assert!(
        r.body
            .starts_with("{\"code\":\"BadRequest\",\"message\":\""),
        "{}",
        r.body
    );
    // `target` and `details` are left out when absent: the spec types them as string and array.
    assert!(
        r.body.ends_with("\"}") && !r.body.contains("null"),
        "{}",
        r.body
    );
    // Not JSON at all.
    let (url, token) = rest_url(&emu, "/api/v1/hubs/chat");
    let r = http()
        .post(&url)
        .bearer_auth(token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not valid JSON"));
    emu.shutdown().await;
}

#[tokio::test]
async fn bodies_over_one_megabyte_get_413() {
    let emu = start().await;
    let mut c = WsClient::connect(&emu, "chat", None).await;
    let big = "x".repeat(1024 * 1024);
    let r = rest(&emu, "POST", "/api/v1/hubs/chat", msg("big", json!([big]))).await;
    assert_eq!(r.status, 413);
    assert!(r.body.contains("limit"));
    // Request headers are limited to 16 KB.
    let (url, token) = rest_url(&emu, "/api/v1/hubs/chat");
    let r = http()
        .post(&url)
        .bearer_auth(token)
        .header("x-padding", "p".repeat(17 * 1024))
        .json(&json!({"target": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    assert!(r.text().await.unwrap().contains("headers"));
    // Chunked (no Content-Length) is cut off as well; written by hand to control framing.
    let (_, token) = rest_url(&emu, "/api/v1/hubs/chat");
    let mut tcp = tokio::net::TcpStream::connect(emu.local_addr())
        .await
        .unwrap();
    let head = format!(
        "POST /api/v1/hubs/chat HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        emu.local_addr()
    );
    use tokio::io::AsyncWriteExt;
    tcp.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 100 * 1024];
    for _ in 0..20 {
        // The server may answer and close before all chunks are written.
        if tcp
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .is_err()
            || tcp.write_all(&chunk).await.is_err()
            || tcp.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = tcp.write_all(b"0\r\n\r\n").await;
    let answer = read_answer(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    // Just under the limit goes through.
    let fits = "y".repeat(1000 * 1000);
    let r = rest(
        &emu,
        "POST",
        "/api/v1/hubs/chat",
        msg("fits", json!([fits])),
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(c.next_invocation().await.target, "fits");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_client_that_does_not_read_is_cut_off_and_others_keep_receiving() {
    let emu = Emulator::builder()
        .bind("127.0.0.1:0")
        .outbound_queue(16)
        .client_timeout(Duration::from_secs(600))
        .start()
        .await
        .unwrap();
    let slow = WsClient::connect(&emu, "chat", None).await; // never reads again
    let slow_id = slow.connection_id.clone();
    let mut fast = WsClient::connect(&emu, "chat", None).await;
    let payload = "z".repeat(64 * 1024);
    let mut received = 0;
    let mut sent = 0;
    // Keep broadcasting until the slow client is dropped; the fast one reads everything.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while emu
        .hub("chat")
        .connections
        .iter()
        .any(|c| c.connection_id == slow_id)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "slow client never cut off"
        );
        let r = rest(
            &emu,
            "POST",
            "/api/v1/hubs/chat",
            msg("bulk", json!([sent, payload])),
        )
        .await;
        assert_eq!(r.status, 202);
        sent += 1;
        let inv = fast.next_invocation().await;
        assert_eq!(inv.arguments[0], json!(received));
        received += 1;
    }
    // The fast client still gets messages after the slow one is gone.
    rest(&emu, "POST", "/api/v1/hubs/chat", msg("after", json!([]))).await;
    assert_eq!(fast.next_invocation().await.target, "after");
    assert_eq!(emu.hub("chat").connections.len(), 1);
    println!("slow client cut off after {sent} broadcasts of 64 KiB");
    drop(slow);
    emu.shutdown().await;
}

#[tokio::test]
async fn garbage_from_clients_never_breaks_the_emulator() {
    let emu = start().await;
    // Bad MessagePack after a good handshake: the client is closed with an error.
    let mut c = WsClient::connect_with(&emu, "chat", None, HubProtocol::MessagePack).await;
    c.send_raw(vec![0x05, 0xdd, 0xff, 0xff, 0xff, 0xff], true)
        .await;
    let error = c.expect_close().await.unwrap();
    assert!(error.contains("error"), "{error}");
    // Bad JSON record.
    let mut c = WsClient::connect(&emu, "chat", None).await;
    c.send_raw(b"{\"type\":1,\x1e".to_vec(), false).await;
    assert!(c.expect_close().await.unwrap().contains("error"));
    // A huge handshake without separator is refused.
    let mut c = WsClient::open(&emu, "chat", None, HubProtocol::Json).await;
    c.send_raw(vec![b'{'; 64 * 1024], false).await;
    assert!(c.ends_within(WAIT).await);
    // An unknown protocol in the handshake gets an error answer and the socket ends.
    let mut c = WsClient::open(&emu, "chat", None, HubProtocol::Json).await;
    c.send_raw(b"{\"protocol\":\"xml\",\"version\":1}\x1e".to_vec(), false)
        .await;
    assert!(c.ends_within(WAIT).await);
    // An invocation without an upstream closes the sender with an error.
    let mut c = WsClient::connect(&emu, "chat", None).await;
    let inv = HubProtocol::Json
        .encode(&HubMessage::Invocation(
            azure_signalr_rest::protocol::Invocation::new("send", vec![json!(1)]),
        ))
        .unwrap();
    c.send_raw(inv, false).await;
    assert!(c.expect_close().await.unwrap().contains("upstream"));
    // Garbage REST input: bad JSON, binary junk, odd paths; all answered, none fatal.
    let (url, token) = rest_url(&emu, "/api/v1/hubs/chat");
    for body in [
        vec![0xff, 0xfe, 0x00],
        b"\"just a string\"".to_vec(),
        b"{\"target\":{}}".to_vec(),
    ] {
        let r = http()
            .post(&url)
            .bearer_auth(&token)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }
    let r = rest(&emu, "GET", "/api/v1/hubs/chat/%ff%fe/x/y/z", None).await;
    assert_eq!(r.status, 404);
    // Negotiate without a token, with a bad hub.
    let r = http()
        .post(format!(
            "{}/client/negotiate?hub=chat&negotiateVersion=1",
            emu.endpoint()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http()
        .post(format!(
            "{}/client/negotiate?hub=9&negotiateVersion=1",
            emu.endpoint()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Still healthy and serving.
    let mut c = WsClient::connect(&emu, "chat", None).await;
    rest(&emu, "POST", "/api/v1/hubs/chat", msg("alive", json!([]))).await;
    assert_eq!(c.next_invocation().await.target, "alive");
    assert_eq!(rest(&emu, "GET", "/api/v1/health", None).await.status, 200);
    emu.shutdown().await;
}

#[tokio::test]
async fn silent_clients_time_out_and_pings_flow() {
    let emu = Emulator::builder()
        .bind("127.0.0.1:0")
        .ping_interval(Duration::from_millis(100))
        .client_timeout(Duration::from_millis(600))
        .start()
        .await
        .unwrap();
    let mut c = WsClient::connect(&emu, "chat", None).await;
    // next_message skips pings; the first real message is the Close for the timeout.
    let error = c.expect_close().await.unwrap();
    assert!(error.contains("timeout"), "{error}");
    emu.shutdown().await;
}

#[tokio::test]
async fn negotiate_version_zero_uses_the_connection_id() {
    let emu = start().await;
    let aud = format!("{}/client/?hub=chat", emu.endpoint());
    let t = token(emu.access_key(), &aud, Some("zed"), None);
    let reply: Value = http()
        .post(format!("{}/client/negotiate?hub=chat", emu.endpoint()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["negotiateVersion"], 0);
    assert!(reply.get("connectionToken").is_none());
    let transports: Vec<&str> = reply["availableTransports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["transport"].as_str().unwrap())
        .collect();
    assert_eq!(
        transports,
        ["WebSockets", "ServerSentEvents", "LongPolling"]
    );
    emu.shutdown().await;
}

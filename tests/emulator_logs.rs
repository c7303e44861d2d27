//! An embedded emulator logs through its host's subscriber, which has no redactor: at every
//! level, down to TRACE, no event may carry the access key, a client or REST token, or a
//! connection token, while requests are still logged with their path and query.
//!
//! One test in this binary, since it installs the process-wide subscriber (sessions run on
//! other threads than the test).

mod common;
#[path = "common/log_sink.rs"]
mod log_sink;

use common::{http, msg, negotiate, rest, start, token, WAIT};
use futures::SinkExt;
use log_sink::trace_logs;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_event_carries_a_secret_and_requests_are_logged_redacted() {
    let captured = trace_logs();

    let emu = start().await;
    let mut secrets = vec![emu.access_key().to_string()];

    // WebSockets: token and connection token in the query, as browsers send them.
    let (_, ws_token, ws_client_token) = negotiate(&emu, "chat", Some("ann")).await;
    secrets.extend([ws_token.clone(), ws_client_token.clone()]);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/client/?hub=chat&id={ws_token}&access_token={ws_client_token}",
        emu.local_addr()
    ))
    .await
    .unwrap();
    ws.send("{\"protocol\":\"json\",\"version\":1}\u{1e}".into())
        .await
        .unwrap();
    emu.wait_for_connection(|c| c.user_id.as_deref() == Some("ann"), WAIT)
        .await
        .unwrap();
    // Long Polling with negotiateVersion=0 (the id is the connection id) and the token in the
    // query, then a poll, a POST and a DELETE.
    let (_, lp_token, lp_client_token) = negotiate(&emu, "chat", Some("bob")).await;
    secrets.extend([lp_token.clone(), lp_client_token.clone()]);
    let lp = format!(
        "{}/client/?hub=chat&id={lp_token}&access_token={lp_client_token}",
        emu.endpoint()
    );
    assert_eq!(http().get(&lp).send().await.unwrap().status(), 200);
    let handshake = "{\"protocol\":\"json\",\"version\":1}\u{1e}";
    assert_eq!(
        http()
            .post(&lp)
            .body(handshake)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(http().get(&lp).send().await.unwrap().status(), 200);
    // SSE.
    let (_, sse_token, sse_client_token) = negotiate(&emu, "chat", Some("cat")).await;
    secrets.extend([sse_token.clone(), sse_client_token.clone()]);
    let sse = http()
        .get(format!(
            "{}/client/?hub=chat&id={sse_token}&access_token={sse_client_token}",
            emu.endpoint()
        ))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    // A REST send (bearer token), and a REST call with a bad token, which is refused.
    let reply = rest(&emu, "POST", "/api/v1/hubs/chat", msg("hello", json!([1]))).await;
    assert_eq!(reply.status, 202);
    emu.wait_for_delivery(|d| d.user_id.as_deref() == Some("ann"), WAIT)
        .await
        .unwrap();
    let bad = token(
        "not-the-key-but-long-enough-0123456789",
        &emu.endpoint(),
        None,
        None,
    );
    secrets.push(bad.clone());
    let refused = http()
        .post(format!(
            "{}/api/v1/hubs/chat?access_token={bad}",
            emu.endpoint()
        ))
        .bearer_auth(&bad)
        .json(&json!({"target": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(http().delete(&lp).send().await.unwrap().status(), 202);
    drop(sse);
    drop(ws);
    emu.shutdown().await;

    let logs = captured.text();
    // Requests are logged, with the path and the query's secrets redacted.
    let transport_request = logs
        .lines()
        .find(|l| l.contains("path=\"/client/\"") && l.contains("access_token=<redacted>"));
    assert!(
        transport_request.is_some_and(|l| l.contains("id=<redacted>")),
        "no redacted request log line in:\n{logs}"
    );
    assert!(logs.contains("path=\"/api/v1/hubs/chat\""), "{logs}");
    for secret in &secrets {
        // A JWT's signature is its most secret part; the whole token includes it.
        let signature = secret.rsplit('.').next().unwrap();
        assert!(
            !logs.contains(signature),
            "a secret ({} chars) appears in the log:\n{logs}",
            secret.len()
        );
    }
}

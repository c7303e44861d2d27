//! CORS on the client endpoint, at the HTTP level, with the headers a browser sends for the
//! official `@microsoft/signalr` client on another origin (the browser test,
//! `emulator_browser.rs`, shows the same thing end to end in chromium).
#![cfg(feature = "emulator")]

mod common;

use common::*;
use reqwest::header::HeaderMap;
use reqwest::Method;

const ORIGIN: &str = "http://app.example:5173";
/// The non-simple headers the JavaScript client adds to negotiate and to HTTP transports.
const CLIENT_HEADERS: &str = "authorization,x-requested-with,x-signalr-user-agent";

/// A browser's preflight: `OPTIONS` with `Origin` and the method and headers it wants to send.
async fn preflight(url: &str, method: &str) -> reqwest::Response {
    http()
        .request(Method::OPTIONS, url)
        .header("Origin", ORIGIN)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", CLIENT_HEADERS)
        .send()
        .await
        .expect("preflight")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A comma-separated header's entries, lower-cased.
fn list(headers: &HeaderMap, name: &str) -> Vec<String> {
    header(headers, name)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// What a credentialed cross-origin response needs: the exact origin (a `*` is refused with
/// credentials) and `Allow-Credentials: true`.
fn assert_allows_origin(headers: &HeaderMap, what: &str) {
    assert_eq!(
        header(headers, "access-control-allow-origin"),
        Some(ORIGIN),
        "{what}: {headers:?}"
    );
    assert_eq!(
        header(headers, "access-control-allow-credentials"),
        Some("true"),
        "{what}: {headers:?}"
    );
}

#[tokio::test]
async fn negotiate_preflight_allows_any_origin_and_the_client_headers_rest_none() {
    let emu = start().await;
    let url = format!(
        "{}/client/negotiate?hub=chat&negotiateVersion=1",
        emu.endpoint()
    );
    // No token: a browser never sends credentials or Authorization with a preflight.
    let response = preflight(&url, "POST").await;
    assert!(
        response.status().is_success(),
        "preflight answered {}",
        response.status()
    );
    let headers = response.headers();
    assert_allows_origin(headers, "preflight");
    assert!(
        list(headers, "access-control-allow-methods").contains(&"post".to_string()),
        "{headers:?}"
    );
    let allowed = list(headers, "access-control-allow-headers");
    for wanted in CLIENT_HEADERS.split(',') {
        assert!(
            allowed.contains(&wanted.to_string()),
            "{wanted} not allowed: {headers:?}"
        );
    }
    // The answer depends on the request's Origin, so caches must key on it.
    assert!(
        list(headers, "vary").contains(&"origin".to_string()),
        "{headers:?}"
    );

    // The REST API is for servers: no preflight answer, no CORS headers.
    let (url, token) = rest_url(&emu, "/api/v1/hubs/chat");
    let response = preflight(&url, "POST").await;
    let headers = response.headers();
    assert_eq!(header(headers, "access-control-allow-origin"), None);
    assert_eq!(header(headers, "access-control-allow-methods"), None);
    // The call itself still works for a server (an Origin header changes nothing), but a
    // browser could not read the answer.
    let sent = http()
        .post(&url)
        .header("Origin", ORIGIN)
        .bearer_auth(token)
        .json(&serde_json::json!({"target": "t", "arguments": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    assert_eq!(
        header(sent.headers(), "access-control-allow-origin"),
        None,
        "{:?}",
        sent.headers()
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn negotiate_answers_carry_cors_headers_including_errors() {
    let emu = start().await;
    let url = format!(
        "{}/client/negotiate?hub=chat&negotiateVersion=1",
        emu.endpoint()
    );
    let aud = format!("{}/client/?hub=chat", emu.endpoint());
    let ok = http()
        .post(&url)
        .header("Origin", ORIGIN)
        .header("X-Requested-With", "XMLHttpRequest")
        .bearer_auth(token(emu.access_key(), &aud, Some("ann"), None))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_allows_origin(ok.headers(), "negotiate");

    // The page must be able to read why it was refused, so errors carry them too.
    let refused = http()
        .post(&url)
        .header("Origin", ORIGIN)
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_allows_origin(refused.headers(), "401 from negotiate");
    emu.shutdown().await;
}

#[tokio::test]
async fn http_transports_allow_their_cross_origin_methods() {
    let emu = start().await;
    let url = format!("{}/client/?hub=chat&id=some-token", emu.endpoint());
    // Long Polling polls with GET, sends with POST and stops with DELETE.
    for method in ["GET", "POST", "DELETE"] {
        let response = preflight(&url, method).await;
        assert!(response.status().is_success(), "{method}");
        assert_allows_origin(response.headers(), method);
        let methods = list(response.headers(), "access-control-allow-methods");
        assert!(
            methods.contains(&method.to_ascii_lowercase()),
            "{method}: {methods:?}"
        );
    }

    // A real poll from a page: negotiated, then a GET with Origin; its answer carries them.
    let (_, connection_token, token) = negotiate(&emu, "chat", Some("ann")).await;
    let poll = http()
        .get(format!(
            "{}/client/?hub=chat&id={connection_token}",
            emu.endpoint()
        ))
        .header("Origin", ORIGIN)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(poll.status(), 200);
    assert_allows_origin(poll.headers(), "long poll");
    emu.shutdown().await;
}

//! Tokens and claims as Microsoft's tooling makes them, against the emulator over real sockets,
//! and our own client signing the same way.
//!
//! The .NET server SDK (Microsoft.Azure.SignalR.Management) cannot run here, so its tokens are
//! built by hand, from what its public sources do: JWT header `{alg, kid, typ}`, HS256 by default
//! (HS512 when configured), claims `aud`, `nbf`, `iat`, `exp`, and `asrs.s.uid` for a client's
//! user; a REST `aud` of `scheme://host/` + path + `?api-version=2022-06-01` (with
//! `application=` first when set) **without the port**, query parameters such as `excluded`,
//! `reason` and `ttl` appended to the request URL after signing; a client `aud` of
//! `scheme://host/client/?hub=<lower-cased hub>`, again without the port.
#![cfg(all(feature = "emulator", feature = "listener"))]

mod common;

use std::sync::{Arc, Mutex};

use azure_signalr_rest::emulator::EmulatorHandle;
use azure_signalr_rest::{
    AddUserOptions, ApiVersion, CloseOptions, Message, NegotiateOptions, RetryPolicy, SendOptions,
    ServiceClient,
};
use base64::Engine as _;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const API: &str = "api-version=2022-06-01";

/// A token as the .NET SDK signs one: `kid` in the header (the SDK's key id is a hash of the
/// key, opaque to the service), `nbf`/`iat`/`exp` around now, `aud`, then `extra`.
fn sdk_token(alg: Algorithm, key: &str, aud: &str, extra: Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some("-1146012345".into());
    let now = now();
    let mut claims = json!({ "nbf": now, "exp": now + 3600, "iat": now, "aud": aud });
    for (name, value) in extra.as_object().expect("claims object") {
        claims[name] = value.clone();
    }
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(key.as_bytes())).unwrap()
}

/// `http://127.0.0.1` — the audience base the SDK derives from the emulator's connection string
/// (`Endpoint=http://127.0.0.1;Port=<port>;...`): scheme and host, no port.
fn audience_base(emu: &EmulatorHandle) -> String {
    format!("http://{}", emu.local_addr().ip())
}

/// A REST request of the SDK: the URL it calls (port included, `after_signing` appended) and
/// its token (HS256 unless `alg` says otherwise), for `path_and_query` such as
/// `/api/hubs/chat/:send?api-version=2022-06-01`.
fn sdk_rest(
    emu: &EmulatorHandle,
    alg: Algorithm,
    path_and_query: &str,
    after_signing: &str,
) -> (String, String) {
    let aud = format!("{}{path_and_query}", audience_base(emu));
    // The SDK's RestApiAccessTokenGenerator puts the server's name in `nameid` of REST tokens.
    let token = sdk_token(
        alg,
        emu.access_key(),
        &aud,
        json!({ "nameid": "MACHINE_0123456789abcdef0123456789abcdef" }),
    );
    let mut url = format!("{}{path_and_query}", emu.endpoint());
    if !after_signing.is_empty() {
        url.push('&');
        url.push_str(after_signing);
    }
    (url, token)
}

async fn call(method: &str, url: &str, token: &str, body: Option<Value>) -> Reply {
    let mut request = http()
        .request(method.parse().unwrap(), url)
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    into_reply(request.send().await.expect("REST call"), method).await
}

/// A client of `hub` the way a browser or .NET client connects with the SDK's negotiate
/// answer: negotiate with `Authorization: Bearer`, then the WebSocket with `access_token`.
/// Returns the client and the emulator's view of its user.
async fn connect_with_token(emu: &EmulatorHandle, hub_param: &str, token: &str) -> (Ws, String) {
    use futures::SinkExt;
    let (mut ws, id) = open_websocket(&emu.local_addr().to_string(), hub_param, token).await;
    ws.send(JSON_HANDSHAKE.into()).await.unwrap();
    emu.wait_for_connection(|c| c.connection_id == id, WAIT)
        .await
        .expect("connection registered");
    (ws, id)
}

fn www_authenticate(reply: &reqwest::Response) -> Option<String> {
    reply
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[tokio::test]
async fn rest_calls_signed_like_the_dotnet_sdk_are_accepted() {
    let emu = start().await;
    let key = emu.access_key().to_string();
    let client_aud = format!("{}/client/?hub=chat", audience_base(&emu));
    let alice = sdk_token(
        Algorithm::HS256,
        &key,
        &client_aud,
        json!({"asrs.s.uid": "alice"}),
    );
    // The client names its hub `Chat`; the SDK lower-cases hubs in REST paths.
    let (_alice_ws, alice_id) = connect_with_token(&emu, "Chat", &alice).await;
    let bob = sdk_token(
        Algorithm::HS256,
        &key,
        &client_aud,
        json!({"asrs.s.uid": "bob"}),
    );
    let (_bob_ws, bob_id) = connect_with_token(&emu, "chat", &bob).await;

    for alg in [Algorithm::HS256, Algorithm::HS512] {
        // Broadcast, `excluded` appended after signing.
        let target = format!("broadcast{alg:?}");
        let (url, token) = sdk_rest(
            &emu,
            alg,
            &format!("/api/hubs/chat/:send?{API}"),
            &format!("excluded={bob_id}"),
        );
        let r = call(
            "POST",
            &url,
            &token,
            Some(json!({"target": target, "arguments": [1]})),
        )
        .await;
        assert_eq!(r.status, 202, "{alg:?}: {}", r.body);
        let d = emu
            .wait_for_delivery(|d| d.target == target, WAIT)
            .await
            .expect("broadcast delivered");
        assert_eq!(d.connection_id, alice_id);
        assert_eq!(d.hub, "chat");

        // Send to a user (the id escaped in the path, as Uri.EscapeDataString does).
        let target = format!("user{alg:?}");
        let (url, token) = sdk_rest(
            &emu,
            alg,
            &format!("/api/hubs/chat/users/alice/:send?{API}"),
            "",
        );
        let r = call(
            "POST",
            &url,
            &token,
            Some(json!({"target": target, "arguments": []})),
        )
        .await;
        assert_eq!(r.status, 202, "{alg:?}: {}", r.body);
        let d = emu
            .wait_for_delivery(|d| d.target == target, WAIT)
            .await
            .unwrap();
        assert_eq!(d.user_id.as_deref(), Some("alice"));
    }

    // Add a user to a group with `ttl` appended after signing; the group send reaches her.
    let (url, token) = sdk_rest(
        &emu,
        Algorithm::HS256,
        &format!("/api/hubs/chat/users/alice/groups/room?{API}"),
        "ttl=600",
    );
    assert_eq!(call("PUT", &url, &token, None).await.status, 200);
    let (url, token) = sdk_rest(
        &emu,
        Algorithm::HS256,
        &format!("/api/hubs/chat/groups/room/:send?{API}"),
        "",
    );
    let r = call(
        "POST",
        &url,
        &token,
        Some(json!({"target": "inRoom", "arguments": []})),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let d = emu
        .wait_for_delivery(|d| d.target == "inRoom", WAIT)
        .await
        .unwrap();
    assert_eq!(d.user_id.as_deref(), Some("alice"));

    // Close bob's connection with a `reason` appended after signing.
    let (url, token) = sdk_rest(
        &emu,
        Algorithm::HS256,
        &format!("/api/hubs/chat/connections/{bob_id}?{API}"),
        "reason=bye",
    );
    assert_eq!(call("DELETE", &url, &token, None).await.status, 200);
    emu.wait_for_disconnect(&bob_id, WAIT)
        .await
        .expect("bob closed");

    // The health check, whose audience carries the api-version too.
    let (url, token) = sdk_rest(&emu, Algorithm::HS256, &format!("/api/health?{API}"), "");
    let r = http().head(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    emu.shutdown().await;
}

#[tokio::test]
async fn audience_port_must_match_when_present_and_host_scheme_path_always() {
    let emu = start().await;
    let key = emu.access_key().to_string();
    let port = emu.local_addr().port();
    let ip = emu.local_addr().ip();
    let url = format!("{}/api/hubs/chat/:send?{API}", emu.endpoint());
    let cases = [
        (format!("http://{ip}/api/hubs/chat/:send?{API}"), 202),
        (format!("http://{ip}:{port}/api/hubs/chat/:send"), 202),
        (
            format!("http://{ip}/api/hubs/chat/:send?api-version=1999-01-01&other=x"),
            202,
        ),
        (
            format!(
                "http://{ip}:{}/api/hubs/chat/:send?{API}",
                port.wrapping_add(1).max(1)
            ),
            401,
        ),
        (format!("https://{ip}/api/hubs/chat/:send?{API}"), 401),
        (
            format!("http://elsewhere.example/api/hubs/chat/:send?{API}"),
            401,
        ),
        (format!("http://{ip}/api/hubs/other/:send?{API}"), 401),
    ];
    for (aud, status) in cases {
        let token = sdk_token(Algorithm::HS256, &key, &aud, json!({}));
        let r = call("POST", &url, &token, Some(json!({"target": "t"}))).await;
        assert_eq!(r.status, status, "aud {aud}: {}", r.body);
        if status == 401 {
            assert!(r.body.contains("audience"), "{}", r.body);
        }
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn client_tokens_name_their_hub_and_carry_the_user_in_the_sdk_claim() {
    let emu = start().await;
    let key = emu.access_key().to_string();
    let base = audience_base(&emu);
    let port = emu.local_addr().port();
    // The official emulator's order: asrs.s.uid, then nameid, then sub.
    let users = [
        (
            json!({"asrs.s.uid": "uid-user", "nameid": "nameid-user", "sub": "sub-user"}),
            "uid-user",
        ),
        (
            json!({"sub": "sub-user", "nameid": "nameid-user"}),
            "nameid-user",
        ),
        (json!({"sub": "sub-user"}), "sub-user"),
    ];
    for (claims, expected) in users {
        let token = sdk_token(
            Algorithm::HS256,
            &key,
            &format!("{base}/client/?hub=chat"),
            claims,
        );
        let (_ws, id) = connect_with_token(&emu, "chat", &token).await;
        let info = emu
            .wait_for_connection(|c| c.connection_id == id, WAIT)
            .await
            .unwrap();
        assert_eq!(info.user_id.as_deref(), Some(expected));
    }

    // The hub in the audience is compared case-insensitively; other parameters and the port
    // (matching or not) are not compared.
    for aud in [
        format!("{base}/client/?hub=CHAT"),
        format!("{base}:{port}/client/?asrs.op=%2Fchat&hub=chat"),
        format!("{base}:{}/client/?hub=chat", port.wrapping_add(1).max(1)),
    ] {
        let token = sdk_token(Algorithm::HS256, &key, &aud, json!({}));
        connect_with_token(&emu, "Chat", &token).await;
    }

    // A client token must name the hub connected to.
    for aud in [
        format!("{base}/client/"),
        format!("{base}/client/?hub=other"),
        format!("{base}/client/?id=chat"),
        format!("{base}/api/hubs/chat"),
    ] {
        let token = sdk_token(Algorithm::HS256, &key, &aud, json!({}));
        let r = http()
            .post(format!("{}/client/negotiate?hub=chat", emu.endpoint()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "aud {aud}");
        assert!(r.text().await.unwrap().contains("hub"), "aud {aud}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn hs256_hs384_hs512_with_five_minutes_of_clock_skew() {
    let emu = start().await;
    let key = emu.access_key().to_string();
    let url = format!("{}/api/v1/hubs/chat", emu.endpoint());
    let aud = format!("{}/api/v1/hubs/chat", audience_base(&emu));
    let body = json!({"target": "t"});
    let signed = |alg, claims: Value| {
        jsonwebtoken::encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(key.as_bytes()),
        )
        .unwrap()
    };
    let now = now();
    let accepted = [
        (
            "HS256",
            signed(Algorithm::HS256, json!({"aud": aud, "exp": now + 60})),
        ),
        (
            "HS384",
            signed(Algorithm::HS384, json!({"aud": aud, "exp": now + 60})),
        ),
        (
            "HS512",
            signed(Algorithm::HS512, json!({"aud": aud, "exp": now + 60})),
        ),
        (
            "expired 2 min ago",
            signed(Algorithm::HS256, json!({"aud": aud, "exp": now - 120})),
        ),
        (
            "nbf in 2 min",
            signed(
                Algorithm::HS256,
                json!({"aud": aud, "exp": now + 600, "nbf": now + 120}),
            ),
        ),
    ];
    for (name, token) in accepted {
        let r = call("POST", &url, &token, Some(body.clone())).await;
        assert_eq!(r.status, 202, "{name}: {}", r.body);
    }
    let unsigned = |alg: &str| {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = e.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
        let claims = e.encode(json!({"aud": aud, "exp": now + 600}).to_string());
        format!("{header}.{claims}.c2ln")
    };
    let refused = [
        ("alg none", unsigned("none"), "HS256, HS384 or HS512"),
        ("alg RS256", unsigned("RS256"), "HS256, HS384 or HS512"),
        (
            "expired 10 min ago",
            signed(Algorithm::HS256, json!({"aud": aud, "exp": now - 600})),
            "expired",
        ),
        (
            "nbf in 10 min",
            signed(
                Algorithm::HS256,
                json!({"aud": aud, "exp": now + 3600, "nbf": now + 600}),
            ),
            "nbf",
        ),
    ];
    for (name, token, reason) in refused {
        let r = call("POST", &url, &token, Some(body.clone())).await;
        assert_eq!(r.status, 401, "{name}");
        assert!(r.body.contains(reason), "{name}: {}", r.body);
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn access_token_query_is_for_browser_transports_only() {
    let emu = start().await;
    let key = emu.access_key().to_string();
    let http = http();

    // REST: never, on any version, even with a valid token.
    for path in [
        "/api/v1/hubs/chat".to_string(),
        format!("/api/hubs/chat/:send?{API}"),
    ] {
        let aud = format!("{}{}", audience_base(&emu), path.split('?').next().unwrap());
        let token = sdk_token(Algorithm::HS256, &key, &aud, json!({}));
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = http
            .post(format!("{}{path}{sep}access_token={token}", emu.endpoint()))
            .json(&json!({"target": "t"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(www_authenticate(&r).as_deref(), Some("Bearer"));
        let text = r.text().await.unwrap();
        assert!(text.contains("Authorization header"), "{text}");
        assert!(!text.contains(&token), "the token is not echoed");
    }

    // Negotiate: browsers send the Authorization header; the query is not looked at.
    let client_token = sdk_token(
        Algorithm::HS256,
        &key,
        &format!("{}/client/?hub=chat", audience_base(&emu)),
        json!({"asrs.s.uid": "browser"}),
    );
    let r = http
        .post(format!(
            "{}/client/negotiate?hub=chat&negotiateVersion=1&access_token={client_token}",
            emu.endpoint()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The WebSocket upgrade takes it (connect_with_token passes it in the query).
    let (_ws, id) = connect_with_token(&emu, "chat", &client_token).await;
    assert_eq!(
        emu.hub("chat").connections[0].connection_id,
        id,
        "the WebSocket client is connected"
    );

    // So does the Server-Sent Events GET (an EventSource cannot set headers); its sends carry
    // the header, as the official JavaScript client does.
    let negotiated: Value = http
        .post(format!(
            "{}/client/negotiate?hub=chat&negotiateVersion=1",
            emu.endpoint()
        ))
        .bearer_auth(&client_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!(
        "{}/client/?hub=chat&id={}",
        emu.endpoint(),
        negotiated["connectionToken"].as_str().unwrap()
    );
    let mut stream = http
        .get(format!("{url}&access_token={client_token}"))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let sent = http
        .post(&url)
        .bearer_auth(&client_token)
        .body("{\"protocol\":\"json\",\"version\":1}\u{1e}")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let mut text = String::new();
    while !text.contains('\u{1e}') {
        let chunk = tokio::time::timeout(WAIT, stream.chunk())
            .await
            .unwrap()
            .unwrap()
            .expect("stream open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("data: {}\u{1e}"), "{text:?}");
    let sse_id = negotiated["connectionId"].as_str().unwrap().to_string();
    let info = emu
        .wait_for_connection(|c| c.connection_id == sse_id, WAIT)
        .await
        .unwrap();
    assert_eq!(info.user_id.as_deref(), Some("browser"));
    emu.shutdown().await;
}

#[tokio::test]
async fn unauthorized_answers_carry_www_authenticate_bearer() {
    let emu = start().await;
    let http = http();
    let requests = [
        http.post(format!("{}/api/v1/hubs/chat", emu.endpoint())),
        http.post(format!("{}/api/hubs/chat/:send?{API}", emu.endpoint())),
        http.head(format!("{}/api/hubs/chat/users/u?{API}", emu.endpoint())),
        http.post(format!("{}/client/negotiate?hub=chat", emu.endpoint())),
        http.get(format!("{}/client/?hub=chat&id=x", emu.endpoint())),
    ];
    for request in requests {
        let r = request.json(&json!({"target": "t"})).send().await.unwrap();
        assert_eq!(r.status(), 401, "{}", r.url());
        assert_eq!(
            www_authenticate(&r).as_deref(),
            Some("Bearer"),
            "{}",
            r.url()
        );
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn hub_and_application_names_are_case_insensitive_on_both_rest_versions() {
    let emu = start().await;
    let key = emu.access_key().to_string();
    let base = audience_base(&emu);
    // The SDK hands clients `hub=<application>_<hub>`, lower-cased; a client may spell it
    // differently.
    let token = sdk_token(
        Algorithm::HS256,
        &key,
        &format!("{base}/client/?hub=myapp_chat"),
        json!({}),
    );
    let (_in_app, in_app) = connect_with_token(&emu, "MyApp_Chat", &token).await;
    let token = sdk_token(
        Algorithm::HS256,
        &key,
        &format!("{base}/client/?hub=chat"),
        json!({}),
    );
    let (_plain, plain) = connect_with_token(&emu, "CHAT", &token).await;

    let sends = [
        // 2022-06-01 as the SDK sends it (application first, lower-cased).
        (
            format!("/api/hubs/chat/:send?application=myapp&{API}"),
            "sdk",
            &in_app,
        ),
        // Mixed case in path and application.
        (
            format!("/api/hubs/Chat/:send?application=MyApp&{API}"),
            "mixed",
            &in_app,
        ),
        // The 1.0 route takes `application` too, like the official emulator.
        (
            "/api/v1/hubs/chat?application=MYAPP".to_string(),
            "v1app",
            &in_app,
        ),
        // An empty application means none.
        (
            format!("/api/hubs/chat/:send?application=&{API}"),
            "empty",
            &plain,
        ),
        (
            "/api/v1/hubs/Chat?application=".to_string(),
            "v1empty",
            &plain,
        ),
    ];
    for (path, target, receiver) in sends {
        let aud = format!("{base}{}", path.split('?').next().unwrap());
        let token = sdk_token(Algorithm::HS256, &key, &aud, json!({}));
        let url = format!("{}{path}", emu.endpoint());
        let r = call("POST", &url, &token, Some(json!({"target": target}))).await;
        assert_eq!(r.status, 202, "{path}: {}", r.body);
        let d = emu
            .wait_for_delivery(|d| d.target == target, WAIT)
            .await
            .unwrap();
        assert_eq!(&d.connection_id, receiver, "{path}");
        let others = emu
            .deliveries()
            .iter()
            .filter(|d| d.target == target)
            .count();
        assert_eq!(others, 1, "{path} reached only its hub");
    }
    emu.shutdown().await;
}

/// One captured request: the request line's target and the Authorization header.
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    authorization: String,
}

/// A server that answers 202 (200 for HEAD) to everything and records what it got.
async fn capture() -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut read = BufReader::new(read);
                while let Some(request) = read_request(&mut read).await {
                    record.lock().unwrap().push(Seen {
                        authorization: request.header("authorization").unwrap_or_default().into(),
                        target: request.target,
                    });
                    let status = if request.method == "HEAD" {
                        "200 OK"
                    } else {
                        "202 Accepted"
                    };
                    let response = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                    if write.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, seen)
}

/// The claims of a token, without checking anything (the emulator tests check signatures).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn service_client_signs_like_the_sdk_whatever_endpoint_it_calls() {
    let (port, seen) = capture().await;
    let key = "capture-key";
    // Requests go to the ServerEndpoint; audiences come from the Endpoint, without its port.
    let cs = format!(
        "Endpoint=https://demo.service.signalr.net;Port=444;AccessKey={key};Version=1.0;\
         ServerEndpoint=http://127.0.0.1:{port}/;ClientEndpoint=https://proxy.example:8443"
    );
    let msg = Message::new("t", ("x",)).unwrap();
    let aud_base = "https://demo.service.signalr.net";
    let build = |version: ApiVersion, application: Option<&str>| {
        let mut b = ServiceClient::builder()
            .connection_string(&cs.parse().unwrap())
            .api_version(version)
            .retry_policy(RetryPolicy::none());
        if let Some(app) = application {
            b = b.application(app);
        }
        b.build().unwrap()
    };

    let client = build(ApiVersion::V2022_06_01, None);
    client
        .hub("Chat")
        .broadcast(&msg, Some(SendOptions::default().excluded(["c1", "c2"])))
        .await
        .unwrap();
    client
        .hub("chat")
        .add_user_to_group(
            "u 1",
            "g",
            Some(AddUserOptions::default().ttl(std::time::Duration::from_secs(60))),
        )
        .await
        .unwrap();
    client
        .hub("chat")
        .close_connection("c1", Some(CloseOptions::default().reason("bye")))
        .await
        .unwrap();
    let app = build(ApiVersion::V2022_06_01, Some("MyApp"));
    app.hub("chat").send_to_user("alice", &msg).await.unwrap();
    let v1 = build(ApiVersion::V1, None);
    v1.hub("chat")
        .broadcast(&msg, Some(SendOptions::default().excluded(["c1"])))
        .await
        .unwrap();

    let seen = seen.lock().unwrap().clone();
    let expected = [
        (
            "/api/hubs/chat/:send?",
            format!("{aud_base}/api/hubs/chat/:send?{API}"),
        ),
        (
            "/api/hubs/chat/users/u%201/groups/g?",
            format!("{aud_base}/api/hubs/chat/users/u%201/groups/g?{API}"),
        ),
        (
            "/api/hubs/chat/connections/c1?",
            format!("{aud_base}/api/hubs/chat/connections/c1?{API}"),
        ),
        (
            "/api/hubs/chat/users/alice/:send?",
            format!("{aud_base}/api/hubs/chat/users/alice/:send?application=myapp&{API}"),
        ),
        ("/api/v1/hubs/chat", format!("{aud_base}/api/v1/hubs/chat")),
    ];
    assert_eq!(seen.len(), expected.len(), "{seen:#?}");
    for (request, (path, aud)) in seen.iter().zip(expected) {
        assert!(request.target.starts_with(path), "{request:?} vs {path}");
        let token = request
            .authorization
            .strip_prefix("Bearer ")
            .expect("bearer");
        let claims = claims_of(token);
        assert_eq!(claims["aud"], aud.as_str(), "{request:?}");
        // Only the parameters the SDK signs are in the audience.
        for unsigned in ["excluded", "ttl", "reason"] {
            assert!(!claims["aud"].as_str().unwrap().contains(unsigned));
        }
    }
    assert!(seen[0].target.contains("excluded=c1"), "{:?}", seen[0]);
    assert!(seen[1].target.contains("ttl=60"), "{:?}", seen[1]);
    assert!(seen[2].target.contains("reason=bye"), "{:?}", seen[2]);

    // Negotiate: the URL is the ClientEndpoint's, the audience the Endpoint's host, no port.
    let r = client
        .hub("Chat")
        .negotiate(
            NegotiateOptions::default()
                .user_id("alice")
                .claim("role", "admin"),
        )
        .await
        .unwrap();
    assert_eq!(r.url, "https://proxy.example:8443/client/?hub=chat");
    let claims = claims_of(r.access_token.expose_secret());
    assert_eq!(claims["aud"], format!("{aud_base}/client/?hub=chat"));
    assert_eq!(claims["asrs.s.uid"], "alice");
    assert_eq!(claims["role"], "admin");
    let r = app
        .hub("Chat")
        .negotiate(NegotiateOptions::default())
        .await
        .unwrap();
    assert_eq!(r.url, "https://proxy.example:8443/client/?hub=myapp_chat");
    assert_eq!(
        claims_of(r.access_token.expose_secret())["aud"],
        format!("{aud_base}/client/?hub=myapp_chat")
    );
}

#[tokio::test]
async fn our_client_and_negotiate_work_against_the_emulator_with_sdk_audiences() {
    let emu = start().await;
    let client = ServiceClient::from_connection_string(&emu.connection_string()).unwrap();
    let chat = client.hub("Chat");
    let r = chat
        .negotiate(
            NegotiateOptions::default()
                .user_id("carol")
                .claim("nameid", "not-the-user")
                .claim("department", "sales"),
        )
        .await
        .unwrap();
    assert_eq!(
        claims_of(r.access_token.expose_secret())["aud"],
        format!("{}/client/?hub=chat", audience_base(&emu))
    );
    let (_ws, id) = connect_with_token(&emu, "chat", r.access_token.expose_secret()).await;
    let info = emu
        .wait_for_connection(|c| c.connection_id == id, WAIT)
        .await
        .unwrap();
    assert_eq!(
        info.user_id.as_deref(),
        Some("carol"),
        "asrs.s.uid comes first"
    );

    let msg = Message::new("fromRust", ("hi",)).unwrap();
    chat.send_to_user("carol", &msg).await.unwrap();
    let d = emu
        .wait_for_delivery(|d| d.target == "fromRust", WAIT)
        .await
        .unwrap();
    assert_eq!(d.connection_id, id);
    for version in [ApiVersion::V1, ApiVersion::V1Preview] {
        let client = ServiceClient::builder()
            .connection_string(&emu.connection_string().parse().unwrap())
            .api_version(version)
            .build()
            .unwrap();
        let target = format!("from{version:?}");
        let msg = Message::new(target.clone(), ("hi",)).unwrap();
        client
            .hub("CHAT")
            .send_to_user("carol", &msg)
            .await
            .unwrap();
        emu.wait_for_delivery(|d| d.target == target, WAIT)
            .await
            .unwrap();
    }
    emu.shutdown().await;
}

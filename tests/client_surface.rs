//! The client's public surface as a whole: clients can be shared across tasks, every request
//! names this SDK, and no tracing event at any level carries the key or a token.

#[path = "common/log_sink.rs"]
mod log_sink;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_signalr_rest::{
    AddUserOptions, ApiVersion, CloseOptions, Error, HubClient, Message, NegotiateOptions,
    RetryPolicy, SendOptions, ServiceClient,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use log_sink::trace_logs;

const KEY: &str = "surface-test-key-0123456789abcdefghijklmnopqrstuvwxyz";

fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
fn assert_send_sync<T: Send + Sync + 'static>() {}
fn assert_send<T: Send>(_: &T) {}

#[test]
fn clients_are_send_sync_and_clone_and_their_calls_are_send() {
    trace_logs();
    assert_send_sync_clone::<ServiceClient>();
    assert_send_sync_clone::<HubClient>();
    assert_send_sync::<Error>();
    let client = ServiceClient::from_connection_string(&format!(
        "Endpoint=http://127.0.0.1;Port=1;AccessKey={KEY}"
    ))
    .unwrap();
    let hub = client.hub("chat");
    let message = Message::new("t", ()).unwrap();
    // Futures are built, not polled: this only checks that `tokio::spawn` would take them.
    assert_send(&hub.send_to_user("u", &message));
    assert_send(&hub.send_to_users(["a", "b"], &message));
    assert_send(&hub.send_to_groups(vec!["a".to_owned()], &message, None));
    assert_send(&hub.negotiate(NegotiateOptions::default()));
    assert_send(&client.health());
}

/// The head of each request the server received.
type Heads = Arc<Mutex<Vec<String>>>;

/// Answers every request `202 Accepted` (a success for every operation) and keeps its head.
async fn server() -> (u16, Heads) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let heads: Heads = Arc::default();
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut read = BufReader::new(read);
                loop {
                    let mut head = String::new();
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap();
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push_str(&line);
                    }
                    let mut body = vec![0; length];
                    read.read_exact(&mut body).await.unwrap();
                    seen.lock().unwrap().push(head);
                    let reply = "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n";
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, heads)
}

fn client(port: u16, version: ApiVersion) -> ServiceClient {
    ServiceClient::builder()
        .connection_string(
            &format!("Endpoint=http://127.0.0.1;Port={port};AccessKey={KEY}")
                .parse()
                .unwrap(),
        )
        .api_version(version)
        .retry_policy(RetryPolicy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Every operation the version offers (unsupported ones fail locally and send nothing).
async fn every_operation(client: &ServiceClient) {
    let hub = client.hub("chat");
    let m = Message::new("t", ("x",)).unwrap();
    let excluded = || Some(SendOptions::default().excluded(["c9"]));
    let close = || Some(CloseOptions::default().reason("bye"));
    let _ = client.health().await;
    let _ = hub.broadcast(&m, None).await;
    let _ = hub.broadcast(&m, excluded()).await;
    let _ = hub.send_to_user("u", &m).await;
    let _ = hub.send_to_users(["u1", "u2"], &m).await;
    let _ = hub.send_to_group("g", &m, excluded()).await;
    let _ = hub.send_to_groups(["g1", "g2"], &m, None).await;
    let _ = hub.send_to_connection("c", &m).await;
    let _ = hub.add_connection_to_group("c", "g").await;
    let _ = hub.remove_connection_from_group("c", "g").await;
    let _ = hub.remove_connection_from_all_groups("c").await;
    let ttl = AddUserOptions::default().ttl(Duration::from_secs(60));
    let _ = hub.add_user_to_group("u", "g", Some(ttl)).await;
    let _ = hub.remove_user_from_group("u", "g").await;
    let _ = hub.remove_user_from_all_groups("u").await;
    let _ = hub.user_exists("u").await;
    let _ = hub.group_exists("g").await;
    let _ = hub.connection_exists("c").await;
    let _ = hub.user_in_group("u", "g").await;
    let _ = hub.close_connection("c", close()).await;
    let _ = hub.close_all_connections(close()).await;
    let _ = hub.close_group_connections("g", close()).await;
    let _ = hub.close_user_connections("u", close()).await;
    let payloads = Message::from_payloads("t", Some(b"{}\x1e".to_vec()), None).unwrap();
    let _ = hub.send_to_user("u", &payloads).await;
    let _ = hub
        .negotiate(NegotiateOptions::default().user_id("u"))
        .await;
}

#[tokio::test]
async fn every_request_names_this_sdk() {
    trace_logs();
    let (port, heads) = server().await;
    for version in ApiVersion::ALL {
        every_operation(&client(port, version)).await;
    }
    let heads = heads.lock().unwrap().clone();
    // 1.0-preview: 5 list and single sends less the two with exclusions, 1.0: 20 requests
    // (composed lists are two each), 2022-06-01: 26.
    assert!(heads.len() >= 40, "{} requests", heads.len());
    let product = format!("azure-signalr-rest/{} (Rust; ", env!("CARGO_PKG_VERSION"));
    for head in &heads {
        let header = |name: &str| {
            head.lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
                .unwrap_or_else(|| panic!("no {name} in\n{head}"))
        };
        assert!(header("user-agent").starts_with(&product), "{head}");
        // The header the .NET SDK sends its product info in.
        assert!(header("asrs-user-agent").starts_with(&product), "{head}");
    }
}

#[tokio::test]
async fn no_trace_event_carries_the_key_or_a_token() {
    let sink = trace_logs();
    let (port, heads) = server().await;
    let mut tokens = Vec::new();
    for version in ApiVersion::ALL {
        let client = client(port, version);
        every_operation(&client).await;
        let negotiated = client.hub("chat").negotiate_local(Default::default());
        tokens.push(negotiated.unwrap().access_token.expose_secret().to_owned());
    }
    for head in heads.lock().unwrap().iter() {
        if let Some(bearer) = head.split("Bearer ").nth(1) {
            tokens.push(bearer.lines().next().unwrap().trim().to_owned());
        }
    }
    assert!(tokens.len() > 40, "{} tokens", tokens.len());
    let logs = sink.text();
    assert!(logs.contains("TRACE") || logs.contains("DEBUG"), "{logs}");
    assert!(!logs.contains(KEY), "the key is in the logs");
    for token in &tokens {
        // The signature is what makes a token usable; none of it may be logged.
        let signature = token.rsplit('.').next().unwrap();
        assert!(!logs.contains(signature), "a token is in the logs");
    }
}

//! The client's timeout bounds a whole call, retries and the waits between them included, and
//! its error says how many attempts were made in how long. Each case runs against a real
//! socket that answers badly or not at all.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_signalr_rest::{ApiVersion, ErrorKind, Operation, RetryPolicy, ServiceClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";

/// A server answering each connection by `answer(n)` (n counts connections from 0): `Some`
/// writes that raw response after reading the request head, `None` accepts and never answers.
async fn server(answer: fn(usize) -> Option<&'static str>) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut silent = Vec::new();
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let n = count.fetch_add(1, Ordering::SeqCst);
            match answer(n) {
                None => silent.push(tcp),
                Some(response) => {
                    tokio::spawn(async move {
                        read_head(&mut tcp).await;
                        let _ = tcp.write_all(response.as_bytes()).await;
                    });
                }
            }
        }
    });
    (port, accepted)
}

async fn read_head(tcp: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

fn client(port: u16, timeout: Duration, retry: RetryPolicy) -> ServiceClient {
    ServiceClient::builder()
        .connection_string(
            &format!("Endpoint=http://127.0.0.1;Port={port};AccessKey={KEY};Version=1.0;")
                .parse()
                .unwrap(),
        )
        .api_version(ApiVersion::V1)
        .timeout(timeout)
        .retry_policy(retry)
        .build()
        .unwrap()
}

/// Slack for scheduling on a loaded machine; far below one more attempt.
const SLACK: Duration = Duration::from_millis(400);

#[tokio::test]
async fn a_silent_server_costs_one_timeout_not_one_per_attempt() {
    let (port, accepted) = server(|_| None).await;
    let timeout = Duration::from_millis(700);
    // The default policy retries health and existence checks three times.
    let client = client(port, timeout, RetryPolicy::default());

    let started = Instant::now();
    let error = client.health().await.unwrap_err();
    let took = started.elapsed();
    assert!(took < timeout + SLACK, "health took {took:?}");
    assert_eq!(error.operation(), Operation::Health);
    match error.kind() {
        ErrorKind::Timeout {
            timeout: t,
            attempts,
            elapsed,
        } => {
            assert_eq!(*t, timeout);
            assert_eq!(*attempts, 1);
            assert!(*elapsed >= timeout && *elapsed <= took, "{elapsed:?}");
        }
        other => panic!("{other:?}"),
    }
    let text = error.to_string();
    assert!(text.contains("700ms timeout (1 attempt in"), "{text}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);

    let started = Instant::now();
    let error = client.hub("chat").user_exists("ann").await.unwrap_err();
    let took = started.elapsed();
    assert!(took < timeout + SLACK, "user_exists took {took:?}");
    assert!(
        error.is_timeout() && error.operation() == Operation::UserExists,
        "{error:?}"
    );
}

#[tokio::test]
async fn retries_share_the_timeout_and_are_counted() {
    // A quick 503, then silence: the retry gets what is left of the timeout, not a new one.
    let (port, accepted) = server(|n| {
        (n == 0).then_some(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
    })
    .await;
    let timeout = Duration::from_millis(800);
    let retry = RetryPolicy::default()
        .initial_backoff(Duration::from_millis(20))
        .max_backoff(Duration::from_millis(20));
    let client = client(port, timeout, retry);

    let started = Instant::now();
    let error = client.health().await.unwrap_err();
    let took = started.elapsed();
    assert!(took < timeout + SLACK, "health took {took:?}");
    match error.kind() {
        ErrorKind::Timeout { attempts, .. } => assert_eq!(*attempts, 2),
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("(2 attempts in"), "{error}");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn no_retry_is_started_that_cannot_finish_in_time() {
    // Throttled with a Retry-After longer than what is left of the timeout: waiting it out
    // would overrun the timeout, so the call ends at once with the service's answer.
    let (port, accepted) = server(|_| {
        Some("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    })
    .await;
    let timeout = Duration::from_secs(1);
    let retry = RetryPolicy::default().max_backoff(Duration::from_secs(5));
    let client = client(port, timeout, retry);

    let started = Instant::now();
    let error = client.health().await.unwrap_err();
    let took = started.elapsed();
    assert!(took < timeout, "health took {took:?}");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(429), "{error:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

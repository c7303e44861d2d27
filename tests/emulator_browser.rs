//! The emulator from a real browser: Debian's chromium, driven by `playwright-core`, loads a
//! page from an app's origin; the page negotiates through that origin (the app answers with
//! `HubClient::negotiate`'s `{url, accessToken}`), follows the redirect to the emulator on
//! another origin with the official browser bundle of `@microsoft/signalr`, and shows a
//! message sent with the real `asrs send user` command. Once per transport, since WebSockets
//! need no CORS but Server-Sent Events and Long Polling do.
//!
//! Needs Node.js, `npm ci --prefix tests/browser` and `/usr/bin/chromium` (Debian's `chromium`
//! package; `.ci/run` installs it, `cargo xtask test` runs the `npm ci`). `ASRS_CHROMIUM`
//! points at another chromium binary.
#![cfg(feature = "cli")]

mod cli_support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use azure_signalr_rest::emulator::{Emulator, TransportType};
use azure_signalr_rest::{HubClient, NegotiateOptions, ServiceClient};
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Longer than browse.mjs's own worst case (chromium's start plus one page's steps), so that
/// its timeouts fire first and explain themselves on stderr.
const WAIT: Duration = Duration::from_secs(150);

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn signalr_bundle() -> PathBuf {
    browser_dir().join("node_modules/@microsoft/signalr/dist/browser/signalr.js")
}

/// Fails (never skips) when something the test needs is missing, saying how to get it.
fn chromium() -> PathBuf {
    let chromium = std::env::var_os("ASRS_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        chromium.is_file(),
        "{} is missing: install Debian's chromium (`apt-get install -y --no-install-recommends \
         chromium`, as .ci/run does) or set ASRS_CHROMIUM",
        chromium.display()
    );
    assert!(
        signalr_bundle().is_file() && browser_dir().join("node_modules/playwright-core").is_dir(),
        "tests/browser/node_modules is missing: run `npm ci --prefix tests/browser`"
    );
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is missing: install Node.js (.ci/run installs Debian's nodejs)"
    );
    chromium
}

#[derive(Deserialize)]
struct Who {
    #[serde(rename = "userId")]
    user_id: Option<String>,
}

/// The app's negotiate endpoint, as `examples/negotiate_server.rs` writes it.
async fn negotiate(State(hub): State<HubClient>, Query(who): Query<Who>) -> Response {
    let mut options = NegotiateOptions::default();
    options.user_id = who.user_id;
    match hub.negotiate(options).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

fn file(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body.into()).into_response()
}

/// The app's origin: the page, its script, the SignalR bundle and `/api/negotiate`.
async fn start_app(hub: HubClient) -> String {
    let dir = browser_dir();
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    let script = std::fs::read_to_string(dir.join("page.js")).unwrap();
    let bundle = std::fs::read_to_string(signalr_bundle()).unwrap();
    let app = Router::new()
        .route("/", get(move || async move { file("text/html", page) }))
        .route(
            "/page.js",
            get(move || async move { file("text/javascript", script) }),
        )
        .route(
            "/signalr.js",
            get(move || async move { file("text/javascript", bundle) }),
        )
        .route("/api/negotiate", post(negotiate))
        .with_state(hub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    origin
}

/// `node browse.mjs`, reporting what the pages show.
struct Browser {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Browser {
    fn open(chromium: &Path, pages: &[String]) -> Browser {
        let mut child = Command::new("node")
            .arg("browse.mjs")
            .arg(chromium)
            .args(pages)
            .current_dir(browser_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Browser { child, lines }
    }

    /// The next report, failing with the browser's stderr if it ends or is silent too long.
    async fn next(&mut self, event: &str) -> Value {
        match tokio::time::timeout(WAIT, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => {
                let report: Value = serde_json::from_str(&line).expect("JSON lines");
                assert_eq!(report["event"], event, "{report}");
                report
            }
            other => {
                let _ = self.child.start_kill();
                let mut stderr = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = tokio::time::timeout(WAIT, e.read_to_string(&mut stderr)).await;
                }
                panic!("the browser reported no {event} ({other:?}); its stderr:\n{stderr}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_origin_shows_a_message_sent_with_asrs() {
    let chromium = chromium();
    let emulator = Emulator::builder()
        .bind("127.0.0.1:0")
        .start()
        .await
        .expect("emulator starts");
    let connection_string = emulator.connection_string();
    let hub = ServiceClient::from_connection_string(&connection_string)
        .unwrap()
        .hub("chat");
    let app = start_app(hub).await;
    let rest = format!("{}/api/v1/hubs/chat", emulator.endpoint());
    assert_ne!(app, emulator.endpoint(), "two origins");

    let runs = [
        ("WebSockets", TransportType::WebSockets),
        ("ServerSentEvents", TransportType::ServerSentEvents),
        ("LongPolling", TransportType::LongPolling),
    ];
    let pages: Vec<String> = runs
        .iter()
        .map(|(name, _)| format!("{app}/?transport={name}&user=browser-{name}&rest={rest}"))
        .collect();
    let mut browser = Browser::open(&chromium, &pages);

    for (name, transport) in runs {
        let user = format!("browser-{name}");
        let status = browser.next("status").await;
        let text = status["status"].as_str().unwrap_or_default();
        assert!(text.starts_with("connected "), "{name}: {status}");
        // The browser refused to let the page call the REST API on the emulator's origin.
        assert_eq!(status["rest"], "blocked TypeError", "{name}: {status}");

        // The emulator sees the page's user on the forced transport.
        let connection = emulator
            .wait_for_connection(|c| c.user_id.as_deref() == Some(&user), WAIT)
            .await
            .expect("the page's connection");
        assert_eq!(connection.transport, transport);
        assert_eq!(text, format!("connected {}", connection.connection_id));

        let mut send = cli_support::asrs();
        send.args(["-c", &connection_string, "-h", "chat"]);
        let sent =
            tokio::task::spawn_blocking(move || cli_support::run(send, &["send", "user", &user]))
                .await
                .unwrap();
        assert!(sent.status.success(), "{}", sent.stderr);

        let message = browser.next("message").await;
        assert_eq!(message["text"], "asrs: Hello from server", "{name}");
    }
    let exit = tokio::time::timeout(WAIT, browser.child.wait()).await;
    assert!(
        matches!(exit, Ok(Ok(status)) if status.success()),
        "{exit:?}"
    );
    // Only the three messages were delivered: the page's REST attempt never reached it.
    assert_eq!(emulator.deliveries().len(), 3);
    emulator.shutdown().await;
}

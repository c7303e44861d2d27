//! The listener against the embedded emulator, over real sockets: every transport and hub
//! protocol, every kind of send, REST close reasons, reconnects after the link is cut (through a
//! small TCP proxy the test controls), keep-alive and errors.
#![cfg(all(feature = "listener", feature = "emulator"))]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use azure_signalr_rest::emulator::{self, Emulator, EmulatorHandle};
use azure_signalr_rest::listener::{Event, Listener, ListenerError, TransportType};
use azure_signalr_rest::protocol::HubProtocol;
use azure_signalr_rest::{CloseOptions, HubClient, Message, NegotiateOptions, ServiceClient};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing_subscriber::layer::SubscriberExt as _;

const WAIT: Duration = Duration::from_secs(10);
const HUB: &str = "chat";

async fn start_emulator() -> EmulatorHandle {
    Emulator::builder()
        .bind("127.0.0.1:0")
        .start()
        .await
        .expect("emulator starts")
}

fn hub_client(emu: &EmulatorHandle) -> HubClient {
    ServiceClient::from_connection_string(&emu.connection_string())
        .expect("connection string")
        .hub(HUB)
}

/// The next event, failing the test when none comes within [`WAIT`].
async fn next_event(listener: &mut Listener) -> Event {
    tokio::time::timeout(WAIT, listener.next())
        .await
        .expect("an event within the timeout")
        .expect("the stream has not ended")
}

/// The next invocation, skipping nothing: anything else fails the test.
async fn next_invocation(listener: &mut Listener) -> (String, Vec<Value>) {
    match next_event(listener).await {
        Event::Invocation { target, arguments } => (target, arguments),
        other => panic!("expected an invocation, got {other:?}"),
    }
}

fn message(target: &str, arguments: Value) -> Message {
    let Value::Array(arguments) = arguments else {
        panic!("arguments must be an array")
    };
    Message::from_values(target, arguments)
}

/// Every kind of send reaches the listener, its connection id works in REST calls, and a REST
/// close with a reason ends the stream with that reason.
async fn receives_every_kind_of_send(transport: TransportType, protocol: HubProtocol) {
    let emu = start_emulator().await;
    let hub = hub_client(&emu);
    let user = format!("user-{}-{}", transport.name(), protocol.name());
    let mut listener = Listener::builder()
        .connection_string(&emu.connection_string(), HUB)
        .user_id(&user)
        .transport(transport)
        .protocol(protocol)
        .connect()
        .await
        .expect("listener connects");
    assert_eq!(listener.transport(), Some(transport));
    assert_eq!(listener.protocol(), protocol);
    let id = listener.connection_id().expect("a connection id");
    assert!(hub.connection_exists(&id).await.unwrap());
    let seen = emu
        .wait_for_connection(|c| c.connection_id == id, WAIT)
        .await
        .expect("the emulator sees the connection");
    assert_eq!(seen.user_id.as_deref(), Some(user.as_str()));
    assert_eq!(seen.protocol, protocol);
    let expected_transport = match transport {
        TransportType::WebSockets => emulator::TransportType::WebSockets,
        TransportType::ServerSentEvents => emulator::TransportType::ServerSentEvents,
        TransportType::LongPolling => emulator::TransportType::LongPolling,
    };
    assert_eq!(seen.transport, expected_transport);

    let rich = json!(["text", 42, -7, 1.5, true, null, {"nested": [1, "two"]}, ["a", "b"]]);
    hub.broadcast(&message("broadcast", rich.clone()), None)
        .await
        .unwrap();
    assert_eq!(
        next_invocation(&mut listener).await,
        ("broadcast".to_string(), rich.as_array().unwrap().clone())
    );

    hub.send_to_user(&user, &message("toUser", json!(["for", user])))
        .await
        .unwrap();
    assert_eq!(
        next_invocation(&mut listener).await,
        ("toUser".to_string(), vec![json!("for"), json!(user)])
    );

    hub.add_connection_to_group(&id, "room 1").await.unwrap();
    hub.send_to_group("room 1", &message("toGroup", json!(["room"])), None)
        .await
        .unwrap();
    assert_eq!(
        next_invocation(&mut listener).await,
        ("toGroup".to_string(), vec![json!("room")])
    );

    hub.send_to_connection(&id, &message("toConnection", json!([{"n": 1}])))
        .await
        .unwrap();
    assert_eq!(
        next_invocation(&mut listener).await,
        ("toConnection".to_string(), vec![json!({"n": 1})])
    );

    hub.close_connection(
        &id,
        Some(CloseOptions::default().reason("kicked by the test")),
    )
    .await
    .unwrap();
    match next_event(&mut listener).await {
        Event::Closed { error } => {
            let error = error.expect("the close carries the reason");
            assert!(error.contains("kicked by the test"), "{error}");
        }
        other => panic!("expected Closed, got {other:?}"),
    }
    assert_eq!(
        tokio::time::timeout(WAIT, listener.next()).await.unwrap(),
        None,
        "the stream ends after Closed"
    );
    assert_eq!(listener.connection_id(), None);
    emu.wait_for_disconnect(&id, WAIT).await.unwrap();
    emu.shutdown().await;
}

#[tokio::test]
async fn websockets_json_receives_every_kind_of_send() {
    receives_every_kind_of_send(TransportType::WebSockets, HubProtocol::Json).await;
}

#[tokio::test]
async fn websockets_messagepack_receives_every_kind_of_send() {
    receives_every_kind_of_send(TransportType::WebSockets, HubProtocol::MessagePack).await;
}

#[tokio::test]
async fn server_sent_events_json_receives_every_kind_of_send() {
    receives_every_kind_of_send(TransportType::ServerSentEvents, HubProtocol::Json).await;
}

#[tokio::test]
async fn long_polling_json_receives_every_kind_of_send() {
    receives_every_kind_of_send(TransportType::LongPolling, HubProtocol::Json).await;
}

#[tokio::test]
async fn long_polling_messagepack_receives_every_kind_of_send() {
    receives_every_kind_of_send(TransportType::LongPolling, HubProtocol::MessagePack).await;
}

#[tokio::test]
async fn without_a_forced_transport_websockets_is_chosen() {
    let emu = start_emulator().await;
    let mut listener = Listener::connect(&emu.connection_string(), HUB, Some("bob"))
        .await
        .unwrap();
    assert_eq!(listener.transport(), Some(TransportType::WebSockets));
    hub_client(&emu)
        .send_to_user("bob", &message("hello", json!(["bob"])))
        .await
        .unwrap();
    assert_eq!(
        next_invocation(&mut listener).await,
        ("hello".to_string(), vec![json!("bob")])
    );
    // The Stream interface yields the same events.
    hub_client(&emu)
        .broadcast(&message("again", json!([])), None)
        .await
        .unwrap();
    let event = tokio::time::timeout(WAIT, StreamExt::next(&mut listener))
        .await
        .unwrap();
    assert_eq!(
        event,
        Some(Event::Invocation {
            target: "again".into(),
            arguments: vec![]
        })
    );
    listener.close().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn connects_from_a_negotiate_response() {
    let emu = start_emulator().await;
    let hub = hub_client(&emu);
    let response = hub
        .negotiate(NegotiateOptions::default().user_id("carol"))
        .await
        .unwrap();
    for protocol in [HubProtocol::Json, HubProtocol::MessagePack] {
        let mut listener = Listener::builder()
            .negotiate_response(response.clone())
            .protocol(protocol)
            .connect()
            .await
            .unwrap();
        hub.send_to_user("carol", &message("viaApp", json!([protocol.name()])))
            .await
            .unwrap();
        assert_eq!(
            next_invocation(&mut listener).await,
            ("viaApp".to_string(), vec![json!(protocol.name())])
        );
        listener.close().await;
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn close_ends_the_connection_on_the_server() {
    let emu = start_emulator().await;
    for transport in [
        TransportType::WebSockets,
        TransportType::ServerSentEvents,
        TransportType::LongPolling,
    ] {
        let listener = Listener::builder()
            .connection_string(&emu.connection_string(), HUB)
            .transport(transport)
            .connect()
            .await
            .unwrap();
        let id = listener.connection_id().unwrap();
        emu.wait_for_connection(|c| c.connection_id == id, WAIT)
            .await
            .unwrap();
        tokio::time::timeout(WAIT, listener.close()).await.unwrap();
        emu.wait_for_disconnect(&id, WAIT)
            .await
            .unwrap_or_else(|_| panic!("{transport} connection ended on the server"));
        assert!(!hub_client(&emu).connection_exists(&id).await.unwrap());
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn emulator_shutdown_closes_the_stream_with_its_error() {
    let emu = start_emulator().await;
    let mut listener = Listener::connect(&emu.connection_string(), HUB, None)
        .await
        .unwrap();
    emu.shutdown().await;
    match next_event(&mut listener).await {
        Event::Closed { error } => {
            assert!(error.unwrap().contains("shutting down"));
        }
        other => panic!("expected Closed, got {other:?}"),
    }
}

/// A TCP proxy in front of the emulator whose links the test can cut or freeze.
struct Proxy {
    addr: SocketAddr,
    accepting: Arc<AtomicBool>,
    /// Answers WebSocket upgrade requests with 403 instead of forwarding them.
    reject_websockets: Arc<AtomicBool>,
    /// Bumped to cut (`true` in the pair) or freeze (`false`) every link opened before.
    generation: watch::Sender<(u64, bool)>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let accepting = Arc::new(AtomicBool::new(true));
        let reject_websockets = Arc::new(AtomicBool::new(false));
        let (generation, _) = watch::channel((0u64, false));
        let accept_flag = accepting.clone();
        let reject_flag = reject_websockets.clone();
        let generations = generation.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = socket.accept().await else {
                    return;
                };
                if !accept_flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut changes = generations.subscribe();
                let born = changes.borrow_and_update().0;
                let reject = reject_flag.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut inbound = inbound;
                    let mut head = Vec::new();
                    if reject {
                        head = read_head(&mut inbound).await;
                        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                        if text.contains("upgrade: websocket") {
                            let _ = inbound
                                .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                                .await;
                            return;
                        }
                    }
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    if outbound.write_all(&head).await.is_err() {
                        return;
                    }
                    let (mut in_read, mut in_write) = inbound.into_split();
                    let (mut out_read, mut out_write) = outbound.into_split();
                    let pipe = async {
                        tokio::select! {
                            _ = pump(&mut in_read, &mut out_write) => {}
                            _ = pump(&mut out_read, &mut in_write) => {}
                        }
                    };
                    let watcher = async {
                        loop {
                            if changes.changed().await.is_err() {
                                std::future::pending::<()>().await;
                            }
                            let (current, cut) = *changes.borrow();
                            if current > born {
                                return cut;
                            }
                        }
                    };
                    let frozen = tokio::select! {
                        _ = pipe => false,
                        cut = watcher => !cut,
                    };
                    if frozen {
                        // Hold the sockets open, passing nothing.
                        std::future::pending::<()>().await;
                    }
                    // Dropping the halves closes both sockets.
                });
            }
        });
        Proxy {
            addr,
            accepting,
            reject_websockets,
            generation,
            task,
        }
    }

    /// Closes every open link and refuses new ones until [`restore`](Self::restore).
    fn cut(&self) {
        self.accepting.store(false, Ordering::SeqCst);
        self.generation.send_modify(|(g, cut)| {
            *g += 1;
            *cut = true;
        });
    }

    fn restore(&self) {
        self.accepting.store(true, Ordering::SeqCst);
    }

    /// Stops passing bytes on every open link without closing it; new links work.
    fn freeze(&self) {
        self.generation.send_modify(|(g, cut)| {
            *g += 1;
            *cut = false;
        });
    }

    /// A connection string pointing at the proxy.
    fn connection_string(&self, emu: &EmulatorHandle) -> String {
        format!(
            "Endpoint=http://127.0.0.1;Port={};AccessKey={};Version=1.0;",
            self.addr.port(),
            emu.access_key()
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads the first request head on `socket` (up to 8 KiB).
async fn read_head(socket: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8 * 1024 {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    head
}

async fn pump(from: &mut tokio::net::tcp::OwnedReadHalf, to: &mut tokio::net::tcp::OwnedWriteHalf) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Cuts the link, waits for `Reconnecting`, restores it and checks the listener comes back
/// under a new connection id and keeps receiving.
async fn reconnects_after_the_link_is_cut(transport: TransportType, protocol: HubProtocol) {
    let emu = start_emulator().await;
    let proxy = Proxy::start(emu.local_addr()).await;
    let hub = hub_client(&emu);
    let mut listener = Listener::builder()
        .connection_string(&proxy.connection_string(&emu), HUB)
        .user_id("dave")
        .transport(transport)
        .protocol(protocol)
        .reconnect_delays(Duration::from_millis(50), Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let first = listener.connection_id().unwrap();
    hub.send_to_user("dave", &message("before", json!([1])))
        .await
        .unwrap();
    assert_eq!(next_invocation(&mut listener).await.0, "before");

    proxy.cut();
    match next_event(&mut listener).await {
        Event::Reconnecting { error } => assert!(!error.is_empty()),
        other => panic!("expected Reconnecting, got {other:?}"),
    }
    assert_eq!(listener.connection_id(), None);
    proxy.restore();
    let second = match next_event(&mut listener).await {
        Event::Reconnected { connection_id } => connection_id,
        other => panic!("expected Reconnected, got {other:?}"),
    };
    assert_ne!(first, second);
    assert_eq!(listener.connection_id().as_deref(), Some(second.as_str()));
    assert_eq!(listener.transport(), Some(transport));
    assert!(hub.connection_exists(&second).await.unwrap());

    hub.send_to_connection(&second, &message("after", json!([2])))
        .await
        .unwrap();
    assert_eq!(
        next_invocation(&mut listener).await,
        ("after".to_string(), vec![json!(2)])
    );
    hub.send_to_user("dave", &message("afterUser", json!([3])))
        .await
        .unwrap();
    assert_eq!(next_invocation(&mut listener).await.0, "afterUser");
    listener.close().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn websockets_json_reconnects_after_the_link_is_cut() {
    reconnects_after_the_link_is_cut(TransportType::WebSockets, HubProtocol::Json).await;
}

#[tokio::test]
async fn websockets_messagepack_reconnects_after_the_link_is_cut() {
    reconnects_after_the_link_is_cut(TransportType::WebSockets, HubProtocol::MessagePack).await;
}

#[tokio::test]
async fn server_sent_events_json_reconnects_after_the_link_is_cut() {
    reconnects_after_the_link_is_cut(TransportType::ServerSentEvents, HubProtocol::Json).await;
}

#[tokio::test]
async fn long_polling_json_reconnects_after_the_link_is_cut() {
    reconnects_after_the_link_is_cut(TransportType::LongPolling, HubProtocol::Json).await;
}

#[tokio::test]
async fn silence_from_the_server_counts_as_a_dropped_link() {
    let emu = Emulator::builder()
        .bind("127.0.0.1:0")
        .ping_interval(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let proxy = Proxy::start(emu.local_addr()).await;
    let mut listener = Listener::builder()
        .connection_string(&proxy.connection_string(&emu), HUB)
        .server_timeout(Duration::from_millis(800))
        .reconnect_delays(Duration::from_millis(50), Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let first = listener.connection_id().unwrap();
    // Server pings arrive every 100 ms, so the listener stays connected...
    assert!(
        tokio::time::timeout(Duration::from_secs(2), listener.next())
            .await
            .is_err(),
        "no event while the server keeps pinging"
    );
    // ...until the link goes silent (held open, passing nothing).
    proxy.freeze();
    match next_event(&mut listener).await {
        Event::Reconnecting { error } => assert!(error.contains("nothing heard"), "{error}"),
        other => panic!("expected Reconnecting, got {other:?}"),
    }
    let second = match next_event(&mut listener).await {
        Event::Reconnected { connection_id } => connection_id,
        other => panic!("expected Reconnected, got {other:?}"),
    };
    assert_ne!(first, second);
    hub_client(&emu)
        .send_to_connection(&second, &message("alive", json!([])))
        .await
        .unwrap();
    assert_eq!(next_invocation(&mut listener).await.0, "alive");
    listener.close().await;
    emu.shutdown().await;
}

/// The emulator drops clients silent for its client timeout; the listener's pings keep it
/// connected, and without them (a long keep-alive interval) it is dropped.
#[tokio::test]
async fn pings_keep_an_idle_connection_open() {
    let emu = Emulator::builder()
        .bind("127.0.0.1:0")
        .client_timeout(Duration::from_millis(600))
        .start()
        .await
        .unwrap();
    let hub = hub_client(&emu);

    let mut pinging = Listener::builder()
        .connection_string(&emu.connection_string(), HUB)
        .keep_alive_interval(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    let id = pinging.connection_id().unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(2), pinging.next())
            .await
            .is_err(),
        "a pinging listener gets no event (no Close) past the client timeout"
    );
    assert!(hub.connection_exists(&id).await.unwrap());

    let mut quiet = Listener::builder()
        .connection_string(&emu.connection_string(), HUB)
        .keep_alive_interval(Duration::from_secs(60))
        .max_reconnect_attempts(Some(0))
        .connect()
        .await
        .unwrap();
    match next_event(&mut quiet).await {
        Event::Closed { error } => assert!(error.unwrap().contains("timeout")),
        other => panic!("expected Closed, got {other:?}"),
    }
    pinging.close().await;
    emu.shutdown().await;
}

/// A connection string of `emu` with an access key it does not accept.
fn wrong_key(emu: &EmulatorHandle) -> String {
    format!(
        "Endpoint=http://127.0.0.1;Port={};AccessKey=not-the-key-0123456789;Version=1.0;",
        emu.local_addr().port()
    )
}

#[tokio::test]
async fn a_wrong_access_key_fails_negotiate_without_leaking_the_token() {
    let emu = start_emulator().await;
    let wrong = wrong_key(&emu);
    let response = ServiceClient::from_connection_string(&wrong)
        .unwrap()
        .hub(HUB)
        .negotiate(NegotiateOptions::default())
        .await
        .unwrap();
    let token = response.access_token.expose_secret().to_string();
    let error = Listener::builder()
        .negotiate_response(response)
        .connect()
        .await
        .expect_err("the emulator refuses the token");
    assert!(matches!(error, ListenerError::Negotiate(_)), "{error:?}");
    let text = format!("{error} {error:?}");
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains(&token));
    assert!(!text.contains("not-the-key"));
    emu.shutdown().await;
}

#[tokio::test]
async fn listener_debug_shows_no_secrets() {
    let emu = start_emulator().await;
    let listener = Listener::connect(&emu.connection_string(), HUB, Some("erin"))
        .await
        .unwrap();
    let debug = format!("{listener:?}");
    assert!(
        debug.contains(&listener.connection_id().unwrap()),
        "{debug}"
    );
    assert!(!debug.contains(emu.access_key()));
    assert!(!debug.contains("eyJ"), "no JWT in {debug}");
    listener.close().await;
    emu.shutdown().await;
}

#[tokio::test]
async fn bad_configurations_are_refused_before_connecting() {
    let sse_msgpack = Listener::builder()
        .connection_string("Endpoint=http://127.0.0.1;Port=9;AccessKey=k;", HUB)
        .transport(TransportType::ServerSentEvents)
        .protocol(HubProtocol::MessagePack)
        .connect()
        .await
        .unwrap_err();
    assert!(
        sse_msgpack.to_string().contains("binary transport"),
        "{sse_msgpack}"
    );

    let nothing = Listener::builder().connect().await.unwrap_err();
    assert!(matches!(nothing, ListenerError::Config(_)));

    let bad = Listener::connect("Endpoint=http://127.0.0.1;Bogus", HUB, None)
        .await
        .unwrap_err();
    assert!(matches!(bad, ListenerError::Client(_)), "{bad:?}");

    let bad_hub = Listener::connect(
        "Endpoint=http://127.0.0.1;Port=9;AccessKey=k;",
        "9hub",
        None,
    )
    .await
    .unwrap_err();
    assert!(bad_hub.to_string().contains("hub"), "{bad_hub}");
}

/// When WebSockets are refused, the listener falls back to Server-Sent Events for JSON and to
/// Long Polling for MessagePack (which needs binary frames).
#[tokio::test]
async fn falls_back_when_websockets_are_refused() {
    let emu = start_emulator().await;
    let proxy = Proxy::start(emu.local_addr()).await;
    proxy.reject_websockets.store(true, Ordering::SeqCst);
    let hub = hub_client(&emu);
    for (protocol, expected) in [
        (HubProtocol::Json, TransportType::ServerSentEvents),
        (HubProtocol::MessagePack, TransportType::LongPolling),
    ] {
        let mut listener = Listener::builder()
            .connection_string(&proxy.connection_string(&emu), HUB)
            .protocol(protocol)
            .connect()
            .await
            .unwrap();
        assert_eq!(listener.transport(), Some(expected));
        let id = listener.connection_id().unwrap();
        hub.send_to_connection(&id, &message("fallback", json!([protocol.name()])))
            .await
            .unwrap();
        assert_eq!(
            next_invocation(&mut listener).await,
            ("fallback".to_string(), vec![json!(protocol.name())])
        );
        listener.close().await;
    }

    // Forced to WebSockets, the failure is reported with its cause.
    let error = Listener::builder()
        .connection_string(&proxy.connection_string(&emu), HUB)
        .transport(TransportType::WebSockets)
        .connect()
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, ListenerError::Transport(_)), "{error:?}");
    assert!(
        text.contains("WebSockets") && text.contains("403"),
        "{text}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn gives_up_after_the_allowed_reconnect_attempts() {
    let emu = start_emulator().await;
    let proxy = Proxy::start(emu.local_addr()).await;
    let mut listener = Listener::builder()
        .connection_string(&proxy.connection_string(&emu), HUB)
        .reconnect_delays(Duration::from_millis(20), Duration::from_millis(100))
        .max_reconnect_attempts(Some(3))
        .connect()
        .await
        .unwrap();
    proxy.cut();
    assert!(matches!(
        next_event(&mut listener).await,
        Event::Reconnecting { .. }
    ));
    match next_event(&mut listener).await {
        Event::Closed { error } => {
            let error = error.unwrap();
            assert!(
                error.contains("gave up reconnecting after 3 attempts"),
                "{error}"
            );
            assert!(error.contains("negotiate failed"), "{error}");
        }
        other => panic!("expected Closed, got {other:?}"),
    }
    assert_eq!(
        tokio::time::timeout(WAIT, listener.next()).await.unwrap(),
        None
    );
    emu.shutdown().await;
}

/// Every log line the listener writes, at every level.
#[derive(Clone, Default)]
struct CapturedLog(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An embedded listener has no redacting subscriber: its own events must hold no token and no
/// connection id (a version-0 server uses the connection id as the transport's `id=`), at any
/// level, through a fallback, a dropped link, failed reconnects and a reconnect.
#[tokio::test]
async fn listener_logs_carry_no_token_and_no_connection_id() {
    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish()
        .with(
            tracing_subscriber::filter::Targets::new()
                .with_target("azure_signalr_rest::listener", tracing::Level::TRACE),
        );
    // The test's runtime runs on this thread only, so the listener's task logs here too.
    let _guard = tracing::subscriber::set_default(subscriber);

    let emu = start_emulator().await;
    let proxy = Proxy::start(emu.local_addr()).await;
    proxy.reject_websockets.store(true, Ordering::SeqCst);
    let mut listener = Listener::builder()
        .connection_string(&proxy.connection_string(&emu), HUB)
        .user_id("frank")
        .reconnect_delays(Duration::from_millis(20), Duration::from_millis(50))
        .connect()
        .await
        .unwrap();
    let first = listener.connection_id().unwrap();
    proxy.cut();
    assert!(matches!(
        next_event(&mut listener).await,
        Event::Reconnecting { .. }
    ));
    // Refused reconnects are logged too; the first reconnect after the restore succeeds.
    proxy.restore();
    let second = match next_event(&mut listener).await {
        Event::Reconnected { connection_id } => connection_id,
        other => panic!("expected Reconnected, got {other:?}"),
    };
    listener.close().await;
    emu.shutdown().await;

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    // The capture works: the fallback and the dropped link were logged.
    assert!(text.contains("trying the next"), "{text}");
    assert!(text.contains("reconnecting"), "{text}");
    for secret in [
        first.as_str(),
        second.as_str(),
        "eyJ",
        "access_token",
        "id=",
    ] {
        assert!(
            !text.contains(secret),
            "{secret:?} in the listener's log:\n{text}"
        );
    }
}

/// Errors say what failed as values: negotiate's status, each transport's step and cause.
#[tokio::test]
async fn connect_errors_are_typed() {
    use azure_signalr_rest::listener::{NegotiateError, TransportCause, TransportStep};
    let emu = start_emulator().await;
    let wrong = wrong_key(&emu);
    match Listener::connect(&wrong, HUB, None).await {
        Err(ListenerError::Negotiate(NegotiateError::Status { status, .. })) => {
            assert_eq!(status.as_u16(), 401)
        }
        other => panic!("expected a negotiate status, got {other:?}"),
    }

    let proxy = Proxy::start(emu.local_addr()).await;
    proxy.reject_websockets.store(true, Ordering::SeqCst);
    let error = Listener::builder()
        .connection_string(&proxy.connection_string(&emu), HUB)
        .transport(TransportType::WebSockets)
        .connect()
        .await
        .unwrap_err();
    let ListenerError::Transport(failures) = error else {
        panic!("expected transport failures, got {error:?}");
    };
    assert_eq!(failures.len(), 1, "{failures:?}");
    let failure = &failures[0];
    assert_eq!(failure.transport, TransportType::WebSockets);
    assert_eq!(failure.step, TransportStep::Connect);
    assert!(
        matches!(&failure.cause, TransportCause::Status { status, .. } if status.as_u16() == 403),
        "{failure:?}"
    );
    emu.shutdown().await;
}

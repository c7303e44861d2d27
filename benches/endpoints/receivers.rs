//! The receiving side of the endpoints benchmark: WebSocket clients connected through the
//! one client's negotiate, what they count, and which instance holds each.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use azure_signalr_rest::listener::{Event, Listener, TransportType};
use azure_signalr_rest::protocol::HubProtocol;
use azure_signalr_rest::{HubClient, ServiceClient};
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};

pub(crate) const HUB: &str = "endpoints";
/// The phases in order: `max`, then `fixed`.
pub(crate) const PHASES: [&str; 2] = ["max", "fixed"];
/// Latency histograms are kept in this many shards, shared by the clients by index.
const LATENCY_SHARDS: usize = 8;
/// Slots of the acceptance-time ring (per phase), indexed by sequence number.
pub(crate) const ACCEPT_SLOTS: usize = 1 << 20;

/// Microseconds since the process's clock origin (shared by senders and receivers).
pub(crate) fn now_us() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_micros() as u64 + 1
}

pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 2).expect("histogram bounds")
}

/// Latency from send and from acceptance, in microseconds.
pub(crate) type LatencyPair = (Histogram<u64>, Histogram<u64>);

/// Counters shared by the senders and every receiver.
pub(crate) struct Shared {
    /// Messages received in the measured part of each phase.
    pub(crate) delivered: [AtomicU64; 2],
    /// Messages received in each phase, warm-up and stragglers included.
    pub(crate) delivered_all: [AtomicU64; 2],
    /// When the sender saw each broadcast accepted (µs), per phase, by sequence number.
    pub(crate) accepted: Vec<Vec<AtomicU64>>,
    pub(crate) latency: Vec<Mutex<Vec<LatencyPair>>>,
    /// Only messages of the measured part of a phase count (not its warm-up).
    pub(crate) measuring: AtomicBool,
    pub(crate) connected: AtomicUsize,
    pub(crate) closed_by_server: AtomicUsize,
    /// The connection id of each connected client (to find which instance holds it).
    pub(crate) connection_ids: Mutex<Vec<String>>,
}

impl Shared {
    pub(crate) fn new() -> Shared {
        Shared {
            delivered: Default::default(),
            delivered_all: Default::default(),
            accepted: (0..PHASES.len())
                .map(|_| (0..ACCEPT_SLOTS).map(|_| AtomicU64::new(0)).collect())
                .collect(),
            latency: (0..LATENCY_SHARDS)
                .map(|_| Mutex::new(PHASES.iter().map(|_| (histogram(), histogram())).collect()))
                .collect(),
            measuring: AtomicBool::new(false),
            connected: AtomicUsize::new(0),
            closed_by_server: AtomicUsize::new(0),
            connection_ids: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn connected(&self) -> u64 {
        self.connected.load(Ordering::Relaxed) as u64
    }
}

/// One client: a `Listener` over WebSockets (JSON) negotiated through `hub`, reading until told
/// to stop.
async fn client(
    hub: HubClient,
    index: usize,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    connecting: tokio::sync::OwnedSemaphorePermit,
    http: reqwest::Client,
) -> Result<(), String> {
    let mut listener = Listener::builder()
        .hub_client(hub)
        .http_client(http)
        .user_id(format!("u{index}"))
        .protocol(HubProtocol::Json)
        .transport(TransportType::WebSockets)
        // A dropped client is counted, not silently replaced (possibly on another instance).
        .max_reconnect_attempts(Some(0))
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    if let Some(id) = listener.connection_id() {
        shared.connection_ids.lock().unwrap().push(id);
    }
    shared.connected.fetch_add(1, Ordering::Relaxed);
    drop(connecting);

    let latency = &shared.latency[index % LATENCY_SHARDS];
    let mut closed_by_server = false;
    loop {
        let event = tokio::select! {
            event = listener.next() => event,
            _ = stop.changed() => break,
        };
        match event {
            Some(Event::Invocation { target, arguments }) if target == "tick" => {
                let received = now_us();
                let field = |i: usize| arguments.get(i).and_then(Value::as_u64).unwrap_or(0);
                let (phase, seq, sent) = (field(0) as usize, field(1) as usize, field(2));
                if phase >= PHASES.len() {
                    continue;
                }
                shared.delivered_all[phase].fetch_add(1, Ordering::Relaxed);
                if !shared.measuring.load(Ordering::Relaxed) {
                    continue;
                }
                shared.delivered[phase].fetch_add(1, Ordering::Relaxed);
                let accepted = shared.accepted[phase][seq % ACCEPT_SLOTS].load(Ordering::Relaxed);
                let after_accept = if accepted == 0 {
                    0
                } else {
                    received.saturating_sub(accepted)
                };
                let mut shard = latency.lock().unwrap();
                let (from_send, from_accept) = &mut shard[phase];
                let _ = from_send.record(received.saturating_sub(sent).max(1));
                let _ = from_accept.record(after_accept.max(1));
            }
            Some(Event::Reconnecting { .. }) | Some(Event::Closed { .. }) | None => {
                closed_by_server = true;
                break;
            }
            Some(_) => {}
        }
    }
    if closed_by_server {
        shared.closed_by_server.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Connects `clients` listeners, 64 at a time; returns once all are connected or one failed.
pub(crate) async fn connect_all(
    hub: &HubClient,
    clients: usize,
    shared: &Arc<Shared>,
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<Result<(), String>>> {
    // One HTTP client for every negotiate call, as one app process would share it.
    let http = reqwest::Client::new();
    let gate = Arc::new(Semaphore::new(64));
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let (hub, shared, stop, http) = (hub.clone(), shared.clone(), stop.clone(), http.clone());
        tasks.push(tokio::spawn(async move {
            let result = client(hub, i, shared, stop, permit, http).await;
            if let Err(e) = &result {
                eprintln!("client u{i}: {e}");
            }
            result
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while (shared.connected() as usize) < clients && Instant::now() < deadline {
        if tasks.iter().any(|t| t.is_finished()) {
            break; // a client failed: report what we have
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tasks
}

/// How many of the connected clients each endpoint holds, asked of each endpoint alone.
pub(crate) async fn clients_per_endpoint(client: &ServiceClient, shared: &Shared) -> Value {
    let ids = shared.connection_ids.lock().unwrap().clone();
    let mut counts = serde_json::Map::new();
    for status in client.endpoints() {
        let hub = client
            .endpoint(status.name())
            .expect("an endpoint the client lists")
            .hub(HUB);
        let answers: Vec<Result<bool, _>> = futures::stream::iter(&ids)
            .map(|id| {
                let hub = hub.clone();
                async move { hub.connection_exists(id).await }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        let held = answers.iter().filter(|a| matches!(a, Ok(true))).count();
        // A count that hides unanswered questions would understate the spread: say so.
        if let Some(Err(e)) = answers.iter().find(|a| a.is_err()) {
            let failed = answers.iter().filter(|a| a.is_err()).count();
            eprintln!(
                "{}: {failed} connection_exists calls failed, e.g. {e}",
                status.name()
            );
        }
        counts.insert(status.name().to_owned(), json!(held));
    }
    Value::Object(counts)
}

/// One phase's latency histograms, merged over the shards.
pub(crate) fn merged_latency(shared: &Shared, index: usize) -> LatencyPair {
    let mut merged = (histogram(), histogram());
    for shard in &shared.latency {
        let shard = shard.lock().unwrap();
        merged.0.add(&shard[index].0).unwrap();
        merged.1.add(&shard[index].1).unwrap();
    }
    merged
}

//! The receiving side shared by the fan-out and endpoints load generators: WebSocket clients
//! (the project's `Listener`, JSON hub protocol) that count and time each `tick` they receive.
//! Included by each bench's main file with `#[path]`, since every bench is its own crate.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use azure_signalr_rest::listener::{Event, Listener, TransportType};
use azure_signalr_rest::protocol::HubProtocol;
use azure_signalr_rest::HubClient;
use hdrhistogram::Histogram;
use serde_json::Value;
use tokio::sync::{watch, Semaphore};

/// Latency histograms are kept in this many shards (few enough to stay in cache, enough that
/// the worker threads seldom wait for the same lock).
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

/// Counters shared by the senders and every receiver, one entry per phase.
pub(crate) struct Shared {
    /// Messages received in the measured part of each phase.
    pub(crate) delivered: Vec<AtomicU64>,
    /// Messages received in each phase, warm-up and stragglers included (the senders' flow
    /// control counts those too).
    pub(crate) delivered_all: Vec<AtomicU64>,
    /// When the sender saw each send accepted (µs), per phase, by sequence number.
    pub(crate) accepted: Vec<Vec<AtomicU64>>,
    /// Latencies (from send, from acceptance) per phase, in shards that clients share by
    /// index: one histogram pair per client per phase was megabytes of counters, and the
    /// cache misses of recording into them a large part of this process's CPU time.
    latency: Vec<Mutex<Vec<LatencyPair>>>,
    /// Only messages of the measured part of a phase count (not its warm-up).
    pub(crate) measuring: AtomicBool,
    pub(crate) connected: AtomicUsize,
    pub(crate) closed_by_server: AtomicUsize,
    /// The connection id of each connected client (to find which instance holds it).
    pub(crate) connection_ids: Mutex<Vec<String>>,
}

impl Shared {
    /// Counters for `phases` phases; `track_latency` false keeps no acceptance ring (a run
    /// that only connects clients has no use for its memory).
    pub(crate) fn new(phases: usize, track_latency: bool) -> Shared {
        let slots = if track_latency { ACCEPT_SLOTS } else { 0 };
        let counters = || (0..phases).map(|_| AtomicU64::new(0)).collect();
        Shared {
            delivered: counters(),
            delivered_all: counters(),
            accepted: (0..phases)
                .map(|_| (0..slots).map(|_| AtomicU64::new(0)).collect())
                .collect(),
            latency: (0..LATENCY_SHARDS)
                .map(|_| Mutex::new((0..phases).map(|_| (histogram(), histogram())).collect()))
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

    /// One phase's latency histograms, merged over the shards.
    pub(crate) fn merged_latency(&self, index: usize) -> LatencyPair {
        let mut merged = (histogram(), histogram());
        for shard in &self.latency {
            let shard = shard.lock().unwrap();
            merged.0.add(&shard[index].0).unwrap();
            merged.1.add(&shard[index].1).unwrap();
        }
        merged
    }

    /// Counts and times one `tick` (`[phase, seq, µs at send]`) received at `received`.
    fn record(&self, shard: usize, arguments: &[Value], received: u64) {
        let field = |i: usize| arguments.get(i).and_then(Value::as_u64).unwrap_or(0);
        let (phase, seq, sent) = (field(0) as usize, field(1) as usize, field(2));
        if phase >= self.delivered.len() {
            return;
        }
        self.delivered_all[phase].fetch_add(1, Ordering::Relaxed);
        if !self.measuring.load(Ordering::Relaxed) {
            return;
        }
        self.delivered[phase].fetch_add(1, Ordering::Relaxed);
        // 0: not accepted yet as the sender sees it (or no ring: latency not tracked).
        let accepted = self.accepted[phase]
            .get(seq % ACCEPT_SLOTS)
            .map_or(0, |slot| slot.load(Ordering::Relaxed));
        let after_accept = if accepted == 0 {
            0
        } else {
            received.saturating_sub(accepted)
        };
        let mut shard = self.latency[shard % LATENCY_SHARDS].lock().unwrap();
        let (from_send, from_accept) = &mut shard[phase];
        let _ = from_send.record(received.saturating_sub(sent).max(1));
        let _ = from_accept.record(after_accept.max(1));
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

    let mut closed_by_server = false;
    loop {
        let event = tokio::select! {
            event = listener.next() => event,
            _ = stop.changed() => break,
        };
        match event {
            Some(Event::Invocation { target, arguments }) if target == "tick" => {
                shared.record(index, &arguments, now_us());
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

/// Connects `clients` listeners (users `u0`, `u1`, ...), 64 at a time, all negotiating with
/// the one `http` client as one app process would share it; returns once all are connected or
/// one failed.
pub(crate) async fn connect_all(
    hub: &HubClient,
    http: &reqwest::Client,
    clients: usize,
    shared: &Arc<Shared>,
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<Result<(), String>>> {
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

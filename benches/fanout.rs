//! Fan-out load generator for the emulator: many WebSocket clients (JSON hub protocol) on
//! loopback, REST sends through `HubClient`, deliveries and latencies counted on receipt.
//!
//! Each client is the project's receiving client, `azure_signalr_rest::listener::Listener`
//! (negotiate, then WebSockets with the JSON hub protocol), with reconnection turned off so
//! that a client the emulator drops is counted rather than replaced.
//!
//! ```text
//! fanout --endpoint http://127.0.0.1:PORT --clients 1000 --mode deliver --duration 10
//! fanout --endpoint http://127.0.0.1:PORT --clients 10000 --mode idle --emulator-pid PID
//! ```
//!
//! `deliver` runs the phases of `PLAN` on one set of clients and prints one JSON line:
//! broadcast at the highest sustained rate, then at fractions of it, then the same for sends
//! to groups of `--group-size`. "Sustained" means the sender keeps at most `WINDOW`
//! undelivered messages per client outstanding, so no client's queue overflows. Each message
//! carries `[phase, seq, micros]`: the time just before its REST call, on a clock shared with
//! the receivers (same process). Latency is reported two ways: from that timestamp, and from
//! the moment the sender saw the REST call accepted (0 when the client had it first).
//!
//! `idle` connects the clients, lets them settle and reports the emulator's resident memory
//! (VmRSS from /proc) before and after, per connection.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use azure_signalr_rest::listener::{Event, Listener, TransportType};
use azure_signalr_rest::protocol::HubProtocol;
use azure_signalr_rest::{AccessKey, HubClient, Message, ServiceClient};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};

const HUB: &str = "fanout";
const PHASES: usize = 6;
/// The phases in order: name, whether it sends to groups (else broadcasts), and its rate as a
/// fraction of the max phase of the same kind (`None`: the max phase itself). The lower
/// broadcast rates show where the latency target holds, not only whether it holds at half.
const PLAN: [(&str, bool, Option<f64>); PHASES] = [
    ("broadcast_max", false, None),
    ("broadcast_half", false, Some(0.5)),
    ("broadcast_quarter", false, Some(0.25)),
    ("broadcast_tenth", false, Some(0.1)),
    ("group_max", true, None),
    ("group_half", true, Some(0.5)),
];
/// Undelivered messages per client the max-rate sender may have outstanding (the emulator's
/// per-client queue holds 1024 by default).
const WINDOW: u64 = 128;
/// Latency histograms are kept in this many shards (few enough to stay in cache, enough that
/// the worker threads seldom wait for the same lock).
const LATENCY_SHARDS: usize = 8;
/// Slots of the acceptance-time ring (per phase), indexed by sequence number.
const ACCEPT_SLOTS: usize = 1 << 20;

struct Args {
    endpoint: String,
    key: String,
    clients: usize,
    mode: String,
    duration: f64,
    warmup: f64,
    group_size: usize,
    emulator_pid: Option<u32>,
    senders: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        endpoint: "http://127.0.0.1:8888".into(),
        key: "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH".into(),
        clients: 1000,
        mode: "deliver".into(),
        duration: 10.0,
        warmup: 1.0,
        group_size: 10,
        emulator_pid: None,
        senders: 16,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--endpoint" => a.endpoint = value(),
            "--key" => a.key = value(),
            "--clients" => a.clients = value().parse().expect("--clients N"),
            "--mode" => a.mode = value(),
            "--duration" => a.duration = value().parse().expect("--duration SECONDS"),
            "--warmup" => a.warmup = value().parse().expect("--warmup SECONDS"),
            "--group-size" => a.group_size = value().parse().expect("--group-size N"),
            "--emulator-pid" => a.emulator_pid = Some(value().parse().expect("--emulator-pid PID")),
            "--senders" => a.senders = value().parse().expect("--senders N"),
            _ => {} // `cargo bench` appends `--bench`
        }
    }
    a
}

/// Microseconds since the process's clock origin (shared by senders and receivers).
fn now_us() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_micros() as u64 + 1
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 2).expect("histogram bounds")
}

/// Latency from send and from acceptance, in microseconds.
type LatencyPair = (Histogram<u64>, Histogram<u64>);

/// Counters shared by the sender and every receiver.
struct Shared {
    /// Messages received in the measured part of each phase.
    delivered: [AtomicU64; PHASES],
    /// Messages received in each phase, warm-up included (for the sender's flow control).
    delivered_all: [AtomicU64; PHASES],
    /// When the sender saw each send accepted (µs), per phase, by sequence number.
    accepted: Vec<Vec<AtomicU64>>,
    /// Latencies (from send, from acceptance) per phase, in shards that clients share by
    /// index: one histogram pair per client per phase was megabytes of counters, and the
    /// cache misses of recording into them a large part of this process's CPU time.
    latency: Vec<Mutex<Vec<LatencyPair>>>,
    /// Only messages of the measured part of a phase count (not its warm-up).
    measuring: AtomicBool,
    connected: AtomicUsize,
    closed_by_server: AtomicUsize,
}

impl Shared {
    fn new(track_latency: bool) -> Shared {
        let slots = if track_latency { ACCEPT_SLOTS } else { 0 };
        Shared {
            delivered: Default::default(),
            delivered_all: Default::default(),
            accepted: (0..PHASES)
                .map(|_| (0..slots).map(|_| AtomicU64::new(0)).collect())
                .collect(),
            latency: (0..LATENCY_SHARDS)
                .map(|_| Mutex::new((0..PHASES).map(|_| (histogram(), histogram())).collect()))
                .collect(),
            measuring: AtomicBool::new(false),
            connected: AtomicUsize::new(0),
            closed_by_server: AtomicUsize::new(0),
        }
    }
}

/// One client: a `Listener` over WebSockets (JSON), reading until told to stop.
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
        // A dropped client is counted, not silently replaced.
        .max_reconnect_attempts(Some(0))
        .connect()
        .await
        .map_err(|e| e.to_string())?;
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
                if phase >= PHASES {
                    continue;
                }
                shared.delivered_all[phase].fetch_add(1, Ordering::Relaxed);
                if !shared.measuring.load(Ordering::Relaxed) {
                    continue;
                }
                shared.delivered[phase].fetch_add(1, Ordering::Relaxed);
                // 0: not accepted yet as the sender sees it (or no slots: idle mode).
                let accepted = shared.accepted[phase]
                    .get(seq % ACCEPT_SLOTS)
                    .map_or(0, |slot| slot.load(Ordering::Relaxed));
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
    drop(listener);
    Ok(())
}

fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn connect_all(
    hub: &HubClient,
    http: &reqwest::Client,
    clients: usize,
    shared: &Arc<Shared>,
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<Result<(), String>>> {
    // Connect a bounded number at a time; wait until every handshake is answered.
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
    while shared.connected.load(Ordering::Relaxed) < clients && Instant::now() < deadline {
        if tasks.iter().any(|t| t.is_finished()) {
            break; // a client failed: report what we have
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tasks
}

enum Target {
    Broadcast,
    Group(usize),
}

async fn send(hub: &HubClient, target: &Target, phase: usize, seq: u64) -> bool {
    let message = Message::from_values("tick", vec![json!(phase), json!(seq), json!(now_us())]);
    match target {
        Target::Broadcast => hub.broadcast(&message, None).await.is_ok(),
        Target::Group(groups) => {
            let group = format!("g{}", seq as usize % groups);
            hub.send_to_group(&group, &message, None).await.is_ok()
        }
    }
}

/// What one phase measured (deliveries are counted by the receivers).
struct PhaseResult {
    /// Sends accepted during the measured part.
    sends: u64,
    seconds: f64,
    failed: u64,
    /// Messages received during the measured part.
    delivered: u64,
    /// CPU used during the measured part, in cores: the emulator's and this process's.
    emulator_cores: Option<f64>,
    generator_cores: Option<f64>,
}

impl PhaseResult {
    fn sends_per_s(&self) -> f64 {
        self.sends as f64 / self.seconds
    }

    fn delivered_per_s(&self) -> f64 {
        self.delivered as f64 / self.seconds
    }
}

/// CPU time (user + system) a process has used so far, in seconds.
fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // /proc reports in USER_HZ, which Linux fixes at 100 for user space.
    Some(ticks as f64 / 100.0)
}

/// Runs one phase: `rate` sends/s (open loop), or as fast as the window allows when `None`.
async fn phase(
    hub: &HubClient,
    shared: &Arc<Shared>,
    args: &Args,
    index: usize,
    target: Arc<Target>,
    fan: u64,
    rate: Option<f64>,
) -> PhaseResult {
    let seq = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let in_flight = Arc::new(Semaphore::new(256));
    let mut tasks = Vec::new();
    let (hub, shared_owned) = (hub.clone(), shared.clone());
    let (accepted_owned, failed_owned) = (accepted.clone(), failed.clone());
    let spawn_send = move |n: u64| {
        let (shared, accepted, failed) = (&shared_owned, &accepted_owned, &failed_owned);
        let (hub, shared, target, accepted, failed) = (
            hub.clone(),
            shared.clone(),
            target.clone(),
            accepted.clone(),
            failed.clone(),
        );
        async move {
            let ok = send(&hub, &target, index, n).await;
            if ok {
                if let Some(slot) = shared.accepted[index].get(n as usize % ACCEPT_SLOTS) {
                    slot.store(now_us(), Ordering::Relaxed);
                }
                if shared.measuring.load(Ordering::Relaxed) {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    match rate {
        None => {
            for _ in 0..args.senders {
                let (seq, stop, shared) = (seq.clone(), stop.clone(), shared.clone());
                let run = spawn_send.clone();
                let expected_per_send = fan;
                tasks.push(tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        // Flow control: stay within WINDOW undelivered messages per client.
                        let sent = seq.load(Ordering::Relaxed);
                        if outstanding(&shared, index, sent, expected_per_send) {
                            tokio::time::sleep(Duration::from_micros(500)).await;
                            continue;
                        }
                        let n = seq.fetch_add(1, Ordering::Relaxed);
                        run(n).await;
                    }
                }));
            }
        }
        Some(rate) => {
            let (seq, stop, in_flight) = (seq.clone(), stop.clone(), in_flight.clone());
            tasks.push(tokio::spawn(async move {
                let start = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    // Send everything due by now, then sleep to the next due time.
                    let due = (start.elapsed().as_secs_f64() * rate) as u64;
                    while seq.load(Ordering::Relaxed) < due {
                        let n = seq.fetch_add(1, Ordering::Relaxed);
                        let permit = in_flight.clone().acquire_owned().await.unwrap();
                        let fut = spawn_send(n);
                        tokio::spawn(async move {
                            fut.await;
                            drop(permit);
                        });
                    }
                    let next = start + Duration::from_secs_f64((due + 1) as f64 / rate);
                    tokio::time::sleep_until(next.into()).await;
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    let me = Some(std::process::id());
    let cpu_before = (cpu_seconds(args.emulator_pid), cpu_seconds(me));
    shared.measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    let cpu_after = (cpu_seconds(args.emulator_pid), cpu_seconds(me));
    let cores = |before: Option<f64>, after: Option<f64>| Some((after? - before?) / seconds);
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    // Let in-flight sends finish before the next phase.
    let _ = in_flight.acquire_many(256).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    PhaseResult {
        sends: accepted.load(Ordering::Relaxed),
        seconds,
        failed: failed.load(Ordering::Relaxed),
        // Counted only while measuring, and only for this phase's messages.
        delivered: shared.delivered[index].load(Ordering::Relaxed),
        emulator_cores: cores(cpu_before.0, cpu_after.0),
        generator_cores: cores(cpu_before.1, cpu_after.1),
    }
}

/// Whether the max-rate sender must wait: more than WINDOW messages per client outstanding.
fn outstanding(shared: &Shared, index: usize, sent: u64, fan: u64) -> bool {
    let connected = shared.connected.load(Ordering::Relaxed).max(1) as u64;
    let delivered = shared.delivered_total(index);
    sent * fan > delivered + WINDOW * connected
}

impl Shared {
    /// Deliveries of a phase including its warm-up (the window must count those too).
    fn delivered_total(&self, index: usize) -> u64 {
        self.delivered_all[index].load(Ordering::Relaxed)
    }
}

fn main() {
    let args = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(args));
}

async fn run(args: Args) {
    let client = ServiceClient::builder()
        .endpoint(args.endpoint.clone())
        .access_key(AccessKey::new(args.key.clone()))
        .build()
        .expect("client");
    let hub = client.hub(HUB);
    // One HTTP client for every listener's negotiate call, as one app process would share it:
    // otherwise each listener keeps its own idle keep-alive connection to the emulator, which
    // the memory figure would then count.
    let http = reqwest::Client::new();
    let track_latency = args.mode == "deliver";
    let shared = Arc::new(Shared::new(track_latency));
    let (stop_tx, stop_rx) = watch::channel(false);
    let rss_before = args.emulator_pid.and_then(vm_rss_kib);
    let connect_started = Instant::now();
    let tasks = connect_all(&hub, &http, args.clients, &shared, &stop_rx).await;
    let connected = shared.connected.load(Ordering::Relaxed);
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    eprintln!(
        "{connected} of {} clients connected in {connect_seconds:.1} s",
        args.clients
    );

    let mut report = json!({
        "clients": args.clients,
        "connected": connected,
        "connect_seconds": connect_seconds,
    });
    if args.mode == "idle" {
        // Let the emulator finish its per-connection set-up, then read its memory.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_after = args.emulator_pid.and_then(vm_rss_kib);
        if let (Some(before), Some(after)) = (rss_before, rss_after) {
            report["rss_before_kib"] = json!(before);
            report["rss_after_kib"] = json!(after);
            report["kib_per_connection"] =
                json!((after.saturating_sub(before)) as f64 / connected.max(1) as f64);
        }
    } else {
        let groups = args.clients.div_ceil(args.group_size);
        // Users u0..u9 in g0, u10..u19 in g1, ...
        let gate = Arc::new(Semaphore::new(32));
        let mut adds = Vec::new();
        for i in 0..args.clients {
            let (hub, gate) = (hub.clone(), gate.clone());
            let group = format!("g{}", i / args.group_size);
            adds.push(tokio::spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                hub.add_user_to_group(&format!("u{i}"), &group, None)
                    .await
                    .is_ok()
            }));
        }
        let mut added = 0;
        for a in adds {
            added += a.await.unwrap() as usize;
        }
        assert_eq!(added, args.clients, "every user joins its group");
        let fan_all = connected as u64;
        let fan_group = args.group_size as u64;
        let mut phases = Vec::new();
        let mut max_rate = [0.0f64; 2];
        for (index, &(_, to_groups, fraction)) in PLAN.iter().enumerate() {
            let (target, fan) = if to_groups {
                (Target::Group(groups), fan_group)
            } else {
                (Target::Broadcast, fan_all)
            };
            let family = usize::from(to_groups);
            let rate = fraction.map(|f| max_rate[family] * f);
            let result = phase(&hub, &shared, &args, index, Arc::new(target), fan, rate).await;
            if fraction.is_none() {
                max_rate[family] = result.sends_per_s();
            }
            eprintln!(
                "{}: {:.0} sends/s, {:.0} delivered/s",
                PLAN[index].0,
                result.sends_per_s(),
                result.delivered_per_s()
            );
            phases.push((result, rate));
        }
        stop_tx.send(true).unwrap();
        for t in tasks {
            let _ = t.await;
        }
        // Merge the shards: one (from send, from acceptance) pair per phase.
        let mut latency: Vec<LatencyPair> =
            (0..PHASES).map(|_| (histogram(), histogram())).collect();
        for shard in &shared.latency {
            for (merged, part) in latency.iter_mut().zip(shard.lock().unwrap().iter()) {
                merged.0.add(&part.0).unwrap();
                merged.1.add(&part.1).unwrap();
            }
        }
        let mut out = serde_json::Map::new();
        for (index, (result, rate)) in phases.into_iter().enumerate() {
            let (from_send, from_accept) = &latency[index];
            out.insert(
                PLAN[index].0.into(),
                json!({
                    "target_rate": rate,
                    "sends": result.sends,
                    "failed_sends": result.failed,
                    "seconds": result.seconds,
                    "sends_per_s": result.sends_per_s(),
                    "delivered": result.delivered,
                    "delivered_per_s": result.delivered_per_s(),
                    "emulator_cores": result.emulator_cores,
                    "generator_cores": result.generator_cores,
                    "p50_us_from_send": from_send.value_at_quantile(0.5),
                    "p99_us_from_send": from_send.value_at_quantile(0.99),
                    "p50_us_from_accept": from_accept.value_at_quantile(0.5),
                    "p99_us_from_accept": from_accept.value_at_quantile(0.99),
                }),
            );
        }
        report["phases"] = Value::Object(out);
        report["closed_by_server"] = json!(shared.closed_by_server.load(Ordering::Relaxed));
    }
    let _ = stop_tx.send(true);
    println!("{report}");
}

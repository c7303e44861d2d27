//! Broadcast through one client over several emulators: a `ServiceClient` built with
//! `.endpoints([...])` over every `--endpoint` given (one endpoint: exactly the single-endpoint
//! client), WebSocket clients connected through that client's `negotiate` (so its router spreads
//! them over the instances), and broadcasts counted and timed on receipt.
//!
//! ```text
//! endpoints --endpoint http://127.0.0.1:P1 [--endpoint http://127.0.0.1:P2 ...]
//!           [--emulator-pid PID ...] --clients 1000 --duration 10 --warmup 2 [--fixed-rate R]
//! ```
//!
//! Two phases on one set of clients, one JSON line printed at the end:
//! - `max`: `--senders` tasks broadcast as fast as the clients take it, with the fan-out
//!   benchmark's flow control (at most `WINDOW` undelivered messages per client outstanding, so
//!   no emulator closes a client whose queue filled);
//! - `fixed`: open-loop broadcasts at `--fixed-rate` per second (default: half of `max`), so the
//!   harness can time every endpoint count at the same load.
//!
//! Each message carries `[phase, seq, µs]`, the time just before the broadcast call on a clock
//! shared with the receivers (same process). Latency is receipt minus that ("from send", which
//! counts the REST calls to every endpoint) and receipt minus the moment the call returned
//! ("from acceptance", 0 when the client had the message first). After each phase the harness
//! waits for the stragglers and reports copies per client per accepted broadcast: 1 when every
//! broadcast reached every client once, whichever instance it is on.

mod receivers;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_signalr_rest::{HubClient, Message, ServiceClient, ServiceEndpoint};
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};

use receivers::{
    clients_per_endpoint, connect_all, merged_latency, now_us, Shared, ACCEPT_SLOTS, HUB, PHASES,
};

/// Undelivered messages per client the max-rate senders may have outstanding (an emulator's
/// per-client queue holds 1,024 by default).
const WINDOW: u64 = 128;
/// Broadcasts the open-loop phase may have in flight at once.
const IN_FLIGHT: u32 = 256;

struct Args {
    endpoints: Vec<String>,
    emulator_pids: Vec<u32>,
    key: String,
    clients: usize,
    duration: f64,
    warmup: f64,
    senders: usize,
    fixed_rate: Option<f64>,
}

fn parse_args() -> Args {
    let mut a = Args {
        endpoints: Vec::new(),
        emulator_pids: Vec::new(),
        key: "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH".into(),
        clients: 1000,
        duration: 10.0,
        warmup: 2.0,
        senders: 16,
        fixed_rate: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--endpoint" => a.endpoints.push(value()),
            "--emulator-pid" => a
                .emulator_pids
                .push(value().parse().expect("--emulator-pid PID")),
            "--key" => a.key = value(),
            "--clients" => a.clients = value().parse().expect("--clients N"),
            "--duration" => a.duration = value().parse().expect("--duration SECONDS"),
            "--warmup" => a.warmup = value().parse().expect("--warmup SECONDS"),
            "--senders" => a.senders = value().parse().expect("--senders N"),
            "--fixed-rate" => a.fixed_rate = Some(value().parse().expect("--fixed-rate R")),
            _ => {} // `cargo bench` appends `--bench`
        }
    }
    assert!(!a.endpoints.is_empty(), "give at least one --endpoint");
    a
}

/// CPU time (user + system) a process has used so far, in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // /proc reports in USER_HZ, which Linux fixes at 100 for user space.
    Some(ticks as f64 / 100.0)
}

/// CPU seconds of every emulator together (`None` when none was given or one is unreadable),
/// and of this process.
fn cpu_now(args: &Args) -> (Option<f64>, Option<f64>) {
    let emulators = if args.emulator_pids.is_empty() {
        None
    } else {
        args.emulator_pids.iter().map(|&p| cpu_seconds(p)).sum()
    };
    (emulators, cpu_seconds(std::process::id()))
}

/// What one phase measured.
struct PhaseResult {
    rate: Option<f64>,
    /// Broadcasts accepted during the measured part.
    sends: u64,
    /// Broadcasts accepted in the whole phase, warm-up included.
    sends_all: u64,
    failed: u64,
    seconds: f64,
    cores: (Option<f64>, Option<f64>),
}

/// Runs phase `index`: `rate` broadcasts/s (open loop), or as fast as the window allows.
async fn phase(
    hub: &HubClient,
    shared: &Arc<Shared>,
    args: &Args,
    index: usize,
    rate: Option<f64>,
) -> PhaseResult {
    let seq = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let accepted_all = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT as usize));
    let broadcast = {
        let (hub, shared) = (hub.clone(), shared.clone());
        let (accepted, accepted_all, failed) =
            (accepted.clone(), accepted_all.clone(), failed.clone());
        move |n: u64| {
            let (hub, shared) = (hub.clone(), shared.clone());
            let (accepted, accepted_all, failed) =
                (accepted.clone(), accepted_all.clone(), failed.clone());
            async move {
                let message =
                    Message::from_values("tick", vec![json!(index), json!(n), json!(now_us())]);
                if hub.broadcast(&message, None).await.is_ok() {
                    shared.accepted[index][n as usize % ACCEPT_SLOTS]
                        .store(now_us(), Ordering::Relaxed);
                    accepted_all.fetch_add(1, Ordering::Relaxed);
                    if shared.measuring.load(Ordering::Relaxed) {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    };
    let mut tasks = Vec::new();
    match rate {
        None => {
            for _ in 0..args.senders {
                let (seq, stop, shared, run) =
                    (seq.clone(), stop.clone(), shared.clone(), broadcast.clone());
                tasks.push(tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        // Flow control: stay within WINDOW undelivered messages per client.
                        let sent = seq.load(Ordering::Relaxed);
                        let delivered = shared.delivered_all[index].load(Ordering::Relaxed);
                        let connected = shared.connected().max(1);
                        if sent * connected > delivered + WINDOW * connected {
                            tokio::time::sleep(Duration::from_micros(500)).await;
                            continue;
                        }
                        run(seq.fetch_add(1, Ordering::Relaxed)).await;
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
                        let send = broadcast(n);
                        tokio::spawn(async move {
                            send.await;
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
    let before = cpu_now(args);
    shared.measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    let after = cpu_now(args);
    let cores = |b: Option<f64>, a: Option<f64>| Some((a? - b?) / seconds);
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let _ = in_flight.acquire_many(IN_FLIGHT).await;
    // Wait for the stragglers, so copies per client compare whole counts.
    let sends_all = accepted_all.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(10);
    while shared.delivered_all[index].load(Ordering::Relaxed) < sends_all * shared.connected()
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    PhaseResult {
        rate,
        sends: accepted.load(Ordering::Relaxed),
        sends_all,
        failed: failed.load(Ordering::Relaxed),
        seconds,
        cores: (cores(before.0, after.0), cores(before.1, after.1)),
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
    let endpoints: Vec<ServiceEndpoint> = args
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let cs = format!("Endpoint={url};AccessKey={};Version=1.0;", args.key);
            ServiceEndpoint::new(
                format!("e{}", i + 1),
                cs.parse().expect("connection string"),
            )
        })
        .collect();
    let client = ServiceClient::builder()
        .endpoints(endpoints)
        .build()
        .expect("client");
    let hub = client.hub(HUB);
    let shared = Arc::new(Shared::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let connect_started = Instant::now();
    let tasks = connect_all(&hub, args.clients, &shared, &stop_rx).await;
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    let connected = shared.connected();
    eprintln!(
        "{connected} of {} clients connected in {connect_seconds:.1} s over {} endpoint(s)",
        args.clients,
        args.endpoints.len()
    );
    let spread = clients_per_endpoint(&client, &shared).await;
    eprintln!("clients per endpoint: {spread}");

    let mut out = serde_json::Map::new();
    let mut max_rate = 0.0;
    for (index, name) in PHASES.iter().enumerate() {
        // At least 1/s: a max phase that delivered nothing must not make the pacing divide by 0.
        let rate = (index > 0).then(|| args.fixed_rate.unwrap_or(max_rate * 0.5).max(1.0));
        let r = phase(&hub, &shared, &args, index, rate).await;
        let sends_per_s = r.sends as f64 / r.seconds;
        if index == 0 {
            max_rate = sends_per_s;
        }
        let delivered = shared.delivered[index].load(Ordering::Relaxed);
        let delivered_all = shared.delivered_all[index].load(Ordering::Relaxed);
        eprintln!(
            "{name}: {sends_per_s:.0} broadcasts/s, {:.0} delivered/s",
            delivered as f64 / r.seconds
        );
        let (from_send, from_accept) = merged_latency(&shared, index);
        out.insert(
            (*name).into(),
            json!({
                "target_rate": r.rate,
                "sends": r.sends,
                "failed_sends": r.failed,
                "seconds": r.seconds,
                "sends_per_s": sends_per_s,
                "delivered": delivered,
                "delivered_per_s": delivered as f64 / r.seconds,
                "copies_per_client": delivered_all as f64 / (r.sends_all * connected).max(1) as f64,
                "emulator_cores": r.cores.0,
                "generator_cores": r.cores.1,
                "p50_us_from_send": from_send.value_at_quantile(0.5),
                "p99_us_from_send": from_send.value_at_quantile(0.99),
                "p50_us_from_accept": from_accept.value_at_quantile(0.5),
                "p99_us_from_accept": from_accept.value_at_quantile(0.99),
            }),
        );
    }
    stop_tx.send(true).unwrap();
    for t in tasks {
        let _ = t.await;
    }
    let report = json!({
        "endpoints": args.endpoints.len(),
        "clients": args.clients,
        "connected": connected,
        "connect_seconds": connect_seconds,
        "clients_per_endpoint": spread,
        "closed_by_server": shared.closed_by_server.load(Ordering::Relaxed),
        "phases": Value::Object(out),
    });
    println!("{report}");
}

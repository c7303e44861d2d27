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

#[path = "support/args.rs"]
mod args;
#[path = "support/load.rs"]
mod load;
#[path = "support/receivers.rs"]
mod receivers;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_signalr_rest::{AccessKey, HubClient, Message, ServiceClient};
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};

use load::{run_phase, Pacing, Sent};
use receivers::{connect_all, now_us, Shared};

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
struct Args {
    endpoint: String,
    common: args::Common,
    clients: usize,
    mode: String,
    group_size: usize,
    emulator_pid: Option<u32>,
    senders: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        endpoint: "http://127.0.0.1:8888".into(),
        common: args::Common::new(1.0),
        clients: 1000,
        mode: "deliver".into(),
        group_size: 10,
        emulator_pid: None,
        senders: 16,
    };
    args::each(|arg, value| match arg {
        _ if a.common.take(arg, value) => {}
        "--endpoint" => a.endpoint = value(),
        "--clients" => a.clients = value().parse().expect("--clients N"),
        "--mode" => a.mode = value(),
        "--group-size" => a.group_size = value().parse().expect("--group-size N"),
        "--emulator-pid" => a.emulator_pid = Some(value().parse().expect("--emulator-pid PID")),
        "--senders" => a.senders = value().parse().expect("--senders N"),
        _ => {} // `cargo bench` appends `--bench`
    });
    a
}

fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
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

/// Runs one phase: `rate` sends/s (open loop), or as fast as the window allows when `None`.
async fn phase(
    hub: &HubClient,
    shared: &Arc<Shared>,
    pacing: &Pacing<'_>,
    index: usize,
    target: Arc<Target>,
    fan: u64,
    rate: Option<f64>,
) -> Sent {
    let hub = hub.clone();
    let call = move |n: u64| {
        let (hub, target) = (hub.clone(), target.clone());
        async move { send(&hub, &target, index, n).await }
    };
    let sent = run_phase(shared, index, rate, Some(fan), pacing, call).await;
    // Let the stragglers arrive before the next phase.
    tokio::time::sleep(Duration::from_millis(500)).await;
    sent
}

fn main() {
    let args = parse_args();
    args::block_on(run(args));
}

async fn run(args: Args) {
    let client = ServiceClient::builder()
        .endpoint(args.endpoint.clone())
        .access_key(AccessKey::new(args.common.key.clone()))
        .build()
        .expect("client");
    let hub = client.hub(HUB);
    // One HTTP client for every listener's negotiate call, as one app process would share it:
    // otherwise each listener keeps its own idle keep-alive connection to the emulator, which
    // the memory figure would then count.
    let http = reqwest::Client::new();
    let track_latency = args.mode == "deliver";
    let shared = Arc::new(Shared::new(PHASES, track_latency));
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
        let pacing = Pacing {
            senders: args.senders,
            warmup: args.common.warmup,
            duration: args.common.duration,
            emulator_pids: args.emulator_pid.as_slice(),
        };
        let mut max_rate = [0.0f64; 2];
        for (index, &(_, to_groups, fraction)) in PLAN.iter().enumerate() {
            let (target, fan) = if to_groups {
                (Target::Group(groups), fan_group)
            } else {
                (Target::Broadcast, fan_all)
            };
            let family = usize::from(to_groups);
            let rate = fraction.map(|f| max_rate[family] * f);
            let result = phase(&hub, &shared, &pacing, index, Arc::new(target), fan, rate).await;
            let sends_per_s = result.sends as f64 / result.seconds;
            if fraction.is_none() {
                max_rate[family] = sends_per_s;
            }
            // Counted only while measuring, and only for this phase's messages.
            let delivered = shared.delivered[index].load(Ordering::Relaxed);
            let delivered_per_s = delivered as f64 / result.seconds;
            eprintln!(
                "{}: {sends_per_s:.0} sends/s, {delivered_per_s:.0} delivered/s",
                PLAN[index].0,
            );
            phases.push(json!({
                "target_rate": rate,
                "sends": result.sends,
                "failed_sends": result.failed,
                "seconds": result.seconds,
                "sends_per_s": sends_per_s,
                "delivered": delivered,
                "delivered_per_s": delivered_per_s,
                "emulator_cores": result.emulator_cores,
                "generator_cores": result.generator_cores,
            }));
        }
        stop_tx.send(true).unwrap();
        for t in tasks {
            let _ = t.await;
        }
        let mut out = serde_json::Map::new();
        for (index, mut figures) in phases.into_iter().enumerate() {
            let (from_send, from_accept) = shared.merged_latency(index);
            figures["p50_us_from_send"] = json!(from_send.value_at_quantile(0.5));
            figures["p99_us_from_send"] = json!(from_send.value_at_quantile(0.99));
            figures["p50_us_from_accept"] = json!(from_accept.value_at_quantile(0.5));
            figures["p99_us_from_accept"] = json!(from_accept.value_at_quantile(0.99));
            out.insert(PLAN[index].0.into(), figures);
        }
        report["phases"] = Value::Object(out);
        report["closed_by_server"] = json!(shared.closed_by_server.load(Ordering::Relaxed));
    }
    let _ = stop_tx.send(true);
    println!("{report}");
}

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

#[path = "../support/args.rs"]
mod args;
#[path = "../support/load.rs"]
mod load;
#[path = "../support/receivers.rs"]
mod receivers;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_signalr_rest::{HubClient, Message, ServiceClient, ServiceEndpoint};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::watch;

use load::{run_phase, Pacing, Sent};
use receivers::{connect_all, now_us, Shared};

const HUB: &str = "endpoints";
/// The phases in order: `max`, then `fixed`.
const PHASES: [&str; 2] = ["max", "fixed"];

struct Args {
    endpoints: Vec<String>,
    emulator_pids: Vec<u32>,
    common: args::Common,
    clients: usize,
    senders: usize,
    fixed_rate: Option<f64>,
}

fn parse_args() -> Args {
    let mut a = Args {
        endpoints: Vec::new(),
        emulator_pids: Vec::new(),
        common: args::Common::new(2.0),
        clients: 1000,
        senders: 16,
        fixed_rate: None,
    };
    args::each(|arg, value| match arg {
        _ if a.common.take(arg, value) => {}
        "--endpoint" => a.endpoints.push(value()),
        "--emulator-pid" => a
            .emulator_pids
            .push(value().parse().expect("--emulator-pid PID")),
        "--clients" => a.clients = value().parse().expect("--clients N"),
        "--senders" => a.senders = value().parse().expect("--senders N"),
        "--fixed-rate" => a.fixed_rate = Some(value().parse().expect("--fixed-rate R")),
        _ => {} // `cargo bench` appends `--bench`
    });
    assert!(!a.endpoints.is_empty(), "give at least one --endpoint");
    a
}

/// Runs phase `index`: `rate` broadcasts/s (open loop), or as fast as the window allows; then
/// waits for the stragglers, so copies per client compare whole counts.
async fn phase(
    hub: &HubClient,
    shared: &Arc<Shared>,
    pacing: &Pacing<'_>,
    index: usize,
    rate: Option<f64>,
) -> Sent {
    let hub = hub.clone();
    let broadcast = move |n: u64| {
        let hub = hub.clone();
        async move {
            let message =
                Message::from_values("tick", vec![json!(index), json!(n), json!(now_us())]);
            hub.broadcast(&message, None).await.is_ok()
        }
    };
    let sent = run_phase(shared, index, rate, None, pacing, broadcast).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while shared.delivered_all[index].load(Ordering::Relaxed) < sent.sends_all * shared.connected()
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sent
}

/// How many of the connected clients each endpoint holds, asked of each endpoint alone.
async fn clients_per_endpoint(client: &ServiceClient, shared: &Shared) -> Value {
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

fn main() {
    let args = parse_args();
    args::block_on(run(args));
}

async fn run(args: Args) {
    let endpoints: Vec<ServiceEndpoint> = args
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let cs = format!("Endpoint={url};AccessKey={};Version=1.0;", args.common.key);
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
    let shared = Arc::new(Shared::new(PHASES.len(), true));
    let (stop_tx, stop_rx) = watch::channel(false);
    let connect_started = Instant::now();
    // One HTTP client for every negotiate call, as one app process would share it.
    let http = reqwest::Client::new();
    let tasks = connect_all(&hub, &http, args.clients, &shared, &stop_rx).await;
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
    let pacing = Pacing {
        senders: args.senders,
        warmup: args.common.warmup,
        duration: args.common.duration,
        emulator_pids: &args.emulator_pids,
    };
    let mut max_rate = 0.0;
    for (index, name) in PHASES.iter().enumerate() {
        // At least 1/s: a max phase that delivered nothing must not make the pacing divide by 0.
        let rate = (index > 0).then(|| args.fixed_rate.unwrap_or(max_rate * 0.5).max(1.0));
        let r = phase(&hub, &shared, &pacing, index, rate).await;
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
        let (from_send, from_accept) = shared.merged_latency(index);
        out.insert(
            (*name).into(),
            json!({
                "target_rate": rate,
                "sends": r.sends,
                "failed_sends": r.failed,
                "seconds": r.seconds,
                "sends_per_s": sends_per_s,
                "delivered": delivered,
                "delivered_per_s": delivered as f64 / r.seconds,
                "copies_per_client": delivered_all as f64 / (r.sends_all * connected).max(1) as f64,
                "emulator_cores": r.emulator_cores,
                "generator_cores": r.generator_cores,
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

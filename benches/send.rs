//! Our sender: broadcasts or user sends through `HubClient` against a running emulator, for a
//! fixed time after a warm-up, at a fixed concurrency. Prints one JSON line:
//! `{"requests":…,"errors":…,"seconds":…,"rps":…,"p50_us":…,"p99_us":…}`.
//!
//! ```text
//! send --endpoint http://127.0.0.1:PORT --key KEY --op broadcast|user --concurrency 64 \
//!      --duration 10 --warmup 2
//! send --endpoint http://127.0.0.1:PORT --key KEY --print-token URL   # a long-lived token for wrk
//! ```

#[path = "support/args.rs"]
mod args;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_signalr_rest::{AccessKey, HubClient, Message, ServiceClient, TokenMinter};
use hdrhistogram::Histogram;

/// The hub, user and message every sender in the comparison uses.
const HUB: &str = "bench";
const USER: &str = "user1";

struct Args {
    endpoint: String,
    common: args::Common,
    op: String,
    concurrency: usize,
    print_token: Option<String>,
}

fn parse_args() -> Args {
    let mut a = Args {
        endpoint: "http://127.0.0.1:8888".into(),
        common: args::Common::new(2.0),
        op: "broadcast".into(),
        concurrency: 1,
        print_token: None,
    };
    args::each(|arg, value| match arg {
        _ if a.common.take(arg, value) => {}
        "--endpoint" => a.endpoint = value(),
        "--op" => a.op = value(),
        "--concurrency" => a.concurrency = value().parse().expect("--concurrency N"),
        "--print-token" => a.print_token = Some(value()),
        _ => {} // `cargo bench` appends `--bench`
    });
    a
}

async fn send_once(hub: &HubClient, op: &str, message: &Message) -> bool {
    let result = match op {
        "broadcast" => hub.broadcast(message, None).await,
        "user" => hub.send_to_user(USER, message).await,
        other => panic!("unknown --op {other} (broadcast or user)"),
    };
    result.is_ok()
}

fn main() {
    let args = parse_args();
    if let Some(url) = &args.print_token {
        // A token for wrk's fixed request: valid for a day, audience = the request URL.
        let minter = TokenMinter::with_rest_lifetime(
            AccessKey::new(args.common.key.clone()),
            Duration::from_secs(24 * 3600),
            Duration::from_secs(60),
        );
        let audience = url.split('?').next().unwrap_or(url);
        println!(
            "{}",
            minter.rest_token(audience).expect("token").expose_secret()
        );
        return;
    }
    args::block_on(run(args));
}

async fn run(args: Args) {
    let endpoint = url::Url::parse(&args.endpoint).expect("--endpoint URL");
    let client = ServiceClient::builder()
        .endpoint(args.endpoint.clone())
        .access_key(AccessKey::new(args.common.key.clone()))
        .build()
        .expect("client");
    let _ = endpoint;
    let hub = client.hub(HUB);
    let message = Message::new("newMessage", ("bench", "hello from the benchmark")).unwrap();

    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (hub, message, op) = (hub.clone(), message.clone(), args.op.clone());
        let (measuring, stop, errors) = (measuring.clone(), stop.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new(3).unwrap();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let ok = send_once(&hub, &op, &message).await;
                if measuring.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                    if ok {
                        histogram
                            .record(started.elapsed().as_micros().max(1) as u64)
                            .unwrap();
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            histogram
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(args.common.warmup)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.common.duration)).await;
    stop.store(true, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    for task in tasks {
        histogram.add(task.await.unwrap()).unwrap();
    }
    let requests = histogram.len();
    println!(
        "{}",
        serde_json::json!({
            "requests": requests,
            "errors": errors.load(Ordering::Relaxed),
            "seconds": seconds,
            "rps": requests as f64 / seconds,
            "p50_us": histogram.value_at_quantile(0.50),
            "p99_us": histogram.value_at_quantile(0.99),
        })
    );
}

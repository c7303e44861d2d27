//! Fan-out under load on loopback: many WebSocket receivers, many broadcasts, every message
//! delivered to every receiver. Sizes are bounded; scale them with ASRS_LOAD_CLIENTS and
//! ASRS_LOAD_MESSAGES to measure.
#![cfg(feature = "emulator")]

mod common;

use std::time::{Duration, Instant};

use azure_signalr_rest::emulator::Emulator;
use azure_signalr_rest::protocol::HubProtocol;
use common::*;
use serde_json::json;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_reach_every_receiver() {
    let clients = env_or("ASRS_LOAD_CLIENTS", 100);
    let messages = env_or("ASRS_LOAD_MESSAGES", 100);
    let emu = Emulator::builder()
        .bind("127.0.0.1:0")
        .delivery_record(1000)
        .client_timeout(Duration::from_secs(600))
        .start()
        .await
        .unwrap();
    let mut receivers = Vec::new();
    for i in 0..clients {
        let protocol = if i % 2 == 0 {
            HubProtocol::Json
        } else {
            HubProtocol::MessagePack
        };
        receivers.push(WsClient::connect_with(&emu, "load", None, protocol).await);
    }
    let rss_before = rss_kib();
    let payload = "p".repeat(1024);
    let started = Instant::now();
    let readers: Vec<_> = receivers
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                for expected in 0..messages {
                    let inv = c.next_invocation().await;
                    assert_eq!(inv.arguments[0], json!(expected));
                }
            })
        })
        .collect();
    for n in 0..messages {
        let r = rest(
            &emu,
            "POST",
            "/api/v1/hubs/load",
            msg("tick", json!([n, payload])),
        )
        .await;
        assert_eq!(r.status, 202);
    }
    for reader in readers {
        reader
            .await
            .expect("every receiver got every message in order");
    }
    let elapsed = started.elapsed();
    let deliveries = clients * messages;
    println!(
        "{clients} receivers x {messages} broadcasts of 1 KiB = {deliveries} deliveries in {elapsed:?} \
         ({:.0} deliveries/s); RSS {:?} KiB before, {:?} KiB after",
        deliveries as f64 / elapsed.as_secs_f64(),
        rss_before,
        rss_kib()
    );
    // The record is bounded whatever the traffic.
    assert_eq!(emu.deliveries().len(), 1000.min(deliveries));
    emu.shutdown().await;
}

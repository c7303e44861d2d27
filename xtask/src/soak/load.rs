//! The soak's load: reading clients on every transport and protocol with their senders, churn,
//! membership changes, and slow and dead clients. Each loop runs until `stop` turns true.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azure_signalr_rest::listener::{Event, Listener};
use azure_signalr_rest::protocol::{HubProtocol, TransportType};
use azure_signalr_rest::{HubClient, Message};
use tokio::sync::{watch, Notify};

use super::raw::{self, Ending};

/// Counters the sampler reads.
#[derive(Default)]
pub(super) struct Stats {
    pub accepted: AtomicU64,
    pub delivered: AtomicU64,
    pub duplicates: AtomicU64,
    pub send_errors: AtomicU64,
    pub rest_ops: AtomicU64,
    pub rest_errors: AtomicU64,
    pub churned: AtomicU64,
    pub dropped: AtomicU64,
    pub cutoffs: AtomicU64,
    /// Laggards whose connection the emulator ended before they read that far (the Close
    /// frame is sent only to a client that reads within two seconds).
    pub cut_dropped: AtomicU64,
    pub faults: AtomicU64,
    /// Latencies (ms) since the sampler last took them.
    pub latencies: Mutex<Vec<f64>>,
    pub started: Option<Instant>,
}

impl Stats {
    pub(super) fn new() -> Stats {
        Stats {
            started: Some(Instant::now()),
            ..Stats::default()
        }
    }

    fn now_ms(&self) -> f64 {
        self.started
            .map_or(0.0, |s| s.elapsed().as_secs_f64() * 1000.0)
    }
}

/// The transports and protocols readers and churners cycle through.
pub(super) const KINDS: [(TransportType, HubProtocol); 5] = [
    (TransportType::WebSockets, HubProtocol::Json),
    (TransportType::WebSockets, HubProtocol::MessagePack),
    (TransportType::ServerSentEvents, HubProtocol::Json),
    (TransportType::LongPolling, HubProtocol::Json),
    (TransportType::LongPolling, HubProtocol::MessagePack),
];

/// One reading client's ledger: which of its messages were accepted while it was connected,
/// and which arrived. An epoch is one connection; a reconnect starts the next.
#[derive(Default)]
pub(super) struct Ledger {
    pub epoch: u64,
    pub connected: bool,
    /// (sequence number, epoch it was accepted in).
    pub expected: Vec<(u64, u64)>,
    pub received: HashSet<u64>,
    /// Why each earlier connection ended.
    pub endings: Vec<String>,
}

pub(super) struct Reader {
    pub user: String,
    pub kind: (TransportType, HubProtocol),
    pub ledger: Mutex<Ledger>,
    pub arrived: Notify,
}

/// Keeps one reading client connected (the listener reconnects by itself) and records what it
/// receives.
pub(super) async fn read(
    reader: Arc<Reader>,
    hub: HubClient,
    stats: Arc<Stats>,
    mut stop: watch::Receiver<bool>,
) {
    let connect = || {
        Listener::builder()
            .hub_client(hub.clone())
            .user_id(reader.user.clone())
            .transport(reader.kind.0)
            .protocol(reader.kind.1)
            .reconnect_delays(Duration::from_millis(200), Duration::from_secs(2))
            .connect()
    };
    let mut listener = loop {
        match connect().await {
            Ok(l) => break l,
            Err(_) if !*stop.borrow() => tokio::time::sleep(Duration::from_millis(500)).await,
            Err(_) => return,
        }
    };
    reader.ledger.lock().unwrap().connected = true;
    loop {
        let event = tokio::select! {
            event = listener.next() => event,
            _ = stop.changed() => if *stop.borrow() { break } else { continue },
        };
        match event {
            Some(Event::Invocation { target, arguments }) if target == "seq" => {
                let seq = arguments
                    .first()
                    .and_then(|v| v.as_u64())
                    .unwrap_or(u64::MAX);
                let sent = arguments.get(1).and_then(|v| v.as_f64()).unwrap_or(0.0);
                stats.latencies.lock().unwrap().push(stats.now_ms() - sent);
                if reader.ledger.lock().unwrap().received.insert(seq) {
                    stats.delivered.fetch_add(1, Relaxed);
                } else {
                    stats.duplicates.fetch_add(1, Relaxed);
                }
                reader.arrived.notify_waiters();
            }
            Some(Event::Reconnecting { error }) => {
                let mut ledger = reader.ledger.lock().unwrap();
                ledger.connected = false;
                ledger.epoch += 1;
                ledger.endings.push(error);
            }
            Some(Event::Reconnected { .. }) => reader.ledger.lock().unwrap().connected = true,
            Some(Event::Closed { error }) => {
                // Ended for good (a server that stops says so): connect again until it works.
                {
                    let mut ledger = reader.ledger.lock().unwrap();
                    ledger.endings.push(format!("closed: {error:?}"));
                    ledger.connected = false;
                }
                listener = loop {
                    if *stop.borrow() {
                        return;
                    }
                    match connect().await {
                        Ok(l) => break l,
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                };
                let mut ledger = reader.ledger.lock().unwrap();
                ledger.epoch += 1;
                ledger.connected = true;
            }
            Some(_) => {}
            None => break,
        }
    }
    listener.close().await;
}

/// Sends numbered messages to one reader's user, `rate` a second, and books each accepted
/// one as expected when the reader was connected, in one epoch, before and after the send.
pub(super) async fn send_to(
    reader: Arc<Reader>,
    hub: HubClient,
    rate: u32,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    let mut seq = 0u64;
    while !*stop.borrow() {
        tick.tick().await;
        let before = {
            let l = reader.ledger.lock().unwrap();
            (l.connected, l.epoch)
        };
        let message = Message::new("seq", (seq, stats.now_ms())).expect("serializable");
        match hub.send_to_user(&reader.user, &message).await {
            Ok(()) => {
                stats.accepted.fetch_add(1, Relaxed);
                let mut l = reader.ledger.lock().unwrap();
                if before.0 && l.connected && l.epoch == before.1 {
                    l.expected.push((seq, before.1));
                }
            }
            Err(_) => {
                stats.send_errors.fetch_add(1, Relaxed);
            }
        }
        seq += 1;
    }
}

/// Connects and disconnects clients in a loop: listeners of every kind closed cleanly, and
/// every third one a bare WebSocket dropped without a Close frame (a fault).
pub(super) async fn churn(
    index: usize,
    hub: HubClient,
    http: reqwest::Client,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
) {
    let mut round = index;
    while !*stop.borrow() {
        round += 1;
        let user = format!("churn-{index}");
        let hold = Duration::from_millis(200 + (round as u64 * 137) % 1500);
        if round.is_multiple_of(3) {
            if let Ok(client) = raw::connect(&hub, &http, &user).await {
                tokio::time::sleep(hold).await;
                drop(client); // no Close frame: the emulator finds out from the socket
                stats.churned.fetch_add(1, Relaxed);
                stats.dropped.fetch_add(1, Relaxed);
            }
            continue;
        }
        let (transport, protocol) = KINDS[round % KINDS.len()];
        let listener = Listener::builder()
            .hub_client(hub.clone())
            .user_id(user)
            .transport(transport)
            .protocol(protocol)
            .max_reconnect_attempts(Some(0))
            .connect()
            .await;
        if let Ok(mut listener) = listener {
            let _ = tokio::time::timeout(hold, async { while listener.next().await.is_some() {} })
                .await;
            listener.close().await;
            stats.churned.fetch_add(1, Relaxed);
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Group membership changes and group sends, on the churning users and their rooms.
pub(super) async fn membership(
    hub: HubClient,
    churners: usize,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut round = 0usize;
    let noise = Message::new("noise", ("x".repeat(256),)).expect("serializable");
    while !*stop.borrow() {
        tick.tick().await;
        round += 1;
        let user = format!("churn-{}", round % churners.max(1));
        let group = format!("room-{}", round % 7);
        let result = match round % 5 {
            0 => hub.add_user_to_group(&user, &group, None).await,
            1 => hub.remove_user_from_group(&user, &group).await,
            2 => hub.send_to_group(&group, &noise, None).await,
            3 => hub.user_exists(&user).await.map(|_| ()),
            _ => hub.broadcast(&noise, None).await,
        };
        stats.rest_ops.fetch_add(1, Relaxed);
        if result.is_err() {
            stats.rest_errors.fetch_add(1, Relaxed);
        }
    }
}

/// A client that reads one message a second (or never, when `dead`) while 64 KiB messages go
/// to its group: it falls behind until the emulator cuts it off, which it counts when the
/// cut-off came as a Close frame with status 1008.
pub(super) async fn laggard(
    index: usize,
    dead: bool,
    hub: HubClient,
    http: reqwest::Client,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let user = format!("{}-{index}", if dead { "dead" } else { "slow" });
        let Ok(mut client) = raw::connect(&hub, &http, &user).await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        if hub
            .add_connection_to_group(&client.connection_id, "laggards")
            .await
            .is_err()
        {
            continue;
        }
        let started = Instant::now();
        let ending = loop {
            if *stop.borrow() || started.elapsed() > Duration::from_secs(90) {
                break Ending::Open;
            }
            if dead {
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
            // One frame a second: far slower than the flood.
            match raw::next_frame(&mut client.socket, Duration::from_secs(1)).await {
                Ending::Open => tokio::time::sleep(Duration::from_secs(1)).await,
                other => break other,
            }
        };
        let ending = match ending {
            Ending::Open => raw::ending(&mut client.socket, Duration::from_secs(10)).await,
            other => other,
        };
        match ending {
            Ending::Closed(1008) => {
                stats.cutoffs.fetch_add(1, Relaxed);
            }
            Ending::Dropped => {
                stats.cut_dropped.fetch_add(1, Relaxed);
            }
            _ => {}
        }
        stats.churned.fetch_add(1, Relaxed);
    }
}

/// 64 KiB messages to the laggards' group, `rate` a second.
pub(super) async fn flood(
    hub: HubClient,
    rate: u32,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    let bulk = Message::new("bulk", ("b".repeat(64 * 1024),)).expect("serializable");
    while !*stop.borrow() {
        tick.tick().await;
        stats.rest_ops.fetch_add(1, Relaxed);
        if hub.send_to_group("laggards", &bulk, None).await.is_err() {
            stats.rest_errors.fetch_add(1, Relaxed);
        }
    }
}

/// What became of the messages booked for one reader.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub expected: u64,
    pub received: u64,
    /// Booked in an epoch that a fault (restart, dropped link) ended before they arrived.
    pub lost_to_faults: u64,
    /// Booked in the reader's last epoch, never arrived: real losses.
    pub lost: u64,
    pub lost_sample: BTreeSet<u64>,
}

pub(super) fn outcome(reader: &Reader) -> Outcome {
    let l = reader.ledger.lock().unwrap();
    let mut out = Outcome::default();
    for &(seq, epoch) in &l.expected {
        out.expected += 1;
        if l.received.contains(&seq) {
            out.received += 1;
        } else if epoch < l.epoch {
            out.lost_to_faults += 1;
        } else {
            out.lost += 1;
            if out.lost_sample.len() < 10 {
                out.lost_sample.insert(seq);
            }
        }
    }
    out
}

/// Waits until every reader has what was booked for it, or `deadline` passes.
pub(super) async fn drain(readers: &[Arc<Reader>], deadline: Duration) {
    let until = Instant::now() + deadline;
    for reader in readers {
        loop {
            let arrived = reader.arrived.notified();
            if outcome(reader).lost == 0 || Instant::now() >= until {
                break;
            }
            let _ = tokio::time::timeout_at(until.into(), arrived).await;
        }
    }
}

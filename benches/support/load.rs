//! The sending side shared by the fan-out and endpoints load generators: one phase of sends,
//! as fast as the receivers take them or open-loop at a fixed rate, with its warm-up, its
//! measured part and the CPU both processes used meanwhile.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::receivers::{now_us, Shared, ACCEPT_SLOTS};

/// Undelivered messages per client the max-rate senders may have outstanding (an emulator's
/// per-client queue holds 1,024 by default).
const WINDOW: u64 = 128;
/// Sends the open-loop sender may have in flight at once.
const IN_FLIGHT: u32 = 256;

/// How a phase runs: the max-rate senders, and how long it warms up and measures.
pub(crate) struct Pacing<'a> {
    pub(crate) senders: usize,
    pub(crate) warmup: f64,
    pub(crate) duration: f64,
    /// The emulators whose CPU time is reported (none: not reported).
    pub(crate) emulator_pids: &'a [u32],
}

/// What the sending side of one phase measured (deliveries are counted by the receivers).
pub(crate) struct Sent {
    /// Sends accepted during the measured part.
    pub(crate) sends: u64,
    /// Sends accepted in the whole phase, warm-up included.
    #[allow(dead_code)] // each bench is its own crate; only the endpoints bench reads this
    pub(crate) sends_all: u64,
    pub(crate) failed: u64,
    pub(crate) seconds: f64,
    /// CPU used during the measured part, in cores: the emulators' and this process's.
    pub(crate) emulator_cores: Option<f64>,
    pub(crate) generator_cores: Option<f64>,
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
fn cpu_now(emulator_pids: &[u32]) -> (Option<f64>, Option<f64>) {
    let emulators = if emulator_pids.is_empty() {
        None
    } else {
        emulator_pids.iter().map(|&p| cpu_seconds(p)).sum()
    };
    (emulators, cpu_seconds(std::process::id()))
}

/// Runs phase `index`: `rate` sends/s (open loop), or, when `None`, `pacing.senders` tasks
/// sending as fast as the window allows. `call(n)` makes send number `n` and says whether the
/// service accepted it; `fan` is how many clients receive each send (`None`: every connected
/// client). Returns once every send has finished; stragglers may still be arriving.
pub(crate) async fn run_phase<C, F>(
    shared: &Arc<Shared>,
    index: usize,
    rate: Option<f64>,
    fan: Option<u64>,
    pacing: &Pacing<'_>,
    call: C,
) -> Sent
where
    C: Fn(u64) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = bool> + Send + 'static,
{
    let seq = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let accepted_all = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT as usize));
    let send = {
        let shared = shared.clone();
        let (accepted, accepted_all, failed) =
            (accepted.clone(), accepted_all.clone(), failed.clone());
        move |n: u64| {
            let call = call(n);
            let shared = shared.clone();
            let (accepted, accepted_all, failed) =
                (accepted.clone(), accepted_all.clone(), failed.clone());
            async move {
                if call.await {
                    if let Some(slot) = shared.accepted[index].get(n as usize % ACCEPT_SLOTS) {
                        slot.store(now_us(), Ordering::Relaxed);
                    }
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
            for _ in 0..pacing.senders {
                let (seq, stop, shared, run) =
                    (seq.clone(), stop.clone(), shared.clone(), send.clone());
                tasks.push(tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        // Flow control: stay within WINDOW undelivered messages per client.
                        let sent = seq.load(Ordering::Relaxed);
                        let delivered = shared.delivered_all[index].load(Ordering::Relaxed);
                        let connected = shared.connected().max(1);
                        if sent * fan.unwrap_or(connected) > delivered + WINDOW * connected {
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
                        let one = send(n);
                        tokio::spawn(async move {
                            one.await;
                            drop(permit);
                        });
                    }
                    let next = start + Duration::from_secs_f64((due + 1) as f64 / rate);
                    tokio::time::sleep_until(next.into()).await;
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_secs_f64(pacing.warmup)).await;
    let before = cpu_now(pacing.emulator_pids);
    shared.measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(pacing.duration)).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    let after = cpu_now(pacing.emulator_pids);
    let cores = |b: Option<f64>, a: Option<f64>| Some((a? - b?) / seconds);
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let _ = in_flight.acquire_many(IN_FLIGHT).await;
    Sent {
        sends: accepted.load(Ordering::Relaxed),
        sends_all: accepted_all.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        seconds,
        emulator_cores: cores(before.0, after.0),
        generator_cores: cores(before.1, after.1),
    }
}

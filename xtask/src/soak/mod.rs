//! `cargo xtask soak --minutes N`: mixed load against a release `asrs emulator start` on
//! loopback, with faults, recording the emulator's memory and descriptors, what reached each
//! reading client and latency over time (CSV, SVG and a summary in `target/soak/`).

mod load;
mod raw;
mod report;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use azure_signalr_rest::{RetryPolicy, ServiceClient};
use clap::Args;
use tokio::process::{Child, Command};

use load::{Reader, Stats};
use report::Row;

#[derive(Args, Debug)]
pub(crate) struct SoakArgs {
    /// How long the load runs.
    #[arg(long, default_value_t = 5.0)]
    pub minutes: f64,
    /// Messages a second sent to each of the ten reading clients.
    #[arg(long, default_value_t = 20)]
    pub rate: u32,
    /// Clients connecting and disconnecting in a loop.
    #[arg(long, default_value_t = 6)]
    pub churners: usize,
    /// Where the CSV, SVG and summary go (default: <target dir>/soak).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

const HUB: &str = "soak";
const KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";
const SAMPLE_EVERY: Duration = Duration::from_secs(2);

pub(crate) fn soak(args: SoakArgs) -> Result<std::process::ExitCode> {
    if args.minutes.is_nan() || args.minutes <= 0.0 || args.rate == 0 {
        bail!("--minutes and --rate must be positive");
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::root().join("target"));
    crate::run(std::process::Command::new(env!("CARGO")).args([
        "build",
        "--release",
        "--features",
        "cli",
        "--bin",
        "asrs",
    ]))?;
    let out = args.out.clone().unwrap_or_else(|| target_dir.join("soak"));
    std::fs::create_dir_all(&out)?;
    let asrs = target_dir.join("release/asrs");
    let runtime = tokio::runtime::Runtime::new()?;
    let lost = runtime.block_on(run(&args, &asrs, &out))?;
    Ok(if lost == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    })
}

/// The emulator process, restartable on its port.
struct EmulatorProcess {
    asrs: PathBuf,
    port: u16,
    log: PathBuf,
    child: Child,
    pid: Arc<Mutex<u32>>,
}

impl EmulatorProcess {
    async fn start(asrs: &Path, port: u16, log: &Path) -> Result<EmulatorProcess> {
        let child = spawn(asrs, port, log)?;
        let pid = Arc::new(Mutex::new(child.id().context("emulator pid")?));
        let process = EmulatorProcess {
            asrs: asrs.to_path_buf(),
            port,
            log: log.to_path_buf(),
            child,
            pid,
        };
        wait_until_up(port).await?;
        Ok(process)
    }

    /// SIGTERM, as an operator would stop it, then the same command again.
    async fn restart(&mut self) -> Result<Duration> {
        let began = Instant::now();
        self.stop().await?;
        self.child = spawn(&self.asrs, self.port, &self.log)?;
        *self.pid.lock().unwrap() = self.child.id().context("emulator pid")?;
        wait_until_up(self.port).await?;
        Ok(began.elapsed())
    }

    async fn stop(&mut self) -> Result<()> {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            eprintln!("soak: the emulator did not exit within 10 s of SIGTERM; killing it");
            self.child.kill().await?;
        }
        Ok(())
    }
}

fn spawn(asrs: &Path, port: u16, log: &Path) -> Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    Command::new(asrs)
        .args([
            "emulator",
            "start",
            "--ip",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .env("ASRS_EMULATOR_ACCESS_KEY", KEY)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .context("starting asrs emulator start")
}

async fn wait_until_up(port: u16) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if Instant::now() > until {
            bail!("the emulator did not listen on port {port} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Resident memory (MB) and open descriptors of a process, from /proc.
fn process_usage(pid: u32) -> (f64, u64) {
    let rss_kb = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    (rss_kb / 1024.0, fds)
}

fn sample(stats: &Stats, pid: u32, all_latencies: &mut Vec<f64>) -> Row {
    let (rss_mb, fds) = process_usage(pid);
    let mut lat = std::mem::take(&mut *stats.latencies.lock().unwrap());
    all_latencies.extend_from_slice(&lat);
    Row {
        t_s: stats.started.map_or(0.0, |s| s.elapsed().as_secs_f64()),
        rss_mb,
        fds,
        accepted: stats.accepted.load(Relaxed),
        delivered: stats.delivered.load(Relaxed),
        send_errors: stats.send_errors.load(Relaxed),
        rest_ops: stats.rest_ops.load(Relaxed),
        churned: stats.churned.load(Relaxed),
        cutoffs: stats.cutoffs.load(Relaxed),
        faults: stats.faults.load(Relaxed),
        p50_ms: report::percentile(&mut lat, 0.5),
        p99_ms: report::percentile(&mut lat, 0.99),
        max_ms: report::percentile(&mut lat, 1.0),
    }
}

/// Runs the load; returns the messages lost to reading clients outside faults.
async fn run(args: &SoakArgs, asrs: &Path, out: &Path) -> Result<u64> {
    let port = free_port()?;
    let log = out.join("emulator.log");
    let _ = std::fs::remove_file(&log);
    let mut emulator = EmulatorProcess::start(asrs, port, &log).await?;
    let connection_string =
        format!("Endpoint=http://127.0.0.1;Port={port};AccessKey={KEY};Version=1.0;");
    let client = ServiceClient::builder()
        .connection_string(&connection_string.parse()?)
        .timeout(Duration::from_secs(10))
        // Ride through a restart: sends are retried too (a duplicate is counted, not lost).
        .retry_policy(
            RetryPolicy::default()
                .max_attempts(8)
                .initial_backoff(Duration::from_millis(100))
                .max_backoff(Duration::from_secs(1))
                .retry_sends(true),
        )
        .build()?;
    let hub = client.hub(HUB);
    let http = reqwest::Client::new();
    let stats = Arc::new(Stats::new());
    let mut all_latencies = Vec::new();
    let mut rows = vec![sample(
        &stats,
        *emulator.pid.lock().unwrap(),
        &mut all_latencies,
    )];

    let (stop_load, load_stop) = tokio::sync::watch::channel(false);
    let (stop_readers, readers_stop) = tokio::sync::watch::channel(false);
    let readers: Vec<Arc<Reader>> = (0..2 * load::KINDS.len())
        .map(|i| {
            Arc::new(Reader {
                user: format!("reader-{i}"),
                kind: load::KINDS[i % load::KINDS.len()],
                ledger: Default::default(),
                arrived: Default::default(),
            })
        })
        .collect();
    let mut reading = tokio::task::JoinSet::new();
    for r in &readers {
        reading.spawn(load::read(
            r.clone(),
            hub.clone(),
            stats.clone(),
            readers_stop.clone(),
        ));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for r in &readers {
        tasks.spawn(load::send_to(
            r.clone(),
            hub.clone(),
            args.rate,
            stats.clone(),
            load_stop.clone(),
        ));
    }
    for i in 0..args.churners {
        tasks.spawn(load::churn(
            i,
            hub.clone(),
            http.clone(),
            stats.clone(),
            load_stop.clone(),
        ));
    }
    tasks.spawn(load::membership(
        hub.clone(),
        args.churners,
        stats.clone(),
        load_stop.clone(),
    ));
    for i in 0..2 {
        tasks.spawn(load::laggard(
            i,
            false,
            hub.clone(),
            http.clone(),
            stats.clone(),
            load_stop.clone(),
        ));
        tasks.spawn(load::laggard(
            i,
            true,
            hub.clone(),
            http.clone(),
            stats.clone(),
            load_stop.clone(),
        ));
    }
    // 1 MiB/s to each laggard: a slow one (a frame a second) passes the 16 MiB budget in
    // well under a minute.
    tasks.spawn(load::flood(
        hub.clone(),
        16,
        stats.clone(),
        load_stop.clone(),
    ));

    let length = Duration::from_secs_f64(args.minutes * 60.0);
    let began = Instant::now();
    let mut restarts_at = vec![length / 3, length * 2 / 3];
    let mut fault_times = Vec::new();
    let mut restart_durations = Vec::new();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.tick().await;
    while began.elapsed() < length {
        tick.tick().await;
        if restarts_at.first().is_some_and(|&at| began.elapsed() >= at) {
            restarts_at.remove(0);
            fault_times.push(stats.started.map_or(0.0, |s| s.elapsed().as_secs_f64()));
            stats.faults.fetch_add(1, Relaxed);
            let took = emulator.restart().await?;
            eprintln!("soak: emulator restarted in {took:.1?}");
            restart_durations.push(took);
        }
        let row = sample(&stats, *emulator.pid.lock().unwrap(), &mut all_latencies);
        eprintln!(
            "soak: {:>5.0} s rss {:>6.1} MB fds {:>4} accepted {:>7} delivered {:>7} p99 {:>6.1} ms churned {:>5} cutoffs {:>3}",
            row.t_s, row.rss_mb, row.fds, row.accepted, row.delivered, row.p99_ms, row.churned, row.cutoffs
        );
        rows.push(row);
    }

    // Stop the load, let the readers catch up, then let them go.
    let _ = stop_load.send(true);
    if tokio::time::timeout(Duration::from_secs(30), async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tasks.abort_all();
    }
    load::drain(&readers, Duration::from_secs(15)).await;
    let _ = stop_readers.send(true);
    if tokio::time::timeout(Duration::from_secs(15), async {
        while reading.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        reading.abort_all();
    }
    // Memory once the clients are gone and the emulator had a moment to free their buffers.
    tokio::time::sleep(Duration::from_secs(3)).await;
    rows.push(sample(
        &stats,
        *emulator.pid.lock().unwrap(),
        &mut all_latencies,
    ));
    emulator.stop().await?;

    report::write_csv(&rows, &out.join("soak.csv"))?;
    report::write_svg(&rows, &fault_times, &out.join("soak.svg"))?;
    let summary = summarize(
        args,
        &rows,
        &readers,
        &stats,
        &mut all_latencies,
        &restart_durations,
    );
    std::fs::write(out.join("summary.md"), &summary)?;
    println!("{summary}");
    println!(
        "written: {}/soak.csv, soak.svg, summary.md, emulator.log",
        out.display()
    );
    Ok(readers.iter().map(|r| load::outcome(r).lost).sum())
}

fn summarize(
    args: &SoakArgs,
    rows: &[Row],
    readers: &[Arc<Reader>],
    stats: &Stats,
    latencies: &mut [f64],
    restarts: &[Duration],
) -> String {
    use std::fmt::Write as _;
    let first = rows.first().cloned().unwrap_or_default();
    let last = rows.last().cloned().unwrap_or_default();
    let peak_rss = rows.iter().map(|r| r.rss_mb).fold(0.0, f64::max);
    let peak_fds = rows.iter().map(|r| r.fds).max().unwrap_or(0);
    let mut s = String::new();
    let _ = writeln!(s, "| figure | value |\n|---|---|");
    let _ = writeln!(s, "| load | {:.1} min, {} msg/s to each of {} reading clients, {} churners, 2 slow + 2 dead clients |", args.minutes, args.rate, readers.len(), args.churners);
    let _ = writeln!(
        s,
        "| REST sends to reading clients accepted (202) | {} (failed after retries: {}) |",
        last.accepted, last.send_errors
    );
    let _ = writeln!(s, "| other REST operations (membership, group sends, broadcasts, 64 KiB floods) | {} (failed: {}) |", last.rest_ops, stats.rest_errors.load(Relaxed));
    let _ = writeln!(
        s,
        "| connections churned | {} ({} dropped without a Close frame) |",
        last.churned,
        stats.dropped.load(Relaxed)
    );
    let _ = writeln!(
        s,
        "| faults injected | {} emulator restarts (SIGTERM, back in {}), {} dropped connections |",
        restarts.len(),
        restarts
            .iter()
            .map(|d| format!("{d:.1?}"))
            .collect::<Vec<_>>()
            .join(", "),
        stats.dropped.load(Relaxed)
    );
    let _ = writeln!(
        s,
        "| slow and dead clients cut off | {} seen with Close 1008, {} ended before they read that far |",
        last.cutoffs,
        stats.cut_dropped.load(Relaxed)
    );
    let _ = writeln!(
        s,
        "| emulator resident memory start / peak / end | {:.1} / {:.1} / {:.1} MB |",
        first.rss_mb, peak_rss, last.rss_mb
    );
    let _ = writeln!(
        s,
        "| emulator descriptors start / peak / end | {} / {} / {} |",
        first.fds, peak_fds, last.fds
    );
    let _ = writeln!(
        s,
        "| latency p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
        report::percentile(latencies, 0.5),
        report::percentile(latencies, 0.99),
        report::percentile(latencies, 1.0)
    );
    let mut lost = 0;
    let mut lost_to_faults = 0;
    let mut expected = 0;
    let _ = writeln!(s, "\n| reading client | transport | protocol | booked | received | lost at a fault | lost |\n|---|---|---|---|---|---|---|");
    for r in readers {
        let o = load::outcome(r);
        expected += o.expected;
        lost += o.lost;
        lost_to_faults += o.lost_to_faults;
        let _ = writeln!(
            s,
            "| {} | {:?} | {} | {} | {} | {} | {}{} |",
            r.user,
            r.kind.0,
            r.kind.1.name(),
            o.expected,
            o.received,
            o.lost_to_faults,
            o.lost,
            if o.lost_sample.is_empty() {
                String::new()
            } else {
                format!(" (e.g. {:?})", o.lost_sample)
            }
        );
    }
    let _ = writeln!(s, "\nmessages booked {expected}, lost at faults {lost_to_faults}, lost outside faults {lost}; duplicates {}", stats.duplicates.load(Relaxed));
    s
}

//! `cargo xtask bench [all|send|tokens|fanout|endpoints] [--duration S] [--warmup S]
//! [--idle-clients N] [--endpoint-clients N] [--out DIR]`: builds the release benchmark binaries, checks (and where it can, installs) the
//! peers, runs every contender against one emulator process on 127.0.0.1 in one run, and
//! writes raw figures, tables and plots to `--out` (default `benches/results/`).
//! BENCHMARKS.md quotes them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use crate::root;

/// Which sections to run and for how long.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct BenchArgs {
    /// all, send, tokens, fanout or endpoints.
    #[arg(default_value = "all")]
    pub section: String,
    /// Seconds measured per run (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of warm-up before each measured run.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Connections of the large idle-memory run.
    #[arg(long, default_value_t = 10_000)]
    pub idle_clients: usize,
    /// Where the figures, tables and plots go (relative to the workspace root).
    #[arg(long, default_value = "benches/results")]
    pub out: PathBuf,
    /// WebSocket clients of the endpoints section (spread over its 1, 2 and 3 emulators).
    #[arg(long, default_value_t = 1000)]
    pub endpoint_clients: usize,
}

/// The sections of a full run, in run order.
pub(crate) const SECTIONS: [&str; 4] = ["tokens", "send", "fanout", "endpoints"];

const KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH";
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

pub(crate) fn bench(args: BenchArgs) -> Result<std::process::ExitCode> {
    let started = Instant::now();
    let sections: Vec<&str> = match args.section.as_str() {
        "all" => SECTIONS.to_vec(),
        s if SECTIONS.contains(&s) => vec![s],
        other => bail!("unknown section `{other}`: all, {}", SECTIONS.join(", ")),
    };
    setup(&sections)?;
    let binaries = build()?;
    let results_dir = root().join(&args.out);
    std::fs::create_dir_all(&results_dir)?;
    for section in &sections {
        let machine = machine();
        println!("machine: {machine}");
        let figures = match *section {
            "tokens" => tokens(&binaries, &args)?,
            "send" => send(&binaries, &args)?,
            "endpoints" => crate::bench_endpoints::run(&binaries, &args)?,
            _ => fanout(&binaries, &args)?,
        };
        let record = json!({
            "section": section,
            "date": date(),
            "machine": machine,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "figures": figures,
        });
        let path = results_dir.join(format!("{section}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&record)?)?;
        let table = crate::bench_report::table(section, &record)?;
        std::fs::write(results_dir.join(format!("{section}.md")), &table)?;
        crate::bench_report::plot(
            section,
            &record,
            &results_dir.join(format!("{section}.png")),
        )?;
        println!("\n{table}");
    }
    println!(
        "done in {:.0} s; results in {}",
        started.elapsed().as_secs_f64(),
        results_dir.display()
    );
    Ok(std::process::ExitCode::SUCCESS)
}

/// Checks what the sections need; installs what it can (Debian packages as root, pip, npm).
fn setup(sections: &[&str]) -> Result<()> {
    let mut missing = Vec::new();
    if !Path::new(FONT).exists() {
        apt_install("fonts-dejavu-core");
        if !Path::new(FONT).exists() {
            missing.push(format!(
                "the font {FONT} (Debian package fonts-dejavu-core)"
            ));
        }
    }
    if sections.contains(&"send") {
        if !works(Command::new("wrk").arg("--version")) {
            apt_install("wrk");
            if !works(Command::new("wrk").arg("--version")) {
                missing.push("wrk (Debian package wrk)".to_string());
            }
        }
        let python_ok = || works(Command::new("python3").args(["-c", "import aiohttp, jwt"]));
        if !python_ok() {
            let _ = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "aiohttp", "pyjwt"])
                .status();
            if !python_ok() {
                missing.push("python3 with aiohttp and PyJWT (pip install aiohttp pyjwt)".into());
            }
        }
        let peers = root().join("benches/peers");
        if !peers.join("node_modules/jsonwebtoken").exists() {
            let _ = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&peers)
                .status();
            if !peers.join("node_modules/jsonwebtoken").exists() {
                missing.push("Node.js with npm (npm ci in benches/peers)".into());
            }
        }
    }
    if !missing.is_empty() {
        bail!("missing: {}", missing.join("; "));
    }
    Ok(())
}

fn works(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success() || s.code() == Some(1))
}

fn apt_install(package: &str) {
    eprintln!("installing the Debian package {package}");
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-qq", package])
        .stdout(Stdio::null())
        .status();
}

/// Release builds of the benchmark binaries: name -> executable.
fn build() -> Result<BTreeMap<String, PathBuf>> {
    eprintln!("building the benchmark binaries (release)");
    let output = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--package",
            "azure-signalr-rest",
            "--benches",
            "--features",
            "emulator,listener",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(root())
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo build")?;
    if !output.status.success() {
        bail!("building the benchmarks failed");
    }
    let mut binaries = BTreeMap::new();
    for line in output.stdout.split(|&b| b == b'\n') {
        let Ok(message) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        if message["reason"] == "compiler-artifact"
            && message["target"]["kind"][0] == "bench"
            && let Some(exe) = message["executable"].as_str()
        {
            let name = message["target"]["name"].as_str().unwrap_or_default();
            binaries.insert(name.to_string(), PathBuf::from(exe));
        }
    }
    for name in ["tokens", "emulator_server", "send", "fanout", "endpoints"] {
        if !binaries.contains_key(name) {
            bail!("cargo built no `{name}` benchmark");
        }
    }
    Ok(binaries)
}

/// An emulator process; stops when dropped (its standard input closes).
pub(crate) struct EmulatorProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    addr: String,
}

impl EmulatorProcess {
    pub(crate) fn start(binaries: &BTreeMap<String, PathBuf>) -> Result<EmulatorProcess> {
        let mut child = Command::new(&binaries["emulator_server"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the emulator")?;
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .ok_or_else(|| anyhow!("the emulator said `{}`", line.trim()))?
            .to_string();
        Ok(EmulatorProcess { child, stdin, addr })
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command that prints one JSON line last; returns it.
pub(crate) fn json_of(cmd: &mut Command) -> Result<Value> {
    let output = cmd
        .current_dir(root())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !output.status.success() {
        bail!("{cmd:?} failed: {}", output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("");
    serde_json::from_str(last).with_context(|| format!("{cmd:?} printed `{text}`"))
}

fn tokens(binaries: &BTreeMap<String, PathBuf>, args: &BenchArgs) -> Result<Value> {
    eprintln!("== tokens (criterion)");
    let seconds = (args.duration / 3.0).clamp(0.5, 5.0);
    let status = Command::new(&binaries["tokens"])
        .arg("--bench")
        .env("ASRS_BENCH_SECONDS", seconds.to_string())
        .current_dir(root())
        .status()?;
    if !status.success() {
        bail!("the token benchmark failed");
    }
    let mut figures = serde_json::Map::new();
    for name in [
        "fresh_mint",
        "cached_rest_token",
        "cached_rest_token_1000_audiences",
    ] {
        let path = root().join(format!("target/criterion/tokens/{name}/new/estimates.json"));
        let estimates: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        figures.insert(
            name.into(),
            json!({
                "mean_ns": estimates["mean"]["point_estimate"],
                "median_ns": estimates["median"]["point_estimate"],
                "ci_low_ns": estimates["mean"]["confidence_interval"]["lower_bound"],
                "ci_high_ns": estimates["mean"]["confidence_interval"]["upper_bound"],
            }),
        );
    }
    Ok(Value::Object(figures))
}

/// The contenders of the sending benchmark, in table order.
pub(crate) const SENDERS: [&str; 6] = [
    "ours",
    "python_fresh",
    "python_reused",
    "node_fresh",
    "node_reused",
    "wrk",
];

/// The order they run in: ours and the wrk ceiling back to back, because this kind of machine
/// (a shared VM) drifts in speed over minutes and their ratio is the one the target is about.
pub(crate) const RUN_ORDER: [&str; 6] = [
    "ours",
    "wrk",
    "python_fresh",
    "python_reused",
    "node_fresh",
    "node_reused",
];

fn send(binaries: &BTreeMap<String, PathBuf>, args: &BenchArgs) -> Result<Value> {
    let emulator = EmulatorProcess::start(binaries)?;
    let endpoint = emulator.endpoint();
    let duration = args.duration.to_string();
    let warmup = args.warmup.to_string();
    let peers = root().join("benches/peers");
    let mut figures = serde_json::Map::new();
    for op in ["broadcast", "user"] {
        let url = match op {
            "broadcast" => format!("{endpoint}/api/hubs/bench/:send?api-version=2022-06-01"),
            _ => format!("{endpoint}/api/hubs/bench/users/user1/:send?api-version=2022-06-01"),
        };
        for concurrency in [1usize, 64] {
            let c = concurrency.to_string();
            let mut row = serde_json::Map::new();
            for sender in RUN_ORDER {
                eprintln!("== send {op} c={concurrency} {sender}");
                let result = match sender {
                    "ours" => json_of(Command::new(&binaries["send"]).args([
                        "--endpoint",
                        &endpoint,
                        "--key",
                        KEY,
                        "--op",
                        op,
                        "--concurrency",
                        &c,
                        "--duration",
                        &duration,
                        "--warmup",
                        &warmup,
                    ])),
                    "python_fresh" | "python_reused" => {
                        json_of(Command::new("python3").arg(peers.join("send.py")).args([
                            "--url",
                            &url,
                            "--key",
                            KEY,
                            "--concurrency",
                            &c,
                            "--duration",
                            &duration,
                            "--warmup",
                            &warmup,
                            "--token",
                            sender.trim_start_matches("python_"),
                        ]))
                    }
                    "node_fresh" | "node_reused" => {
                        json_of(Command::new("node").arg(peers.join("send.mjs")).args([
                            "--url",
                            &url,
                            "--key",
                            KEY,
                            "--concurrency",
                            &c,
                            "--duration",
                            &duration,
                            "--warmup",
                            &warmup,
                            "--token",
                            sender.trim_start_matches("node_"),
                        ]))
                    }
                    "wrk" => wrk(binaries, &endpoint, &url, concurrency, args),
                    other => unreachable!("RUN_ORDER names an unknown sender {other}"),
                };
                let result =
                    result.with_context(|| format!("send {op} c={concurrency} {sender}"))?;
                eprintln!("   {result}");
                row.insert(sender.into(), result);
            }
            figures.insert(format!("{op}_c{concurrency}"), Value::Object(row));
        }
    }
    Ok(Value::Object(figures))
}

fn wrk(
    binaries: &BTreeMap<String, PathBuf>,
    endpoint: &str,
    url: &str,
    concurrency: usize,
    args: &BenchArgs,
) -> Result<Value> {
    let token = Command::new(&binaries["send"])
        .args(["--endpoint", endpoint, "--key", KEY, "--print-token", url])
        .output()?;
    let token = String::from_utf8(token.stdout)?.trim().to_string();
    let threads = concurrency.min(2).to_string();
    let connections = concurrency.to_string();
    let script = root().join("benches/peers/wrk_send.lua");
    let run = |seconds: f64| -> Result<String> {
        let output = Command::new("wrk")
            .args(["-t", &threads, "-c", &connections, "--latency", "-d"])
            .arg(format!("{}s", seconds.ceil().max(1.0) as u64))
            .arg("-s")
            .arg(&script)
            .arg(url)
            .env("ASRS_BENCH_TOKEN", &token)
            .output()
            .context("running wrk")?;
        if !output.status.success() {
            bail!("wrk failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8(output.stdout)?)
    };
    if args.warmup > 0.0 {
        run(args.warmup)?;
    }
    let text = run(args.duration)?;
    parse_wrk(&text)
}

/// Requests/s, p50 and p99 (µs) and non-2xx count from wrk's `--latency` report.
fn parse_wrk(text: &str) -> Result<Value> {
    let mut figures = serde_json::Map::new();
    let mut errors = 0u64;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", rps] => {
                figures.insert("rps".into(), json!(rps.parse::<f64>()?));
            }
            ["50.000%" | "50%", value] => {
                figures.insert("p50_us".into(), json!(wrk_micros(value)?));
            }
            ["99.000%" | "99%", value] => {
                figures.insert("p99_us".into(), json!(wrk_micros(value)?));
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => errors += n.parse::<u64>()?,
            [n, "requests", "in", ..] => {
                figures.insert("requests".into(), json!(n.parse::<u64>()?));
            }
            _ => {}
        }
    }
    figures.insert("errors".into(), json!(errors));
    if !figures.contains_key("rps") || !figures.contains_key("p99_us") {
        bail!("unexpected wrk output:\n{text}");
    }
    Ok(Value::Object(figures))
}

fn wrk_micros(value: &str) -> Result<f64> {
    let split = value
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| anyhow!("no unit in `{value}`"))?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse()?;
    Ok(match unit {
        "us" => number,
        "ms" => number * 1e3,
        "s" => number * 1e6,
        "m" => number * 60e6,
        other => bail!("unknown unit `{other}`"),
    })
}

fn fanout(binaries: &BTreeMap<String, PathBuf>, args: &BenchArgs) -> Result<Value> {
    let mut figures = serde_json::Map::new();
    {
        eprintln!("== fanout: 1000 clients, broadcasts and groups of 10");
        let emulator = EmulatorProcess::start(binaries)?;
        let result = json_of(Command::new(&binaries["fanout"]).args([
            "--endpoint",
            &emulator.endpoint(),
            "--clients",
            "1000",
            "--mode",
            "deliver",
            "--duration",
            &args.duration.to_string(),
            "--warmup",
            &args.warmup.min(2.0).to_string(),
            "--emulator-pid",
            &emulator.pid().to_string(),
        ]))?;
        eprintln!("   {result}");
        figures.insert("deliver".into(), result);
    }
    for clients in [1000usize, args.idle_clients] {
        eprintln!("== fanout: memory with {clients} idle clients");
        let emulator = EmulatorProcess::start(binaries)?;
        let result = json_of(Command::new(&binaries["fanout"]).args([
            "--endpoint",
            &emulator.endpoint(),
            "--clients",
            &clients.to_string(),
            "--mode",
            "idle",
            "--emulator-pid",
            &emulator.pid().to_string(),
        ]))?;
        eprintln!("   {result}");
        figures.insert(format!("idle_{clients}"), result);
    }
    Ok(Value::Object(figures))
}

/// Cores, memory and load average, as this run saw them.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or("?".into(), |kib| {
            format!("{:.1} GiB", kib / 1024.0 / 1024.0)
        });
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), {memory} memory, load average {} at the start of the section",
        load.join(" ")
    )
}

fn date() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(String::new, |s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sender_runs_once_and_only_senders_run() {
        let mut run = RUN_ORDER.to_vec();
        let mut table = SENDERS.to_vec();
        run.sort_unstable();
        table.sort_unstable();
        assert_eq!(run, table);
    }
}

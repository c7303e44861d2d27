//! `cargo xtask bench endpoints`: broadcasts through one `ServiceClient` over 1, 2 and 3
//! emulator processes, run one after the other in the same run (`benches/endpoints.rs` is the
//! load generator): its runs, table and plot.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use plotters::prelude::*;
use serde_json::Value;

use crate::bench::{json_of, BenchArgs, EmulatorProcess};
use crate::bench_report::{
    bars, f, failures_and_cpu, ms, register_font, run_line, target_rate, PALETTE,
};

/// Emulator counts, in run and table order; the first is the baseline (a client of one
/// endpoint, which is the single-endpoint client).
pub(crate) const COUNTS: [usize; 3] = [1, 2, 3];

/// The load generator over `count` fresh emulator processes; the fixed-rate phase runs at
/// `fixed_rate` broadcasts/s (its own half maximum when `None`).
fn row(
    binaries: &BTreeMap<String, PathBuf>,
    args: &BenchArgs,
    count: usize,
    fixed_rate: Option<f64>,
) -> Result<Value> {
    let emulators = (0..count)
        .map(|_| EmulatorProcess::start(binaries))
        .collect::<Result<Vec<_>>>()?;
    let mut cmd = Command::new(&binaries["endpoints"]);
    for emulator in &emulators {
        cmd.args(["--endpoint", &emulator.endpoint()])
            .args(["--emulator-pid", &emulator.pid().to_string()]);
    }
    cmd.args(["--clients", &args.endpoint_clients.to_string()])
        .args(["--duration", &args.duration.to_string()])
        .args(["--warmup", &args.warmup.min(2.0).to_string()]);
    if let Some(rate) = fixed_rate {
        cmd.args(["--fixed-rate", &format!("{rate:.1}")]);
    }
    json_of(&mut cmd)
}

/// Runs every count; the fixed rate of every row is half the one-emulator maximum, so their
/// latencies compare at the same load.
pub(crate) fn run(binaries: &BTreeMap<String, PathBuf>, args: &BenchArgs) -> Result<Value> {
    let mut figures = serde_json::Map::new();
    let mut fixed_rate = None;
    for count in COUNTS {
        eprintln!(
            "== endpoints: one client over {count} emulator(s), {} clients",
            args.endpoint_clients
        );
        let result = row(binaries, args, count, fixed_rate)
            .with_context(|| format!("endpoints, {count} emulator(s)"))?;
        eprintln!("   {result}");
        if fixed_rate.is_none() {
            fixed_rate = result["phases"]["fixed"]["target_rate"].as_f64();
        }
        figures.insert(key(count), result);
    }
    Ok(Value::Object(figures))
}

fn key(count: usize) -> String {
    format!("emulators_{count}")
}

/// "1 emulator", "2 emulators".
fn label(count: usize) -> String {
    format!("{count} emulator{}", if count == 1 { "" } else { "s" })
}

/// The Markdown tables: the highest sustained rate, then the fixed rate.
pub(crate) fn table(record: &Value) -> Result<String> {
    let figures = &record["figures"];
    let mut out = String::new();
    writeln!(out, "{}", run_line(record))?;
    writeln!(
        out,
        "Measured {} s per phase after {} s of warm-up. One `ServiceClient` over N emulator \
         processes (`.endpoints([...])`; N = 1 is the single-endpoint client), its clients \
         connected through its own negotiate.\n",
        record["duration_s"], record["warmup_s"]
    )?;
    writeln!(
        out,
        "| emulators | clients connected | clients per emulator | closed by the server |"
    )?;
    writeln!(out, "|---:|---:|---|---:|")?;
    for count in COUNTS {
        let r = &figures[key(count)];
        let spread: Vec<String> = r["clients_per_endpoint"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, n)| format!("{name}: {n}"))
            .collect();
        writeln!(
            out,
            "| {count} | {} of {} | {} | {} |",
            r["connected"],
            r["clients"],
            spread.join(", "),
            r["closed_by_server"]
        )?;
    }
    for (phase, title) in [
        ("max", "Broadcast at the highest sustained rate"),
        (
            "fixed",
            "Broadcast at a fixed rate (half the 1-emulator maximum)",
        ),
    ] {
        writeln!(out, "\n**{title}**\n")?;
        // Each phase against the same phase of the one-emulator row.
        let baseline = f(&figures[key(COUNTS[0])]["phases"][phase]["sends_per_s"]);
        writeln!(
            out,
            "| emulators | target broadcasts/s | broadcasts/s | ÷ 1 emulator | delivered msg/s | \
             copies per client | p50 / p99 ms from send | p50 / p99 ms from acceptance | \
             failed broadcasts | emulators CPU (cores) | load generator CPU (cores) |"
        )?;
        writeln!(
            out,
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        )?;
        for count in COUNTS {
            let p = &figures[key(count)]["phases"][phase];
            writeln!(
                out,
                "| {count} | {} | {:.0} | {:.2} | {:.0} | {:.3} | {} / {} | {} / {} | {} |",
                target_rate(p),
                f(&p["sends_per_s"]),
                f(&p["sends_per_s"]) / baseline,
                f(&p["delivered_per_s"]),
                f(&p["copies_per_client"]),
                ms(&p["p50_us_from_send"]),
                ms(&p["p99_us_from_send"]),
                ms(&p["p50_us_from_accept"]),
                ms(&p["p99_us_from_accept"]),
                failures_and_cpu(p),
            )?;
        }
    }
    Ok(out)
}

/// Three panels: the highest rate, and p50 and p99 from send at the fixed rate.
pub(crate) fn plot(record: &Value, path: &Path) -> Result<()> {
    register_font()?;
    let figures = &record["figures"];
    let series = |phase: &str, field: &str, scale: f64| -> Vec<(String, f64)> {
        COUNTS
            .iter()
            .map(|&n| {
                let value = f(&figures[key(n)]["phases"][phase][field]);
                (label(n), value * scale)
            })
            .collect()
    };
    let root = BitMapBackend::new(path, (1500, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 3));
    bars(
        &panels[0],
        "Broadcasts/s, highest sustained rate",
        "broadcasts/s",
        &series("max", "sends_per_s", 1.0),
        &PALETTE,
    )?;
    bars(
        &panels[1],
        "p50 ms send → receipt, fixed rate",
        "ms",
        &series("fixed", "p50_us_from_send", 1e-3),
        &PALETTE,
    )?;
    bars(
        &panels[2],
        "p99 ms send → receipt, fixed rate",
        "ms",
        &series("fixed", "p99_us_from_send", 1e-3),
        &PALETTE,
    )?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A row as `benches/endpoints.rs` prints it.
    fn row(count: usize, rate: f64, fixed: f64) -> Value {
        let phase = |target: Option<f64>, rate: f64| {
            json!({
                "target_rate": target, "sends": 100, "failed_sends": 0, "seconds": 1.0,
                "sends_per_s": rate, "delivered": 1000, "delivered_per_s": 10.0 * rate,
                "copies_per_client": 1.0, "emulator_cores": 0.5, "generator_cores": null,
                "p50_us_from_send": 1500, "p99_us_from_send": 12000,
                "p50_us_from_accept": 500, "p99_us_from_accept": 9000,
            })
        };
        let spread: serde_json::Map<String, Value> = (1..=count)
            .map(|i| (format!("e{i}"), json!(10 / count)))
            .collect();
        json!({
            "endpoints": count, "clients": 10, "connected": 10, "connect_seconds": 0.1,
            "clients_per_endpoint": spread, "closed_by_server": 0,
            "phases": { "max": phase(None, rate), "fixed": phase(Some(50.0), fixed) },
        })
    }

    #[test]
    fn table_has_a_row_per_count_with_its_ratio_to_one_emulator() {
        let record = json!({
            "date": "today", "machine": "m", "duration_s": 1.0, "warmup_s": 0.5,
            "figures": { "emulators_1": row(1, 100.0, 50.0), "emulators_2": row(2, 150.0, 50.0),
                         "emulators_3": row(3, 90.0, 45.0) },
        });
        let text = table(&record).unwrap();
        assert!(
            text.contains("| 2 | 10 of 10 | e1: 5, e2: 5 | 0 |"),
            "{text}"
        );
        assert!(
            text.contains("| 2 | max (window) | 150 | 1.50 | 1500 | 1.000 | 1.50 / 12.00 | 0.50 / 9.00 | 0 | 0.50 | ? |"),
            "{text}"
        );
        assert!(text.contains("| 3 | 50 | 45 | 0.90 |"), "{text}");
    }

    #[test]
    fn the_full_run_includes_the_section() {
        let args = <BenchArgs as clap::FromArgMatches>::from_arg_matches(
            &<BenchArgs as clap::Args>::augment_args(clap::Command::new("bench"))
                .get_matches_from(["bench"]),
        )
        .unwrap();
        assert_eq!(args.endpoint_clients, 1000);
        assert!(crate::bench::SECTIONS.contains(&"endpoints"));
    }
}

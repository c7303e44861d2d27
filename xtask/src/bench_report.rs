//! Tables (Markdown) and plots (PNG, plotters' bitmap backend with a registered TrueType font,
//! so no system font lookup is needed) for `cargo xtask bench`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;

use crate::bench::SENDERS;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

pub(crate) fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// CPU use in cores, or "?" where it could not be read.
pub(crate) fn cores(v: &Value) -> String {
    v.as_f64().map_or("?".into(), |c| format!("{c:.2}"))
}

pub(crate) fn ms(us: &Value) -> String {
    format!("{:.2}", f(us) / 1000.0)
}

/// A phase's target rate, or what the max-rate phase stands for instead.
pub(crate) fn target_rate(phase: &Value) -> String {
    phase["target_rate"]
        .as_f64()
        .map_or("max (window)".into(), |r| format!("{r:.0}"))
}

/// A phase's last three columns: failed sends, then the emulators' and the generator's CPU.
pub(crate) fn failures_and_cpu(phase: &Value) -> String {
    format!(
        "{} | {} | {}",
        phase["failed_sends"],
        cores(&phase["emulator_cores"]),
        cores(&phase["generator_cores"])
    )
}

/// A table's first line: when, and on what machine, its figures were measured.
pub(crate) fn run_line(record: &Value) -> String {
    format!(
        "Run: {} — {}",
        record["date"].as_str().unwrap_or(""),
        record["machine"].as_str().unwrap_or("")
    )
}

/// The Markdown table of a section's figures.
pub(crate) fn table(section: &str, record: &Value) -> Result<String> {
    if section == "endpoints" {
        return crate::bench_endpoints::table(record);
    }
    let figures = &record["figures"];
    let mut out = String::new();
    writeln!(out, "{}", run_line(record))?;
    if section == "tokens" {
        writeln!(
            out,
            "Criterion, {:.1} s of measurement per benchmark.\n",
            (f(&record["duration_s"]) / 3.0).clamp(0.5, 5.0)
        )?;
    } else {
        writeln!(
            out,
            "Measured {} s per run after {} s of warm-up.\n",
            record["duration_s"], record["warmup_s"]
        )?;
    }
    match section {
        "tokens" => {
            writeln!(out, "| benchmark | mean | median | 95% CI of the mean |")?;
            writeln!(out, "|---|---:|---:|---:|")?;
            for (name, v) in figures.as_object().into_iter().flatten() {
                writeln!(
                    out,
                    "| {name} | {} | {} | {} – {} |",
                    ns(&v["mean_ns"]),
                    ns(&v["median_ns"]),
                    ns(&v["ci_low_ns"]),
                    ns(&v["ci_high_ns"])
                )?;
            }
        }
        "send" => {
            writeln!(
                out,
                "In each row the senders ran in this order: {}.\n",
                crate::bench::RUN_ORDER.join(", ")
            )?;
            for (row, v) in figures.as_object().into_iter().flatten() {
                writeln!(out, "**{}**\n", row.replace("_c", ", concurrency "))?;
                writeln!(
                    out,
                    "| sender | requests/s | p50 ms | p99 ms | errors | ours ÷ this |"
                )?;
                writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
                let ours = f(&v["ours"]["rps"]);
                for sender in SENDERS {
                    let s = &v[sender];
                    writeln!(
                        out,
                        "| {sender} | {:.0} | {} | {} | {} | {:.2} |",
                        f(&s["rps"]),
                        ms(&s["p50_us"]),
                        ms(&s["p99_us"]),
                        s["errors"],
                        ours / f(&s["rps"])
                    )?;
                }
                writeln!(out)?;
            }
        }
        _ => {
            let deliver = &figures["deliver"];
            writeln!(
                out,
                "1,000 clients: {} connected in {:.1} s; {} closed by the server during the run.\n",
                deliver["connected"],
                f(&deliver["connect_seconds"]),
                deliver["closed_by_server"]
            )?;
            writeln!(out, "| phase | target sends/s | sends/s | delivered msg/s | p50 ms (from acceptance) | p99 ms (from acceptance) | p50 ms (from send) | p99 ms (from send) | failed sends | emulator CPU (cores) | load generator CPU (cores) |")?;
            writeln!(
                out,
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            )?;
            for (name, p) in deliver["phases"].as_object().into_iter().flatten() {
                writeln!(
                    out,
                    "| {name} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {} |",
                    target_rate(p),
                    f(&p["sends_per_s"]),
                    f(&p["delivered_per_s"]),
                    ms(&p["p50_us_from_accept"]),
                    ms(&p["p99_us_from_accept"]),
                    ms(&p["p50_us_from_send"]),
                    ms(&p["p99_us_from_send"]),
                    failures_and_cpu(p),
                )?;
            }
            writeln!(out, "\n| idle connections | connected | emulator VmRSS before | after | KiB per connection |")?;
            writeln!(out, "|---:|---:|---:|---:|---:|")?;
            for (name, v) in figures.as_object().into_iter().flatten() {
                if name.starts_with("idle_") {
                    writeln!(
                        out,
                        "| {} | {} | {} KiB | {} KiB | {:.1} |",
                        v["clients"],
                        v["connected"],
                        v["rss_before_kib"],
                        v["rss_after_kib"],
                        f(&v["kib_per_connection"])
                    )?;
                }
            }
        }
    }
    Ok(out)
}

fn ns(v: &Value) -> String {
    let n = f(v);
    if n >= 1000.0 {
        format!("{:.2} µs", n / 1000.0)
    } else {
        format!("{n:.1} ns")
    }
}

pub(crate) fn register_font() -> Result<()> {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if DONE.get().is_none() {
        let bytes = std::fs::read(FONT).with_context(|| format!("reading {FONT}"))?;
        plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            Box::leak(bytes.into_boxed_slice()),
        )
        .map_err(|_| anyhow!("{FONT} is not a usable font"))?;
        let _ = DONE.set(());
    }
    Ok(())
}

pub(crate) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// One bar chart: `bars` of (label, value), with the value written above each bar.
pub(crate) fn bars(
    area: &Area,
    title: &str,
    y_label: &str,
    bars: &[(String, f64)],
    colors: &[RGBColor],
) -> Result<()> {
    let max = bars
        .iter()
        .map(|b| b.1)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.2;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(95)
        // An integer range's segments include its end: n bars need 0..n-1.
        .build_cartesian_2d((0..bars.len().saturating_sub(1)).into_segmented(), 0.0..max)?;
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(y_label)
        .x_labels(bars.len())
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                labels.get(*i).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        })
        .label_style(("sans-serif", 13))
        .draw()?;
    for (i, (_, value)) in bars.iter().enumerate() {
        if !value.is_finite() {
            continue;
        }
        let color = colors[i % colors.len()];
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), *value),
            ],
            color.filled(),
        );
        bar.set_margin(0, 0, 10, 10);
        chart.draw_series(std::iter::once(bar))?;
        let text = if *value >= 100.0 {
            format!("{value:.0}")
        } else {
            format!("{value:.2}")
        };
        chart.draw_series(std::iter::once(Text::new(
            text,
            (SegmentValue::CenterOf(i), *value + max * 0.02),
            ("sans-serif", 13).into_font(),
        )))?;
    }
    Ok(())
}

pub(crate) const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(127, 127, 127),
];

/// Draws the section's PNG.
pub(crate) fn plot(section: &str, record: &Value, path: &Path) -> Result<()> {
    if section == "endpoints" {
        return crate::bench_endpoints::plot(record, path);
    }
    register_font()?;
    let figures = &record["figures"];
    match section {
        "tokens" => {
            let root = BitMapBackend::new(path, (900, 500)).into_drawing_area();
            root.fill(&WHITE)?;
            let data: Vec<(String, f64)> = figures
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    (
                        k.replace("cached_rest_token_1000_audiences", "cached, 1000 audiences")
                            .replace('_', " "),
                        f(&v["mean_ns"]),
                    )
                })
                .collect();
            bars(
                &root,
                "Token cost per call (mean, ns; lower is better)",
                "ns per call",
                &data,
                &PALETTE,
            )?;
            root.present()?;
        }
        "send" => {
            let root = BitMapBackend::new(path, (1400, 900)).into_drawing_area();
            root.fill(&WHITE)?;
            let panels = root.split_evenly((2, 2));
            for (panel, (row, v)) in panels.iter().zip(figures.as_object().into_iter().flatten()) {
                let data: Vec<(String, f64)> = SENDERS
                    .iter()
                    .map(|s| (s.replace('_', " "), f(&v[*s]["rps"])))
                    .collect();
                let title = format!(
                    "{} — requests/s (higher is better)",
                    row.replace("_c", ", concurrency ")
                );
                bars(panel, &title, "requests/s", &data, &PALETTE)?;
            }
            root.present()?;
        }
        _ => {
            let root = BitMapBackend::new(path, (1800, 560)).into_drawing_area();
            root.fill(&WHITE)?;
            let panels = root.split_evenly((1, 3));
            let phases = &figures["deliver"]["phases"];
            let names: Vec<String> = phases
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.replace("broadcast", "bcast").replace('_', " "))
                .collect();
            let delivered: Vec<(String, f64)> = phases
                .as_object()
                .into_iter()
                .flatten()
                .zip(&names)
                .map(|((_, p), n)| (n.clone(), f(&p["delivered_per_s"])))
                .collect();
            bars(
                &panels[0],
                "1,000 clients: delivered msg/s",
                "messages/s",
                &delivered,
                &PALETTE,
            )?;
            let p99: Vec<(String, f64)> = phases
                .as_object()
                .into_iter()
                .flatten()
                .zip(&names)
                .map(|((_, p), n)| (n.clone(), f(&p["p99_us_from_accept"]) / 1000.0))
                .collect();
            bars(
                &panels[1],
                "p99 latency acceptance → receipt (ms)",
                "ms",
                &p99,
                &PALETTE,
            )?;
            let memory: Vec<(String, f64)> = figures
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| k.starts_with("idle_"))
                .map(|(_, v)| {
                    (
                        format!("{} conns", v["clients"]),
                        f(&v["kib_per_connection"]),
                    )
                })
                .collect();
            bars(
                &panels[2],
                "Emulator RSS per idle connection (KiB)",
                "KiB",
                &memory,
                &PALETTE,
            )?;
            root.present()?;
        }
    }
    Ok(())
}

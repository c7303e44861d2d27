//! The soak's readings over time: one row per sample, written as CSV and drawn as an SVG of
//! four small charts (hand-written SVG: no font or backend needed).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

/// One sample.
#[derive(Debug, Clone, Default)]
pub(super) struct Row {
    pub t_s: f64,
    pub rss_mb: f64,
    pub fds: u64,
    pub accepted: u64,
    pub delivered: u64,
    pub send_errors: u64,
    pub rest_ops: u64,
    pub churned: u64,
    pub cutoffs: u64,
    pub faults: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

const HEADER: &str = "t_s,rss_mb,fds,accepted,delivered,send_errors,rest_ops,churned,cutoffs,faults,latency_p50_ms,latency_p99_ms,latency_max_ms";

pub(super) fn write_csv(rows: &[Row], path: &Path) -> Result<()> {
    let mut out = String::from(HEADER);
    out.push('\n');
    for r in rows {
        writeln!(
            out,
            "{:.1},{:.1},{},{},{},{},{},{},{},{},{:.2},{:.2},{:.2}",
            r.t_s,
            r.rss_mb,
            r.fds,
            r.accepted,
            r.delivered,
            r.send_errors,
            r.rest_ops,
            r.churned,
            r.cutoffs,
            r.faults,
            r.p50_ms,
            r.p99_ms,
            r.max_ms
        )?;
    }
    std::fs::write(path, out)?;
    Ok(())
}

/// Percentile `p` (0..=1) of `values`, which it sorts.
pub(super) fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let at = ((values.len() - 1) as f64 * p).round() as usize;
    values[at]
}

struct Series<'a> {
    name: &'a str,
    color: &'a str,
    values: Vec<f64>,
}

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 240.0;
const PAD: f64 = 48.0;

/// One chart at (`x`, `y`): lines over time, y from 0 to the largest value, fault times
/// marked with dashed verticals.
fn chart(
    svg: &mut String,
    x: f64,
    y: f64,
    title: &str,
    t: &[f64],
    faults: &[f64],
    series: &[Series],
) {
    let t_max = t.last().copied().unwrap_or(1.0).max(1.0);
    let v_max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1e-9)
        * 1.1;
    let (w, h) = (WIDTH - 2.0 * PAD, HEIGHT - 2.0 * PAD);
    let px = |tv: f64| x + PAD + tv / t_max * w;
    let py = |v: f64| y + PAD + h - v / v_max * h;
    let _ = write!(
        svg,
        r##"<text x="{}" y="{}" font-size="14" font-weight="bold">{title}</text>"##,
        x + PAD,
        y + PAD - 20.0
    );
    let _ = write!(
        svg,
        r##"<rect x="{}" y="{}" width="{w}" height="{h}" fill="none" stroke="#999"/>"##,
        x + PAD,
        y + PAD
    );
    for (frac, label) in [(0.0, 0.0), (0.5, v_max / 2.0), (1.0, v_max)] {
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" font-size="10" text-anchor="end">{}</text>"##,
            x + PAD - 4.0,
            y + PAD + h - frac * h + 3.0,
            short(label)
        );
    }
    for (frac, label) in [(0.0, 0.0), (0.5, t_max / 2.0), (1.0, t_max)] {
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" font-size="10" text-anchor="middle">{:.0} s</text>"##,
            x + PAD + frac * w,
            y + PAD + h + 14.0,
            label
        );
    }
    for &f in faults {
        let _ = write!(
            svg,
            r##"<line x1="{0}" x2="{0}" y1="{1}" y2="{2}" stroke="#d33" stroke-dasharray="4 3"/>"##,
            px(f),
            y + PAD,
            y + PAD + h
        );
    }
    for (i, s) in series.iter().enumerate() {
        let points: Vec<String> = t
            .iter()
            .zip(&s.values)
            .map(|(&tv, &v)| format!("{:.1},{:.1}", px(tv), py(v)))
            .collect();
        let _ = write!(
            svg,
            r##"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"##,
            s.color,
            points.join(" ")
        );
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" font-size="11" fill="{}">{}</text>"##,
            x + PAD + 8.0 + i as f64 * 150.0,
            y + PAD + h + 30.0,
            s.color,
            s.name
        );
    }
}

fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The four charts: memory, descriptors, accepted vs delivered, latency.
pub(super) fn write_svg(rows: &[Row], fault_times: &[f64], path: &Path) -> Result<()> {
    let t: Vec<f64> = rows.iter().map(|r| r.t_s).collect();
    let col = |f: fn(&Row) -> f64| rows.iter().map(f).collect::<Vec<_>>();
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>"##,
        2.0 * WIDTH,
        2.0 * HEIGHT
    );
    let series = |name, color, values| Series {
        name,
        color,
        values,
    };
    chart(
        &mut svg,
        0.0,
        0.0,
        "emulator resident memory (MB)",
        &t,
        fault_times,
        &[series("RSS", "#1f77b4", col(|r| r.rss_mb))],
    );
    chart(
        &mut svg,
        WIDTH,
        0.0,
        "emulator open descriptors",
        &t,
        fault_times,
        &[series("fds", "#2ca02c", col(|r| r.fds as f64))],
    );
    chart(
        &mut svg,
        0.0,
        HEIGHT,
        "messages to reading clients (cumulative)",
        &t,
        fault_times,
        &[
            series("accepted", "#ff7f0e", col(|r| r.accepted as f64)),
            series("delivered", "#1f77b4", col(|r| r.delivered as f64)),
        ],
    );
    chart(
        &mut svg,
        WIDTH,
        HEIGHT,
        "send-to-receive latency (ms)",
        &t,
        fault_times,
        &[
            series("p50", "#1f77b4", col(|r| r.p50_ms)),
            series("p99", "#d62728", col(|r| r.p99_ms)),
        ],
    );
    svg.push_str("</svg>\n");
    std::fs::write(path, svg)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_small_set() {
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&mut v, 0.5), 3.0);
        assert_eq!(percentile(&mut v, 1.0), 5.0);
        assert_eq!(percentile(&mut [], 0.5), 0.0);
    }
}

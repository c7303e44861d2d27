//! `cargo xtask fuzz`: builds the cargo-fuzz targets in `fuzz/` and runs each for a while,
//! from its committed seeds (`fuzz/seeds/<target>`) plus the corpus of earlier runs
//! (`<target dir>/fuzz/corpus/<target>`). A crash stops the run and leaves its input in
//! `fuzz/artifacts/<target>/`; turn it into a regression test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::root;

/// Every target, in the order they run.
pub(crate) const TARGETS: [&str; 6] = [
    "connection_string",
    "hub_json",
    "hub_msgpack",
    "rest_router",
    "token",
    "negotiate",
];

#[derive(Args, Debug)]
pub(crate) struct FuzzArgs {
    /// How long each target runs.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Targets to run (default: all).
    pub targets: Vec<String>,
}

/// One target's run, as libFuzzer's final statistics report it.
#[derive(Debug)]
pub(crate) struct FuzzRun {
    pub target: String,
    pub seconds: u64,
    pub inputs: u64,
    pub corpus: usize,
    pub peak_rss_mb: u64,
}

pub(crate) fn fuzz(args: FuzzArgs) -> Result<std::process::ExitCode> {
    let runs = run_targets(&args)?;
    println!("target\tseconds\tinputs\tcorpus\tpeak_rss_mb");
    for r in &runs {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            r.target, r.seconds, r.inputs, r.corpus, r.peak_rss_mb
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Builds and runs the targets; an error names the target that crashed and where its input is.
pub(crate) fn run_targets(args: &FuzzArgs) -> Result<Vec<FuzzRun>> {
    let targets: Vec<String> = if args.targets.is_empty() {
        TARGETS.iter().map(|t| t.to_string()).collect()
    } else {
        for t in &args.targets {
            if !TARGETS.contains(&t.as_str()) {
                bail!("unknown fuzz target `{t}` (known: {})", TARGETS.join(", "));
            }
        }
        args.targets.clone()
    };
    ensure_cargo_fuzz()?;
    let target_dir = fuzz_target_dir();
    let started = Instant::now();
    let status = cargo_fuzz()
        .args([
            "build",
            "--sanitizer",
            "none",
            "--debug-assertions",
            "--target-dir",
        ])
        .arg(&target_dir)
        .current_dir(root())
        .status()
        .context("running cargo fuzz build")?;
    if !status.success() {
        bail!("cargo fuzz build failed: {status}");
    }
    eprintln!("fuzz targets built in {:.0?}", started.elapsed());
    let mut runs = Vec::new();
    for target in targets {
        runs.push(run_one(&target, args.seconds, &target_dir)?);
    }
    Ok(runs)
}

fn fuzz_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("fuzz")
}

fn run_one(target: &str, seconds: u64, target_dir: &Path) -> Result<FuzzRun> {
    let corpus = target_dir.join("corpus").join(target);
    std::fs::create_dir_all(&corpus)?;
    let seeds = root().join("fuzz/seeds").join(target);
    eprintln!("$ cargo fuzz run {target} ({seconds} s)");
    let output = cargo_fuzz()
        .args([
            "run",
            "--sanitizer",
            "none",
            "--debug-assertions",
            "--target-dir",
        ])
        .arg(target_dir)
        .arg(target)
        .arg(&corpus)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        // A hang is reported by the targets themselves (5 s per answer); this is the backstop.
        .arg("-timeout=30")
        .arg("-rss_limit_mb=4096")
        .arg("-print_final_stats=1")
        .current_dir(root())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .output()
        .context("running cargo fuzz run")?;
    let log = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        // libFuzzer's report (the panic, the input's path) is at the end.
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        for line in tail.into_iter().rev() {
            eprintln!("{line}");
        }
        bail!(
            "fuzz target `{target}` failed ({}); its input is in fuzz/artifacts/{target}/: \
             add it as a regression test",
            output.status
        );
    }
    let stat = |name: &str| -> u64 {
        log.lines()
            .find_map(|l| l.strip_prefix(&format!("stat::{name}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let run = FuzzRun {
        target: target.to_string(),
        seconds,
        inputs: stat("number_of_executed_units"),
        corpus: std::fs::read_dir(&corpus)?.count(),
        peak_rss_mb: stat("peak_rss_mb"),
    };
    eprintln!(
        "{target}: {} inputs in {seconds} s, corpus {}, peak RSS {} MB",
        run.inputs, run.corpus, run.peak_rss_mb
    );
    Ok(run)
}

/// `cargo fuzz` on nightly when rustup has it, else on the default toolchain with its
/// unstable flags allowed (cargo-fuzz passes a few `-Z` flags).
fn cargo_fuzz() -> Command {
    let nightly = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("nightly"))
        .unwrap_or(false);
    let mut cmd = Command::new("cargo");
    if nightly {
        cmd.arg("+nightly");
    } else {
        cmd.env("RUSTC_BOOTSTRAP", "1");
    }
    // The fuzz crate is its own workspace; the outer cargo's target dir must not leak in.
    cmd.env_remove("CARGO_TARGET_DIR");
    cmd.arg("fuzz");
    cmd
}

fn ensure_cargo_fuzz() -> Result<()> {
    let present = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        crate::run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}

/// Seconds each target runs in `cargo xtask test`.
const CI_SECONDS: u64 = 20;

/// The short pass `cargo xtask test` runs: every target for [`CI_SECONDS`]. `ASRS_SKIP_FUZZ=1`
/// leaves it out (its first build takes many minutes), saying so.
pub(crate) fn ci_pass() -> Result<()> {
    if std::env::var_os("ASRS_SKIP_FUZZ").is_some_and(|v| v == "1") {
        eprintln!("fuzz: skipped (ASRS_SKIP_FUZZ=1)");
        return Ok(());
    }
    let runs = run_targets(&FuzzArgs {
        seconds: CI_SECONDS,
        targets: Vec::new(),
    })?;
    let inputs: u64 = runs.iter().map(|r| r.inputs).sum();
    eprintln!("fuzz: {} targets, {inputs} inputs, no crash", runs.len());
    Ok(())
}

//! Project chores: `cargo xtask regen`, `cargo xtask spec-diff`, `cargo xtask test`,
//! `cargo xtask bench`.

mod bench;
mod bench_endpoints;
mod bench_report;
mod fuzz;
mod new_version;
mod schemathesis;
mod soak;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Project chores for azure-signalr-rest")]
struct Cli {
    #[command(subcommand)]
    command: Chore,
}

#[derive(Subcommand)]
enum Chore {
    /// Rebuild the raw clients, update the snapshots and summarize what changed.
    Regen,
    /// Compare a published API description against the vendored spec of a version.
    /// Exits 1 when they differ, 0 when they agree.
    SpecDiff {
        /// A Swagger 2.0 or OpenAPI 3.0 document (JSON).
        file: PathBuf,
        /// The API version to compare with: 1.0-preview, 1.0 or 2022-06-01.
        #[arg(long)]
        version: String,
    },
    /// Run every check CI runs: Node packages for the official-client tests, rustfmt, clippy,
    /// a build with no features and with each feature alone, and the whole test suite.
    Test,
    /// Run the benchmarks (sections: all, send, tokens, fanout, endpoints) and write their results
    /// (default: benches/results/).
    Bench(bench::BenchArgs),
    /// Add a fourth API version (a copy of 2022-06-01) in a copy of the crate, the way the
    /// README describes, and run the operation × version test on it.
    NewVersionCheck,
    /// Run the cargo-fuzz targets in fuzz/ (default: all, 60 s each; nightly toolchain).
    Fuzz(fuzz::FuzzArgs),
    /// Mixed load with faults against a release `asrs emulator start`; writes a CSV, an SVG
    /// and a summary (default: target/soak/). Not part of `test`.
    Soak(soak::SoakArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Chore::Regen => regen(),
        Chore::SpecDiff { file, version } => spec_diff(&file, &version),
        Chore::Test => test(),
        Chore::Bench(args) => bench::bench(args),
        Chore::NewVersionCheck => new_version::new_version_check().map(|()| ExitCode::SUCCESS),
        Chore::Fuzz(args) => fuzz::fuzz(args),
        Chore::Soak(args) => soak::soak(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

const SNAPSHOTS: &str = "tests/snapshots";

/// Operations of a surface snapshot: route -> its signature block.
fn surface_operations(text: &str) -> BTreeMap<String, String> {
    // Skip insta's front matter (between the first two `---` lines).
    let body = match text.splitn(3, "---\n").collect::<Vec<_>>().as_slice() {
        [_, _, body] => body.to_string(),
        _ => text.to_string(),
    };
    body.split("\n\n")
        .filter_map(|block| {
            let block = block.trim();
            let (route, rest) = block.split_once('\n')?;
            Some((route.to_string(), rest.to_string()))
        })
        .collect()
}

/// The text of every snapshot of one kind (`surface` or `openapi`), by module.
fn read_snapshots(dir: &Path, kind: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return Ok(out);
    }
    let suffix = format!("_{kind}.snap");
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if let Some(module) = name
            .strip_prefix("generated_surface__")
            .and_then(|n| n.strip_suffix(suffix.as_str()))
        {
            out.insert(module.to_string(), std::fs::read_to_string(&path)?);
        }
    }
    Ok(out)
}

/// The operations of every surface snapshot, by module.
fn read_surfaces(dir: &Path) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    Ok(read_snapshots(dir, "surface")?
        .into_iter()
        .map(|(module, text)| (module, surface_operations(&text)))
        .collect())
}

/// The normalized-document snapshots, by module.
fn read_documents(dir: &Path) -> Result<BTreeMap<String, String>> {
    read_snapshots(dir, "openapi")
}

fn regen() -> Result<ExitCode> {
    let root = root();
    let before = read_surfaces(&root.join(SNAPSHOTS))?;
    let documents_before = read_documents(&root.join(SNAPSHOTS))?;
    let status = Command::new(env!("CARGO"))
        .args(["test", "--quiet", "--test", "generated_surface"])
        .env("INSTA_UPDATE", "always")
        .env("INSTA_FORCE_PASS", "1")
        .current_dir(&root)
        .status()
        .context("running cargo test")?;
    if !status.success() {
        bail!("the build or the snapshot tests failed");
    }
    let after = read_surfaces(&root.join(SNAPSHOTS))?;
    let documents_after = read_documents(&root.join(SNAPSHOTS))?;
    let mut changed_any = false;
    let modules: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for module in modules {
        let empty = BTreeMap::new();
        let old = before.get(module).unwrap_or(&empty);
        let new = after.get(module).unwrap_or(&empty);
        let mut lines = Vec::new();
        for (route, sig) in new {
            match old.get(route) {
                None => lines.push(format!("  + {route}")),
                Some(prev) if prev != sig => lines.push(format!("  ~ {route}")),
                Some(_) => {}
            }
        }
        for route in old.keys().filter(|r| !new.contains_key(*r)) {
            lines.push(format!("  - {route}"));
        }
        let document = if documents_before.get(module) == documents_after.get(module) {
            "normalized document unchanged"
        } else {
            changed_any = true;
            "normalized document updated"
        };
        if lines.is_empty() {
            println!(
                "{module}: {} operations, surface unchanged, {document}",
                new.len()
            );
        } else {
            changed_any = true;
            println!("{module}: {} operations, {document}", new.len());
            for line in lines {
                println!("{line}");
            }
        }
    }
    if changed_any {
        println!("snapshots updated: review `git diff {SNAPSHOTS}`");
    }
    Ok(ExitCode::SUCCESS)
}

fn vendored_spec(version: &str) -> Result<PathBuf> {
    let dir = root().join("specs");
    let mut known = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let spec = asrs_codegen::load(&path)?;
            if spec.api_version() == version {
                return Ok(path);
            }
            known.push(spec.api_version().to_string());
        }
    }
    known.sort();
    bail!(
        "no vendored spec has version `{version}` (known: {})",
        known.join(", ")
    )
}

fn spec_diff(file: &Path, version: &str) -> Result<ExitCode> {
    let vendored_path = vendored_spec(version)?;
    let vendored = asrs_codegen::load(&vendored_path)?;
    let published = asrs_codegen::load(file)?;
    let diff = asrs_codegen::operations::diff(
        &asrs_codegen::operations::list(&vendored.openapi),
        &asrs_codegen::operations::list(&published.openapi),
    );
    if diff.is_empty() {
        println!(
            "{} agrees with {} ({version})",
            file.display(),
            vendored_path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} differs from {} ({version}): {} added, {} removed, {} changed",
        file.display(),
        vendored_path.display(),
        diff.added.len(),
        diff.removed.len(),
        diff.changed.len()
    );
    print!("{diff}");
    Ok(ExitCode::from(1))
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd
        .current_dir(root())
        .status()
        .with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// The Debian packages the tests need, each with the program or file that shows it is there:
/// Node.js and npm run the official JavaScript client, chromium runs it in a real browser
/// (`tests/emulator_browser.rs`), and OpenSSL's headers with pkg-config build the
/// `identity-certificate` feature (`--all-features`).
const SYSTEM_PACKAGES: [(&str, &str); 5] = [
    ("nodejs", "node"),
    ("npm", "npm"),
    ("chromium", "/usr/bin/chromium"),
    ("pkg-config", "pkg-config"),
    ("libssl-dev", "/usr/include/openssl/ssl.h"),
];

/// Installs the missing ones with apt-get when this is a Debian-like machine and we are root (a
/// fresh CI machine), so the README's test command does all the set-up; elsewhere it names them.
fn ensure_system_packages() -> Result<()> {
    let present = |program: &str| {
        if program.starts_with('/') {
            return Path::new(program).exists();
        }
        Command::new("sh")
            .args(["-c", "command -v \"$0\" >/dev/null 2>&1", program])
            .status()
            .is_ok_and(|s| s.success())
    };
    let missing: Vec<&str> = SYSTEM_PACKAGES
        .iter()
        .filter(|(_, program)| !present(program))
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root_user || !present("apt-get") {
        bail!(
            "the tests need {}: install them (Debian: apt-get install -y --no-install-recommends {})",
            missing.join(", "),
            missing.join(" ")
        );
    }
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(&missing))
}

fn test() -> Result<ExitCode> {
    let root = root();
    ensure_system_packages()?;
    schemathesis::ensure()?;
    // The official JavaScript client in Node (tests/node) and in chromium (tests/browser).
    for dir in ["tests/node", "tests/browser"] {
        let node = root.join(dir);
        if node.join("package.json").exists() {
            run(Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--prefix"])
                .arg(&node))?;
        }
    }
    let cargo = env!("CARGO");
    run(Command::new(cargo).args(["fmt", "--all", "--check"]))?;
    run(Command::new(cargo).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]))?;
    feature_powerset(cargo)?;
    run(Command::new(cargo).args(["test", "--workspace", "--all-features"]))?;
    fuzz::ci_pass()?;
    Ok(ExitCode::SUCCESS)
}

/// The library's features, from `cargo metadata` (so a new feature is checked without edits
/// here).
fn features(cargo: &str) -> Result<Vec<String>> {
    let output = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root())
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let package = metadata["packages"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "azure-signalr-rest"))
        .context("azure-signalr-rest is not in the workspace")?;
    let mut names: Vec<String> = package["features"]
        .as_object()
        .map(|f| f.keys().filter(|k| *k != "default").cloned().collect())
        .unwrap_or_default();
    names.sort();
    Ok(names)
}

/// Checks the crate with no features and with each feature on its own, so no feature silently
/// relies on another being enabled (`--all-features` would hide that).
fn feature_powerset(cargo: &str) -> Result<()> {
    let mut sets = vec![String::new()];
    sets.extend(features(cargo)?);
    for set in sets {
        let mut cmd = Command::new(cargo);
        cmd.args([
            "check",
            "--quiet",
            "--package",
            "azure-signalr-rest",
            "--lib",
            "--bins",
            "--no-default-features",
        ]);
        if !set.is_empty() {
            cmd.args(["--features", &set]);
        }
        run(&mut cmd)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_come_from_the_manifest() {
        let names = features(env!("CARGO")).unwrap();
        for expected in ["cli", "emulator", "listener", "protocol"] {
            assert!(names.iter().any(|n| n == expected), "{names:?}");
        }
        assert!(!names.iter().any(|n| n == "default"));
    }

    #[test]
    fn surface_operations_reads_blocks_after_front_matter() {
        let snap = "---\nsource: tests/generated_surface.rs\nexpression: surface\n---\nPOST /a\n  a\n    -> R\n\nHEAD /b\n  b\n    -> R\n";
        let ops = surface_operations(snap);
        assert_eq!(ops.keys().collect::<Vec<_>>(), ["HEAD /b", "POST /a"]);
        assert_eq!(ops["POST /a"], "  a\n    -> R");
    }

    #[test]
    fn spec_diff_agrees_with_itself_and_flags_a_modified_copy() {
        let path = vendored_spec("1.0").unwrap();
        assert_eq!(spec_diff(&path, "1.0").unwrap(), ExitCode::SUCCESS);

        let mut doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let paths = doc["paths"].as_object_mut().unwrap();
        let removed = paths.keys().next().unwrap().clone();
        paths.remove(&removed);
        let copy = std::env::temp_dir().join(format!("spec-diff-{}.json", std::process::id()));
        std::fs::write(&copy, serde_json::to_string(&doc).unwrap()).unwrap();
        let code = spec_diff(&copy, "1.0").unwrap();
        std::fs::remove_file(&copy).unwrap();
        assert_eq!(code, ExitCode::from(1));
    }
}

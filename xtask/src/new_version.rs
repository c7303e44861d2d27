//! `cargo xtask new-version-check`: shows that adding an API version touches only the places
//! the README names. In a copy of the crate it adds version `2099-01-01` as a copy of
//! 2022-06-01 (its spec, its adapter, one line in `api_versions!` and one in `adapters!`, a
//! column in the documented table), then builds it and runs the operation × version test,
//! which then covers four versions.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::root;

const NEW: &str = "2099-01-01";
const NEW_MODULE: &str = "v2099_01_01";
const NEW_VARIANT: &str = "V2099_01_01";

pub(crate) fn new_version_check() -> Result<()> {
    let root = root();
    let copy = root.join("target").join("new-version-check");
    if copy.exists() {
        std::fs::remove_dir_all(&copy).with_context(|| format!("{}", copy.display()))?;
    }
    copy_tracked(&root, &copy)?;

    // 1. The spec, under the new version's name and number.
    let spec = std::fs::read_to_string(root.join("specs/v2022-06-01.json"))?;
    let mut doc: serde_json::Value = serde_json::from_str(&spec)?;
    doc["info"]["version"] = NEW.into();
    std::fs::write(
        copy.join(format!("specs/v{NEW}.json")),
        serde_json::to_string_pretty(&doc)?,
    )?;
    // 2. Its adapter: the latest one, renamed.
    let adapter = std::fs::read_to_string(root.join("src/client/api/v2022_06_01.rs"))?
        .replace("v2022_06_01", NEW_MODULE)
        .replace("V2022_06_01", NEW_VARIANT)
        .replace("2022-06-01", NEW);
    std::fs::write(
        copy.join(format!("src/client/api/{NEW_MODULE}.rs")),
        adapter,
    )?;
    // 3. One line in each version list.
    add_line(
        &copy.join("src/client/version.rs"),
        "    V2022_06_01 = \"2022-06-01\",\n",
        &format!("    {NEW_VARIANT} = \"{NEW}\",\n"),
    )?;
    add_line(
        &copy.join("src/client/api/mod.rs"),
        "    V2022_06_01 => v2022_06_01,\n",
        &format!("    {NEW_VARIANT} => {NEW_MODULE},\n"),
    )?;

    // 4. A column in the documented table (a copy of 2022-06-01's).
    let table = std::fs::read_to_string(root.join("src/client/versions.md"))?;
    let table: String = table
        .lines()
        .map(|line| match line {
            l if l.starts_with("| operation") => format!("{l} {NEW} |\n"),
            l if l.starts_with("|---") => format!("{l}---|\n"),
            l if l.starts_with("| `") => {
                let last = l
                    .trim_end_matches('|')
                    .rsplit('|')
                    .next()
                    .unwrap_or_default();
                format!("{l}{last}|\n")
            }
            l => format!("{l}\n"),
        })
        .collect();
    std::fs::write(copy.join("src/client/versions.md"), table)?;

    // Shares the workspace's target directory: only the copied crates are rebuilt.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(Into::into)
        .unwrap_or_else(|| root.join("target"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["test", "--lib", "--", "client::api::tests", "--nocapture"])
        .current_dir(&copy)
        .env("CARGO_TARGET_DIR", target)
        .status()
        .context("running cargo test in the copy")?;
    if !output.success() {
        bail!("the copy with API version {NEW} does not pass: {output}");
    }
    std::fs::remove_dir_all(&copy).ok();
    println!(
        "API version {NEW} added as spec + adapter + two enum lines + a table column: builds, and every \
         operation × version answers as support() says"
    );
    Ok(())
}

/// Copies the files git tracks (tests, benchmarks results and Node fixtures are not needed).
fn copy_tracked(root: &Path, to: &Path) -> Result<()> {
    let listing = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
        .context("git ls-files")?;
    for name in listing.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name)?;
        if name.starts_with("tests/") || name.starts_with("benches/results/") {
            continue;
        }
        let (from, dest) = (root.join(name), to.join(name));
        if !from.is_file() {
            continue;
        }
        std::fs::create_dir_all(dest.parent().expect("a file has a parent"))?;
        std::fs::copy(&from, &dest).with_context(|| name.to_owned())?;
    }
    Ok(())
}

fn add_line(file: &Path, after: &str, line: &str) -> Result<()> {
    let text = std::fs::read_to_string(file)?;
    let Some(at) = text.find(after) else {
        bail!("{}: `{}` not found", file.display(), after.trim());
    };
    let at = at + after.len();
    std::fs::write(file, format!("{}{line}{}", &text[..at], &text[at..]))?;
    Ok(())
}

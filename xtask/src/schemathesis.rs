//! Installs schemathesis (PyPI) for `tests/emulator_schemathesis.rs` when Python is there
//! and it is not.

use std::process::{Command, Stdio};

use anyhow::Result;

/// The version the test was written against (its CLI flags and check names).
const VERSION: &str = "4.32.5";

pub(crate) fn ensure() -> Result<()> {
    let quiet = |cmd: &mut Command| {
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !quiet(Command::new("python3").arg("--version")) {
        eprintln!("python3 not found: the schemathesis test will be skipped");
        return Ok(());
    }
    if quiet(Command::new("python3").args(["-c", "import schemathesis"])) {
        return Ok(());
    }
    crate::run(Command::new("python3").args([
        "-m",
        "pip",
        "install",
        "--quiet",
        &format!("schemathesis=={VERSION}"),
    ]))
}

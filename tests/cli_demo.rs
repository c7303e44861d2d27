//! `asrs demo` runs everything on its embedded emulator and exits 0 only when every listener
//! received what it should have.
#![cfg(feature = "cli")]

mod cli_support;

use std::time::Duration;

use cli_support::{asrs, Process};

#[test]
fn demo_passes() {
    let mut command = asrs();
    command.args(["demo", "--timeout", "120"]);
    let mut demo = Process::spawn(command);
    demo.close_stdin();
    // The demo bounds itself at 120 s; a little more for start-up.
    let status = demo.wait_exit_within(Duration::from_secs(150));
    let out = demo.stdout().join("\n");
    assert!(
        status.success(),
        "demo exit status {status}\n{out}\n{}",
        demo.stderr()
    );
    assert!(
        out.lines().any(|l| l.starts_with("demo passed: all ")),
        "{out}"
    );
    assert!(!out.contains("FAILED"), "{out}");
    // Every kind of send and close shows up in the report.
    for step in [
        "broadcast",
        "send user alice",
        "send users bob,carol",
        "send group red",
        "send groups red,blue",
        "send connection",
        "excluding",
        "(API 1.0-preview)",
        "(API 1.0)",
        "close connection of carol",
        "close user bob",
        "close group green",
        "close all",
    ] {
        assert!(
            out.contains(step),
            "{step} missing from the demo's report:\n{out}"
        );
    }
}

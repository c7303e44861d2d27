//! `asrs demo` runs everything on its embedded emulator and exits 0 only when every listener
//! received what it should have.
#![cfg(feature = "cli")]

mod cli_support;

use std::time::Duration;

use cli_support::{asrs, Process};

/// Runs `asrs demo <args>`, checks that it passed, and returns its output.
fn demo_passing(args: &[&str]) -> String {
    let mut command = asrs();
    command.args(["demo", "--timeout", "120"]).args(args);
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
    out
}

#[test]
fn demo_passes() {
    let out = demo_passing(&[]);
    assert!(!out.contains("emulator-"), "{out}");
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

#[test]
fn demo_passes_across_two_endpoints() {
    let out = demo_passing(&["--endpoints", "2"]);
    for name in ["emulator-1", "emulator-2"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("Emulator {name} started at http://"))),
            "{out}"
        );
        // Listeners on each: the sends, membership changes and closes all cross instances.
        assert!(
            out.lines()
                .any(|l| l.contains(" connected as user ") && l.ends_with(&format!(" on {name}"))),
            "no listener on {name}:\n{out}"
        );
    }
    for step in [
        "broadcast",
        "send user alice",
        "send group red",
        "close all",
    ] {
        assert!(out.contains(step), "{step} missing:\n{out}");
    }
}

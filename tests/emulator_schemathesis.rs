//! schemathesis (PyPI) against a real emulator, from our own specs (`specs/*.json`): property
//! tests generated from each operation's parameters, every request signed with a token for its
//! own URL (`tests/schemathesis/hooks.py`). Checked: no 5xx, and every answer's status, content
//! type, headers and body match the spec (an empty body, as success answers have, is not held
//! to a content type or schema).
//!
//! Needs Python 3 with schemathesis (`cargo xtask test` installs it); skipped, saying so, only
//! when Python itself is absent.
#![cfg(feature = "emulator")]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use azure_signalr_rest::emulator::Emulator;
use tokio::process::Command;

/// What each spec's run checks (schemathesis check names).
/// `*_when_body` are the standard checks less empty bodies (`tests/schemathesis/hooks.py`).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_when_body,\
                      response_headers_conformance,schema_when_body";

/// Examples per operation, kept small: the three specs take 23 s here (136 s with the two
/// cores busy).
const EXAMPLES: &str = "25";

fn python() -> Option<&'static str> {
    ["python3", "python"].into_iter().find(|p| {
        std::process::Command::new(p)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// The `st` entry point of the schemathesis that `python` imports.
fn schemathesis(python: &str) -> Command {
    let mut cmd = Command::new(python);
    cmd.args([
        "-c",
        "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'st'; schemathesis()",
    ]);
    cmd
}

async fn run_spec(python: &str, spec: &str) {
    let emulator = Emulator::builder()
        .bind("127.0.0.1:0")
        .start()
        .await
        .expect("emulator starts");
    let base = format!("http://127.0.0.1:{}", emulator.local_addr().port());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = schemathesis(python);
    cmd.arg("run")
        .arg(root.join("specs").join(spec))
        .args([
            "--url",
            &base,
            "--checks",
            CHECKS,
            "--max-examples",
            EXAMPLES,
        ])
        .args([
            "--seed",
            "1",
            "--workers",
            "1",
            "--no-color",
            "--generation-database",
            "none",
        ])
        .args(["--suppress-health-check", "all"])
        // Answers to invalid input (400, 401, 404) are the service's but not in its published
        // specs, so only valid requests are generated; the fuzz targets cover the rest.
        .args([
            "--mode",
            "positive",
            "--generation-with-security-parameters",
            "false",
        ])
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", root.join("tests/schemathesis"))
        .env("ASRS_BASE_URL", &base)
        .env("ASRS_ACCESS_KEY", emulator.access_key())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(600), cmd.output())
        .await
        .expect("schemathesis finishes within 10 minutes")
        .expect("schemathesis starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named"),
        "schemathesis is not installed for {python}: `pip install schemathesis` \
         (or run `cargo xtask test`, which installs it)\n{stderr}"
    );
    assert!(
        output.status.success(),
        "schemathesis found answers that break {spec}:\n{stdout}\n{stderr}"
    );
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_answers_match_the_specs() {
    let Some(python) = python() else {
        eprintln!("skipped: no Python 3 on this machine, so schemathesis cannot run");
        return;
    };
    for spec in ["v1-preview.json", "v1.json", "v2022-06-01.json"] {
        run_spec(python, spec).await;
    }
}

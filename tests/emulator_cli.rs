//! `asrs emulator start` as a process: prints the connection string, then serves.
#![cfg(feature = "cli")]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn emulator_start_prints_a_usable_connection_string() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_asrs"))
        .args([
            "emulator",
            "start",
            "--port",
            "0",
            "--access-key",
            "cli-test-key-0123456789",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("connection string in time")
        .unwrap()
        .expect("a line");
    assert!(
        line.starts_with("Endpoint=http://localhost;Port="),
        "{line}"
    );
    assert!(
        line.ends_with(";AccessKey=cli-test-key-0123456789;Version=1.0;"),
        "{line}"
    );
    let port: u16 = line
        .split(';')
        .find_map(|p| p.strip_prefix("Port="))
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(port, 0, "the real port is printed");
    let health = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/health"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

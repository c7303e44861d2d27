//! `asrs emulator start` as a process: prints the connection string, then serves.
#![cfg(feature = "cli")]

mod common;

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
    let port = common::port_of(&line);
    assert_ne!(port, 0, "the real port is printed");
    let health = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/health"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

/// An empty folder of its own for one test (the emulator reads ./settings.json).
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("asrs-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `asrs emulator start <args>` in `dir`; returns the process and the printed port.
async fn start_emulator(dir: &std::path::Path, args: &[&str]) -> (tokio::process::Child, u16) {
    spawn_emulator(dir, args, Stdio::null()).await
}

/// [`start_emulator`] with standard error going to `stderr`.
async fn spawn_emulator(
    dir: &std::path::Path,
    args: &[&str],
    stderr: Stdio,
) -> (tokio::process::Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_asrs"))
        .args(["emulator", "start"])
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("connection string in time")
        .unwrap()
        .unwrap_or_else(|| panic!("no connection string for {args:?}"));
    assert!(
        line.starts_with("Endpoint=http://localhost;Port="),
        "{line}"
    );
    let port = common::port_of(&line);
    (child, port)
}

/// Runs `asrs emulator upstream <args>` in `dir` with `input` on standard input.
async fn upstream_command(
    dir: &std::path::Path,
    args: &[&str],
    input: &str,
) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_asrs"))
        .args(["emulator", "upstream"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, input.as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("exits in time")
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn start_dash_p_listens_on_ipv4_and_ipv6_localhost() {
    let dir = scratch("dual-stack");
    let (mut child, port) = start_emulator(&dir, &["-p", "0"]).await;
    assert_ne!(port, 0);
    for base in [
        format!("http://127.0.0.1:{port}"),
        format!("http://[::1]:{port}"),
    ] {
        let health = reqwest::get(format!("{base}/api/v1/health"))
            .await
            .unwrap_or_else(|e| panic!("{base}: {e}"));
        assert_eq!(health.status(), 200, "{base}");
    }
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// The official emulator's default file.
fn official_default() -> serde_json::Value {
    serde_json::json!({"UpstreamSettings": {"Templates": [{
        "UrlTemplate": "http://localhost:7071/runtime/webhooks/signalr",
        "EventPattern": "*",
        "HubPattern": "*",
        "CategoryPattern": "*"
    }]}})
}

fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn upstream_init_writes_and_list_prints_the_official_settings_file() {
    let dir = scratch("init-list");
    let file = dir.join("settings.json");
    let (ok, out, _) = upstream_command(&dir, &["init"], "").await;
    assert!(ok);
    assert!(
        out.contains(&format!(
            "Exported default settings to '{}'.",
            file.display()
        )),
        "{out}"
    );
    assert_eq!(read_json(&file), official_default());

    let listing = "Current Upstream Settings:\n\t[0]http://localhost:7071/runtime/webhooks/signalr(event:'*',hub:'*',category:'*')\n";
    let (ok, out, _) = upstream_command(&dir, &["list"], "").await;
    assert!(ok);
    assert!(
        out.starts_with(&format!(
            "Loaded upstream settings from '{}'",
            file.display()
        )),
        "{out}"
    );
    assert!(out.ends_with(listing), "{out}");

    // An existing file is only replaced when the user says so.
    let custom = serde_json::json!({"UpstreamSettings": {"Templates": [
        {"UrlTemplate": "http://localhost:9/{hub}", "HubPattern": "chat, news", "EventPattern": "send"}
    ]}});
    std::fs::write(&file, custom.to_string()).unwrap();
    let (ok, out, _) = upstream_command(&dir, &["init"], "n\n").await;
    assert!(ok);
    assert!(out.contains("(N/y)"), "{out}");
    assert_eq!(read_json(&file), custom);

    // `-c` names the file or its folder, as in the official emulator.
    for config in [file.to_str().unwrap(), dir.to_str().unwrap()] {
        let (ok, out, err) = upstream_command(&dir, &["list", "-c", config], "").await;
        assert!(ok, "{err}");
        assert!(
            out.ends_with(
                "\t[0]http://localhost:9/{hub}(event:'send',hub:'chat, news',category:'*')\n"
            ),
            "{out}"
        );
    }
    let (ok, _, err) = upstream_command(&dir, &["list", "--config", "missing"], "").await;
    assert!(!ok);
    assert!(err.contains("unable to find config file"), "{err}");

    let (ok, _, _) = upstream_command(&dir, &["init"], "y\n").await;
    assert!(ok);
    assert_eq!(read_json(&file), official_default());
    let (ok, _, _) = upstream_command(&dir, &["init", "-o", "sub"], "").await;
    assert!(ok);
    assert_eq!(
        read_json(&dir.join("sub").join("settings.json")),
        official_default()
    );

    // Without a file there is no upstream, and list says how to make one.
    std::fs::remove_file(&file).unwrap();
    let (ok, out, _) = upstream_command(&dir, &["list"], "").await;
    assert!(ok);
    assert!(
        out.contains("No upstream is set yet. Use 'upstream init'"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn start_dash_c_sends_events_where_the_settings_file_says() {
    let (upstream, mut urls) = common::status_upstream(200).await;

    let dir = scratch("start-config");
    let file = dir.join("upstreams.json");
    let settings = serde_json::json!({"UpstreamSettings": {"Templates": [
        {"UrlTemplate": format!("{upstream}/hook/{{hub}}/{{event}}"),
         "EventPattern": "connected", "HubPattern": "*", "CategoryPattern": "connections"}
    ]}});
    std::fs::write(&file, settings.to_string()).unwrap();
    let (mut child, port) = start_emulator(&dir, &["-p", "0", "-c", "upstreams.json"]).await;

    // A client connects (negotiate, then the WebSocket with the JSON handshake).
    let addr = format!("127.0.0.1:{port}");
    let token = client_token_at(&addr, "chat", None);
    let (mut socket, _) = common::open_websocket(&addr, "chat", &token).await;
    common::json_handshake(&mut socket).await;

    let url = tokio::time::timeout(Duration::from_secs(10), urls.recv())
        .await
        .expect("the upstream is called in time")
        .unwrap();
    assert_eq!(url, "/hook/chat/connected");
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn start_reloads_the_settings_file_when_it_changes() {
    let (upstream, mut urls) = common::status_upstream(200).await;
    let settings = |path: &str| {
        serde_json::json!({"UpstreamSettings": {"Templates": [
            {"UrlTemplate": format!("{upstream}/{path}/{{event}}")}
        ]}})
        .to_string()
    };

    // The default file, ./settings.json, as the official emulator reads it.
    let dir = scratch("reload");
    std::fs::write(dir.join("settings.json"), settings("before")).unwrap();
    let (mut child, port) = spawn_emulator(&dir, &["-p", "0"], Stdio::piped()).await;
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    wait_for(&mut err, "Current Upstream Settings").await;

    std::fs::write(dir.join("settings.json"), settings("after")).unwrap();
    wait_for(&mut err, "Reloaded upstream settings").await;

    // A client connecting now (without negotiate) is announced where the new file says.
    let token = client_token_at(&format!("127.0.0.1:{port}"), "chat", None);
    let (mut socket, _) = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{port}/client/?hub=chat&access_token={token}"
    ))
    .await
    .unwrap();
    common::json_handshake(&mut socket).await;
    let url = tokio::time::timeout(Duration::from_secs(10), urls.recv())
        .await
        .expect("the upstream is called in time")
        .unwrap();
    assert_eq!(url, "/after/connected");
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Reads standard-error lines until one holds `needle`.
async fn wait_for(
    err: &mut tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    needle: &str,
) -> String {
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = err.next_line().await.unwrap() {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("stderr ended before {needle:?}");
    })
    .await
    .unwrap_or_else(|_| panic!("{needle:?} in time"))
}

/// `asrs emulator start -p 0 <args>` in a folder of its own (`name`), with standard error
/// read line by line; returns the process, the printed port and the standard-error lines.
async fn start_emulator_reading_stderr(
    name: &str,
    args: &[&str],
) -> (
    tokio::process::Child,
    u16,
    tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
) {
    let args = [&["-p", "0"], args].concat();
    let (mut child, port) = spawn_emulator(&scratch(name), &args, Stdio::piped()).await;
    let err = BufReader::new(child.stderr.take().unwrap()).lines();
    (child, port, err)
}

#[tokio::test]
async fn start_help_shows_each_limit_with_its_default() {
    let output = Command::new(env!("CARGO_BIN_EXE_asrs"))
        .args(["emulator", "start", "--help"])
        .output()
        .await
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for (flag, default) in [
        ("--header-timeout <SECONDS>", "[default: 30]"),
        ("--body-timeout <SECONDS>", "[default: 30]"),
        (
            "--max-connections <CONNECTIONS>",
            "[default: the open-file limit",
        ),
        ("--outbound-budget <BYTES>", "[default: 16777216]"),
        ("--outbound-queue <MESSAGES>", "[default: 1024]"),
        ("--negotiations-per-user <COUNT>", "[default: 1000]"),
        ("--negotiations-per-hub <COUNT>", "[default: 10000]"),
    ] {
        let line = help
            .lines()
            .find(|l| l.contains(flag))
            .unwrap_or_else(|| panic!("{flag} missing from\n{help}"));
        assert!(line.contains(default), "{line}");
    }
    // Zero is no limit: refused before anything starts.
    let output = Command::new(env!("CARGO_BIN_EXE_asrs"))
        .args(["emulator", "start", "-p", "0", "--outbound-budget", "0"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8(output.stderr).unwrap();
    assert!(
        err.contains("--outbound-budget") && err.contains("at least 1"),
        "{err}"
    );
}

#[tokio::test]
async fn start_limit_flags_reach_the_emulator() {
    use tokio::io::AsyncWriteExt as _;
    let (mut child, port, _err) = start_emulator_reading_stderr(
        "limits",
        &[
            "--header-timeout",
            "1",
            "--body-timeout",
            "0.5",
            "--negotiations-per-user",
            "1",
        ],
    )
    .await;
    let addr = format!("127.0.0.1:{port}");
    // Far below the 30 s defaults: a silent connection is closed, a missing body answered 408.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let closed = common::read_until_closed(&mut silent, Duration::from_secs(10)).await;
    assert_eq!(
        closed.as_deref(),
        Some(""),
        "the silent connection is closed within the header timeout"
    );
    let mut bodiless = tokio::net::TcpStream::connect(&addr).await.unwrap();
    bodiless
        .write_all(b"POST /api/v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        .await
        .unwrap();
    let answer = common::read_until_closed(&mut bodiless, Duration::from_secs(10))
        .await
        .expect("the bodiless request is answered within the body timeout");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // One pending negotiation per user: the second of the same user is refused.
    let endpoint = format!("http://{addr}");
    let token = client_token_at(&addr, "chat", Some("alice"));
    let negotiate = || {
        reqwest::Client::new()
            .post(format!(
                "{endpoint}/client/negotiate?hub=chat&negotiateVersion=1"
            ))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(negotiate().await.unwrap().status(), 200);
    assert_eq!(negotiate().await.unwrap().status(), 429);
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

#[tokio::test]
async fn start_max_connections_refuses_one_more_with_503() {
    use tokio::io::AsyncWriteExt as _;
    let (mut child, port, _err) =
        start_emulator_reading_stderr("max-connections", &["--max-connections", "1"]).await;
    let addr = format!("127.0.0.1:{port}");
    // The first connection holds the only place (a request head begun, never finished).
    let mut first = tokio::net::TcpStream::connect(&addr).await.unwrap();
    first
        .write_all(b"GET /api/v1/health HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut second = tokio::net::TcpStream::connect(&addr).await.unwrap();
    second
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = common::read_until_closed(&mut second, Duration::from_secs(10))
        .await
        .expect("the refusal in time");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after:"),
        "{answer}"
    );
    drop(first);
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

/// Soft and hard "Max open files" of a running process, from /proc.
#[cfg(target_os = "linux")]
fn open_file_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[tokio::test]
async fn start_derives_the_connection_cap_from_the_open_file_limit() {
    let (mut child, _port, mut err) = start_emulator_reading_stderr("cap", &[]).await;
    let line = wait_for(&mut err, "Connection cap: ").await;
    let cap: u64 = line
        .split("Connection cap: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{line}: {e}"));
    let (soft, hard) = open_file_limits(child.id().unwrap());
    assert_eq!(soft, hard, "the soft limit is raised to the hard limit");
    let reserve = (soft / 16).max(64);
    assert_eq!(cap, soft - reserve, "{line}");
    assert!(line.contains(&format!("open-file limit {soft}")), "{line}");
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

/// A client token of `hub` on the CLI emulator at `addr` (`ip:port`), for `user` when given,
/// signed with the well-known key.
fn client_token_at(addr: &str, hub: &str, user: Option<&str>) -> String {
    let aud = format!("http://{addr}/client/?hub={hub}");
    common::token(
        azure_signalr_rest::emulator::DEFAULT_ACCESS_KEY,
        &aud,
        user,
        None,
    )
}

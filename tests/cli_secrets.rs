//! Secrets stay out of the logs: `asrs -vvv` (every crate at trace level) prints no bearer
//! token, no `access_token` and no connection token (`id=`), for the client on each transport
//! and for the emulator serving it.
#![cfg(feature = "cli")]

mod cli_support;

use cli_support::{asrs, Process};

/// Every place in `log` where a secret would follow `marker`, and what follows it.
fn unredacted<'a>(log: &'a str, marker: &str) -> Vec<&'a str> {
    let lower = log.to_ascii_lowercase();
    lower
        .match_indices(&marker.to_ascii_lowercase())
        .map(|(at, m)| &log[at + m.len()..])
        .filter(|rest| !rest.starts_with("<redacted>"))
        .map(|rest| &rest[..rest.len().min(40)])
        .collect()
}

fn assert_clean(what: &str, log: &str) {
    assert!(
        log.contains("TRACE"),
        "{what}: no trace output at -vvv\n{log}"
    );
    assert!(!log.contains("eyJ"), "{what}: a JWT in the log\n{log}");
    for marker in ["Bearer ", "access_token=", "?id=", "&id="] {
        let found = unredacted(log, marker);
        assert!(found.is_empty(), "{what}: {marker} {found:?}");
    }
}

#[test]
fn trace_logs_carry_no_tokens() {
    let mut command = asrs();
    command.args(["-vvv", "emulator", "start", "--port", "0"]);
    let mut emulator = Process::spawn(command);
    let connection_string =
        emulator.wait_line("the connection string", |l| l.starts_with("Endpoint="));

    for transport in ["web-sockets", "server-sent-events", "long-polling"] {
        let mut command = asrs();
        command.args(["-vvv", "-c", &connection_string, "-h", "chat"]);
        command.args(["client", "alice", "--transport", transport]);
        let mut client = Process::spawn(command);
        client.next_line("`Client started...`", |l| l == "Client started...");
        client.close_stdin();
        let status = client.wait_exit();
        assert!(
            status.success(),
            "{transport}: {status}\n{}",
            client.stderr()
        );
        let log = client.stderr();
        assert_clean(&format!("client over {transport}"), &log);
        if transport == "web-sockets" {
            // The WebSocket request is logged with its URL and headers: there was something to
            // hide, so this shows the redaction at work rather than nothing to redact.
            assert!(
                log.contains("<redacted>"),
                "{transport}: nothing redacted\n{log}"
            );
        }
    }
    assert_clean("emulator", &emulator.stderr());
}

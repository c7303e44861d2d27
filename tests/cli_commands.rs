//! The one-shot commands against `asrs emulator start`: exit statuses, output, errors.
#![cfg(feature = "cli")]

mod cli_support;

use cli_support::{run, start_client, start_emulator, start_emulator_with};

#[test]
fn send_exits_0_on_success_and_non_zero_with_the_error_otherwise() {
    let emulator = start_emulator();
    let (mut client, connection_id) = start_client(&emulator, "chat", "alice");

    let ok = run(emulator.asrs("chat"), &["send", "user", "alice"]);
    assert!(ok.status.success(), "{}", ok.stderr);
    assert_eq!(ok.stdout, "send user alice: accepted");
    client.wait_line("with the default message", |l| {
        l.ends_with("Received message from server asrs: Hello from server")
    });

    for (to, text) in [
        (vec!["broadcast"], "one"),
        (vec!["users", "x,alice"], "two"),
        (vec!["connection", connection_id.as_str()], "three"),
    ] {
        let args_json = format!(r#"["cli","{text}"]"#);
        let mut args = vec!["send"];
        args.extend(to);
        args.extend(["--args", &args_json]);
        let ok = run(emulator.asrs("chat"), &args);
        assert!(ok.status.success(), "{args:?}: {}", ok.stderr);
        client.next_line(text, |l| l.ends_with(&format!("from server cli: {text}")));
    }
    // Excluded connections do not receive a broadcast.
    let ok = run(
        emulator.asrs("chat"),
        &[
            "send",
            "broadcast",
            "--args",
            r#"["cli","excluded"]"#,
            "--exclude",
            &connection_id,
        ],
    );
    assert!(ok.status.success(), "{}", ok.stderr);
    assert_eq!(
        ok.stdout,
        format!("broadcast excluding {connection_id}: accepted")
    );
    let ok = run(
        emulator.asrs("chat"),
        &["send", "user", "alice", "--args", r#"["cli","after"]"#],
    );
    assert!(ok.status.success(), "{}", ok.stderr);
    client.next_line("the message after the excluded one", |l| {
        l.ends_with("from server cli: after")
    });

    // A bad hub name: refused, with the rule on standard error.
    let bad_hub = run(emulator.asrs("1-bad hub"), &["send", "broadcast"]);
    assert_eq!(bad_hub.status.code(), Some(2), "{}", bad_hub.stdout);
    assert!(bad_hub.stderr.contains("hub name"), "{}", bad_hub.stderr);
    assert!(bad_hub.stdout.is_empty());

    // A wrong access key: the service answers 401; the key is never echoed.
    let endpoint = emulator
        .connection_string
        .split(';')
        .filter(|p| !p.starts_with("AccessKey="))
        .collect::<Vec<_>>()
        .join(";");
    let wrong = format!("{endpoint};AccessKey=WrongKeyWrongKeyWrongKeyWrongKey1234");
    let mut command = cli_support::asrs();
    command.args(["-c", &wrong, "-h", "chat"]);
    let unauthorized = run(command, &["send", "user", "alice"]);
    assert_eq!(unauthorized.status.code(), Some(2));
    assert!(
        unauthorized.stderr.contains("401"),
        "{}",
        unauthorized.stderr
    );
    assert!(
        !unauthorized.stderr.contains("WrongKey"),
        "{}",
        unauthorized.stderr
    );
    assert!(!unauthorized.stdout.contains("WrongKey"));

    // Bad --args: a clear error before any call.
    let bad_args = run(
        emulator.asrs("chat"),
        &["send", "user", "alice", "--args", "{\"a\":1}"],
    );
    assert_eq!(bad_args.status.code(), Some(2));
    assert!(
        bad_args.stderr.contains("JSON array"),
        "{}",
        bad_args.stderr
    );
}

#[test]
fn exists_exits_0_when_it_exists_1_when_not_2_on_error() {
    let emulator = start_emulator();
    let (_client, connection_id) = start_client(&emulator, "chat", "alice");

    let yes = run(emulator.asrs("chat"), &["exists", "user", "alice"]);
    assert_eq!(yes.status.code(), Some(0), "{}", yes.stderr);
    assert_eq!(yes.stdout, "true");
    let no = run(emulator.asrs("chat"), &["exists", "user", "bob"]);
    assert_eq!(no.status.code(), Some(1), "{}", no.stderr);
    assert_eq!(no.stdout, "false");
    let yes = run(
        emulator.asrs("chat"),
        &["exists", "connection", &connection_id],
    );
    assert_eq!(yes.status.code(), Some(0), "{}", yes.stderr);
    let no = run(emulator.asrs("chat"), &["exists", "group", "room"]);
    assert_eq!(no.status.code(), Some(1), "{}", no.stderr);

    // Group commands change what exists reports.
    let added = run(
        emulator.asrs("chat"),
        &["group", "add-user", "room", "alice", "--ttl", "600"],
    );
    assert!(added.status.success(), "{}", added.stderr);
    assert_eq!(added.stdout, "add user alice to group room: accepted");
    let yes = run(
        emulator.asrs("chat"),
        &["exists", "user-in-group", "room", "alice"],
    );
    assert_eq!(yes.status.code(), Some(0), "{}", yes.stderr);
    let yes = run(emulator.asrs("chat"), &["exists", "group", "room"]);
    assert_eq!(yes.status.code(), Some(0), "{}", yes.stderr);
    let removed = run(
        emulator.asrs("chat"),
        &["group", "remove-user-all", "alice"],
    );
    assert!(removed.status.success(), "{}", removed.stderr);
    let no = run(
        emulator.asrs("chat"),
        &["exists", "user-in-group", "room", "alice"],
    );
    assert_eq!(no.status.code(), Some(1), "{}", no.stderr);
    let added = run(
        emulator.asrs("chat"),
        &["group", "add-connection", "lobby", &connection_id],
    );
    assert!(added.status.success(), "{}", added.stderr);
    let yes = run(emulator.asrs("chat"), &["exists", "group", "lobby"]);
    assert_eq!(yes.status.code(), Some(0), "{}", yes.stderr);
    let removed = run(
        emulator.asrs("chat"),
        &["group", "remove-connection-all", &connection_id],
    );
    assert!(removed.status.success(), "{}", removed.stderr);
    let no = run(emulator.asrs("chat"), &["exists", "group", "lobby"]);
    assert_eq!(no.status.code(), Some(1), "{}", no.stderr);

    // An error is 2, with the reason on standard error.
    let error = run(emulator.asrs("9hub"), &["exists", "user", "alice"]);
    assert_eq!(error.status.code(), Some(2), "{}", error.stdout);
    assert!(error.stderr.contains("hub name"), "{}", error.stderr);
    // 1.0-preview has no existence checks.
    let error = run(
        emulator.asrs("chat"),
        &["exists", "user", "alice", "--api-version", "1.0-preview"],
    );
    assert_eq!(error.status.code(), Some(2));
    assert!(
        error
            .stderr
            .contains("not supported by API version 1.0-preview"),
        "{}",
        error.stderr
    );
}

#[test]
fn close_health_token_and_negotiate() {
    let emulator = start_emulator();
    let (mut client, _connection_id) = start_client(&emulator, "chat", "carol");

    let healthy = run(emulator.asrs("chat"), &["health"]);
    assert!(healthy.status.success(), "{}", healthy.stderr);
    assert_eq!(healthy.stdout, "healthy");
    let healthy = run(emulator.asrs("chat"), &["health", "--api-version", "1.0"]);
    assert!(healthy.status.success(), "{}", healthy.stderr);

    let negotiate = run(emulator.asrs("Chat"), &["negotiate", "--user", "dave"]);
    assert!(negotiate.status.success(), "{}", negotiate.stderr);
    let json: serde_json::Value = serde_json::from_str(&negotiate.stdout).unwrap();
    assert!(
        json["url"].as_str().unwrap().ends_with("/client/?hub=chat"),
        "{json}"
    );
    assert_eq!(json["accessToken"].as_str().unwrap().split('.').count(), 3);

    let token = run(
        emulator.asrs("chat"),
        &["token", "--client", "--user", "dave", "--lifetime", "60"],
    );
    assert!(token.status.success(), "{}", token.stderr);
    assert_eq!(token.stdout.split('.').count(), 3, "{}", token.stdout);
    let rest = run(
        emulator.asrs("chat"),
        &["token", "--audience", "http://localhost/api/health"],
    );
    assert!(rest.status.success(), "{}", rest.stderr);
    let which = run(emulator.asrs("chat"), &["token"]);
    assert_eq!(which.status.code(), Some(2));
    assert!(which.stderr.contains("--client") && which.stderr.contains("--audience"));

    let closed = run(
        emulator.asrs("chat"),
        &["close", "user", "carol", "--reason", "shift over"],
    );
    assert!(closed.status.success(), "{}", closed.stderr);
    assert_eq!(closed.stdout, "close user carol: accepted");
    client.wait_line("saying it was closed", |l| {
        l == "Connection closed: shift over"
    });
    assert!(client.wait_exit().success());

    // Bulk close needs 2022-06-01.
    let old = run(
        emulator.asrs("chat"),
        &["close", "all", "--api-version", "1.0"],
    );
    assert_eq!(old.status.code(), Some(2));
    assert!(
        old.stderr.contains("not supported by API version 1.0"),
        "{}",
        old.stderr
    );
}

#[test]
fn help_is_a_long_flag_and_h_names_the_hub() {
    let help = run(cli_support::asrs(), &["--help"]);
    assert!(help.status.success());
    assert!(help.stdout.contains("-h, --hub <HUB>"), "{}", help.stdout);
    assert!(help.stdout.contains("--help"));
    let help = run(cli_support::asrs(), &["send", "user", "--help"]);
    assert!(help.status.success());
    assert!(help.stdout.contains("--target"), "{}", help.stdout);
}

#[test]
fn verbose_logs_go_to_stderr_without_the_key_or_tokens() {
    const KEY: &str = "VerboseTestAccessKey0123456789abcdef";
    let emulator = start_emulator_with(&["--access-key", KEY]);
    let quiet = run(emulator.asrs("chat"), &["send", "broadcast"]);
    assert!(quiet.status.success(), "{}", quiet.stderr);
    assert!(quiet.stderr.is_empty(), "{}", quiet.stderr);
    for verbosity in ["-v", "-vv", "-vvv"] {
        let verbose = run(emulator.asrs("chat"), &[verbosity, "send", "user", "alice"]);
        assert!(verbose.status.success(), "{}", verbose.stderr);
        assert_eq!(verbose.stdout, "send user alice: accepted");
        assert!(
            verbose.stderr.contains("INFO"),
            "{verbosity}: {}",
            verbose.stderr
        );
        assert!(
            !verbose.stderr.contains(KEY),
            "{verbosity}: {}",
            verbose.stderr
        );
        // No JWT (they start with the base64 of `{"`) and no Authorization header.
        assert!(
            !verbose.stderr.contains("eyJ"),
            "{verbosity}: {}",
            verbose.stderr
        );
        assert!(
            !verbose.stderr.contains("Bearer"),
            "{verbosity}: {}",
            verbose.stderr
        );
    }
}

//! Connection-string lookup: -c, then Azure__SignalR__ConnectionString, then
//! AZURE_SIGNALR_CONNECTION_STRING, then the config file; errors list the ways and never echo the
//! access key.
#![cfg(feature = "cli")]

mod cli_support;

use cli_support::{asrs, asrs_with_config, fresh_config_path, run, start_emulator};

const SECRET: &str = "VerySecretKeyThatMustNeverBePrinted0123";

#[test]
fn without_a_connection_string_the_error_lists_every_way() {
    let config = fresh_config_path();
    let command = asrs_with_config(&config);
    let missing = run(command, &["-h", "chat", "send", "broadcast"]);
    assert_eq!(missing.status.code(), Some(2));
    for way in [
        "-c/--connection-string",
        "Azure__SignalR__ConnectionString",
        "AZURE_SIGNALR_CONNECTION_STRING",
        "asrs config set connection-string",
    ] {
        assert!(
            missing.stderr.contains(way),
            "{way} missing from:\n{}",
            missing.stderr
        );
    }
    assert!(
        missing.stderr.contains(&config.display().to_string()),
        "{}",
        missing.stderr
    );
}

#[test]
fn without_a_hub_the_error_says_how_to_name_one() {
    let mut command = asrs();
    command.args([
        "-c",
        &format!("Endpoint=http://localhost;Port=1;AccessKey={SECRET}"),
    ]);
    let missing = run(command, &["send", "broadcast"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(missing.stderr.contains("-h/--hub"), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("asrs config set hub"),
        "{}",
        missing.stderr
    );
    assert!(!missing.stderr.contains(SECRET));
}

#[test]
fn a_malformed_connection_string_names_the_bad_key_and_its_source_not_the_secret() {
    let mut command = asrs();
    command.env(
        "AZURE_SIGNALR_CONNECTION_STRING",
        format!("Endpoint=http://localhost;Port=http;AccessKey={SECRET}"),
    );
    let bad = run(command, &["-h", "chat", "health"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stderr.contains("Port"), "{}", bad.stderr);
    assert!(
        bad.stderr.contains("AZURE_SIGNALR_CONNECTION_STRING"),
        "{}",
        bad.stderr
    );
    assert!(!bad.stderr.contains(SECRET), "{}", bad.stderr);

    // A key pasted without `AccessKey=` is not echoed either.
    let mut command = asrs();
    command.args(["-c", &format!("Endpoint=http://localhost;{SECRET}")]);
    let bad = run(command, &["-h", "chat", "health"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        bad.stderr.contains("-c/--connection-string"),
        "{}",
        bad.stderr
    );
    assert!(!bad.stderr.contains(SECRET), "{}", bad.stderr);
}

#[test]
fn lookup_order_flag_then_each_environment_variable_then_the_config_file() {
    let emulator = start_emulator();
    let good = emulator.connection_string.as_str();
    let unreachable = format!("Endpoint=http://localhost;Port=http;AccessKey={SECRET}");
    let config = fresh_config_path();

    // The config file, written by `asrs config set`.
    let command = asrs_with_config(&config);
    let set = run(command, &["config", "set", "connection-string", good]);
    assert!(set.status.success(), "{}", set.stderr);
    assert!(set.stdout.contains(&config.display().to_string()));
    assert!(!set.stdout.contains("AccessKey="), "{}", set.stdout);
    let command = asrs_with_config(&config);
    let set = run(command, &["config", "set", "hub", "chat"]);
    assert!(set.status.success(), "{}", set.stderr);
    let command = asrs_with_config(&config);
    let from_file = run(command, &["send", "broadcast"]);
    assert!(from_file.status.success(), "{}", from_file.stderr);
    let command = asrs_with_config(&config);
    let shown = run(command, &["config", "show"]);
    assert!(shown.status.success());
    assert!(
        shown.stdout.contains("AccessKey=<redacted>"),
        "{}",
        shown.stdout
    );
    assert!(!shown.stdout.contains(good), "{}", shown.stdout);

    // AZURE_SIGNALR_CONNECTION_STRING wins over the file (a bad one proves it is read).
    let mut command = asrs_with_config(&config);
    command.env("AZURE_SIGNALR_CONNECTION_STRING", &unreachable);
    let from_env = run(command, &["send", "broadcast"]);
    assert_eq!(from_env.status.code(), Some(2));
    assert!(
        from_env.stderr.contains("AZURE_SIGNALR_CONNECTION_STRING"),
        "{}",
        from_env.stderr
    );

    // Azure__SignalR__ConnectionString wins over AZURE_SIGNALR_CONNECTION_STRING.
    let mut command = asrs_with_config(&config);
    command
        .env("Azure__SignalR__ConnectionString", good)
        .env("AZURE_SIGNALR_CONNECTION_STRING", &unreachable);
    let from_env = run(command, &["send", "broadcast"]);
    assert!(from_env.status.success(), "{}", from_env.stderr);

    // -c wins over both.
    let mut command = asrs_with_config(&config);
    command
        .env("Azure__SignalR__ConnectionString", &unreachable)
        .env("AZURE_SIGNALR_CONNECTION_STRING", &unreachable);
    let from_flag = run(command, &["send", "broadcast", "-c", good]);
    assert!(from_flag.status.success(), "{}", from_flag.stderr);

    // A string that does not parse is not saved.
    let command = asrs_with_config(&config);
    let refused = run(
        command,
        &[
            "config",
            "set",
            "connection-string",
            &format!("AccessKey={SECRET}"),
        ],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(refused.stderr.contains("Endpoint"), "{}", refused.stderr);
    assert!(!refused.stderr.contains(SECRET));
    let command = asrs_with_config(&config);
    let still = run(command, &["send", "broadcast"]);
    assert!(still.status.success(), "{}", still.stderr);
    let _ = std::fs::remove_dir_all(config.parent().unwrap());
}

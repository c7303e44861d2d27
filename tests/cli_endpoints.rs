//! Several service instances from the command line: `-c NAME=CONNSTR[:secondary]` (repeatable),
//! the `Azure:SignalR:Endpoints:<name>[:<type>]` settings in the config file and the
//! environment, `asrs health` per endpoint with one instance down, sends that reach clients of
//! every instance, and errors that name the endpoint but never a key.
#![cfg(feature = "cli")]

mod cli_support;

use cli_support::{
    asrs, asrs_with_config, fresh_config_path, run, start_client, start_emulator_with,
    EmulatorProcess, Run,
};

const EAST_KEY: &str = "EastSecretKeyThatMustNeverBePrinted0123456";
const WEST_KEY: &str = "WestSecretKeyThatMustNeverBePrinted0123456";

fn two_emulators() -> (EmulatorProcess, EmulatorProcess) {
    (
        start_emulator_with(&["--access-key", EAST_KEY]),
        start_emulator_with(&["--access-key", WEST_KEY]),
    )
}

/// Neither key in anything the run printed.
fn assert_no_key(run: &Run) {
    for key in [EAST_KEY, WEST_KEY] {
        assert!(
            !run.stdout.contains(key) && !run.stderr.contains(key),
            "a key was printed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

/// The line of `asrs health` about endpoint `name`.
fn health_line<'a>(run: &'a Run, name: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| l.starts_with(&format!("{name} (")))
        .unwrap_or_else(|| panic!("no line for {name}:\n{}\n{}", run.stdout, run.stderr))
}

#[test]
fn health_shows_each_endpoint_and_names_the_one_that_is_down() {
    let (east, west) = two_emulators();
    // One -c before the subcommand and one after: both count.
    let health = |west_cs: &str| {
        let mut command = asrs();
        command.args(["-c", &format!("east={}", east.connection_string)]);
        let west = format!("west={west_cs}:secondary");
        run(command, &["health", "-c", &west])
    };
    let up = health(&west.connection_string);
    assert!(up.status.success(), "{}\n{}", up.stdout, up.stderr);
    let line = health_line(&up, "east");
    assert!(
        line.starts_with("east (primary, http://") && line.ends_with(": online"),
        "{line}"
    );
    let line = health_line(&up, "west");
    assert!(
        line.starts_with("west (secondary, http://") && line.ends_with(": online"),
        "{line}"
    );
    assert_no_key(&up);

    let (mut east_client, _) = start_client(&east, "chat", "alice");
    let west_cs = west.connection_string.clone();
    drop(west); // kills the process: its port refuses connections
    let down = health(&west_cs);
    assert_eq!(
        down.status.code(),
        Some(2),
        "{}\n{}",
        down.stdout,
        down.stderr
    );
    assert!(health_line(&down, "east").ends_with(": online"));
    let line = health_line(&down, "west");
    assert!(line.contains(": offline: "), "{line}");
    assert!(
        down.stderr.contains("1 of 2 endpoints offline: west"),
        "{}",
        down.stderr
    );
    assert_no_key(&down);

    // A send still reaches east's clients, and says it missed west: an error by default...
    let send = |extra: &[&str], text: &str| {
        let mut command = asrs();
        command.args([
            "-h",
            "chat",
            "-c",
            &format!("east={}", east.connection_string),
        ]);
        command
            .args(["-c", &format!("west={west_cs}:secondary")])
            .args(extra);
        let args = format!(r#"["srv","{text}"]"#);
        run(command, &["send", "broadcast", "--args", &args])
    };
    let partial = send(&[], "first");
    assert_eq!(partial.status.code(), Some(2), "{}", partial.stdout);
    assert!(
        partial.stderr.contains("failed on west (") && partial.stderr.contains("succeeded on east"),
        "{}",
        partial.stderr
    );
    east_client.next_line("the first broadcast", |l| {
        l.ends_with("from server srv: first")
    });
    assert_no_key(&partial);
    // ...and with --allow-partial a success, west named on standard error.
    let allowed = send(&["--allow-partial"], "second");
    assert!(allowed.status.success(), "{}", allowed.stderr);
    assert_eq!(allowed.stdout, "broadcast: accepted");
    assert!(allowed.stderr.contains("west"), "{}", allowed.stderr);
    east_client.next_line("the second broadcast", |l| {
        l.ends_with("from server srv: second")
    });
    assert_no_key(&allowed);
}

#[test]
fn config_file_endpoints_reach_the_clients_of_each_instance() {
    let (east, west) = two_emulators();
    // One way to write each: nested, as in appsettings.json, and flat, with the type.
    let config = fresh_config_path();
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let settings = serde_json::json!({
        "hub": "chat",
        "Azure": { "SignalR": { "Endpoints": { "east": east.connection_string } } },
        "Azure:SignalR:Endpoints:west:Secondary": west.connection_string,
    });
    std::fs::write(&config, settings.to_string()).unwrap();

    // alice has a connection on each instance, bob one on west.
    let (mut alice_east, _) = start_client(&east, "chat", "alice");
    let (mut alice_west, _) = start_client(&west, "chat", "alice");
    let (mut bob_west, _) = start_client(&west, "chat", "bob");

    let sent = run(
        asrs_with_config(&config),
        &["send", "user", "alice", "--args", r#"["srv","to alice"]"#],
    );
    assert!(sent.status.success(), "{}", sent.stderr);
    assert_eq!(sent.stdout, "send user alice: accepted");
    let sent = run(
        asrs_with_config(&config),
        &["send", "broadcast", "--args", r#"["srv","to all"]"#],
    );
    assert!(sent.status.success(), "{}", sent.stderr);
    // One copy per connection: the user message, then the broadcast, nothing in between.
    for client in [&mut alice_east, &mut alice_west] {
        client.next_line("alice's message", |l| {
            l.ends_with("Received message from server srv: to alice")
        });
        client.next_line("the broadcast", |l| {
            l.ends_with("Received message from server srv: to all")
        });
    }
    bob_west.next_line("the broadcast only", |l| {
        l.ends_with("Received message from server srv: to all")
    });

    // `config show` lists both, keys redacted; `config set` keeps them.
    let set = run(
        asrs_with_config(&config),
        &["config", "set", "hub", "chat2"],
    );
    assert!(set.status.success(), "{}", set.stderr);
    let shown = run(asrs_with_config(&config), &["config", "show"]);
    assert!(shown.status.success(), "{}", shown.stderr);
    for name in ["east (primary): Endpoint=", "west (secondary): Endpoint="] {
        let line = shown
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{}", shown.stdout));
        assert!(line.contains("AccessKey=<redacted>"), "{line}");
    }
    assert!(shown.stdout.contains("hub: chat2"), "{}", shown.stdout);
    assert_no_key(&shown);
    let _ = std::fs::remove_dir_all(config.parent().unwrap());
}

#[test]
fn new_clients_go_to_an_online_endpoint_from_the_first_negotiation() {
    let (east, west) = two_emulators();
    let east_cs = east.connection_string.clone();
    drop(east); // the primary is down before anything ran
    let with_both = || {
        let mut command = asrs();
        command.args(["-h", "chat", "-c", &format!("east={east_cs}")]);
        command.args(["-c", &format!("west={}:secondary", west.connection_string)]);
        command
    };
    let west_url = west
        .connection_string
        .split(';')
        .find_map(|kv| kv.strip_prefix("Port="))
        .map(|port| format!(":{port}/client/?hub=chat"))
        .unwrap();
    let negotiated = run(with_both(), &["negotiate", "--user", "bob"]);
    assert!(negotiated.status.success(), "{}", negotiated.stderr);
    let answer: serde_json::Value = serde_json::from_str(&negotiated.stdout).unwrap();
    let url = answer["url"].as_str().unwrap();
    assert!(url.ends_with(&west_url), "{url} is not west's ({west_url})");

    // `asrs client` connects there too: west knows its connection.
    let mut command = with_both();
    command.args(["client", "carol"]);
    let mut client = cli_support::Process::spawn(command);
    client.next_line("`Client started...`", |l| l == "Client started...");
    let id = client.next_line("its connection id", |l| l.starts_with("Connection ID: "));
    let id = id.trim_start_matches("Connection ID: ");
    let exists = run(west.asrs("chat"), &["exists", "connection", id]);
    assert_eq!(exists.stdout, "true", "{}", exists.stderr);
}

#[test]
fn environment_variables_in_the_settings_form() {
    let (east, west) = two_emulators();
    let mut command = asrs();
    command
        .env("Azure__SignalR__Endpoints__east", &east.connection_string)
        .env(
            "Azure__SignalR__Endpoints__west__Secondary",
            &west.connection_string,
        );
    let health = run(command, &["health"]);
    assert!(
        health.status.success(),
        "{}\n{}",
        health.stdout,
        health.stderr
    );
    assert!(health_line(&health, "east").starts_with("east (primary, "));
    assert!(health_line(&health, "west").starts_with("west (secondary, "));
    assert_no_key(&health);

    // A plain connection string beside them is the endpoint `default`.
    let mut command = asrs();
    command
        .env("Azure__SignalR__ConnectionString", &east.connection_string)
        .env(
            "Azure__SignalR__Endpoints__west__Secondary",
            &west.connection_string,
        );
    let health = run(command, &["health"]);
    assert!(
        health.status.success(),
        "{}\n{}",
        health.stdout,
        health.stderr
    );
    assert!(health_line(&health, "default").starts_with("default (primary, "));
    assert!(health_line(&health, "west").starts_with("west (secondary, "));
    assert_no_key(&health);
}

#[test]
fn bad_endpoint_lists_are_refused_naming_the_endpoint_not_the_key() {
    let east = format!("Endpoint=http://localhost;Port=1;AccessKey={EAST_KEY};Version=1.0;");
    let west = format!("Endpoint=http://localhost;Port=2;AccessKey={WEST_KEY};Version=1.0;");
    let refused = |args: &[&str], says: &str| {
        let mut command = asrs();
        for arg in args {
            command.args(["-c", arg]);
        }
        let run = run(command, &["-h", "chat", "send", "broadcast"]);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {}", run.stdout);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert_no_key(&run);
    };
    refused(&[&east, &west], "two endpoints are named `default`");
    refused(
        &[&format!("east={east}"), &format!("EAST={west}")],
        "two endpoints are named `EAST`",
    );
    refused(&[&format!("{east}:secondary")], "needs a name");
    refused(
        &[
            &format!("east={east}"),
            &format!("west=Endpoint=http://localhost;Port=http;AccessKey={WEST_KEY}"),
        ],
        "invalid connection string of endpoint `west`",
    );

    let config = fresh_config_path();
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let settings = serde_json::json!({ "Azure:SignalR:Endpoints:east:Tertiary": east });
    std::fs::write(&config, settings.to_string()).unwrap();
    let bad = run(asrs_with_config(&config), &["health"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        bad.stderr.contains("Azure:SignalR:Endpoints:east:Tertiary")
            && bad.stderr.contains("Primary or Secondary"),
        "{}",
        bad.stderr
    );
    assert_no_key(&bad);
    let _ = std::fs::remove_dir_all(config.parent().unwrap());
}

#[test]
fn config_set_and_unset_endpoint() {
    let (east, west) = two_emulators();
    let config = fresh_config_path();
    let asrs_config = |args: &[&str]| run(asrs_with_config(&config), args);
    for value in [
        format!("east={}", east.connection_string),
        format!("west={}:secondary", west.connection_string),
    ] {
        let set = asrs_config(&["config", "set", "endpoint", &value]);
        assert!(set.status.success(), "{}", set.stderr);
        assert_no_key(&set);
    }
    let health = asrs_config(&["health"]);
    assert!(
        health.status.success(),
        "{}\n{}",
        health.stdout,
        health.stderr
    );
    assert!(health_line(&health, "east").starts_with("east (primary, "));
    assert!(health_line(&health, "west").starts_with("west (secondary, "));

    // Without a name, or with a bad string, nothing is saved.
    let refused = asrs_config(&["config", "set", "endpoint", &east.connection_string]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        refused.stderr.contains("name the endpoint"),
        "{}",
        refused.stderr
    );
    assert_no_key(&refused);

    let unset = asrs_config(&["config", "unset", "endpoint", "WEST"]);
    assert!(unset.status.success(), "{}", unset.stderr);
    let shown = asrs_config(&["config", "show"]);
    assert!(
        shown.stdout.contains("  east (primary): "),
        "{}",
        shown.stdout
    );
    assert!(!shown.stdout.contains("west"), "{}", shown.stdout);
    assert_no_key(&shown);
    let again = asrs_config(&["config", "unset", "endpoint", "west"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        again.stderr.contains("no endpoint `west`"),
        "{}",
        again.stderr
    );
    let _ = std::fs::remove_dir_all(config.parent().unwrap());
}

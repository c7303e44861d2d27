//! The quickstart's flow with the real binaries: `asrs emulator start`, `asrs client <user>`
//! whose output is checked, and `asrs server` driven over standard input.
#![cfg(feature = "cli")]

mod cli_support;

use cli_support::{start_client, start_emulator, Process};

#[test]
fn server_commands_reach_the_client_and_the_loop_survives_bad_input() {
    let emulator = start_emulator();
    let (mut client, connection_id) = start_client(&emulator, "chat", "alice");

    let mut command = emulator.asrs("chat");
    command.args(["server", "--name", "srv1"]);
    let mut server = Process::spawn(command);
    server.next_line("the start banner", |l| {
        l.starts_with("Server srv1 started on hub chat")
    });

    // The quickstart's first command, with the default text.
    server.send("send user alice");
    server.next_line("send accepted", |l| l == "send user alice: accepted");
    let line = client.wait_line("with the message", |l| l.contains("Received message"));
    assert!(
        line.starts_with('[')
            && line.ends_with("] Received message from server srv1: Hello from server"),
        "{line}"
    );

    // Text after the arguments; a send to another user does not reach alice.
    server.send("send user bob not for alice");
    server.next_line("send accepted", |l| l == "send user bob: accepted");
    server.send("broadcast hi all");
    server.next_line("broadcast accepted", |l| l == "broadcast: accepted");
    client.next_line("the broadcast, not bob's message", |l| {
        l.ends_with("Received message from server srv1: hi all")
    });

    server.send("exists user alice");
    server.next_line("true", |l| l == "exists user alice: true");
    server.send("exists user nobody");
    server.next_line("false", |l| l == "exists user nobody: false");
    server.send(&format!("exists connection {connection_id}"));
    server.next_line("true", |l| {
        l == format!("exists connection {connection_id}: true")
    });

    // An unknown command and a malformed one are reported; the loop goes on.
    server.send("dance wildly");
    server.next_line("unknown command", |l| {
        l.starts_with("unknown command `dance wildly`")
    });
    server.send("add user alice");
    server.next_line("usage", |l| l.starts_with("usage: add user <user> <group>"));

    // Membership, then sends to groups and to the connection.
    server.send("add user alice room1");
    server.next_line("add accepted", |l| {
        l == "add user alice to group room1: accepted"
    });
    server.send("exists group room1");
    server.next_line("true", |l| l == "exists group room1: true");
    server.send("send group room1 hello room");
    server.next_line("accepted", |l| l == "send group room1: accepted");
    client.next_line("the group message", |l| {
        l.ends_with("from server srv1: hello room")
    });
    server.send("send groups nobody-here,room1 hello groups");
    server.next_line("accepted", |l| {
        l == "send groups nobody-here,room1: accepted"
    });
    client.next_line("the groups message", |l| {
        l.ends_with("from server srv1: hello groups")
    });
    server.send("send users bob,alice hello users");
    server.next_line("accepted", |l| l == "send users bob,alice: accepted");
    client.next_line("the users message", |l| {
        l.ends_with("from server srv1: hello users")
    });
    server.send("remove user alice room1");
    server.next_line("remove accepted", |l| {
        l == "remove user alice from group room1: accepted"
    });
    server.send("send group room1 too late");
    server.next_line("accepted", |l| l == "send group room1: accepted");
    server.send(&format!("add connection {connection_id} room2"));
    server.next_line("accepted", |l| {
        l == format!("add connection {connection_id} to group room2: accepted")
    });
    server.send(&format!("send connection {connection_id} direct"));
    server.next_line("accepted", |l| {
        l == format!("send connection {connection_id}: accepted")
    });
    client.next_line("the direct message, not the one after leaving room1", |l| {
        l.ends_with("from server srv1: direct")
    });
    server.send(&format!("remove connection {connection_id} room2"));
    server.next_line("accepted", |l| {
        l == format!("remove connection {connection_id} from group room2: accepted")
    });
    server.send("health");
    server.next_line("healthy", |l| l == "health: healthy");

    // A refused call is reported on its line and the loop goes on.
    let long_group = "g".repeat(1025);
    server.send(&format!("send group {long_group}"));
    server.next_line("the error", |l| {
        l.starts_with(&format!("send group {long_group}: error: ")) && l.contains("group name")
    });
    server.send("send group");
    server.next_line("usage", |l| l.starts_with("usage: send group"));
    server.send("health");
    server.next_line("healthy", |l| l == "health: healthy");

    // End of input ends the server with status 0.
    server.close_stdin();
    let status = server.wait_exit();
    assert!(
        status.success(),
        "server exit status {status}\n{}",
        server.stderr()
    );

    // End of input ends the client with status 0.
    client.close_stdin();
    let status = client.wait_exit();
    assert!(
        status.success(),
        "client exit status {status}\n{}",
        client.stderr()
    );
}

#[test]
fn client_prints_other_targets_as_json_and_reports_a_close() {
    let emulator = start_emulator();
    let (mut client, connection_id) = start_client(&emulator, "news", "bob");

    let mut command = emulator.asrs("news");
    command.args([
        "send",
        "user",
        "bob",
        "--target",
        "newMessage",
        "--args",
        r#"["a",1,{"k":null}]"#,
    ]);
    let sent = cli_support::run(command, &[]);
    assert!(sent.status.success(), "{}", sent.stderr);
    let line = client.wait_line("with the invocation", |l| l.contains("Received"));
    assert!(
        line.ends_with(r#"] Received newMessage: ["a",1,{"k":null}]"#),
        "{line}"
    );

    // `close connection` with a reason from the server loop: the client says so and exits 0.
    let mut command = emulator.asrs("news");
    command.arg("server");
    let mut server = Process::spawn(command);
    server.send(&format!(
        "close connection {connection_id} maintenance window"
    ));
    server.wait_line("close accepted", |l| {
        l == format!("close connection {connection_id}: accepted")
    });
    client.wait_line("saying it was closed", |l| {
        l == "Connection closed: maintenance window"
    });
    let status = client.wait_exit();
    assert!(
        status.success(),
        "client exit status {status}\n{}",
        client.stderr()
    );
    server.send("quit");
    assert!(server.wait_exit().success());
}

#[cfg(unix)]
#[test]
fn client_exits_0_on_ctrl_c() {
    let emulator = start_emulator();
    let (mut client, connection_id) = start_client(&emulator, "chat", "erin");
    // SIGINT is what Ctrl-C sends.
    let status = std::process::Command::new("kill")
        .args(["-INT", &client.id().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success());
    let status = client.wait_exit();
    assert!(
        status.success(),
        "client exit status {status}\n{}",
        client.stderr()
    );
    // It left: the connection is gone (the emulator notices asynchronously, so ask until it
    // answers "no" or the wait is over).
    let deadline = std::time::Instant::now() + cli_support::WAIT;
    loop {
        let gone = cli_support::run(
            emulator.asrs("chat"),
            &["exists", "connection", &connection_id],
        );
        match gone.status.code() {
            Some(1) => break,
            // Still there: ask again shortly rather than spawn processes back to back.
            Some(0) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            _ => panic!(
                "connection still there or error: {} {}",
                gone.stdout, gone.stderr
            ),
        }
    }
}

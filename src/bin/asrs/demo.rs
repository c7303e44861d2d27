//! `asrs demo`: everything in one command, on an embedded emulator. Connects four listeners
//! (each on another transport or protocol), changes group membership, performs every kind of
//! send, existence check and close, and prints what each listener received next to what it
//! should have. Exits 0 only when every check passed; every wait has a timeout.
//!
//! After each step a `Checkpoint` message goes to every open connection: what a listener
//! received before its checkpoint is exactly what that step delivered to it.

use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use azure_signalr_rest::emulator::{Emulator, EmulatorHandle};
use azure_signalr_rest::listener::{Event, Listener, TransportType};
use azure_signalr_rest::protocol::HubProtocol;
use azure_signalr_rest::{
    AddUserOptions, ApiVersion, CloseOptions, HubClient, Message, ServiceClient,
};
use clap::Args;
use serde_json::Value;
use tokio::time::{timeout, Instant};

use crate::commands::{send_message, Recipient, SEND_MESSAGE_TARGET};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seconds to wait for each expected message or event.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    wait: u64,
    /// Seconds the whole demo may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 180)]
    timeout: u64,
}

const HUB: &str = "demo";
const SERVER_NAME: &str = "demo";
const CHECKPOINT: &str = "Checkpoint";
/// Between two asks of [`Demo::exists_eventually`].
const RECHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The listeners: name (also the user id), transport, protocol.
const MEMBERS: [(&str, TransportType, HubProtocol); 4] = [
    ("alice", TransportType::WebSockets, HubProtocol::Json),
    ("bob", TransportType::WebSockets, HubProtocol::MessagePack),
    ("carol", TransportType::ServerSentEvents, HubProtocol::Json),
    ("dave", TransportType::LongPolling, HubProtocol::Json),
];

struct Member {
    name: &'static str,
    listener: Listener,
    connection_id: String,
    open: bool,
}

/// What a listener should see in a step.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// A `SendMessage` with this text.
    Text(String),
    /// The end of the connection, its error containing this text.
    Closed(&'static str),
}

/// What a listener saw.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Text(String),
    Other {
        target: String,
        arguments: Vec<Value>,
    },
    Closed(Option<String>),
    Reconnecting(String),
}

impl Seen {
    fn matches(&self, expected: &Expect) -> bool {
        match (self, expected) {
            (Seen::Text(seen), Expect::Text(want)) => seen == want,
            (Seen::Closed(error), Expect::Closed(want)) => {
                error.as_deref().unwrap_or_default().contains(want)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Text(text) => write!(f, "\"{text}\""),
            Expect::Closed("") => f.write_str("closed"),
            Expect::Closed(reason) => write!(f, "closed ({reason})"),
        }
    }
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seen::Text(text) => write!(f, "\"{text}\""),
            Seen::Other { target, arguments } => {
                write!(f, "{target}{}", Value::Array(arguments.clone()))
            }
            Seen::Closed(None) => f.write_str("closed"),
            Seen::Closed(Some(error)) => write!(f, "closed ({error})"),
            Seen::Reconnecting(error) => write!(f, "reconnecting ({error})"),
        }
    }
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        "(nothing)".to_owned()
    } else {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

struct Demo {
    hub: HubClient,
    members: Vec<Member>,
    wait: Duration,
    step: u32,
    checks: u32,
    failures: Vec<String>,
}

impl Demo {
    fn member(&self, name: &str) -> &Member {
        self.members
            .iter()
            .find(|m| m.name == name)
            .expect("a demo member")
    }

    fn connection(&self, name: &str) -> String {
        self.member(name).connection_id.clone()
    }

    fn next_step(&mut self, title: &str) -> String {
        self.step += 1;
        println!();
        println!("step {}: {title}", self.step);
        format!("#{} {title}", self.step)
    }

    fn record(&mut self, ok: bool, what: String) {
        self.checks += 1;
        if !ok {
            self.failures.push(format!("step {}: {what}", self.step));
        }
    }

    /// Prints and records the outcome of a REST call that must succeed.
    fn call(&mut self, what: &str, result: Result<(), azure_signalr_rest::Error>) {
        match result {
            Ok(()) => println!("  {what}: accepted"),
            Err(e) => {
                println!("  {what}: error: {e}   FAILED");
                self.record(false, format!("{what}: {e}"));
                return;
            }
        }
        self.record(true, String::new());
    }

    /// Prints and records an existence check.
    fn exists(&mut self, what: &str, result: Result<bool, azure_signalr_rest::Error>, want: bool) {
        let (seen, ok) = match result {
            Ok(seen) => (seen.to_string(), seen == want),
            Err(e) => (format!("error: {e}"), false),
        };
        println!(
            "  exists {what}: expected {want}, got {seen}   {}",
            if ok { "ok" } else { "FAILED" }
        );
        self.record(ok, format!("exists {what}: expected {want}, got {seen}"));
    }

    /// An existence check of state the service updates asynchronously (a closed connection
    /// leaves shortly after its Close message): asks again until it answers `want` or the wait
    /// is over.
    async fn exists_eventually<F, Fut>(&mut self, what: &str, want: bool, check: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<bool, azure_signalr_rest::Error>>,
    {
        let deadline = Instant::now() + self.wait;
        let mut result = check().await;
        while !matches!(result, Ok(seen) if seen == want) && Instant::now() < deadline {
            tokio::time::sleep(RECHECK_INTERVAL).await;
            result = check().await;
        }
        self.exists(what, result, want);
    }

    /// Sends `SendMessage(demo, text)` to `to` (through `hub`, whose API version may differ
    /// from the demo's), then checks that exactly `receivers` got it.
    async fn send(&mut self, hub: &HubClient, to: Recipient, suffix: &str, receivers: &[&str]) {
        let title = format!("{}{suffix}", to.describe());
        let text = self.next_step(&title);
        let result = to.send(hub, &send_message(SERVER_NAME, &text)).await;
        self.call(&title, result);
        let expected = receivers
            .iter()
            .map(|r| (*r, vec![Expect::Text(text.clone())]))
            .collect::<Vec<_>>();
        self.deliveries(&expected).await;
    }

    /// Sends a checkpoint to every open connection and compares what each received before it
    /// with `expected` (nothing, for members not named). A member expected to close gets no
    /// checkpoint (the service may deliver one before closing): it is read until it closes.
    async fn deliveries(&mut self, expected: &[(&str, Vec<Expect>)]) {
        let step = self.step;
        let closing = |name: &str| {
            expected
                .iter()
                .any(|(n, e)| *n == name && matches!(e.last(), Some(Expect::Closed(_))))
        };
        let checkpoint = Message::from_values(CHECKPOINT, vec![Value::from(step)]);
        for member in self.members.iter().filter(|m| m.open && !closing(m.name)) {
            if let Err(e) = self
                .hub
                .send_to_connection(&member.connection_id, &checkpoint)
                .await
            {
                println!("  checkpoint to {}: error: {e}", member.name);
            }
        }
        let wait = self.wait;
        let mut outcomes = Vec::new();
        for member in self.members.iter_mut().filter(|m| m.open) {
            let want = expected
                .iter()
                .find(|(name, _)| *name == member.name)
                .map(|(_, e)| e.clone())
                .unwrap_or_default();
            let until = if closing(member.name) {
                Until::Closed
            } else {
                Until::Checkpoint(step)
            };
            let (seen, ended) = receive(&mut member.listener, until, wait).await;
            if ended {
                member.open = false;
            }
            let ok = seen.len() == want.len() && seen.iter().zip(&want).all(|(s, w)| s.matches(w));
            outcomes.push((member.name, want, seen, ok));
        }
        for (name, want, seen, ok) in outcomes {
            let (want, seen) = (list(&want), list(&seen));
            println!(
                "  {name:<6} expected: {want:<40} received: {seen:<40} {}",
                if ok { "ok" } else { "FAILED" }
            );
            self.record(ok, format!("{name} expected {want}, received {seen}"));
        }
    }
}

/// Where [`receive`] stops.
#[derive(Clone, Copy)]
enum Until {
    Checkpoint(u32),
    Closed,
}

/// Reads events until the checkpoint of the step arrives or the connection ends (whichever
/// `until` names), or `wait` passes without it. Returns what came before, and whether the
/// connection ended.
async fn receive(listener: &mut Listener, until: Until, wait: Duration) -> (Vec<Seen>, bool) {
    let deadline = Instant::now() + wait;
    let mut seen = Vec::new();
    loop {
        let event = match timeout(
            deadline.saturating_duration_since(Instant::now()),
            listener.next(),
        )
        .await
        {
            Err(_elapsed) => {
                let missing = match until {
                    Until::Checkpoint(_) => "checkpoint",
                    Until::Closed => "close",
                };
                seen.push(Seen::Other {
                    target: format!("(no {missing} within {}s)", wait.as_secs()),
                    arguments: vec![],
                });
                return (seen, false);
            }
            Ok(event) => event,
        };
        match event {
            Some(Event::Invocation { target, arguments }) => {
                if let Until::Checkpoint(step) = until {
                    if target == CHECKPOINT && arguments == [Value::from(step)] {
                        return (seen, false);
                    }
                }
                match (target.as_str(), arguments.as_slice()) {
                    (SEND_MESSAGE_TARGET, [_, Value::String(text)]) => {
                        seen.push(Seen::Text(text.clone()))
                    }
                    _ => seen.push(Seen::Other { target, arguments }),
                }
            }
            Some(Event::Closed { error }) => {
                seen.push(Seen::Closed(error));
                return (seen, true);
            }
            None => {
                seen.push(Seen::Closed(None));
                return (seen, true);
            }
            Some(Event::Reconnecting { error }) => seen.push(Seen::Reconnecting(error)),
            Some(other) => seen.push(Seen::Other {
                target: format!("{other:?}"),
                arguments: vec![],
            }),
        }
    }
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let emulator = Emulator::builder()
        .bind("127.0.0.1:0")
        // The demo checks what its listeners receive, never the emulator's delivery record.
        .delivery_record(0)
        .start()
        .await
        .context("starting the embedded emulator")?;
    println!("Emulator started at {}", emulator.endpoint());
    let outcome = timeout(
        Duration::from_secs(args.timeout),
        run_on(&emulator, Duration::from_secs(args.wait)),
    )
    .await;
    emulator.shutdown().await;
    match outcome {
        Err(_elapsed) => anyhow::bail!("the demo did not finish within {}s", args.timeout),
        Ok(result) => result,
    }
}

async fn run_on(emulator: &EmulatorHandle, wait: Duration) -> anyhow::Result<ExitCode> {
    let connection_string = emulator.connection_string();
    let client = |version| {
        ServiceClient::builder()
            .connection_string(&connection_string.parse()?)
            .api_version(version)
            .build()
    };
    let hub = client(ApiVersion::V2022_06_01)?.hub(HUB);
    let hub_v1 = client(ApiVersion::V1)?.hub(HUB);
    let hub_preview = client(ApiVersion::V1Preview)?.hub(HUB);

    let mut members = Vec::new();
    for (name, transport, protocol) in MEMBERS {
        let connect = Listener::builder()
            .hub_client(hub.clone())
            .user_id(name)
            .transport(transport)
            .protocol(protocol)
            // A closed connection must end the listener, so the demo can see it.
            .max_reconnect_attempts(Some(0))
            .connect();
        let listener = timeout(wait, connect)
            .await
            .map_err(|_| anyhow::anyhow!("{name} did not connect within {}s", wait.as_secs()))?
            .with_context(|| format!("connecting {name}"))?;
        let connection_id = listener
            .connection_id()
            .context("a connected listener has a connection id")?;
        println!(
            "{name:<6} connected as user {name} over {transport} ({}), connection {connection_id}",
            protocol.name()
        );
        members.push(Member {
            name,
            listener,
            connection_id,
            open: true,
        });
    }
    let mut demo = Demo {
        hub: hub.clone(),
        members,
        wait,
        step: 0,
        checks: 0,
        failures: Vec::new(),
    };
    let all = MEMBERS.map(|(name, ..)| name);
    let none: [&str; 0] = [];

    // Sends to everyone and to users, on each API version.
    demo.send(&hub, Recipient::All { excluded: vec![] }, "", &all)
        .await;
    demo.send(
        &hub_preview,
        Recipient::All { excluded: vec![] },
        " (API 1.0-preview)",
        &all,
    )
    .await;
    demo.send(&hub, Recipient::User("alice".into()), "", &["alice"])
        .await;
    demo.send(
        &hub_v1,
        Recipient::User("bob".into()),
        " (API 1.0)",
        &["bob"],
    )
    .await;
    demo.send(
        &hub,
        Recipient::Users(vec!["bob".into(), "carol".into()]),
        "",
        &["bob", "carol"],
    )
    .await;
    demo.send(
        &hub_preview,
        Recipient::Users(vec!["carol".into(), "dave".into()]),
        " (API 1.0-preview)",
        &["carol", "dave"],
    )
    .await;
    let carol = demo.connection("carol");
    demo.send(&hub, Recipient::Connection(carol.clone()), "", &["carol"])
        .await;
    let alice = demo.connection("alice");
    demo.send(
        &hub,
        Recipient::All {
            excluded: vec![alice.clone()],
        },
        "",
        &["bob", "carol", "dave"],
    )
    .await;

    // Membership: users alice and carol in red, connections of bob and dave in blue.
    demo.next_step("group membership");
    demo.call(
        "add user alice to group red",
        hub.add_user_to_group("alice", "red", None).await,
    );
    demo.call(
        "add user carol to group red (ttl 3600 s)",
        hub.add_user_to_group(
            "carol",
            "red",
            Some(AddUserOptions::default().ttl(Duration::from_secs(3600))),
        )
        .await,
    );
    let (bob, dave) = (demo.connection("bob"), demo.connection("dave"));
    demo.call(
        "add connection of bob to group blue",
        hub.add_connection_to_group(&bob, "blue").await,
    );
    demo.call(
        "add connection of dave to group blue",
        hub.add_connection_to_group(&dave, "blue").await,
    );
    demo.exists(
        "user alice in group red",
        hub.user_in_group("alice", "red").await,
        true,
    );
    demo.exists(
        "user bob in group red",
        hub.user_in_group("bob", "red").await,
        false,
    );
    demo.exists("group blue", hub.group_exists("blue").await, true);
    demo.exists("group green", hub.group_exists("green").await, false);
    demo.exists("user alice", hub.user_exists("alice").await, true);
    demo.exists("user nobody", hub.user_exists("nobody").await, false);
    demo.exists(
        "connection of carol",
        hub.connection_exists(&carol).await,
        true,
    );
    demo.deliveries(&[]).await;

    // Sends to groups.
    let group = |name: &str, excluded: Vec<String>| Recipient::Group {
        name: name.into(),
        excluded,
    };
    demo.send(&hub, group("red", vec![]), "", &["alice", "carol"])
        .await;
    demo.send(
        &hub_v1,
        group("blue", vec![]),
        " (API 1.0)",
        &["bob", "dave"],
    )
    .await;
    demo.send(&hub, group("blue", vec![dave.clone()]), "", &["bob"])
        .await;
    demo.send(
        &hub,
        Recipient::Groups {
            names: vec!["red".into(), "blue".into()],
            excluded: vec![],
        },
        "",
        &all,
    )
    .await;
    demo.send(
        &hub_preview,
        Recipient::Groups {
            names: vec!["red".into(), "blue".into()],
            excluded: vec![],
        },
        " (API 1.0-preview)",
        &all,
    )
    .await;

    // Leaving groups.
    demo.next_step("leave groups");
    demo.call(
        "remove user carol from group red",
        hub.remove_user_from_group("carol", "red").await,
    );
    demo.call(
        "remove connection of bob from group blue",
        hub.remove_connection_from_group(&bob, "blue").await,
    );
    demo.exists(
        "user carol in group red",
        hub.user_in_group("carol", "red").await,
        false,
    );
    demo.deliveries(&[]).await;
    demo.send(&hub, group("red", vec![]), "", &["alice"]).await;
    demo.send(&hub, group("blue", vec![]), "", &["dave"]).await;

    demo.next_step("leave all groups");
    demo.call(
        "remove user alice from all groups",
        hub.remove_user_from_all_groups("alice").await,
    );
    demo.call(
        "remove connection of dave from all groups",
        hub.remove_connection_from_all_groups(&dave).await,
    );
    demo.exists(
        "user alice in group red",
        hub.user_in_group("alice", "red").await,
        false,
    );
    demo.exists("group blue", hub.group_exists("blue").await, false);
    demo.deliveries(&[]).await;
    demo.send(&hub, group("red", vec![]), "", &none).await;
    demo.send(&hub, group("blue", vec![]), "", &none).await;

    // Closing: one connection (with a reason), a user, a group, then everyone.
    demo.next_step("close connection of carol");
    demo.call(
        "close connection of carol, reason \"demo is over for carol\"",
        hub.close_connection(
            &carol,
            Some(CloseOptions::default().reason("demo is over for carol")),
        )
        .await,
    );
    demo.deliveries(&[("carol", vec![Expect::Closed("demo is over for carol")])])
        .await;
    demo.exists_eventually("connection of carol", false, || {
        hub.connection_exists(&carol)
    })
    .await;

    demo.next_step("close user bob");
    demo.call(
        "close connections of user bob",
        hub.close_user_connections("bob", Some(CloseOptions::default().reason("bye bob")))
            .await,
    );
    demo.deliveries(&[("bob", vec![Expect::Closed("bye bob")])])
        .await;
    demo.exists_eventually("user bob", false, || hub.user_exists("bob"))
        .await;

    demo.next_step("close group green");
    demo.call(
        "add connection of dave to group green",
        hub.add_connection_to_group(&dave, "green").await,
    );
    demo.call(
        "close connections in group green",
        hub.close_group_connections(
            "green",
            Some(CloseOptions::default().reason("green is closing")),
        )
        .await,
    );
    demo.deliveries(&[("dave", vec![Expect::Closed("green is closing")])])
        .await;

    demo.next_step("close all");
    demo.call(
        "close all connections",
        hub.close_all_connections(Some(CloseOptions::default().reason("the end")))
            .await,
    );
    demo.deliveries(&[("alice", vec![Expect::Closed("the end")])])
        .await;
    demo.exists_eventually("user alice", false, || hub.user_exists("alice"))
        .await;

    println!();
    if demo.failures.is_empty() {
        println!("demo passed: all {} checks", demo.checks);
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "demo FAILED: {} of {} checks",
            demo.failures.len(),
            demo.checks
        );
        for failure in &demo.failures {
            println!("  {failure}");
        }
        Ok(ExitCode::from(1))
    }
}

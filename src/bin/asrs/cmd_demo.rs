//! `asrs demo`: everything in one command, on an embedded emulator. Connects four listeners
//! (each on another transport or protocol), changes group membership, performs every kind of
//! send, existence check and close, and prints what each listener received next to what it
//! should have. Exits 0 only when every check passed; every wait has a timeout.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use azure_signalr_rest::emulator::{Emulator, EmulatorHandle};
use azure_signalr_rest::listener::{Listener, TransportType};
use azure_signalr_rest::protocol::HubProtocol;
use azure_signalr_rest::{
    AddUserOptions, ApiVersion, CloseOptions, ServiceClient, ServiceEndpoint,
};
use clap::Args;
use tokio::time::timeout;

use crate::cmd_send::Recipient;
use crate::demo_check::{Demo, Expect, Member};
use crate::global::{GlobalArgs, RunnableCmd};

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Seconds to wait for each expected message or event.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    wait: u64,
    /// Seconds the whole demo may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 180)]
    timeout: u64,
    /// Service instances: embedded emulators behind one client with that many endpoints
    /// (listeners spread across them; every check must still pass).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
    endpoints: u8,
}

const HUB: &str = "demo";

/// The listeners: name (also the user id), transport, protocol.
const MEMBERS: [(&str, TransportType, HubProtocol); 4] = [
    ("alice", TransportType::WebSockets, HubProtocol::Json),
    ("bob", TransportType::WebSockets, HubProtocol::MessagePack),
    ("carol", TransportType::ServerSentEvents, HubProtocol::Json),
    ("dave", TransportType::LongPolling, HubProtocol::Json),
];

impl RunnableCmd for DemoArgs {
    async fn run(self, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let mut emulators = Vec::new();
        for n in 1..=self.endpoints {
            let emulator = Emulator::builder()
                .bind("127.0.0.1:0")
                // The demo checks what its listeners receive, never the emulator's record.
                .delivery_record(0)
                .start()
                .await
                .context("starting the embedded emulator")?;
            if self.endpoints == 1 {
                println!("Emulator started at {}", emulator.endpoint());
            } else {
                println!(
                    "Emulator {} started at {}",
                    endpoint_name(n),
                    emulator.endpoint()
                );
            }
            emulators.push(emulator);
        }
        let outcome = timeout(
            Duration::from_secs(self.timeout),
            run_on(&emulators, Duration::from_secs(self.wait)),
        )
        .await;
        for emulator in emulators {
            emulator.shutdown().await;
        }
        match outcome {
            Err(_elapsed) => anyhow::bail!("the demo did not finish within {}s", self.timeout),
            Ok(result) => result,
        }
    }
}

/// The name of the `n`th emulator's endpoint.
fn endpoint_name(n: u8) -> String {
    format!("emulator-{n}")
}

/// A client of `version` for the emulators: of one, as before endpoints had names; of several,
/// one endpoint each.
fn client_of(
    emulators: &[EmulatorHandle],
    version: ApiVersion,
) -> Result<ServiceClient, azure_signalr_rest::Error> {
    let builder = ServiceClient::builder().api_version(version);
    match emulators {
        [one] => builder.connection_string(&one.connection_string().parse()?),
        several => {
            let mut endpoints = Vec::new();
            for (n, emulator) in (1..).zip(several) {
                endpoints.push(ServiceEndpoint::new(
                    endpoint_name(n),
                    emulator.connection_string().parse()?,
                ));
            }
            builder.endpoints(endpoints)
        }
    }
    .build()
}

/// The endpoint whose emulator holds `connection_id`.
fn holder(emulators: &[EmulatorHandle], connection_id: &str) -> Option<String> {
    (1..).zip(emulators).find_map(|(n, emulator)| {
        emulator
            .hub(HUB)
            .connections
            .iter()
            .any(|c| c.connection_id == connection_id)
            .then(|| endpoint_name(n))
    })
}

async fn run_on(emulators: &[EmulatorHandle], wait: Duration) -> anyhow::Result<ExitCode> {
    let client = |version| client_of(emulators, version);
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
        let on = match emulators {
            [_] => String::new(),
            _ => format!(
                " on {}",
                holder(emulators, &connection_id).unwrap_or_else(|| "(no emulator)".into())
            ),
        };
        println!(
            "{name:<6} connected as user {name} over {transport} ({}), connection {connection_id}{on}",
            protocol.name()
        );
        members.push(Member {
            name,
            listener,
            connection_id,
            open: true,
        });
    }
    let mut demo = Demo::new(hub.clone(), members, wait);
    if emulators.len() > 1 {
        spread(&mut demo, emulators);
    }
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

    Ok(demo.report())
}

/// Checks that the listeners are spread over every emulator, so the checks that follow cross
/// instances.
fn spread(demo: &mut Demo, emulators: &[EmulatorHandle]) {
    demo.next_step("listeners on every endpoint");
    for n in (1..).take(emulators.len()) {
        let members: Vec<&str> = MEMBERS
            .iter()
            .map(|(name, ..)| *name)
            .filter(|name| holder(emulators, &demo.connection(name)) == Some(endpoint_name(n)))
            .collect();
        let ok = !members.is_empty();
        let listed = if ok {
            members.join(", ")
        } else {
            "(none)".into()
        };
        println!(
            "  {}: {listed}   {}",
            endpoint_name(n),
            if ok { "ok" } else { "FAILED" }
        );
        demo.check(ok, format!("{} holds no listener", endpoint_name(n)));
    }
}

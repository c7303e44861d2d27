//! What the several-endpoint tests share: emulators on loopback (each its own key), a client
//! over them, listeners that negotiate through that client, and waiting on a condition.
#![allow(dead_code)]

use std::time::Duration;

use azure_signalr_rest::emulator::{Emulator, EmulatorHandle};
use azure_signalr_rest::listener::{Event, Listener};
use azure_signalr_rest::{
    EndpointType, HubClient, Message, RetryPolicy, ServiceClient, ServiceClientBuilder,
    ServiceEndpoint,
};
use serde_json::Value;

pub(crate) const WAIT: Duration = Duration::from_secs(10);
pub(crate) const HUB: &str = "chat";

/// The access key of emulator `i` (distinct, so a request signed for one fails on another).
pub(crate) fn key(i: usize) -> String {
    format!("endpoint-test-key-{i}-0123456789abcdefghij")
}

/// Emulator `i`, on `port` (0: any free one).
pub(crate) async fn start_on(i: usize, port: u16) -> EmulatorHandle {
    Emulator::builder()
        .bind(format!("127.0.0.1:{port}"))
        .access_key(key(i))
        .start()
        .await
        .expect("emulator starts")
}

/// `n` emulators on free ports.
pub(crate) async fn start(n: usize) -> Vec<EmulatorHandle> {
    let mut emulators = Vec::new();
    for i in 0..n {
        emulators.push(start_on(i, 0).await);
    }
    emulators
}

/// Endpoints named `e0`, `e1`, ... over the emulators, of the given types (primary when
/// `kinds` is shorter).
pub(crate) fn endpoints(
    emulators: &[EmulatorHandle],
    kinds: &[EndpointType],
) -> Vec<ServiceEndpoint> {
    emulators
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let kind = kinds.get(i).copied().unwrap_or(EndpointType::Primary);
            ServiceEndpoint::new(format!("e{i}"), e.connection_string().parse().unwrap())
                .endpoint_type(kind)
        })
        .collect()
}

/// A builder over the emulators: no retries, short timeout (a dead endpoint answers fast).
pub(crate) fn builder(emulators: &[EmulatorHandle]) -> ServiceClientBuilder {
    ServiceClient::builder()
        .endpoints(endpoints(emulators, &[]))
        .retry_policy(RetryPolicy::none())
        .timeout(Duration::from_secs(3))
}

/// A listener of `user` connected through `hub`'s negotiate (so to the endpoint it picks),
/// never reconnecting.
pub(crate) async fn listen(hub: &HubClient, user: &str) -> Listener {
    Listener::builder()
        .hub_client(hub.clone())
        .user_id(user)
        .max_reconnect_attempts(Some(0))
        .connect()
        .await
        .expect("listener connects")
}

/// Which emulator holds `listener`'s connection.
pub(crate) fn holder(emulators: &[EmulatorHandle], listener: &Listener) -> usize {
    let id = listener.connection_id().expect("connected");
    let holders: Vec<usize> = (0..emulators.len())
        .filter(|&i| {
            emulators[i]
                .hub(HUB)
                .connections
                .iter()
                .any(|c| c.connection_id == id)
        })
        .collect();
    assert_eq!(holders.len(), 1, "connection {id} on {holders:?}");
    holders[0]
}

/// Which emulator a negotiate URL points at.
pub(crate) fn url_of(emulators: &[EmulatorHandle], url: &str) -> usize {
    (0..emulators.len())
        .find(|&i| url.starts_with(&format!("{}/", emulators[i].endpoint())))
        .unwrap_or_else(|| panic!("{url} is on none of the emulators"))
}

/// The next invocation `(target, arguments)`, failing the test when none comes in time.
pub(crate) async fn next_invocation(listener: &mut Listener) -> (String, Vec<Value>) {
    match tokio::time::timeout(WAIT, listener.next()).await {
        Ok(Some(Event::Invocation { target, arguments })) => (target, arguments),
        other => panic!("expected an invocation, got {other:?}"),
    }
}

/// The next invocation's target.
pub(crate) async fn next_target(listener: &mut Listener) -> String {
    next_invocation(listener).await.0
}

pub(crate) fn message(target: &str) -> Message {
    Message::new(target, ()).unwrap()
}

/// Waits until `condition` holds, checking it every 20 ms; `false` when `within` passes first.
pub(crate) async fn wait_until(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    tokio::time::timeout(within, async {
        let mut ticks = tokio::time::interval(Duration::from_millis(20));
        while !condition() {
            ticks.tick().await;
        }
    })
    .await
    .is_ok()
}

/// Whether endpoint `name` of `client` is online.
pub(crate) fn online(client: &ServiceClient, name: &str) -> bool {
    client
        .endpoints()
        .iter()
        .find(|e| e.name() == name)
        .expect("endpoint")
        .is_online()
}

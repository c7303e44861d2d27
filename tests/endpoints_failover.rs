//! Health and failover with one client over several emulators: an instance killed mid-run is
//! noticed within one health interval (negotiations move, sends skip and report it), its
//! return is noticed, and secondaries take new clients only when no primary is online.
//! Every wait is on a condition with a deadline.
#![cfg(all(feature = "listener", feature = "emulator"))]

mod endpoints_support;

use std::time::{Duration, Instant};

use azure_signalr_rest::{EndpointType, ErrorKind, NegotiateOptions, PartialDelivery};
use endpoints_support::*;

const INTERVAL: Duration = Duration::from_millis(500);
/// Slack for a loaded machine on top of one interval.
const SLACK: Duration = Duration::from_millis(1500);

/// Where the next `n` negotiations go (emulator indices).
async fn negotiations(
    hub: &azure_signalr_rest::HubClient,
    emulators: &[azure_signalr_rest::emulator::EmulatorHandle],
    n: usize,
) -> Vec<usize> {
    let mut on = Vec::new();
    for _ in 0..n {
        let r = hub.negotiate(NegotiateOptions::default()).await.unwrap();
        on.push(url_of(emulators, &r.url));
    }
    on
}

#[tokio::test]
async fn killing_an_instance_moves_negotiations_and_sends_report_it() {
    let mut emulators = start(2).await;
    let port1 = emulators[1].local_addr().port();
    let client = builder(&emulators)
        .health_check_interval(INTERVAL)
        .build()
        .unwrap();
    let lenient = builder(&emulators)
        .health_check_interval(INTERVAL)
        .partial_delivery(PartialDelivery::Succeed)
        .build()
        .unwrap();
    let hub = client.hub(HUB);
    let mut survivor = listen(&hub, "s").await;
    let doomed = listen(&hub, "d").await;
    assert_eq!(holder(&emulators, &survivor), 0);
    assert_eq!(holder(&emulators, &doomed), 1);
    let mut spread = negotiations(&hub, &emulators, 4).await;
    spread.sort();
    assert_eq!(spread, [0, 0, 1, 1]);

    // Kill instance 1 mid-run.
    drop(doomed);
    emulators.pop().unwrap().shutdown().await;
    let killed = Instant::now();
    // Fails on main's naive fleet: no health checks, the endpoint stays online.
    assert!(
        wait_until(INTERVAL + SLACK, || !online(&client, "e1")).await,
        "the dead endpoint is noticed within one health interval"
    );
    let noticed = killed.elapsed();
    assert_eq!(negotiations(&hub, &emulators, 4).await, [0, 0, 0, 0]);

    // `Fail`: the send still reaches the live instance, and the error names the dead one.
    let err = hub.broadcast(&message("one"), None).await.unwrap_err();
    let ErrorKind::Endpoints { failed, succeeded } = err.kind() else {
        panic!("expected an endpoints error, got {err}");
    };
    assert_eq!(succeeded, &["e0"]);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].endpoint, "e1");
    assert!(
        matches!(failed[0].error.kind(), ErrorKind::Offline),
        "{err}"
    );
    assert!(err.to_string().contains("e1 (offline"), "{err}");
    assert_eq!(next_target(&mut survivor).await, "one");
    // `Succeed`: the same send is a success; a failure to connect marks the endpoint offline
    // at once, whether or not this client's own check has run yet.
    lenient
        .hub(HUB)
        .broadcast(&message("two"), None)
        .await
        .unwrap();
    assert!(!online(&lenient, "e1"));
    assert_eq!(next_target(&mut survivor).await, "two");
    let checks = client.check_endpoints().await;
    assert!(checks[0].1.is_ok() && checks[1].1.is_err());
    assert_eq!(checks[1].0.name(), "e1");

    // It comes back on the same port: noticed, and it takes new clients again.
    emulators.push(start_on(1, port1).await);
    let back = Instant::now();
    assert!(
        wait_until(INTERVAL + SLACK, || online(&client, "e1")).await,
        "the endpoint's return is noticed within one health interval"
    );
    let mut spread = negotiations(&hub, &emulators, 4).await;
    spread.sort();
    assert_eq!(spread, [0, 0, 1, 1]);
    let mut returned = listen(&hub, "r").await;
    if holder(&emulators, &returned) == 0 {
        returned = listen(&hub, "r").await;
    }
    assert_eq!(holder(&emulators, &returned), 1);
    hub.broadcast(&message("three"), None).await.unwrap();
    assert_eq!(next_target(&mut survivor).await, "three");
    assert_eq!(next_target(&mut returned).await, "three");
    eprintln!(
        "offline noticed after {noticed:?}, return after {:?} (interval {INTERVAL:?})",
        back.elapsed()
    );
}

#[tokio::test]
async fn secondaries_take_clients_only_when_no_primary_is_online() {
    use EndpointType::{Primary, Secondary};
    let mut emulators = start(3).await;
    let client = builder(&[])
        .endpoints(endpoints(&emulators, &[Primary, Primary, Secondary]))
        .health_check_interval(INTERVAL)
        .build()
        .unwrap();
    let hub = client.hub(HUB);
    // Primaries in turn, never the secondary.
    assert_eq!(negotiations(&hub, &emulators, 4).await, [0, 1, 0, 1]);

    // Both primaries die: the secondary takes new clients. Fails on main's naive fleet.
    let secondary = emulators.pop().unwrap();
    for e in emulators.drain(..) {
        e.shutdown().await;
    }
    assert!(
        wait_until(INTERVAL + SLACK, || !online(&client, "e0")
            && !online(&client, "e1"))
        .await
    );
    let emulators = vec![secondary];
    assert_eq!(negotiations(&hub, &emulators, 2).await, [0, 0]);
    let mut listener = listen(&hub, "x").await;
    hub.broadcast(&message("via-secondary"), None)
        .await
        .unwrap_err();
    assert_eq!(next_target(&mut listener).await, "via-secondary");

    // Nothing online: negotiate says so, naming every endpoint.
    drop(listener);
    emulators.into_iter().next().unwrap().shutdown().await;
    assert!(wait_until(INTERVAL + SLACK, || !online(&client, "e2")).await);
    let err = hub
        .negotiate(NegotiateOptions::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    for name in ["e0 (offline", "e1 (offline", "e2 (offline"] {
        assert!(text.contains(name), "{text}");
    }
    // A send with no endpoint reachable is an error under either policy.
    let err = hub.broadcast(&message("lost"), None).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Endpoints { succeeded, .. } if succeeded.is_empty()),
        "{err}"
    );
}

/// An instance that accepts connections and holds them, never answering; stops when dropped.
async fn silent_instance() -> (u16, tokio::task::JoinHandle<()>) {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    (port, task)
}

fn silent_endpoint(port: u16) -> azure_signalr_rest::ServiceEndpoint {
    let cs = format!("Endpoint=http://127.0.0.1;Port={port};AccessKey={}", key(1));
    azure_signalr_rest::ServiceEndpoint::new("silent", cs.parse().unwrap())
}

/// An instance that accepts connections and never answers: its check gives up within the
/// interval and marks it offline; sends then skip it at once instead of waiting out the
/// client's timeout on it.
#[tokio::test]
async fn a_silent_instance_is_skipped_without_waiting() {
    let emulators = start(1).await;
    let (port, quiet) = silent_instance().await;
    let client = builder(&emulators)
        .endpoints([silent_endpoint(port)])
        .health_check_interval(INTERVAL)
        .partial_delivery(PartialDelivery::Succeed)
        .build()
        .unwrap();
    let hub = client.hub(HUB);
    let mut listener = listen(&hub, "l").await;
    assert_eq!(holder(&emulators, &listener), 0);
    // Fails on main's naive fleet: nothing checks it.
    assert!(wait_until(INTERVAL + SLACK, || !online(&client, "silent")).await);
    let started = Instant::now();
    hub.broadcast(&message("fast"), None).await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "the send took {took:?}");
    assert_eq!(next_target(&mut listener).await, "fast");
    quiet.abort();
}

/// Asking which instance has a connection does not wait for a silent one once another has
/// said yes (before any check has marked the silent one offline).
#[tokio::test]
async fn a_yes_does_not_wait_for_a_silent_instance() {
    let emulators = start(1).await;
    let (port, quiet) = silent_instance().await;
    let client = builder(&emulators)
        .endpoints([silent_endpoint(port)])
        .health_check_interval(Duration::from_secs(60))
        .build()
        .unwrap();
    let hub = client.hub(HUB);
    let mut listener = listen(&hub, "l").await;
    let id = listener.connection_id().unwrap();
    let started = Instant::now();
    assert!(online(&client, "silent"), "not checked yet");
    assert!(hub.connection_exists(&id).await.unwrap());
    assert!(hub.user_exists("l").await.unwrap());
    hub.send_to_connection(&id, &message("direct"))
        .await
        .unwrap();
    let took = started.elapsed();
    // Each would take the 3 s timeout if it waited for the silent instance.
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(next_target(&mut listener).await, "direct");
    quiet.abort();
}

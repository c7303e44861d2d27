//! One client over two or three emulators (real sockets, loopback): where each kind of call
//! goes, and what comes back. Listeners negotiate through the client, so they land on the
//! instances its router picks.
#![cfg(all(feature = "listener", feature = "emulator"))]

mod endpoints_support;

use azure_signalr_rest::{
    CloseOptions, EndpointRouter, EndpointStatus, ErrorKind, NegotiateOptions, PartialDelivery,
    ServiceClient, ServiceEndpoint,
};
use endpoints_support::*;

/// Clients negotiated through one client spread over three instances, and a broadcast reaches
/// each of them once.
#[tokio::test]
async fn broadcast_reaches_clients_on_each_instance() {
    let emulators = start(3).await;
    let client = builder(&emulators).build().unwrap();
    let hub = client.hub(HUB);
    let mut listeners = Vec::new();
    for user in ["a", "b", "c"] {
        listeners.push(listen(&hub, user).await);
    }
    let mut on: Vec<usize> = listeners.iter().map(|l| holder(&emulators, l)).collect();
    on.sort();
    assert_eq!(
        on,
        [0, 1, 2],
        "negotiate spreads clients over the primaries"
    );

    hub.broadcast(&message("first"), None).await.unwrap();
    hub.broadcast(&message("second"), None).await.unwrap();
    for listener in &mut listeners {
        // One copy each: the second message comes right after the first.
        assert_eq!(next_target(listener).await, "first");
        assert_eq!(next_target(listener).await, "second");
    }
}

/// A user with a connection on each of two instances gets one copy per connection; whether
/// the user exists is yes when one instance says so, no only when both do.
#[tokio::test]
async fn user_on_two_instances_gets_one_copy_per_connection() {
    let emulators = start(2).await;
    let client = builder(&emulators).build().unwrap();
    let hub = client.hub(HUB);
    let mut alice = vec![listen(&hub, "alice").await, listen(&hub, "alice").await];
    assert_ne!(holder(&emulators, &alice[0]), holder(&emulators, &alice[1]));

    hub.send_to_user("alice", &message("one")).await.unwrap();
    hub.send_to_users(["alice", "bob"], &message("two"))
        .await
        .unwrap();
    for listener in &mut alice {
        assert_eq!(next_target(listener).await, "one");
        assert_eq!(next_target(listener).await, "two");
    }
    assert!(hub.user_exists("alice").await.unwrap());
    // Fails on main's naive fleet: both 404s made an error instead of `false`.
    assert!(!hub.user_exists("bob").await.unwrap());
}

/// A group whose members are on two instances gets every group send; membership changes and
/// existence checks work across them.
#[tokio::test]
async fn group_spanning_instances_gets_everything() {
    let emulators = start(2).await;
    let client = builder(&emulators).build().unwrap();
    let hub = client.hub(HUB);
    let mut members = vec![listen(&hub, "u0").await, listen(&hub, "u1").await];
    assert_ne!(
        holder(&emulators, &members[0]),
        holder(&emulators, &members[1])
    );
    assert!(!hub.group_exists("room").await.unwrap());
    for m in &members {
        // Fails on main's naive fleet: the instance without the connection answered 404.
        hub.add_connection_to_group(&m.connection_id().unwrap(), "room")
            .await
            .unwrap();
    }
    hub.add_user_to_group("u1", "other", None).await.unwrap();
    assert!(hub.group_exists("room").await.unwrap());
    assert!(hub.user_in_group("u1", "other").await.unwrap());
    assert!(!hub.user_in_group("u0", "other").await.unwrap());

    hub.send_to_group("room", &message("to-room"), None)
        .await
        .unwrap();
    hub.send_to_groups(["room", "nobody-here"], &message("to-groups"), None)
        .await
        .unwrap();
    for m in &mut members {
        assert_eq!(next_target(m).await, "to-room");
        assert_eq!(next_target(m).await, "to-groups");
    }
    let first = members[0].connection_id().unwrap();
    hub.remove_connection_from_group(&first, "room")
        .await
        .unwrap();
    hub.send_to_group("room", &message("after-leave"), None)
        .await
        .unwrap();
    hub.broadcast(&message("everyone"), None).await.unwrap();
    assert_eq!(next_target(&mut members[0]).await, "everyone");
    assert_eq!(next_target(&mut members[1]).await, "after-leave");
    assert_eq!(next_target(&mut members[1]).await, "everyone");
}

/// Operations on a connection id go to the instance that has it; the other's 404 is not a
/// failure; an id nobody has gets the answer one instance would give.
#[tokio::test]
async fn connection_operations_find_the_right_instance() {
    let emulators = start(2).await;
    let client = builder(&emulators).build().unwrap();
    let hub = client.hub(HUB);
    let mut a = listen(&hub, "a").await;
    let mut b = listen(&hub, "b").await;
    let (ida, idb) = (a.connection_id().unwrap(), b.connection_id().unwrap());
    assert_ne!(holder(&emulators, &a), holder(&emulators, &b));

    // Fails on main's naive fleet: the other instance's 404 made these errors.
    assert!(hub.connection_exists(&ida).await.unwrap());
    assert!(hub.connection_exists(&idb).await.unwrap());
    assert!(!hub.connection_exists("no-such-connection").await.unwrap());

    hub.send_to_connection(&idb, &message("just-b"))
        .await
        .unwrap();
    hub.broadcast(&message("all"), None).await.unwrap();
    assert_eq!(next_target(&mut a).await, "all");
    assert_eq!(next_target(&mut b).await, "just-b");
    assert_eq!(next_target(&mut b).await, "all");

    let reason = CloseOptions::default().reason("closed by the test");
    hub.close_connection(&ida, Some(reason)).await.unwrap();
    match tokio::time::timeout(WAIT, a.next()).await {
        Ok(Some(azure_signalr_rest::listener::Event::Closed { error })) => {
            assert!(error.unwrap().contains("closed by the test"));
        }
        other => panic!("expected the close, got {other:?}"),
    }
    assert!(!hub.connection_exists(&ida).await.unwrap());
    // Closing a connection nobody has is done, as with one instance.
    hub.close_connection("no-such-connection", None)
        .await
        .unwrap();
    // Adding one nobody has is the instance's own not-found error, not an endpoints error.
    let err = hub
        .add_connection_to_group("no-such-connection", "g")
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotFound { .. }), "{err}");
    assert!(hub.connection_exists(&idb).await.unwrap());
}

/// Sends everything about groups named `only-<endpoint>` to that endpoint; negotiates by the
/// `region` claim.
#[derive(Debug)]
struct ByName;

impl EndpointRouter for ByName {
    fn negotiate_endpoint<'a>(
        &self,
        _hub: &str,
        options: &NegotiateOptions,
        online: &'a [EndpointStatus],
    ) -> Option<&'a EndpointStatus> {
        let region = options.claims.get("region")?.as_str()?;
        online.iter().find(|e| e.name() == region)
    }

    fn endpoints_for_group<'a>(
        &self,
        _hub: &str,
        group: &str,
        endpoints: &'a [EndpointStatus],
    ) -> Vec<&'a EndpointStatus> {
        match group.strip_prefix("only-") {
            Some(name) => endpoints.iter().filter(|e| e.name() == name).collect(),
            None => endpoints.iter().collect(),
        }
    }
}

/// A custom router decides negotiate and where group sends go.
#[tokio::test]
async fn custom_router_is_obeyed() {
    let emulators = start(2).await;
    let client = builder(&emulators).router(ByName).build().unwrap();
    let hub = client.hub(HUB);
    let mut on = Vec::new();
    for region in ["e1", "e0", "e1"] {
        let r = hub
            .negotiate(NegotiateOptions::default().claim("region", region))
            .await
            .unwrap();
        on.push(url_of(&emulators, &r.url));
    }
    assert_eq!(on, [1, 0, 1]);
    let err = hub
        .negotiate(NegotiateOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("router"), "{err}");

    // One listener on each instance, both in group `only-e0` (added on each instance alone).
    let mut listeners = Vec::new();
    for name in ["e0", "e1"] {
        let one = client.endpoint(name).unwrap().hub(HUB);
        let listener = listen(&one, name).await;
        one.add_connection_to_group(&listener.connection_id().unwrap(), "only-e0")
            .await
            .unwrap();
        listeners.push(listener);
    }
    // Fails on main's naive fleet: the send went to both instances.
    hub.send_to_group("only-e0", &message("routed"), None)
        .await
        .unwrap();
    hub.broadcast(&message("all"), None).await.unwrap();
    assert_eq!(next_target(&mut listeners[0]).await, "routed");
    assert_eq!(next_target(&mut listeners[0]).await, "all");
    assert_eq!(next_target(&mut listeners[1]).await, "all");
}

/// An endpoint that refuses the call (here: a wrong key) is named in the error, with why;
/// neither key appears in the error, its `Debug`, nor the client's `Debug`.
#[tokio::test]
async fn errors_name_each_endpoint_and_never_a_key() {
    let emulators = start(2).await;
    let wrong_key = "the-wrong-key-do-not-print-0123456789";
    let wrong = emulators[1].connection_string().replace(&key(1), wrong_key);
    let endpoints = [
        ServiceEndpoint::new("good", emulators[0].connection_string().parse().unwrap()),
        ServiceEndpoint::new("bad", wrong.parse().unwrap()),
    ];
    for policy in [PartialDelivery::Fail, PartialDelivery::Succeed] {
        let client = ServiceClient::builder()
            .endpoints(endpoints.clone())
            .partial_delivery(policy)
            .build()
            .unwrap();
        let sent = client.hub(HUB).broadcast(&message("m"), None).await;
        if policy == PartialDelivery::Succeed {
            sent.unwrap();
            continue;
        }
        let err = sent.unwrap_err();
        let ErrorKind::Endpoints { failed, succeeded } = err.kind() else {
            panic!("expected an endpoints error, got {err}");
        };
        assert_eq!(succeeded, &["good"]);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].endpoint, "bad");
        assert!(
            matches!(failed[0].error.kind(), ErrorKind::Unauthorized { .. }),
            "{err}"
        );
        let shown = format!("{err} {err:?} {client:?}");
        assert!(shown.contains("bad (unauthorized"), "{shown}");
        for secret in [wrong_key.to_owned(), key(0), key(1)] {
            assert!(!shown.contains(&secret), "a key leaked: {shown}");
        }
    }
}

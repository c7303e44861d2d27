//! Every operation of every API version through the client, against the embedded emulator over
//! real sockets on 127.0.0.1. Receivers are real SignalR clients: negotiate with the token from
//! `HubClient::negotiate`, then Long Polling with the JSON hub protocol (reqwest only).
#![cfg(feature = "emulator")]

use std::time::Duration;

use azure_signalr_rest::emulator::{Emulator, EmulatorHandle};
use azure_signalr_rest::{
    AccessKey, AddUserOptions, ApiVersion, CloseOptions, ErrorKind, HubClient, Message,
    NegotiateOptions, Operation, RetryPolicy, SendOptions, ServiceClient,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use url::Url;

const WAIT: Duration = Duration::from_secs(10);

/// A receiving client over Long Polling.
struct Receiver {
    connection_id: String,
    frames: mpsc::UnboundedReceiver<Value>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// Connects to `hub` as `user` with the URL and token the client library hands out.
    async fn connect(hub: &HubClient, user: Option<&str>) -> Receiver {
        let mut options = NegotiateOptions::default();
        options.user_id = user.map(str::to_owned);
        let negotiated = hub.negotiate(options).await.unwrap();
        let bearer = format!("Bearer {}", negotiated.access_token.expose_secret());
        let client_url = Url::parse(&negotiated.url).unwrap();
        let http = reqwest::Client::new();

        let mut negotiate_url = client_url.join("negotiate").unwrap();
        negotiate_url.set_query(client_url.query());
        negotiate_url
            .query_pairs_mut()
            .append_pair("negotiateVersion", "1");
        let response = http
            .post(negotiate_url)
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "negotiate");
        let body: Value = response.json().await.unwrap();
        let connection_id = body["connectionId"].as_str().unwrap().to_owned();
        let token = body["connectionToken"].as_str().unwrap().to_owned();

        let mut poll_url = client_url.clone();
        poll_url.query_pairs_mut().append_pair("id", &token);
        // The first poll opens the connection; then the handshake; then polls carry records.
        let opened = http
            .get(poll_url.clone())
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(opened.status(), 200, "open long polling");
        let handshake = http
            .post(poll_url.clone())
            .header("authorization", &bearer)
            .body("{\"protocol\":\"json\",\"version\":1}\u{1e}")
            .send()
            .await
            .unwrap();
        assert_eq!(handshake.status(), 200, "handshake");

        let (tx, frames) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let Ok(response) = http
                    .get(poll_url.clone())
                    .header("authorization", &bearer)
                    .send()
                    .await
                else {
                    return;
                };
                if response.status() != 200 {
                    return;
                }
                let Ok(body) = response.text().await else {
                    return;
                };
                for record in body.split('\u{1e}').filter(|r| !r.is_empty()) {
                    let Ok(value) = serde_json::from_str::<Value>(record) else {
                        return;
                    };
                    if tx.send(value).is_err() {
                        return;
                    }
                }
            }
        });
        let mut receiver = Receiver {
            connection_id,
            frames,
            task,
        };
        // The handshake answer comes first.
        assert_eq!(receiver.next_frame().await, json!({}));
        receiver
    }

    async fn next_frame(&mut self) -> Value {
        tokio::time::timeout(WAIT, self.frames.recv())
            .await
            .expect("a frame in time")
            .expect("connection open")
    }

    /// The next invocation (pings skipped): `(target, arguments)`.
    async fn next_invocation(&mut self) -> (String, Vec<Value>) {
        loop {
            let frame = self.next_frame().await;
            match frame["type"].as_u64() {
                Some(1) => {
                    return (
                        frame["target"].as_str().unwrap().to_owned(),
                        frame["arguments"].as_array().cloned().unwrap_or_default(),
                    )
                }
                Some(6) => continue,
                _ => panic!("expected an invocation, got {frame}"),
            }
        }
    }

    /// The Close message (pings and invocations skipped).
    async fn next_close(&mut self) -> Value {
        loop {
            let frame = self.next_frame().await;
            if frame["type"] == 7 {
                return frame;
            }
        }
    }
}

async fn emulator() -> EmulatorHandle {
    Emulator::builder()
        .bind("127.0.0.1:0")
        .start()
        .await
        .unwrap()
}

fn client(emulator: &EmulatorHandle, version: ApiVersion) -> ServiceClient {
    ServiceClient::builder()
        .connection_string(&emulator.connection_string().parse().unwrap())
        .api_version(version)
        .build()
        .unwrap()
}

fn msg(target: &str, n: i64) -> Message {
    Message::new(target, (n, "text", json!({"nested": [n]}))).unwrap()
}

/// Asserts `receiver` gets `target` next, with the arguments of [`msg`].
async fn expect(receiver: &mut Receiver, target: &str, n: i64) {
    let (got, arguments) = receiver.next_invocation().await;
    assert_eq!(got, target, "on {}", receiver.connection_id);
    assert_eq!(
        arguments,
        vec![json!(n), json!("text"), json!({"nested": [n]})]
    );
}

/// Asserts `receiver` did not get anything before a marker sent to it alone.
async fn expect_nothing_before_marker(hub: &HubClient, receiver: &mut Receiver) {
    hub.send_to_connection(&receiver.connection_id, &msg("marker", 0))
        .await
        .unwrap();
    expect(receiver, "marker", 0).await;
}

#[tokio::test]
async fn sends_of_every_version_reach_their_receivers() {
    let emulator = emulator().await;
    for version in ApiVersion::ALL {
        let client = client(&emulator, version);
        // The 1.0 client places the markers (the preview cannot send to a connection).
        let marker_client = self::client(&emulator, ApiVersion::V1);
        let hub = client.hub("Chat");
        let marker_hub = marker_client.hub("chat");
        let mut alice = Receiver::connect(&hub, Some("alice")).await;
        let mut bob = Receiver::connect(&hub, Some("bob")).await;
        let mut anon = Receiver::connect(&hub, None).await;
        let v = version.as_str();

        // broadcast (exclusions where the version has them)
        if version == ApiVersion::V1Preview {
            hub.broadcast(&msg("all", 1), None).await.unwrap();
            expect(&mut anon, "all", 1).await;
        } else {
            hub.broadcast(
                &msg("all", 1),
                Some(SendOptions::default().excluded([&anon.connection_id])),
            )
            .await
            .unwrap();
            expect_nothing_before_marker(&marker_hub, &mut anon).await;
        }
        expect(&mut alice, "all", 1).await;
        expect(&mut bob, "all", 1).await;

        // send_to_user / send_to_users
        hub.send_to_user("alice", &msg("user", 2)).await.unwrap();
        expect(&mut alice, "user", 2).await;
        hub.send_to_users(&["alice", "bob"], &msg("users", 3))
            .await
            .unwrap();
        expect(&mut alice, "users", 3).await;
        expect(&mut bob, "users", 3).await;
        expect_nothing_before_marker(&marker_hub, &mut anon).await;

        // Groups: membership through the 1.0 client for the preview.
        marker_hub
            .add_connection_to_group(&alice.connection_id, "room 1")
            .await
            .unwrap();
        marker_hub
            .add_connection_to_group(&bob.connection_id, "room/2")
            .await
            .unwrap();
        hub.send_to_group("room 1", &msg("group", 4), None)
            .await
            .unwrap();
        expect(&mut alice, "group", 4).await;
        hub.send_to_groups(&["room 1", "room/2"], &msg("groups", 5), None)
            .await
            .unwrap();
        expect(&mut alice, "groups", 5).await;
        expect(&mut bob, "groups", 5).await;
        if version != ApiVersion::V1Preview {
            hub.send_to_group(
                "room 1",
                &msg("group-ex", 6),
                Some(SendOptions::default().excluded([&alice.connection_id])),
            )
            .await
            .unwrap();
            hub.send_to_connection(&bob.connection_id, &msg("direct", 7))
                .await
                .unwrap();
            expect(&mut bob, "direct", 7).await;
        } else {
            let err = hub
                .send_to_group(
                    "room 1",
                    &msg("group-ex", 6),
                    Some(SendOptions::default().excluded([&alice.connection_id])),
                )
                .await
                .unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::Unsupported { .. }),
                "{err:?}"
            );
        }
        expect_nothing_before_marker(&marker_hub, &mut alice).await;
        expect_nothing_before_marker(&marker_hub, &mut anon).await;
        marker_hub
            .remove_connection_from_group(&alice.connection_id, "room 1")
            .await
            .unwrap();
        marker_hub
            .remove_connection_from_group(&bob.connection_id, "room/2")
            .await
            .unwrap();

        // The emulator saw the deliveries in the lower-cased hub.
        let delivered = emulator
            .wait_for_delivery(
                |d| d.target == "users" && d.user_id.as_deref() == Some("bob"),
                WAIT,
            )
            .await
            .unwrap_or_else(|_| panic!("{v}: delivery record"));
        assert_eq!(delivered.hub, "chat");
        drop((alice, bob, anon));
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn membership_and_existence() {
    let emulator = emulator().await;
    for version in [ApiVersion::V1, ApiVersion::V2022_06_01] {
        let client = client(&emulator, version);
        let hub = client.hub("members");
        let carol = Receiver::connect(&hub, Some("carol")).await;
        let conn = carol.connection_id.clone();
        let v = version.as_str();

        assert!(hub.connection_exists(&conn).await.unwrap(), "{v}");
        assert!(!hub.connection_exists("no-such-connection").await.unwrap());
        assert!(hub.user_exists("carol").await.unwrap());
        assert!(!hub.user_exists("nobody").await.unwrap());
        assert!(!hub.group_exists("g").await.unwrap());

        hub.add_connection_to_group(&conn, "g").await.unwrap();
        assert!(hub.group_exists("g").await.unwrap(), "{v}");
        hub.remove_connection_from_group(&conn, "g").await.unwrap();
        assert!(!hub.group_exists("g").await.unwrap(), "{v}");

        hub.add_user_to_group("carol", "team", None).await.unwrap();
        assert!(hub.user_in_group("carol", "team").await.unwrap(), "{v}");
        assert!(hub.group_exists("team").await.unwrap());
        hub.remove_user_from_group("carol", "team").await.unwrap();
        assert!(!hub.user_in_group("carol", "team").await.unwrap(), "{v}");

        hub.add_user_to_group(
            "carol",
            "a",
            Some(AddUserOptions::default().ttl(Duration::from_secs(600))),
        )
        .await
        .unwrap();
        hub.add_user_to_group("carol", "b", None).await.unwrap();
        assert!(hub.user_in_group("carol", "a").await.unwrap());
        hub.remove_user_from_all_groups("carol").await.unwrap();
        assert!(!hub.user_in_group("carol", "a").await.unwrap(), "{v}");
        assert!(!hub.user_in_group("carol", "b").await.unwrap(), "{v}");

        if version == ApiVersion::V2022_06_01 {
            hub.add_connection_to_group(&conn, "x").await.unwrap();
            hub.add_connection_to_group(&conn, "y").await.unwrap();
            hub.remove_connection_from_all_groups(&conn).await.unwrap();
            assert!(!hub.group_exists("x").await.unwrap());
            assert!(!hub.group_exists("y").await.unwrap());
        } else {
            let err = hub
                .remove_connection_from_all_groups(&conn)
                .await
                .unwrap_err();
            assert_eq!(err.operation(), Operation::RemoveConnectionFromAllGroups);
            assert!(matches!(
                err.kind(),
                ErrorKind::Unsupported {
                    version: ApiVersion::V1
                }
            ));
        }
        drop(carol);
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn closing_connections() {
    let emulator = emulator().await;
    for version in [ApiVersion::V1, ApiVersion::V2022_06_01] {
        let client = client(&emulator, version);
        let hub = client.hub("closing");
        let mut one = Receiver::connect(&hub, Some("dave")).await;
        hub.close_connection(
            &one.connection_id,
            Some(CloseOptions::default().reason("kicked out")),
        )
        .await
        .unwrap();
        let close = one.next_close().await;
        assert_eq!(close["error"], "kicked out", "{version}");
        emulator
            .wait_for_disconnect(&one.connection_id, WAIT)
            .await
            .unwrap();
        assert!(!hub.connection_exists(&one.connection_id).await.unwrap());
    }

    let client = client(&emulator, ApiVersion::V2022_06_01);
    let hub = client.hub("closing");
    let keep = Receiver::connect(&hub, Some("keep")).await;
    let mut by_user = Receiver::connect(&hub, Some("erin")).await;
    let mut by_group = Receiver::connect(&hub, None).await;
    let mut by_all = Receiver::connect(&hub, None).await;
    hub.add_connection_to_group(&by_group.connection_id, "doomed")
        .await
        .unwrap();

    hub.close_user_connections("erin", Some(CloseOptions::default().reason("user closed")))
        .await
        .unwrap();
    assert_eq!(by_user.next_close().await["error"], "user closed");
    hub.close_group_connections(
        "doomed",
        Some(CloseOptions::default().reason("group closed")),
    )
    .await
    .unwrap();
    assert_eq!(by_group.next_close().await["error"], "group closed");
    hub.close_all_connections(Some(
        CloseOptions::default()
            .excluded([&keep.connection_id])
            .reason("all closed"),
    ))
    .await
    .unwrap();
    assert_eq!(by_all.next_close().await["error"], "all closed");
    for gone in [&by_user, &by_group, &by_all] {
        emulator
            .wait_for_disconnect(&gone.connection_id, WAIT)
            .await
            .unwrap();
    }
    assert!(hub.connection_exists(&keep.connection_id).await.unwrap());

    // The older versions say so before sending anything.
    let v1 = self::client(&emulator, ApiVersion::V1).hub("closing");
    for result in [
        v1.close_all_connections(None).await,
        v1.close_group_connections("g", None).await,
        v1.close_user_connections("u", None).await,
    ] {
        assert!(matches!(
            result.unwrap_err().kind(),
            ErrorKind::Unsupported {
                version: ApiVersion::V1,
            }
        ));
    }
    drop(keep);
    emulator.shutdown().await;
}

#[tokio::test]
async fn health_and_versions_without_it() {
    let emulator = emulator().await;
    client(&emulator, ApiVersion::V1).health().await.unwrap();
    client(&emulator, ApiVersion::V2022_06_01)
        .health()
        .await
        .unwrap();
    let err = client(&emulator, ApiVersion::V1Preview)
        .health()
        .await
        .unwrap_err();
    assert_eq!(err.operation(), Operation::Health);
    assert!(matches!(
        err.kind(),
        ErrorKind::Unsupported {
            version: ApiVersion::V1Preview
        }
    ));
    emulator.shutdown().await;
}

#[tokio::test]
async fn awkward_names_round_trip() {
    let emulator = emulator().await;
    for version in [ApiVersion::V1, ApiVersion::V2022_06_01] {
        let client = client(&emulator, version);
        let hub = client.hub("names");
        let user = "ü ser/1?x=#%25 &+";
        let group = "grp / ? # % ü";
        let mut receiver = Receiver::connect(&hub, Some(user)).await;
        assert!(hub.user_exists(user).await.unwrap(), "{version}");
        hub.send_to_user(user, &msg("hi", 1)).await.unwrap();
        expect(&mut receiver, "hi", 1).await;
        hub.add_user_to_group(user, group, None).await.unwrap();
        assert!(hub.user_in_group(user, group).await.unwrap(), "{version}");
        hub.send_to_group(group, &msg("grp", 2), None)
            .await
            .unwrap();
        expect(&mut receiver, "grp", 2).await;
        let snapshot = emulator.hub("names");
        assert!(snapshot.users.contains_key(user), "{snapshot:?}");
        assert!(snapshot.groups.contains_key(group), "{snapshot:?}");
        hub.remove_user_from_all_groups(user).await.unwrap();
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn application_prefixes_the_hub() {
    let emulator = emulator().await;
    for version in ApiVersion::ALL {
        let client = ServiceClient::builder()
            .connection_string(&emulator.connection_string().parse().unwrap())
            .api_version(version)
            .application("App1")
            .build()
            .unwrap();
        let hub = client.hub("chat");
        let mut receiver = Receiver::connect(&hub, Some("frank")).await;
        // A client of the same hub without the application is another hub.
        let plain = self::client(&emulator, ApiVersion::V1).hub("chat");
        let mut other = Receiver::connect(&plain, Some("frank")).await;
        hub.send_to_user("frank", &msg("app", 1)).await.unwrap();
        expect(&mut receiver, "app", 1).await;
        expect_nothing_before_marker(&plain, &mut other).await;
        let d = emulator
            .wait_for_delivery(|d| d.target == "app", WAIT)
            .await
            .unwrap();
        assert_eq!(d.hub, "app1_chat", "{version}");
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn error_paths() {
    let emulator = emulator().await;
    let endpoint = emulator.endpoint();

    // 401: a token signed with the wrong key.
    for version in ApiVersion::ALL {
        let wrong = ServiceClient::builder()
            .endpoint(endpoint.clone())
            .access_key(AccessKey::new("not-the-emulator-key"))
            .api_version(version)
            .build()
            .unwrap();
        let err = wrong
            .hub("chat")
            .send_to_user("u", &msg("x", 0))
            .await
            .unwrap_err();
        assert_eq!(err.operation(), Operation::SendToUser);
        match err.kind() {
            ErrorKind::Unauthorized { status, .. } => {
                assert_eq!(status.as_u16(), 401);
            }
            other => panic!("{version}: {other:?}"),
        }
        assert!(!format!("{err} {err:?}").contains("not-the-emulator-key"));
    }

    // 400 caught locally: nothing is sent.
    let client = client(&emulator, ApiVersion::V2022_06_01);
    let err = client
        .hub("1-bad hub")
        .broadcast(&msg("x", 0), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { subject, .. } if subject.contains("hub name")),
        "{err:?}"
    );

    // 400 from the server: the same request with local validation off.
    for version in [ApiVersion::V1, ApiVersion::V2022_06_01] {
        let unchecked = ServiceClient::builder()
            .connection_string(&emulator.connection_string().parse().unwrap())
            .api_version(version)
            .local_validation(false)
            .retry_policy(RetryPolicy::none())
            .build()
            .unwrap();
        let err = unchecked
            .hub("1bad")
            .broadcast(&msg("x", 0), None)
            .await
            .unwrap_err();
        match err.kind() {
            ErrorKind::BadRequest {
                status, message, ..
            } => {
                assert_eq!(status.as_u16(), 400);
                assert!(!message.is_empty(), "{version}: the service's message");
            }
            other => panic!("{version}: {other:?}"),
        }
        let err = unchecked
            .hub("chat")
            .send_to_group("   ", &msg("x", 0), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::BadRequest { .. }),
            "{version}: {err:?}"
        );
    }

    // 404 -> false from every existence check.
    let hub = client.hub("chat");
    assert!(!hub.user_exists("ghost").await.unwrap());
    assert!(!hub.group_exists("ghosts").await.unwrap());
    assert!(!hub.connection_exists("ghost-conn").await.unwrap());
    assert!(!hub.user_in_group("ghost", "ghosts").await.unwrap());

    // The raw client alone, without a token: 401.
    let raw = azure_signalr_rest::raw::v1::Client::new_with_client(
        &endpoint,
        reqwest::Client::new(),
        azure_signalr_rest::raw::RequestHook::none(),
    );
    let err = raw
        .hub_proxy_v1_check_user_existence("chat", "u")
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));

    emulator.shutdown().await;
}

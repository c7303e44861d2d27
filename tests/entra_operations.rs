//! Microsoft Entra ID end to end against the embedded emulator over real sockets: the client
//! signs in through the Azure SDK's own `TokenCredential` trait (a credential backed by the
//! emulator's test issuer), calls every REST operation of 1.0 and 2022-06-01 with the Entra
//! token, and negotiates client tokens signed with the key the emulator hands out (`kid`).
#![cfg(all(feature = "emulator", feature = "listener", feature = "identity"))]

use std::sync::Arc;
use std::time::Duration;

use azure_signalr_rest::emulator::{Emulator, EmulatorHandle, EntraIssuer, EntraIssuerCredential};
use azure_signalr_rest::listener::{Event, Listener};
use azure_signalr_rest::{
    AddUserOptions, ApiVersion, CloseOptions, ErrorKind, HubClient, Message, NegotiateOptions,
    RetryPolicy, SendOptions, ServiceClient,
};
use base64::Engine as _;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

async fn emulator(issuer: &EntraIssuer) -> EmulatorHandle {
    Emulator::builder()
        .bind("127.0.0.1:0")
        .trust_entra(issuer.trust())
        .start()
        .await
        .unwrap()
}

/// A client signing in with `credential` only: no access key anywhere.
fn client(
    emulator: &EmulatorHandle,
    credential: Arc<EntraIssuerCredential>,
    version: ApiVersion,
) -> ServiceClient {
    ServiceClient::builder()
        .connection_string(
            &format!("Endpoint={};AuthType=azure.msi", emulator.endpoint())
                .parse()
                .unwrap(),
        )
        .credential(credential)
        .api_version(version)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap()
}

/// A listener connected with what Entra negotiate hands out.
async fn listen(hub: &HubClient, user: &str) -> Listener {
    let negotiated = hub
        .negotiate(NegotiateOptions::default().user_id(user))
        .await
        .expect("negotiate under Entra ID");
    Listener::builder()
        .negotiate_response(negotiated)
        .max_reconnect_attempts(Some(0))
        .connect()
        .await
        .expect("the emulator accepts the Entra-signed client token")
}

fn msg(target: &str, n: i64) -> Message {
    Message::new(target, (n,)).unwrap()
}

async fn expect(listener: &mut Listener, target: &str, n: i64) {
    loop {
        let event = tokio::time::timeout(WAIT, listener.next())
            .await
            .unwrap_or_else(|_| panic!("no `{target}` within {WAIT:?}"));
        match event {
            Some(Event::Invocation {
                target: got,
                arguments,
            }) => {
                assert_eq!((got.as_str(), arguments), (target, vec![json!(n)]));
                return;
            }
            Some(Event::Closed { error }) => panic!("closed before `{target}`: {error:?}"),
            _ => continue,
        }
    }
}

async fn expect_closed(listener: &mut Listener) -> Option<String> {
    loop {
        match tokio::time::timeout(WAIT, listener.next()).await.unwrap() {
            Some(Event::Closed { error }) => return error,
            None => return None,
            _ => continue,
        }
    }
}

#[tokio::test]
async fn every_operation_of_1_0_and_2022_06_01_with_an_entra_token() {
    let issuer = Arc::new(EntraIssuer::new());
    let emulator = emulator(&issuer).await;
    for version in [ApiVersion::V1, ApiVersion::V2022_06_01] {
        let credential = EntraIssuerCredential::new(issuer.clone(), Duration::from_secs(3600));
        let client = client(&emulator, credential.clone(), version);
        let hub = client.hub("entra");
        let v = version.as_str();
        client.health().await.unwrap();

        let mut alice = listen(&hub, "alice").await;
        let mut bob = listen(&hub, "bob").await;
        let alice_id = alice.connection_id().unwrap();
        let bob_id = bob.connection_id().unwrap();

        hub.broadcast(
            &msg("all", 1),
            Some(SendOptions::default().excluded([&bob_id])),
        )
        .await
        .unwrap();
        expect(&mut alice, "all", 1).await;
        hub.send_to_user("bob", &msg("user", 2)).await.unwrap();
        expect(&mut bob, "user", 2).await; // bob got nothing before: the broadcast excluded him
        hub.send_to_users(&["alice", "bob"], &msg("users", 3))
            .await
            .unwrap();
        expect(&mut alice, "users", 3).await;
        expect(&mut bob, "users", 3).await;
        hub.send_to_connection(&alice_id, &msg("direct", 4))
            .await
            .unwrap();
        expect(&mut alice, "direct", 4).await;

        assert!(hub.connection_exists(&alice_id).await.unwrap(), "{v}");
        assert!(!hub.connection_exists("no-such-connection").await.unwrap());
        assert!(hub.user_exists("alice").await.unwrap(), "{v}");
        assert!(!hub.user_exists("nobody").await.unwrap());

        hub.add_connection_to_group(&alice_id, "room")
            .await
            .unwrap();
        assert!(hub.group_exists("room").await.unwrap(), "{v}");
        hub.send_to_group("room", &msg("group", 5), None)
            .await
            .unwrap();
        expect(&mut alice, "group", 5).await;
        hub.add_user_to_group("bob", "team", None).await.unwrap();
        assert!(hub.user_in_group("bob", "team").await.unwrap(), "{v}");
        hub.send_to_groups(["room", "team"], &msg("groups", 6), None)
            .await
            .unwrap();
        expect(&mut alice, "groups", 6).await;
        expect(&mut bob, "groups", 6).await;
        hub.remove_connection_from_group(&alice_id, "room")
            .await
            .unwrap();
        assert!(!hub.group_exists("room").await.unwrap(), "{v}");
        hub.remove_user_from_group("bob", "team").await.unwrap();
        assert!(!hub.user_in_group("bob", "team").await.unwrap(), "{v}");
        hub.add_user_to_group(
            "bob",
            "a",
            Some(AddUserOptions::default().ttl(Duration::from_secs(600))),
        )
        .await
        .unwrap();
        hub.remove_user_from_all_groups("bob").await.unwrap();
        assert!(!hub.user_in_group("bob", "a").await.unwrap(), "{v}");

        if version == ApiVersion::V2022_06_01 {
            hub.add_connection_to_group(&alice_id, "x").await.unwrap();
            hub.remove_connection_from_all_groups(&alice_id)
                .await
                .unwrap();
            assert!(!hub.group_exists("x").await.unwrap());
            let mut carol = listen(&hub, "carol").await;
            let mut dave = listen(&hub, "dave").await;
            hub.add_connection_to_group(&dave.connection_id().unwrap(), "doomed")
                .await
                .unwrap();
            hub.close_user_connections(
                "carol",
                Some(CloseOptions::default().reason("user closed")),
            )
            .await
            .unwrap();
            assert_eq!(
                expect_closed(&mut carol).await.as_deref(),
                Some("user closed")
            );
            hub.close_group_connections(
                "doomed",
                Some(CloseOptions::default().reason("group closed")),
            )
            .await
            .unwrap();
            assert_eq!(
                expect_closed(&mut dave).await.as_deref(),
                Some("group closed")
            );
            hub.close_all_connections(Some(
                CloseOptions::default()
                    .excluded([&alice_id])
                    .reason("all closed"),
            ))
            .await
            .unwrap();
            assert_eq!(expect_closed(&mut bob).await.as_deref(), Some("all closed"));
        } else {
            let err = hub
                .remove_connection_from_all_groups(&alice_id)
                .await
                .unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::Unsupported { .. }),
                "{err:?}"
            );
            hub.close_connection(&bob_id, Some(CloseOptions::default().reason("bye")))
                .await
                .unwrap();
            assert_eq!(expect_closed(&mut bob).await.as_deref(), Some("bye"));
        }
        hub.close_connection(&alice_id, Some(CloseOptions::default().reason("done")))
            .await
            .unwrap();
        assert_eq!(expect_closed(&mut alice).await.as_deref(), Some("done"));
        emulator.wait_for_disconnect(&alice_id, WAIT).await.unwrap();
        assert!(!hub.connection_exists(&alice_id).await.unwrap(), "{v}");

        // Every call above, REST and the signing-key fetch, used one Entra token.
        assert_eq!(credential.calls(), 1, "{v}: the token is cached");
    }
    emulator.shutdown().await;
}

fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn negotiate_signs_with_the_handed_out_key_and_its_client_receives_a_user_send() {
    let issuer = Arc::new(EntraIssuer::new());
    let emulator = emulator(&issuer).await;
    let credential = EntraIssuerCredential::new(issuer.clone(), Duration::from_secs(3600));
    let client = client(&emulator, credential, ApiVersion::V2022_06_01);
    let hub = client.hub("Chat");

    let negotiated = hub
        .negotiate(NegotiateOptions::default().user_id("erin"))
        .await
        .unwrap();
    // What the emulator hands out to this identity, asked directly with an Entra token.
    let answer: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/auth/accessKey", emulator.endpoint()))
        .bearer_auth(issuer.token(Duration::from_secs(600)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = answer["KeyId"].as_str().unwrap();
    let token = negotiated.access_token.expose_secret();
    assert_eq!(jwt_part(token, 0)["kid"], kid);
    assert_eq!(jwt_part(token, 0)["alg"], "HS256");
    assert_eq!(jwt_part(token, 1)["asrs.s.uid"], "erin");
    // Signed with that key, not with the emulator's access key.
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_aud = false;
    let key = answer["AccessKey"].as_str().unwrap();
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(key.as_bytes()),
        &validation,
    )
    .expect("signed with the handed-out key");

    let mut listener = Listener::builder()
        .negotiate_response(negotiated)
        .max_reconnect_attempts(Some(0))
        .connect()
        .await
        .unwrap();
    hub.send_to_user("erin", &msg("hello", 7)).await.unwrap();
    expect(&mut listener, "hello", 7).await;
    listener.close().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn concurrent_callers_share_one_token_refresh() {
    let issuer = Arc::new(EntraIssuer::new());
    let emulator = emulator(&issuer).await;
    let credential = EntraIssuerCredential::new(issuer.clone(), Duration::from_secs(3600));
    let client = client(&emulator, credential.clone(), ApiVersion::V2022_06_01);
    let hub = client.hub("busy");
    let calls = (0..16).map(|i| {
        let hub = hub.clone();
        async move { hub.user_exists(&format!("u{i}")).await }
    });
    for result in futures::future::join_all(calls).await {
        assert!(!result.unwrap());
    }
    assert_eq!(credential.calls(), 1);

    // A token about to expire (inside the refresh margin) is replaced on the next call.
    let short = EntraIssuerCredential::new(issuer.clone(), Duration::from_secs(120));
    let client = self::client(&emulator, short.clone(), ApiVersion::V2022_06_01);
    client.hub("busy").user_exists("a").await.unwrap();
    client.hub("busy").user_exists("b").await.unwrap();
    assert_eq!(short.calls(), 2);
    emulator.shutdown().await;
}

#[tokio::test]
async fn the_access_key_keeps_working_next_to_entra_id() {
    let issuer = EntraIssuer::new();
    let emulator = emulator(&issuer).await;
    // Microsoft's .NET SDK names even an access key by a `kid` (a hash of the key): a `kid` the
    // emulator did not hand out is checked with the access key.
    let key = azure_signalr_rest::AccessKey::new(emulator.access_key());
    for minter in [
        azure_signalr_rest::TokenMinter::new(key.clone()),
        azure_signalr_rest::TokenMinter::with_key_id(key, "-1194394390"),
    ] {
        let url = format!(
            "{}/api/hubs/chat/users/u?api-version=2022-06-01",
            emulator.endpoint()
        );
        let token = minter
            .rest_token("http://127.0.0.1/api/hubs/chat/users/u?api-version=2022-06-01")
            .unwrap();
        let answer = reqwest::Client::new()
            .head(&url)
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404, "{:?}", minter.key_id());
    }
    emulator.shutdown().await;
}

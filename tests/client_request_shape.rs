//! Request shape of every operation of every version, checked against a capturing HTTP server on
//! 127.0.0.1 (a mock: it checks what the client sends, not what the service does; the behaviour
//! is tested against the emulator in `client_operations.rs`).

#[path = "common/http1.rs"]
mod http1;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_signalr_rest::{
    AccessKey, AddUserOptions, ApiVersion, CloseOptions, Error, ErrorKind, HubClient, Message,
    Operation, RetryPolicy, SendOptions, ServiceClient, Support,
};
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const KEY: &str = "request-shape-test-key";

#[derive(Clone, Debug)]
struct Captured {
    method: String,
    /// Path and query, as sent.
    target: String,
    authorization: Option<String>,
    body: Vec<u8>,
}

impl Captured {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// A reply of the mock: status, extra headers, body; `None` never answers.
type Reply = Option<(u16, Vec<(&'static str, String)>, String)>;
type Responder = Arc<dyn Fn(usize, &Captured) -> Reply + Send + Sync>;

struct Mock {
    port: u16,
    seen: Arc<Mutex<Vec<Captured>>>,
}

impl Mock {
    async fn start(responder: impl Fn(usize, &Captured) -> Reply + Send + Sync + 'static) -> Mock {
        Mock::start_on(0, responder).await
    }

    async fn start_on(
        port: u16,
        responder: impl Fn(usize, &Captured) -> Reply + Send + Sync + 'static,
    ) -> Mock {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let responder: Responder = Arc::new(responder);
        let count = Arc::new(AtomicUsize::new(0));
        let seen2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let (seen, responder, count) = (seen2.clone(), responder.clone(), count.clone());
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut read = BufReader::new(read);
                    while let Some(request) = http1::read_request(&mut read).await {
                        let captured = Captured {
                            authorization: request.header("authorization").map(str::to_owned),
                            method: request.method,
                            target: request.target,
                            body: request.body,
                        };
                        let n = count.fetch_add(1, Ordering::SeqCst);
                        let reply = responder(n, &captured);
                        seen.lock().unwrap().push(captured);
                        let Some((status, headers, body)) = reply else {
                            // Hold the connection open without answering.
                            std::future::pending::<()>().await;
                            return;
                        };
                        let mut response =
                            format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
                        for (name, value) in headers {
                            response.push_str(&format!("{name}: {value}\r\n"));
                        }
                        response.push_str("\r\n");
                        response.push_str(&body);
                        if write.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Mock { port, seen }
    }

    fn seen(&self) -> Vec<Captured> {
        self.seen.lock().unwrap().clone()
    }

    fn client(&self, version: ApiVersion) -> azure_signalr_rest::ServiceClientBuilder {
        ServiceClient::builder()
            .connection_string(
                &format!(
                    "Endpoint=http://127.0.0.1;Port={};AccessKey={KEY};Version=1.0;",
                    self.port
                )
                .parse()
                .unwrap(),
            )
            .api_version(version)
            .retry_policy(RetryPolicy::none())
    }
}

/// Replies with the status the spec documents for a success of that method and path.
fn documented_success(_: usize, c: &Captured) -> Reply {
    let path = c.path();
    let status = match c.method.as_str() {
        "HEAD" | "GET" => 200,
        "PUT" if path.contains("/groups/") && path.contains("/connections/") => 200,
        "PUT" if path.starts_with("/api/hubs/") => 200,
        "PUT" => 202,
        "DELETE" if path.starts_with("/api/hubs/") && path.contains("/users/") => 204,
        "DELETE" if path.starts_with("/api/hubs/") => 200,
        "DELETE" if path.contains("/groups/") && path.contains("/connections/") => 200,
        "DELETE" if path.ends_with("/groups") => 200,
        "DELETE" => 202,
        "POST" if path.ends_with(":closeConnections") => 204,
        _ => 202,
    };
    Some((status, vec![], String::new()))
}

/// Checks the bearer token: signed with the key, `aud` as the .NET SDK signs it: the endpoint's
/// host without the port (the request went to `port`), the path, and only `application` and
/// `api-version` of the query, in that order.
fn assert_authorized(c: &Captured, port: u16) {
    let header = c.authorization.as_deref().expect("Authorization header");
    let token = header.strip_prefix("Bearer ").expect("Bearer token");
    assert_ne!(port, 80);
    let query = c.target.split_once('?').map_or("", |(_, q)| q);
    let signed: Vec<String> = ["application", "api-version"]
        .iter()
        .filter_map(|name| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| format!("{name}={v}"))
        })
        .collect();
    let mut aud = format!("http://127.0.0.1{}", c.path());
    if !signed.is_empty() {
        aud = format!("{aud}?{}", signed.join("&"));
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[&aud]);
    let claims = decode::<Map<String, Value>>(
        token,
        &DecodingKey::from_secret(KEY.as_bytes()),
        &validation,
    )
    .unwrap_or_else(|e| panic!("token for {aud}: {e}"))
    .claims;
    assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());
}

fn msg() -> Message {
    Message::new("newMessage", ("hello", 42, json!({"k": [1, 2]}))).unwrap()
}

/// Runs every operation on `hub`; `(operation, result)` for each.
async fn run_all(hub: &HubClient, client: &ServiceClient) -> Vec<(Operation, Result<(), Error>)> {
    let m = msg();
    let ttl = Some(Duration::from_secs(30));
    let mut out = vec![
        (Operation::Health, client.health().await),
        (
            Operation::Broadcast,
            hub.broadcast(&m, Some(SendOptions::default().excluded(["c1", "c2"])))
                .await,
        ),
        (Operation::SendToUser, hub.send_to_user("u 1", &m).await),
        (
            Operation::SendToUsers,
            hub.send_to_users(&["u1", "u2"], &m).await,
        ),
        (
            Operation::SendToGroup,
            hub.send_to_group("g 1", &m, Some(SendOptions::default().excluded(["c1"])))
                .await,
        ),
        (
            Operation::SendToGroups,
            hub.send_to_groups(&["g1", "g2"], &m, None).await,
        ),
        (
            Operation::SendToConnection,
            hub.send_to_connection("c1", &m).await,
        ),
        (
            Operation::AddConnectionToGroup,
            hub.add_connection_to_group("c1", "g1").await,
        ),
        (
            Operation::RemoveConnectionFromGroup,
            hub.remove_connection_from_group("c1", "g1").await,
        ),
        (
            Operation::RemoveConnectionFromAllGroups,
            hub.remove_connection_from_all_groups("c1").await,
        ),
        (
            Operation::AddUserToGroup,
            hub.add_user_to_group(
                "u1",
                "g1",
                ttl.map(|ttl| AddUserOptions::default().ttl(ttl)),
            )
            .await,
        ),
        (
            Operation::RemoveUserFromGroup,
            hub.remove_user_from_group("u1", "g1").await,
        ),
        (
            Operation::RemoveUserFromAllGroups,
            hub.remove_user_from_all_groups("u1").await,
        ),
        (
            Operation::CloseConnection,
            hub.close_connection("c1", Some(CloseOptions::default().reason("bye now")))
                .await,
        ),
        (
            Operation::CloseAllConnections,
            hub.close_all_connections(Some(CloseOptions::default().excluded(["c9"]).reason("r")))
                .await,
        ),
        (
            Operation::CloseGroupConnections,
            hub.close_group_connections("g1", None).await,
        ),
        (
            Operation::CloseUserConnections,
            hub.close_user_connections("u1", Some(CloseOptions::default().reason("r")))
                .await,
        ),
    ];
    for (op, r) in [
        (Operation::UserExists, hub.user_exists("u1").await),
        (Operation::GroupExists, hub.group_exists("g1").await),
        (
            Operation::ConnectionExists,
            hub.connection_exists("c1").await,
        ),
        (Operation::UserInGroup, hub.user_in_group("u1", "g1").await),
    ] {
        out.push((op, r.map(|exists| assert!(exists, "{op}"))));
    }
    out
}

/// `(method, path?query)` of each request the operations above make, per version.
fn expected_requests(version: ApiVersion) -> Vec<(&'static str, &'static str)> {
    match version {
        ApiVersion::V1Preview => vec![
            // broadcast with exclusions is unsupported on the preview
            ("POST", "/api/v1-preview/hub/chat/user/u%201"),
            ("POST", "/api/v1-preview/hub/chat/users/u1,u2"),
            // send_to_group with exclusions is unsupported on the preview
            ("POST", "/api/v1-preview/hub/chat/groups/g1,g2"),
        ],
        ApiVersion::V1 => vec![
            ("HEAD", "/api/v1/health"),
            ("POST", "/api/v1/hubs/chat?excluded=c1&excluded=c2"),
            ("POST", "/api/v1/hubs/chat/users/u%201"),
            ("POST", "/api/v1/hubs/chat/users/u1"),
            ("POST", "/api/v1/hubs/chat/users/u2"),
            ("POST", "/api/v1/hubs/chat/groups/g%201?excluded=c1"),
            ("POST", "/api/v1/hubs/chat/groups/g1"),
            ("POST", "/api/v1/hubs/chat/groups/g2"),
            ("POST", "/api/v1/hubs/chat/connections/c1"),
            ("PUT", "/api/v1/hubs/chat/groups/g1/connections/c1"),
            ("DELETE", "/api/v1/hubs/chat/groups/g1/connections/c1"),
            ("PUT", "/api/v1/hubs/chat/groups/g1/users/u1?ttl=30"),
            ("DELETE", "/api/v1/hubs/chat/groups/g1/users/u1"),
            ("DELETE", "/api/v1/hubs/chat/users/u1/groups"),
            ("DELETE", "/api/v1/hubs/chat/connections/c1?reason=bye+now"),
            ("HEAD", "/api/v1/hubs/chat/users/u1"),
            ("HEAD", "/api/v1/hubs/chat/groups/g1"),
            ("HEAD", "/api/v1/hubs/chat/connections/c1"),
            ("HEAD", "/api/v1/hubs/chat/groups/g1/users/u1"),
        ],
        _ => vec![
            ("HEAD", "/api/health?api-version=2022-06-01"),
            (
                "POST",
                "/api/hubs/chat/:send?api-version=2022-06-01&excluded=c1&excluded=c2",
            ),
            (
                "POST",
                "/api/hubs/chat/users/u%201/:send?api-version=2022-06-01",
            ),
            (
                "POST",
                "/api/hubs/chat/users/u1/:send?api-version=2022-06-01",
            ),
            (
                "POST",
                "/api/hubs/chat/users/u2/:send?api-version=2022-06-01",
            ),
            (
                "POST",
                "/api/hubs/chat/groups/g%201/:send?api-version=2022-06-01&excluded=c1",
            ),
            (
                "POST",
                "/api/hubs/chat/groups/g1/:send?api-version=2022-06-01",
            ),
            (
                "POST",
                "/api/hubs/chat/groups/g2/:send?api-version=2022-06-01",
            ),
            (
                "POST",
                "/api/hubs/chat/connections/c1/:send?api-version=2022-06-01",
            ),
            (
                "PUT",
                "/api/hubs/chat/groups/g1/connections/c1?api-version=2022-06-01",
            ),
            (
                "DELETE",
                "/api/hubs/chat/groups/g1/connections/c1?api-version=2022-06-01",
            ),
            (
                "DELETE",
                "/api/hubs/chat/connections/c1/groups?api-version=2022-06-01",
            ),
            (
                "PUT",
                "/api/hubs/chat/users/u1/groups/g1?api-version=2022-06-01&ttl=30",
            ),
            (
                "DELETE",
                "/api/hubs/chat/users/u1/groups/g1?api-version=2022-06-01",
            ),
            (
                "DELETE",
                "/api/hubs/chat/users/u1/groups?api-version=2022-06-01",
            ),
            (
                "DELETE",
                "/api/hubs/chat/connections/c1?api-version=2022-06-01&reason=bye+now",
            ),
            (
                "POST",
                "/api/hubs/chat/:closeConnections?api-version=2022-06-01&excluded=c9&reason=r",
            ),
            (
                "POST",
                "/api/hubs/chat/groups/g1/:closeConnections?api-version=2022-06-01",
            ),
            (
                "POST",
                "/api/hubs/chat/users/u1/:closeConnections?api-version=2022-06-01&reason=r",
            ),
            ("HEAD", "/api/hubs/chat/users/u1?api-version=2022-06-01"),
            ("HEAD", "/api/hubs/chat/groups/g1?api-version=2022-06-01"),
            (
                "HEAD",
                "/api/hubs/chat/connections/c1?api-version=2022-06-01",
            ),
            (
                "HEAD",
                "/api/hubs/chat/users/u1/groups/g1?api-version=2022-06-01",
            ),
        ],
    }
}

#[tokio::test]
async fn every_operation_of_every_version() {
    for version in ApiVersion::ALL {
        let mock = Mock::start(documented_success).await;
        let client = mock.client(version).build().unwrap();
        let hub = client.hub("Chat");
        for (op, result) in run_all(&hub, &client).await {
            let excluded_on_preview = version == ApiVersion::V1Preview
                && matches!(op, Operation::Broadcast | Operation::SendToGroup);
            if version.support(op) == Support::Unsupported || excluded_on_preview {
                let err = result.unwrap_err();
                match err.kind() {
                    ErrorKind::Unsupported { version: v } => {
                        assert_eq!((err.operation(), *v), (op, version));
                    }
                    other => panic!("{op} on {version}: {other:?}"),
                }
            } else {
                result.unwrap_or_else(|e| panic!("{op} on {version}: {e}"));
            }
        }
        let mut seen: Vec<(String, String)> = mock
            .seen()
            .iter()
            .map(|c| {
                assert_authorized(c, mock.port);
                (c.method.clone(), c.target.clone())
            })
            .collect();
        // Composed sends run concurrently: compare as sets.
        seen.sort();
        let mut expected: Vec<(String, String)> = expected_requests(version)
            .into_iter()
            .map(|(m, t)| (m.to_owned(), t.to_owned()))
            .collect();
        expected.sort();
        assert_eq!(seen, expected, "{version}");
    }
}

#[tokio::test]
async fn message_property_names_per_version() {
    for (version, target, arguments) in [
        (ApiVersion::V1Preview, "target", "arguments"),
        (ApiVersion::V1, "Target", "Arguments"),
        (ApiVersion::V2022_06_01, "target", "arguments"),
    ] {
        let mock = Mock::start(documented_success).await;
        let client = mock.client(version).build().unwrap();
        client.hub("chat").send_to_user("u", &msg()).await.unwrap();
        let body = mock.seen()[0].json();
        assert_eq!(
            body,
            json!({ target: "newMessage", arguments: ["hello", 42, {"k": [1, 2]}] }),
            "{version}"
        );
    }
}

#[tokio::test]
async fn names_are_percent_encoded_once() {
    let mock = Mock::start(documented_success).await;
    let client = mock.client(ApiVersion::V2022_06_01).build().unwrap();
    let hub = client.hub("chat");
    let awkward = "a b/c?d#e%f&g=h+ü";
    hub.send_to_user(awkward, &msg()).await.unwrap();
    hub.add_user_to_group(awkward, awkward, None).await.unwrap();
    let seen = mock.seen();
    let encoded = "a%20b%2Fc%3Fd%23e%25f&g=h+%C3%BC";
    assert_eq!(
        seen[0].path(),
        format!("/api/hubs/chat/users/{encoded}/:send")
    );
    assert_eq!(
        seen[1].path(),
        format!("/api/hubs/chat/users/{encoded}/groups/{encoded}")
    );
    for c in &seen {
        assert_authorized(c, mock.port);
    }
}

#[tokio::test]
async fn application_is_a_parameter_or_a_hub_prefix() {
    for (version, expected) in [
        (
            ApiVersion::V2022_06_01,
            "/api/hubs/chat/users/u/:send?api-version=2022-06-01&application=myapp",
        ),
        (ApiVersion::V1, "/api/v1/hubs/myapp_chat/users/u"),
        (
            ApiVersion::V1Preview,
            "/api/v1-preview/hub/myapp_chat/user/u",
        ),
    ] {
        let mock = Mock::start(documented_success).await;
        let client = mock.client(version).application("MyApp").build().unwrap();
        let hub = client.hub("Chat");
        hub.send_to_user("u", &msg()).await.unwrap();
        assert_eq!(mock.seen()[0].target, expected, "{version}");
        let negotiate = hub.negotiate(Default::default()).await.unwrap();
        assert_eq!(
            negotiate.url,
            format!("http://127.0.0.1:{}/client/?hub=myapp_chat", mock.port)
        );
    }
}

#[tokio::test]
async fn preview_lists_fall_back_to_single_sends_for_names_with_commas() {
    let mock = Mock::start(documented_success).await;
    let client = mock.client(ApiVersion::V1Preview).build().unwrap();
    let hub = client.hub("chat");
    hub.send_to_users(&["a,b", "c"], &msg()).await.unwrap();
    hub.send_to_groups(&["g,1", "g2"], &msg(), None)
        .await
        .unwrap();
    let mut seen: Vec<String> = mock.seen().iter().map(|c| c.target.clone()).collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "/api/v1-preview/hub/chat/group/g,1",
            "/api/v1-preview/hub/chat/group/g2",
            "/api/v1-preview/hub/chat/user/a,b",
            "/api/v1-preview/hub/chat/user/c",
        ]
    );
}

#[tokio::test]
async fn tokens_are_cached_per_url() {
    let mock = Mock::start(documented_success).await;
    let client = mock.client(ApiVersion::V1).build().unwrap();
    let hub = client.hub("chat");
    hub.user_exists("u1").await.unwrap();
    hub.user_exists("u1").await.unwrap();
    assert_eq!(client.token_minter().unwrap().signatures(), 1);
    hub.user_exists("u2").await.unwrap();
    assert_eq!(client.token_minter().unwrap().signatures(), 2);
    let seen = mock.seen();
    assert_eq!(seen[0].authorization, seen[1].authorization);
    assert_ne!(seen[0].authorization, seen[2].authorization);
}

#[tokio::test]
async fn local_validation_refuses_before_sending() {
    let mock = Mock::start(documented_success).await;
    let client = mock.client(ApiVersion::V2022_06_01).build().unwrap();
    let cases: Vec<(Result<(), Error>, &str)> = vec![
        (client.hub("1bad").broadcast(&msg(), None).await, "hub name"),
        (
            client.hub("chat").send_to_group("   ", &msg(), None).await,
            "group name",
        ),
        (
            client
                .hub("chat")
                .send_to_group(&"g".repeat(1025), &msg(), None)
                .await,
            "group name",
        ),
        (client.hub("chat").send_to_user("", &msg()).await, "user id"),
        (
            client
                .hub("chat")
                .broadcast(&Message::new("", ()).unwrap(), None)
                .await,
            "target",
        ),
        (
            client
                .hub("chat")
                .broadcast(
                    &Message::new("t", ("x".repeat(1024 * 1024),)).unwrap(),
                    None,
                )
                .await,
            "body",
        ),
        (
            client.hub("chat").send_to_users([""; 0], &msg()).await,
            "user list",
        ),
    ];
    for (result, rule) in cases {
        match result {
            Err(e) if matches!(e.kind(), ErrorKind::InvalidInput { .. }) => {
                assert!(e.to_string().contains(rule), "{e}")
            }
            other => panic!("{rule}: {other:?}"),
        }
    }
    assert!(mock.seen().is_empty());

    // Without local validation the service judges.
    let client = mock
        .client(ApiVersion::V2022_06_01)
        .local_validation(false)
        .build()
        .unwrap();
    client.hub("1bad").broadcast(&msg(), None).await.unwrap();
    assert_eq!(mock.seen()[0].path(), "/api/hubs/1bad/:send");
}

#[tokio::test]
async fn service_errors_are_mapped_with_their_message() {
    let mock = Mock::start(|_, c| {
        let user = c.path().split('/').nth(5).unwrap_or_default().to_owned();
        Some(match user.as_str() {
            "bad" => (400, vec![], "Invalid user id".into()),
            "json" => (
                400,
                vec![("content-type", "application/json".into())],
                r#"{"code":"InvalidUser","message":"user id too long","target":null}"#.into(),
            ),
            "noauth" => (401, vec![], String::new()),
            "forbidden" => (403, vec![], String::new()),
            "missing" => (404, vec![], String::new()),
            "busy" => (429, vec![("retry-after", "7".into())], String::new()),
            "broken" => (500, vec![], "boom".into()),
            _ => (202, vec![], String::new()),
        })
    })
    .await;
    let client = mock.client(ApiVersion::V2022_06_01).build().unwrap();
    let hub = client.hub("chat");
    let send = |user: &'static str| {
        let hub = hub.clone();
        async move { hub.send_to_user(user, &msg()).await.unwrap_err() }
    };
    let err = send("bad").await;
    assert_eq!(err.operation(), Operation::SendToUser);
    match err.into_kind() {
        ErrorKind::BadRequest {
            status,
            message,
            code,
            ..
        } => {
            assert_eq!(status.as_u16(), 400);
            assert_eq!(message, "Invalid user id");
            assert_eq!(code, None, "no x-ms-error-code header was sent");
        }
        other => panic!("{other:?}"),
    }
    match send("json").await.into_kind() {
        ErrorKind::BadRequest { message, .. } => assert_eq!(message, "user id too long"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        send("noauth").await.kind(),
        ErrorKind::Unauthorized { .. }
    ));
    assert!(matches!(
        send("forbidden").await.kind(),
        ErrorKind::Forbidden { .. }
    ));
    assert!(matches!(
        send("missing").await.kind(),
        ErrorKind::NotFound { .. }
    ));
    match send("busy").await.kind() {
        ErrorKind::Throttled { retry_after, .. } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(7)))
        }
        other => panic!("{other:?}"),
    }
    match send("broken").await {
        e if matches!(e.kind(), ErrorKind::Server { .. }) => {
            assert_eq!(e.status().unwrap().as_u16(), 500);
            assert!(e.to_string().contains("boom"));
        }
        other => panic!("{other:?}"),
    }
    // No error text carries the token or the key.
    let all = format!("{:?}", send("bad").await);
    assert!(!all.contains(KEY));
    assert!(!all.contains(mock.seen()[0].authorization.as_deref().unwrap()));
}

#[tokio::test]
async fn existence_checks_answer_false_on_404() {
    // 1.0 publishes no error codes: a bare 404 means "no".
    let mock = Mock::start(|_, _| Some((404, vec![], String::new()))).await;
    let client = mock.client(ApiVersion::V1).build().unwrap();
    let hub = client.hub("chat");
    assert!(!hub.user_exists("u").await.unwrap());
    assert!(!hub.group_exists("g").await.unwrap());
    assert!(!hub.connection_exists("c").await.unwrap());
    assert!(!hub.user_in_group("u", "g").await.unwrap());
    // 2022-06-01 says which thing is missing; each check reads its own code.
    let mock = Mock::start(|_, c| {
        let path = c.path();
        let code = if path.contains("/groups/") && path.contains("/users/") {
            "Info.User.NotInGroup"
        } else if path.contains("/users/") {
            "Warning.User.NotExisted"
        } else if path.contains("/groups/") {
            "Warning.Group.NotExisted"
        } else {
            "Warning.Connection.NotExisted"
        };
        Some((404, vec![("x-ms-error-code", code.into())], String::new()))
    })
    .await;
    let client = mock.client(ApiVersion::V2022_06_01).build().unwrap();
    let hub = client.hub("chat");
    assert!(!hub.user_exists("u").await.unwrap());
    assert!(!hub.group_exists("g").await.unwrap());
    assert!(!hub.connection_exists("c").await.unwrap());
    assert!(!hub.user_in_group("u", "g").await.unwrap());
}

fn retrying() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(5))
}

#[tokio::test]
async fn idempotent_operations_are_retried_sends_are_not() {
    // First request fails with 503, the rest succeed.
    let flaky = |n: usize, c: &Captured| {
        if n == 0 {
            Some((503, vec![], String::new()))
        } else {
            documented_success(n, c)
        }
    };
    let mock = Mock::start(flaky).await;
    let client = mock
        .client(ApiVersion::V1)
        .retry_policy(retrying())
        .build()
        .unwrap();
    assert!(client.hub("chat").user_exists("u").await.unwrap());
    assert_eq!(mock.seen().len(), 2);

    let mock = Mock::start(flaky).await;
    let client = mock
        .client(ApiVersion::V1)
        .retry_policy(retrying())
        .build()
        .unwrap();
    let err = client
        .hub("chat")
        .send_to_user("u", &msg())
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Server { .. }), "{err:?}");
    assert_eq!(
        mock.seen().len(),
        1,
        "a send that may have been delivered is not repeated"
    );

    let mock = Mock::start(flaky).await;
    let client = mock
        .client(ApiVersion::V1)
        .retry_policy(retrying().retry_sends(true))
        .build()
        .unwrap();
    client.hub("chat").send_to_user("u", &msg()).await.unwrap();
    assert_eq!(mock.seen().len(), 2);

    // 429 means not acted on: a send is retried.
    let mock = Mock::start(|n, c| {
        if n == 0 {
            Some((429, vec![("retry-after", "0".into())], String::new()))
        } else {
            documented_success(n, c)
        }
    })
    .await;
    let client = mock
        .client(ApiVersion::V1)
        .retry_policy(retrying())
        .build()
        .unwrap();
    client.hub("chat").send_to_user("u", &msg()).await.unwrap();
    assert_eq!(mock.seen().len(), 2);

    // Attempts are bounded.
    let mock = Mock::start(|_, _| Some((503, vec![], String::new()))).await;
    let client = mock
        .client(ApiVersion::V1)
        .retry_policy(retrying())
        .build()
        .unwrap();
    assert!(client.hub("chat").user_exists("u").await.is_err());
    assert_eq!(mock.seen().len(), 3);
}

#[tokio::test]
async fn per_request_timeout() {
    let mock = Mock::start(|_, _| None).await;
    let client = mock
        .client(ApiVersion::V1)
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client
        .hub("chat")
        .send_to_user("u", &msg())
        .await
        .unwrap_err();
    assert_eq!(err.operation(), Operation::SendToUser);
    match err.kind() {
        ErrorKind::Timeout { timeout, .. } => {
            assert_eq!(*timeout, Duration::from_millis(200));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.seen().len(), 1);
}

#[tokio::test]
async fn connect_failure_is_a_transport_error() {
    // A port nobody listens on: bind, note it, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = ServiceClient::builder()
        .endpoint(format!("http://127.0.0.1:{port}"))
        .access_key(AccessKey::new(KEY))
        .retry_policy(retrying())
        .build()
        .unwrap();
    let err = client
        .hub("chat")
        .send_to_user("u", &msg())
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Transport { .. })
            && err.operation() == Operation::SendToUser,
        "{err:?}"
    );
}

/// Collects formatted log lines and signals each one.
#[derive(Clone)]
struct LogCapture {
    lines: Arc<Mutex<Vec<u8>>>,
    written: tokio::sync::mpsc::UnboundedSender<()>,
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lines.lock().unwrap().extend_from_slice(buf);
        let _ = self.written.send(());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> (
    tracing::subscriber::DefaultGuard,
    Arc<Mutex<Vec<u8>>>,
    tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (written, signal) = tokio::sync::mpsc::unbounded_channel();
    let capture = LogCapture {
        lines: lines.clone(),
        written,
    };
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || capture.clone())
        .finish();
    (tracing::subscriber::set_default(subscriber), lines, signal)
}

fn text(lines: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&lines.lock().unwrap()).into_owned()
}

#[tokio::test]
async fn spans_name_operation_hub_attempt_and_status_but_no_secret() {
    let (_guard, lines, _signal) = capture_logs();
    let mock = Mock::start(|n, c| {
        if n == 0 {
            Some((503, vec![], String::new()))
        } else {
            documented_success(n, c)
        }
    })
    .await;
    let client = mock
        .client(ApiVersion::V1)
        .retry_policy(retrying())
        .build()
        .unwrap();
    assert!(client.hub("Chat").user_exists("alice").await.unwrap());
    let logs = text(&lines);
    assert!(
        logs.contains("operation=user_exists") && logs.contains("hub=\"chat\""),
        "{logs}"
    );
    assert!(
        logs.contains("attempt=1") && logs.contains("status=503"),
        "{logs}"
    );
    assert!(
        logs.contains("attempt=2") && logs.contains("status=200"),
        "{logs}"
    );
    let token = mock.seen()[0].authorization.clone().unwrap();
    let token = token.strip_prefix("Bearer ").unwrap();
    assert!(!logs.contains(token), "{logs}");
    assert!(!logs.contains(KEY), "{logs}");
}

#[tokio::test]
async fn a_send_that_never_reached_the_service_is_retried() {
    let (_guard, lines, mut signal) = capture_logs();
    // Nothing listens on the port at first.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = ServiceClient::builder()
        .endpoint(format!("http://127.0.0.1:{port}"))
        .access_key(AccessKey::new(KEY))
        .api_version(ApiVersion::V1)
        .retry_policy(
            RetryPolicy::default()
                .max_attempts(2)
                .initial_backoff(Duration::from_secs(2))
                .max_backoff(Duration::from_secs(2)),
        )
        .build()
        .unwrap();
    let send = tokio::spawn({
        let hub = client.hub("chat");
        async move { hub.send_to_user("u", &msg()).await }
    });
    // Once the first attempt has failed to connect, start listening for the retry.
    tokio::time::timeout(Duration::from_secs(10), async {
        while !text(&lines).contains("retrying") {
            signal.recv().await.unwrap();
        }
    })
    .await
    .expect("the failed connect is logged");
    let mock = Mock::start_on(port, documented_success).await;
    send.await.unwrap().unwrap();
    assert_eq!(mock.seen().len(), 1);
    assert_eq!(mock.seen()[0].path(), "/api/v1/hubs/chat/users/u");
}

/// A fixed answer of the Azure SDK's credential trait.
#[cfg(feature = "identity")]
#[derive(Debug)]
struct Fixed(Result<&'static str, &'static str>);

#[cfg(feature = "identity")]
#[async_trait::async_trait]
impl azure_signalr_rest::TokenCredential for Fixed {
    async fn get_token(
        &self,
        scopes: &[&str],
        _: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        assert_eq!(scopes, [azure_signalr_rest::SIGNALR_SCOPE]);
        match self.0 {
            Ok(t) => Ok(azure_core::credentials::AccessToken::new(
                t,
                time::OffsetDateTime::now_utc() + Duration::from_secs(3600),
            )),
            Err(e) => Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Credential,
                e,
            )),
        }
    }
}

#[cfg(feature = "identity")]
#[tokio::test]
async fn a_token_credential_replaces_the_key() {
    let mock = Mock::start(documented_success).await;
    let cs = format!(
        "Endpoint=http://127.0.0.1;Port={};AuthType=azure.msi",
        mock.port
    );
    let client = ServiceClient::builder()
        .connection_string(&cs.parse().unwrap())
        .credential(Arc::new(Fixed(Ok("entra-id-token"))))
        .build()
        .unwrap();
    client.hub("chat").send_to_user("u", &msg()).await.unwrap();
    assert_eq!(
        mock.seen()[0].authorization.as_deref(),
        Some("Bearer entra-id-token")
    );
    // The synchronous negotiate signs with an access key only.
    let err = client
        .hub("chat")
        .negotiate_local(Default::default())
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Credential { .. }),
        "{err:?}"
    );

    let failing = ServiceClient::builder()
        .connection_string(&cs.parse().unwrap())
        .credential(Arc::new(Fixed(Err("no managed identity here"))))
        .build()
        .unwrap();
    let err = failing
        .hub("chat")
        .send_to_user("u", &msg())
        .await
        .unwrap_err();
    assert_eq!(err.operation(), Operation::SendToUser);
    match err.into_kind() {
        ErrorKind::Credential { message } => {
            assert!(message.contains("no managed identity here"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.seen().len(), 1, "nothing sent without a token");
}

//! `HubClient`: every operation on one hub, for whichever API version the client uses.

use std::time::Duration;

use futures::stream::{self, StreamExt};
use progenitor_client::encode_path;

use super::error::Error;
use super::message::{validate_group_name, validate_hub_name, validate_id, Message};
use super::negotiate::{NegotiateOptions, NegotiateResponse, DEFAULT_CLIENT_TOKEN_LIFETIME};
use super::service::ServiceClient;
use super::token::TokenClaims;
use super::transport::Raw;
use super::version::{ApiVersion, Operation};
use crate::raw::{v1, v1_preview, v2022_06_01};

/// How many sends a composed operation (e.g. `send_to_users` on 1.0) runs at once.
const COMPOSED_CONCURRENCY: usize = 16;

const API_2022: &str = super::transport::API_2022_06_01;

/// The operations on one hub. Obtained from [`ServiceClient::hub`]; cheap to clone.
///
/// Names are checked before anything is sent (hub: `^[A-Za-z][A-Za-z0-9_`,.[\]]{0,127}$`; group:
/// 1..1024 characters, not only white space; user and connection ids: not empty; message: a
/// target and at most 1 MB) unless the client was built with
/// [`local_validation(false)`](crate::ServiceClientBuilder::local_validation). Names may contain
/// any character: they are percent-encoded once in the request path.
///
/// Which API version offers which operation (and which are composed of several calls) is
/// tabulated on [`ApiVersion`]; an operation the version lacks returns
/// [`Error::Unsupported`] before any network traffic.
///
/// ```
/// use azure_signalr_rest::{NegotiateOptions, ServiceClient};
///
/// let client = ServiceClient::from_connection_string(
///     "Endpoint=http://localhost;Port=8888;AccessKey=secret;Version=1.0;",
/// )
/// .unwrap();
/// let chat = client.hub("Chat");
/// let negotiate = chat.negotiate(NegotiateOptions::default().user_id("alice")).unwrap();
/// assert_eq!(negotiate.url, "http://localhost:8888/client/?hub=chat");
/// ```
#[derive(Clone, Debug)]
pub struct HubClient {
    service: ServiceClient,
    /// As given (validated per call).
    given: String,
    /// Lower-cased.
    name: String,
    /// Lower-cased, with the application prefix for versions without an `application` parameter.
    path_hub: String,
}

impl HubClient {
    pub(crate) fn new(service: ServiceClient, hub: &str) -> HubClient {
        let lower = hub.to_lowercase();
        let path_hub = match (&service.shared.application, service.shared.version) {
            (Some(app), ApiVersion::V1 | ApiVersion::V1Preview) => format!("{app}_{lower}"),
            _ => lower,
        };
        HubClient {
            service,
            given: hub.to_owned(),
            name: hub.to_lowercase(),
            path_hub,
        }
    }

    /// The hub name as used in requests (lower-cased).
    ///
    /// ```
    /// let client = azure_signalr_rest::ServiceClient::from_connection_string("Endpoint=https://h;AccessKey=k").unwrap();
    /// assert_eq!(client.hub("MyHub").name(), "myhub");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client this hub belongs to.
    ///
    /// ```
    /// let client = azure_signalr_rest::ServiceClient::from_connection_string("Endpoint=https://h;AccessKey=k").unwrap();
    /// assert_eq!(client.hub("chat").service().rest_endpoint(), "https://h");
    /// ```
    pub fn service(&self) -> &ServiceClient {
        &self.service
    }

    fn application(&self) -> Option<&str> {
        self.service.shared.application.as_deref()
    }

    /// Checks the version and the hub name: the common start of every operation.
    fn begin(&self, operation: Operation) -> Result<(), Error> {
        self.service.shared.version.require(operation)?;
        if self.service.shared.local_validation {
            validate_hub_name(operation, "hub", &self.given)?;
        }
        Ok(())
    }

    /// The error for an operation this version lacks. [`HubClient::begin`] already refuses
    /// those; the per-version dispatch returns this rather than assume it.
    fn unsupported(&self, operation: Operation) -> Error {
        self.service.shared.version.unsupported(operation)
    }

    fn check_group(&self, operation: Operation, group: &str) -> Result<(), Error> {
        if self.service.shared.local_validation {
            validate_group_name(operation, group)?;
        }
        Ok(())
    }

    fn check_id(&self, operation: Operation, subject: &str, id: &str) -> Result<(), Error> {
        if self.service.shared.local_validation {
            validate_id(operation, subject, id)?;
        }
        Ok(())
    }

    fn check_message(&self, operation: Operation, message: &Message) -> Result<(), Error> {
        if self.service.shared.local_validation {
            message.validate(operation)?;
        }
        Ok(())
    }

    /// A pre-serialized message goes out as the binary payload map, which only 2022-06-01
    /// takes; other versions would need the JSON form it does not have.
    fn check_payloads(&self, operation: Operation, message: &Message) -> Result<(), Error> {
        if message.is_pre_serialized() && self.service.shared.version != ApiVersion::V2022_06_01 {
            return Err(Error::invalid(
                operation,
                "message",
                format!(
                    "pre-serialized payloads are sent with API version 2022-06-01 only (this \
                     client uses {})",
                    self.service.shared.version
                ),
            ));
        }
        Ok(())
    }

    /// Sends a pre-serialized message's binary body to `path` (2022-06-01).
    async fn send_payloads(
        &self,
        op: Operation,
        path: String,
        excluded: Option<&Vec<String>>,
        message: &Message,
    ) -> Result<reqwest::StatusCode, Error> {
        let body = message
            .payloads_body()
            .ok_or_else(|| Error::invalid(op, "message payloads", "are too large to send"))?;
        let t = &self.service.shared.transport;
        let app = self.application();
        t.run(op, &self.path_hub, || {
            t.send_payloads(&path, app, excluded, &body)
        })
        .await
    }

    /// What a client needs to connect to this hub: the client URL
    /// (`<client endpoint>/client/?hub=<hub>`) and a token for it, signed as Microsoft's .NET SDK
    /// signs it: `aud` = `scheme://host/client/?hub=<hub>` of the `Endpoint` (no port, not the
    /// `ClientEndpoint`: the service checks the audience against its own public name, not the
    /// address the client reaches it by), `asrs.s.uid` = the user id, the extra claims as given;
    /// one hour unless `lifetime` says otherwise. Local: no REST call. Needs an access key.
    ///
    /// ```
    /// use std::time::Duration;
    /// use azure_signalr_rest::{NegotiateOptions, ServiceClient};
    ///
    /// let client = ServiceClient::from_connection_string(
    ///     "Endpoint=https://x.service.signalr.net;AccessKey=secret;ClientEndpoint=https://proxy.example",
    /// )
    /// .unwrap();
    /// let r = client
    ///     .hub("chat")
    ///     .negotiate(NegotiateOptions::default().user_id("bob").lifetime(Duration::from_secs(60)))
    ///     .unwrap();
    /// assert_eq!(r.url, "https://proxy.example/client/?hub=chat");
    /// // The token's audience names the service endpoint, without port or proxy.
    /// let payload = r.access_token.expose_secret().split('.').nth(1).unwrap();
    /// use base64::Engine as _;
    /// let claims: serde_json::Value = serde_json::from_slice(
    ///     &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap(),
    /// )
    /// .unwrap();
    /// assert_eq!(claims["aud"], "https://x.service.signalr.net/client/?hub=chat");
    /// assert_eq!(claims["asrs.s.uid"], "bob");
    /// let json = serde_json::to_value(&r).unwrap();
    /// assert_eq!(json["url"], r.url);
    /// assert!(json["accessToken"].is_string());
    /// ```
    pub fn negotiate(&self, options: NegotiateOptions) -> Result<NegotiateResponse, Error> {
        let op = Operation::Negotiate;
        if self.service.shared.local_validation {
            validate_hub_name(op, "hub", &self.given)?;
        }
        let minter = self
            .service
            .token_minter()
            .ok_or_else(|| Error::Credential {
                operation: op,
                message: "negotiate signs client tokens with the access key; under Entra ID \
                      use negotiate_async, which gets a signing key from the service"
                    .into(),
            })?;
        // The client-facing hub always carries the application prefix.
        let hub = match self.application() {
            Some(app) => format!("{app}_{}", self.name),
            None => self.name.clone(),
        };
        let url = format!("{}/client/?hub={hub}", self.service.client_endpoint());
        let claims = TokenClaims {
            audience: self.service.shared.audience.client_audience(&hub),
            lifetime: options.lifetime.unwrap_or(DEFAULT_CLIENT_TOKEN_LIFETIME),
            user_id: options.user_id,
            extra: options.claims,
        };
        let access_token = minter.mint(&claims).map_err(|e| match e {
            Error::InvalidInput { subject, rule, .. } => Error::InvalidInput {
                operation: op,
                subject,
                rule,
            },
            other => other,
        })?;
        Ok(NegotiateResponse { url, access_token })
    }

    /// [`HubClient::negotiate`] that also works under Microsoft Entra ID (feature `identity`):
    /// there the token is signed with a key the service hands out for the credential, which
    /// may need a network call (see [`SIGNING_KEY_REFRESH`](crate::SIGNING_KEY_REFRESH)); its
    /// header names the key's `kid`. With an access key it signs locally, as `negotiate` does.
    // Issue 13: engineer A makes `negotiate` itself async; at merge its signing step becomes
    // `self.service.mint_client_token(&claims).await` and this method goes.
    pub async fn negotiate_async(
        &self,
        options: NegotiateOptions,
    ) -> Result<NegotiateResponse, Error> {
        let op = Operation::Negotiate;
        if self.service.shared.local_validation {
            validate_hub_name(op, "hub", &self.given)?;
        }
        // The client-facing hub always carries the application prefix.
        let hub = match self.application() {
            Some(app) => format!("{app}_{}", self.name),
            None => self.name.clone(),
        };
        let url = format!("{}/client/?hub={hub}", self.service.client_endpoint());
        let claims = TokenClaims {
            audience: self.service.shared.audience.client_audience(&hub),
            lifetime: options.lifetime.unwrap_or(DEFAULT_CLIENT_TOKEN_LIFETIME),
            user_id: options.user_id,
            extra: options.claims,
        };
        let access_token = self
            .service
            .mint_client_token(&claims)
            .await
            .map_err(|e| match e {
                Error::InvalidInput { subject, rule, .. } => Error::InvalidInput {
                    operation: op,
                    subject,
                    rule,
                },
                other => other,
            })?;
        Ok(NegotiateResponse { url, access_token })
    }

    /// Sends `message` to every connection of the hub except `excluded` connection ids.
    ///
    /// ```no_run
    /// # async fn run(client: azure_signalr_rest::ServiceClient) -> Result<(), azure_signalr_rest::Error> {
    /// use azure_signalr_rest::Message;
    /// client.hub("chat").broadcast(&Message::new("newMessage", ("hello",))?, &[]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn broadcast(&self, message: &Message, excluded: &[&str]) -> Result<(), Error> {
        let op = Operation::Broadcast;
        self.begin(op)?;
        self.check_message(op, message)?;
        self.check_payloads(op, message)?;
        let hub = &self.path_hub;
        let excluded = excluded_list(excluded);
        let t = &self.service.shared.transport;
        match &t.raw {
            Raw::V1Preview(c) => {
                self.no_exclusions(op, &excluded)?;
                let body = preview_body(message);
                t.run(op, hub, || c.hub_proxy_v1_preview_broadcast(hub, &body))
                    .await
            }
            Raw::V1(c) => {
                let body = v1_body(message);
                t.run(op, hub, || {
                    c.hub_proxy_v1_broadcast(hub, excluded.as_ref(), &body)
                })
                .await
            }
            Raw::V2022(_) if message.is_pre_serialized() => {
                let path = format!("/api/hubs/{}/:send", encode_path(hub));
                self.send_payloads(op, path, excluded.as_ref(), message)
                    .await
            }
            Raw::V2022(c) => {
                let body = v2022_body(message);
                let app = self.application();
                t.run(op, hub, || {
                    c.signal_r_service_send_to_all(hub, API_2022, app, excluded.as_ref(), &body)
                })
                .await
            }
        }
        .map(drop)
    }

    /// Sends `message` to every connection of `user`.
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// use azure_signalr_rest::Message;
    /// hub.send_to_user("alice", &Message::new("notify", ("you have mail",))?).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_to_user(&self, user: &str, message: &Message) -> Result<(), Error> {
        let op = Operation::SendToUser;
        self.begin(op)?;
        self.check_id(op, "user id", user)?;
        self.check_message(op, message)?;
        self.check_payloads(op, message)?;
        self.send_to_user_unchecked(op, user, message).await
    }

    async fn send_to_user_unchecked(
        &self,
        op: Operation,
        user: &str,
        message: &Message,
    ) -> Result<(), Error> {
        let hub = &self.path_hub;
        let t = &self.service.shared.transport;
        match &t.raw {
            Raw::V1Preview(c) => {
                let body = preview_body(message);
                t.run(op, hub, || {
                    c.hub_proxy_v1_preview_send_to_user(hub, user, &body)
                })
                .await
            }
            Raw::V1(c) => {
                let body = v1_body(message);
                t.run(op, hub, || c.hub_proxy_v1_send_to_user(hub, user, &body))
                    .await
            }
            Raw::V2022(_) if message.is_pre_serialized() => {
                let path = format!(
                    "/api/hubs/{}/users/{}/:send",
                    encode_path(hub),
                    encode_path(user)
                );
                self.send_payloads(op, path, None, message).await
            }
            Raw::V2022(c) => {
                let body = v2022_body(message);
                let app = self.application();
                t.run(op, hub, || {
                    c.signal_r_service_send_to_user(hub, user, API_2022, app, &body)
                })
                .await
            }
        }
        .map(drop)
    }

    /// Sends `message` to every connection of each of `users`. 1.0-preview does it in one call
    /// (when no id contains a comma, the list separator); 1.0 and 2022-06-01 send to each user
    /// concurrently, the exact equivalent. On failure the first error is returned; the other
    /// users may have received the message.
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// use azure_signalr_rest::Message;
    /// hub.send_to_users(&["alice", "bob"], &Message::new("notify", ("meeting at 10",))?).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_to_users(&self, users: &[&str], message: &Message) -> Result<(), Error> {
        let op = Operation::SendToUsers;
        self.begin(op)?;
        self.non_empty_list(op, "user list", users)?;
        for user in users {
            self.check_id(op, "user id", user)?;
        }
        self.check_message(op, message)?;
        self.check_payloads(op, message)?;
        let t = &self.service.shared.transport;
        if let Raw::V1Preview(c) = &t.raw {
            if !users.iter().any(|u| u.contains(',')) {
                let hub = &self.path_hub;
                let list = users.join(",");
                let body = preview_body(message);
                return t
                    .run(op, hub, || {
                        c.hub_proxy_v1_preview_send_to_users(hub, &list, &body)
                    })
                    .await
                    .map(drop);
            }
        }
        compose(users, |user| self.send_to_user_unchecked(op, user, message)).await
    }

    /// Sends `message` to every connection in `group` except `excluded` connection ids.
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// use azure_signalr_rest::Message;
    /// hub.send_to_group("room 1", &Message::new("newMessage", ("hi room",))?, &[]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_to_group(
        &self,
        group: &str,
        message: &Message,
        excluded: &[&str],
    ) -> Result<(), Error> {
        let op = Operation::SendToGroup;
        self.begin(op)?;
        self.check_group(op, group)?;
        self.check_message(op, message)?;
        self.check_payloads(op, message)?;
        self.send_to_group_unchecked(op, group, message, &excluded_list(excluded))
            .await
    }

    async fn send_to_group_unchecked(
        &self,
        op: Operation,
        group: &str,
        message: &Message,
        excluded: &Option<Vec<String>>,
    ) -> Result<(), Error> {
        let hub = &self.path_hub;
        let t = &self.service.shared.transport;
        match &t.raw {
            Raw::V1Preview(c) => {
                self.no_exclusions(op, excluded)?;
                let body = preview_body(message);
                t.run(op, hub, || {
                    c.hub_proxy_v1_preview_send_to_group(hub, group, &body)
                })
                .await
            }
            Raw::V1(c) => {
                let body = v1_body(message);
                t.run(op, hub, || {
                    c.hub_proxy_v1_send_to_group(hub, group, excluded.as_ref(), &body)
                })
                .await
            }
            Raw::V2022(_) if message.is_pre_serialized() => {
                let path = format!(
                    "/api/hubs/{}/groups/{}/:send",
                    encode_path(hub),
                    encode_path(group)
                );
                self.send_payloads(op, path, excluded.as_ref(), message)
                    .await
            }
            Raw::V2022(c) => {
                let body = v2022_body(message);
                let app = self.application();
                t.run(op, hub, || {
                    c.signal_r_service_send_to_group(
                        hub,
                        group,
                        API_2022,
                        app,
                        excluded.as_ref(),
                        &body,
                    )
                })
                .await
            }
        }
        .map(drop)
    }

    /// Sends `message` to every connection in each of `groups`, except `excluded` connection
    /// ids. 1.0-preview does it in one call (without exclusions, and when no name contains a
    /// comma); 1.0 and 2022-06-01 send to each group concurrently. A connection in two of the
    /// groups receives the message once per group, as with the service's own list send.
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// use azure_signalr_rest::Message;
    /// hub.send_to_groups(&["a", "b"], &Message::new("tick", ())?, &[]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_to_groups(
        &self,
        groups: &[&str],
        message: &Message,
        excluded: &[&str],
    ) -> Result<(), Error> {
        let op = Operation::SendToGroups;
        self.begin(op)?;
        self.non_empty_list(op, "group list", groups)?;
        for group in groups {
            self.check_group(op, group)?;
        }
        self.check_message(op, message)?;
        self.check_payloads(op, message)?;
        let excluded = excluded_list(excluded);
        let t = &self.service.shared.transport;
        if let Raw::V1Preview(c) = &t.raw {
            self.no_exclusions(op, &excluded)?;
            if !groups.iter().any(|g| g.contains(',')) {
                let hub = &self.path_hub;
                let list = groups.join(",");
                let body = preview_body(message);
                return t
                    .run(op, hub, || {
                        c.hub_proxy_v1_preview_send_to_groups(hub, &list, &body)
                    })
                    .await
                    .map(drop);
            }
        }
        compose(groups, |group| {
            self.send_to_group_unchecked(op, group, message, &excluded)
        })
        .await
    }

    /// Sends `message` to one connection.
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// use azure_signalr_rest::Message;
    /// hub.send_to_connection("conn-id", &Message::new("welcome", ())?).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_to_connection(
        &self,
        connection: &str,
        message: &Message,
    ) -> Result<(), Error> {
        let op = Operation::SendToConnection;
        self.begin(op)?;
        self.check_id(op, "connection id", connection)?;
        self.check_message(op, message)?;
        self.check_payloads(op, message)?;
        let hub = &self.path_hub;
        let t = &self.service.shared.transport;
        match &t.raw {
            Raw::V1Preview(_) => return Err(self.unsupported(op)),
            Raw::V1(c) => {
                let body = v1_body(message);
                t.run(op, hub, || {
                    c.hub_proxy_v1_send_to_connection(hub, connection, &body)
                })
                .await
            }
            Raw::V2022(_) if message.is_pre_serialized() => {
                let path = format!(
                    "/api/hubs/{}/connections/{}/:send",
                    encode_path(hub),
                    encode_path(connection)
                );
                self.send_payloads(op, path, None, message).await
            }
            Raw::V2022(c) => {
                let body = v2022_body(message);
                let app = self.application();
                t.run(op, hub, || {
                    c.signal_r_service_send_to_connection(hub, connection, API_2022, app, &body)
                })
                .await
            }
        }
        .map(drop)
    }

    /// Adds a connection to a group (membership ends when the connection does).
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// hub.add_connection_to_group("conn-id", "room 1").await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_connection_to_group(
        &self,
        connection: &str,
        group: &str,
    ) -> Result<(), Error> {
        let op = Operation::AddConnectionToGroup;
        self.begin(op)?;
        self.check_id(op, "connection id", connection)?;
        self.check_group(op, group)?;
        let hub = &self.path_hub;
        let t = &self.service.shared.transport;
        match &t.raw {
            Raw::V1Preview(_) => return Err(self.unsupported(op)),
            Raw::V1(c) => {
                t.run(op, hub, || {
                    c.hub_proxy_v1_add_connection_to_group(hub, group, connection)
                })
                .await
            }
            Raw::V2022(c) => {
                let app = self.application();
                t.run(op, hub, || {
                    c.signal_r_service_add_connection_to_group(
                        hub, group, connection, API_2022, app,
                    )
                })
                .await
            }
        }
        .map(drop)
    }

    /// Removes a connection from a group.
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// hub.remove_connection_from_group("conn-id", "room 1").await?;
    /// # Ok(()) }
    /// ```
    pub async fn remove_connection_from_group(
        &self,
        connection: &str,
        group: &str,
    ) -> Result<(), Error> {
        let op = Operation::RemoveConnectionFromGroup;
        self.begin(op)?;
        self.check_id(op, "connection id", connection)?;
        self.check_group(op, group)?;
        let hub = &self.path_hub;
        let t = &self.service.shared.transport;
        match &t.raw {
            Raw::V1Preview(_) => return Err(self.unsupported(op)),
            Raw::V1(c) => {
                t.run(op, hub, || {
                    c.hub_proxy_v1_remove_connection_from_group(hub, group, connection)
                })
                .await
            }
            Raw::V2022(c) => {
                let app = self.application();
                t.run(op, hub, || {
                    c.signal_r_service_remove_connection_from_group(
                        hub, group, connection, API_2022, app,
                    )
                })
                .await
            }
        }
        .map(drop)
    }

    /// Removes a connection from every group (2022-06-01 only).
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// hub.remove_connection_from_all_groups("conn-id").await?;
    /// # Ok(()) }
    /// ```
    pub async fn remove_connection_from_all_groups(&self, connection: &str) -> Result<(), Error> {
        let op = Operation::RemoveConnectionFromAllGroups;
        self.begin(op)?;
        self.check_id(op, "connection id", connection)?;
        let hub = &self.path_hub;
        let t = &self.service.shared.transport;
        match &t.raw {
            Raw::V2022(c) => {
                let app = self.application();
                t.run(op, hub, || {
                    c.signal_r_service_remove_connection_from_all_groups(
                        hub, connection, API_2022, app,
                    )
                })
                .await
            }
            Raw::V1Preview(_) | Raw::V1(_) => return Err(self.unsupported(op)),
        }
        .map(drop)
    }

    /// Adds a user to a group: for `ttl` (whole seconds; zero adds only the user's current
    /// connections), or long-lived when `None`.
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// use std::time::Duration;
    /// hub.add_user_to_group("alice", "room 1", Some(Duration::from_secs(3600))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_user_to_group(
        &self,
        user: &str,
        group: &str,
        ttl: Option<Duration>,
    ) -> Result<(), Error> {
        let op = Operation::AddUserToGroup;
        self.begin(op)?;
        self.check_id(op, "user id", user)?;
        self.check_group(op, group)?;
        let ttl = ttl
            .map(|d| {
                i32::try_from(d.as_secs()).map_err(|_| {
                    Error::invalid(op, "ttl", format!("must be at most {} seconds", i32::MAX))
                })
            })
            .transpose()?;
        let hub = &self.path_hub;
        let t = &self.service.shared.transport;
        match &t.raw {
            Raw::V1Preview(_) => return Err(self.unsupported(op)),
            Raw::V1(c) => {
                t.run(op, hub, || {
                    c.hub_proxy_v1_add_user_to_group(hub, group, user, ttl)
                })
                .await
            }
            Raw::V2022(c) => {
                let app = self.application();
                t.run(op, hub, || {
                    c.signal_r_service_add_user_to_group(hub, user, group, API_2022, app, ttl)
                })
                .await
            }
        }
        .map(drop)
    }

    /// Removes a user from a group.
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// hub.remove_user_from_group("alice", "room 1").await?;
    /// # Ok(()) }
    /// ```
    pub async fn remove_user_from_group(&self, user: &str, group: &str) -> Result<(), Error> {
        let op = Operation::RemoveUserFromGroup;
        self.begin(op)?;
        self.check_id(op, "user id", user)?;
        self.check_group(op, group)?;
        let hub = &self.path_hub;
        let t = &self.service.shared.transport;
        match &t.raw {
            Raw::V1Preview(_) => return Err(self.unsupported(op)),
            Raw::V1(c) => {
                t.run(op, hub, || {
                    c.hub_proxy_v1_remove_user_from_group(hub, group, user)
                })
                .await
            }
            Raw::V2022(c) => {
                let app = self.application();
                t.run(op, hub, || {
                    c.signal_r_service_remove_user_from_group(hub, user, group, API_2022, app)
                })
                .await
            }
        }
        .map(drop)
    }

    /// Removes a user from every group.
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// hub.remove_user_from_all_groups("alice").await?;
    /// # Ok(()) }
    /// ```
    pub async fn remove_user_from_all_groups(&self, user: &str) -> Result<(), Error> {
        let op = Operation::RemoveUserFromAllGroups;
        self.begin(op)?;
        self.check_id(op, "user id", user)?;
        let hub = &self.path_hub;
        let t = &self.service.shared.transport;
        match &t.raw {
            Raw::V1Preview(_) => return Err(self.unsupported(op)),
            Raw::V1(c) => {
                t.run(op, hub, || {
                    c.hub_proxy_v1_remove_user_from_all_groups(hub, user)
                })
                .await
            }
            Raw::V2022(c) => {
                let app = self.application();
                t.run(op, hub, || {
                    c.signal_r_service_remove_user_from_all_groups(hub, user, API_2022, app)
                })
                .await
            }
        }
        .map(drop)
    }

    /// Whether `user` has at least one connection to the hub.
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// if hub.user_exists("alice").await? { println!("alice is online"); }
    /// # Ok(()) }
    /// ```
    pub async fn user_exists(&self, user: &str) -> Result<bool, Error> {
        let op = Operation::UserExists;
        self.begin(op)?;
        self.check_id(op, "user id", user)?;
        let hub = &self.path_hub;
        let t = &self.service.shared.transport;
        exists(
            self.service.shared.version,
            not_existed::USER,
            match &t.raw {
                Raw::V1Preview(_) => return Err(self.unsupported(op)),
                Raw::V1(c) => {
                    t.run(op, hub, || c.hub_proxy_v1_check_user_existence(hub, user))
                        .await
                }
                Raw::V2022(c) => {
                    let app = self.application();
                    t.run(op, hub, || {
                        c.signal_r_service_check_user_existence(hub, user, API_2022, app)
                    })
                    .await
                }
            },
        )
    }

    /// Whether `group` has at least one connection.
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// let busy = hub.group_exists("room 1").await?;
    /// # Ok(()) }
    /// ```
    pub async fn group_exists(&self, group: &str) -> Result<bool, Error> {
        let op = Operation::GroupExists;
        self.begin(op)?;
        self.check_group(op, group)?;
        let hub = &self.path_hub;
        let t = &self.service.shared.transport;
        exists(
            self.service.shared.version,
            not_existed::GROUP,
            match &t.raw {
                Raw::V1Preview(_) => return Err(self.unsupported(op)),
                Raw::V1(c) => {
                    t.run(op, hub, || c.hub_proxy_v1_check_group_existence(hub, group))
                        .await
                }
                Raw::V2022(c) => {
                    let app = self.application();
                    t.run(op, hub, || {
                        c.signal_r_service_check_group_existence(hub, group, API_2022, app)
                    })
                    .await
                }
            },
        )
    }

    /// Whether the connection exists.
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// let alive = hub.connection_exists("conn-id").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connection_exists(&self, connection: &str) -> Result<bool, Error> {
        let op = Operation::ConnectionExists;
        self.begin(op)?;
        self.check_id(op, "connection id", connection)?;
        let hub = &self.path_hub;
        let t = &self.service.shared.transport;
        exists(
            self.service.shared.version,
            not_existed::CONNECTION,
            match &t.raw {
                Raw::V1Preview(_) => return Err(self.unsupported(op)),
                Raw::V1(c) => {
                    t.run(op, hub, || {
                        c.hub_proxy_v1_check_connection_existence(hub, connection)
                    })
                    .await
                }
                Raw::V2022(c) => {
                    let app = self.application();
                    t.run(op, hub, || {
                        c.signal_r_service_check_connection_existence(
                            hub, connection, API_2022, app,
                        )
                    })
                    .await
                }
            },
        )
    }

    /// Whether `user` is in `group`.
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// let member = hub.user_in_group("alice", "room 1").await?;
    /// # Ok(()) }
    /// ```
    pub async fn user_in_group(&self, user: &str, group: &str) -> Result<bool, Error> {
        let op = Operation::UserInGroup;
        self.begin(op)?;
        self.check_id(op, "user id", user)?;
        self.check_group(op, group)?;
        let hub = &self.path_hub;
        let t = &self.service.shared.transport;
        exists(
            self.service.shared.version,
            not_existed::USER_IN_GROUP,
            match &t.raw {
                Raw::V1Preview(_) => return Err(self.unsupported(op)),
                Raw::V1(c) => {
                    t.run(op, hub, || {
                        c.hub_proxy_v1_check_user_in_group_existence(hub, group, user)
                    })
                    .await
                }
                Raw::V2022(c) => {
                    let app = self.application();
                    t.run(op, hub, || {
                        c.signal_r_service_check_user_existence_in_group(
                            hub, user, group, API_2022, app,
                        )
                    })
                    .await
                }
            },
        )
    }

    /// Closes a connection; the client receives a Close message carrying `reason`. Closing a
    /// connection that is already gone succeeds: the service's 404 with
    /// `Warning.Connection.NotExisted` is read as done, as the .NET SDK reads it (any other 404
    /// is an error).
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// hub.close_connection("conn-id", Some("kicked by admin")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn close_connection(
        &self,
        connection: &str,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        let op = Operation::CloseConnection;
        self.begin(op)?;
        self.check_id(op, "connection id", connection)?;
        let hub = &self.path_hub;
        let t = &self.service.shared.transport;
        let result = match &t.raw {
            Raw::V1Preview(_) => return Err(self.unsupported(op)),
            Raw::V1(c) => {
                t.run(op, hub, || {
                    c.hub_proxy_v1_close_connection(hub, connection, reason)
                })
                .await
            }
            Raw::V2022(c) => {
                let app = self.application();
                t.run(op, hub, || {
                    c.signal_r_service_close_connection(hub, connection, API_2022, app, reason)
                })
                .await
            }
        };
        match result {
            Err(Error::NotFound {
                code: Some(code), ..
            }) if code.eq_ignore_ascii_case(not_existed::CONNECTION) => Ok(()),
            other => other.map(drop),
        }
    }

    /// Closes every connection of the hub except `excluded` (2022-06-01 only).
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// hub.close_all_connections(&[], Some("maintenance")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn close_all_connections(
        &self,
        excluded: &[&str],
        reason: Option<&str>,
    ) -> Result<(), Error> {
        let op = Operation::CloseAllConnections;
        self.begin(op)?;
        let hub = &self.path_hub;
        let excluded = excluded_list(excluded);
        let t = &self.service.shared.transport;
        match &t.raw {
            Raw::V2022(c) => {
                let app = self.application();
                t.run(op, hub, || {
                    c.signal_r_service_close_all_connections(
                        hub,
                        API_2022,
                        app,
                        excluded.as_ref(),
                        reason,
                    )
                })
                .await
            }
            Raw::V1Preview(_) | Raw::V1(_) => return Err(self.unsupported(op)),
        }
        .map(drop)
    }

    /// Closes every connection in `group` except `excluded` (2022-06-01 only).
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// hub.close_group_connections("room 1", &[], None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn close_group_connections(
        &self,
        group: &str,
        excluded: &[&str],
        reason: Option<&str>,
    ) -> Result<(), Error> {
        let op = Operation::CloseGroupConnections;
        self.begin(op)?;
        self.check_group(op, group)?;
        let hub = &self.path_hub;
        let excluded = excluded_list(excluded);
        let t = &self.service.shared.transport;
        match &t.raw {
            Raw::V2022(c) => {
                let app = self.application();
                t.run(op, hub, || {
                    c.signal_r_service_close_group_connections(
                        hub,
                        group,
                        API_2022,
                        app,
                        excluded.as_ref(),
                        reason,
                    )
                })
                .await
            }
            Raw::V1Preview(_) | Raw::V1(_) => return Err(self.unsupported(op)),
        }
        .map(drop)
    }

    /// Closes every connection of `user` except `excluded` (2022-06-01 only).
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// hub.close_user_connections("alice", &[], Some("signed out")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn close_user_connections(
        &self,
        user: &str,
        excluded: &[&str],
        reason: Option<&str>,
    ) -> Result<(), Error> {
        let op = Operation::CloseUserConnections;
        self.begin(op)?;
        self.check_id(op, "user id", user)?;
        let hub = &self.path_hub;
        let excluded = excluded_list(excluded);
        let t = &self.service.shared.transport;
        match &t.raw {
            Raw::V2022(c) => {
                let app = self.application();
                t.run(op, hub, || {
                    c.signal_r_service_close_user_connections(
                        hub,
                        user,
                        API_2022,
                        app,
                        excluded.as_ref(),
                        reason,
                    )
                })
                .await
            }
            Raw::V1Preview(_) | Raw::V1(_) => return Err(self.unsupported(op)),
        }
        .map(drop)
    }

    /// 1.0-preview has no `excluded` parameter: refuse rather than send to the excluded ones.
    fn no_exclusions(
        &self,
        operation: Operation,
        excluded: &Option<Vec<String>>,
    ) -> Result<(), Error> {
        match excluded {
            Some(_) => Err(self.unsupported(operation)),
            None => Ok(()),
        }
    }

    fn non_empty_list(
        &self,
        operation: Operation,
        subject: &str,
        list: &[&str],
    ) -> Result<(), Error> {
        if list.is_empty() {
            return Err(Error::invalid(operation, subject, "must not be empty"));
        }
        Ok(())
    }
}

/// `None` for no exclusions, so no empty `excluded` parameter is sent.
fn excluded_list(excluded: &[&str]) -> Option<Vec<String>> {
    (!excluded.is_empty()).then(|| excluded.iter().map(|s| (*s).to_owned()).collect())
}

/// The `x-ms-error-code` of each existence check's "no" (as the .NET server SDK expects them).
mod not_existed {
    pub(super) const CONNECTION: &str = "Warning.Connection.NotExisted";
    pub(super) const USER: &str = "Warning.User.NotExisted";
    pub(super) const GROUP: &str = "Warning.Group.NotExisted";
    pub(super) const USER_IN_GROUP: &str = "Info.User.NotInGroup";
}

/// 200 means yes; 404 means no only when it says so. 2022-06-01 names the missing thing in
/// `x-ms-error-code` (`expected`): a 404 without it, or with another code, is an error, so a
/// misrouted request (wrong endpoint, a proxy's 404) never reads as "does not exist". 1.0
/// publishes no error codes: there a 404 without a code means no, and one with another code
/// is still an error.
fn exists(
    version: ApiVersion,
    expected: &str,
    result: Result<reqwest::StatusCode, Error>,
) -> Result<bool, Error> {
    match result {
        Ok(_) => Ok(true),
        Err(Error::NotFound { code, .. })
            if code.as_deref().map_or(version == ApiVersion::V1, |c| {
                c.eq_ignore_ascii_case(expected)
            }) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Runs one call per item concurrently (bounded); the first error in item order, if any.
async fn compose<'a, F, Fut>(items: &'a [&'a str], call: F) -> Result<(), Error>
where
    F: Fn(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    let results: Vec<(usize, Result<(), Error>)> = stream::iter(items.iter().enumerate())
        .map(|(i, item)| {
            let fut = call(item);
            async move { (i, fut.await) }
        })
        .buffer_unordered(COMPOSED_CONCURRENCY)
        .collect()
        .await;
    let mut failures: Vec<_> = results.into_iter().filter(|(_, r)| r.is_err()).collect();
    failures.sort_by_key(|(i, _)| *i);
    match failures.into_iter().next() {
        Some((_, r)) => r,
        None => Ok(()),
    }
}

fn preview_body(message: &Message) -> v1_preview::types::Message {
    v1_preview::types::Message {
        target: Some(message.target.clone()),
        arguments: message.arguments.clone(),
    }
}

fn v1_body(message: &Message) -> v1::types::PayloadMessage {
    v1::types::PayloadMessage {
        target: Some(message.target.clone()),
        arguments: message.arguments.clone(),
    }
}

fn v2022_body(message: &Message) -> v2022_06_01::types::PayloadMessage {
    v2022_06_01::types::PayloadMessage {
        target: message.target.clone(),
        arguments: message.arguments.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::token::tests::decode_claims;

    #[test]
    fn negotiate_token_is_for_the_client_url() {
        let client = ServiceClient::from_connection_string(
            "Endpoint=http://localhost;Port=8888;AccessKey=negotiate-key;Version=1.0;",
        )
        .unwrap();
        let r = client
            .hub("Chat")
            .negotiate(
                NegotiateOptions::default()
                    .user_id("alice")
                    .claim("role", "admin"),
            )
            .unwrap();
        assert_eq!(r.url, "http://localhost:8888/client/?hub=chat");
        let aud = "http://localhost/client/?hub=chat";
        let claims = decode_claims(&r.access_token, "negotiate-key", aud);
        assert_eq!(claims["aud"], aud);
        assert_eq!(claims["asrs.s.uid"], "alice");
        assert!(!claims.contains_key("nameid"));
        assert_eq!(claims["role"], "admin");
        let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
        assert_eq!(lifetime, DEFAULT_CLIENT_TOKEN_LIFETIME.as_secs());
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({ "url": r.url, "accessToken": r.access_token.expose_secret() })
        );
    }

    #[test]
    fn negotiate_checks_the_hub_and_claims() {
        let client =
            ServiceClient::from_connection_string("Endpoint=https://h;AccessKey=k").unwrap();
        let err = client
            .hub("no hub")
            .negotiate(Default::default())
            .unwrap_err();
        assert_eq!(err.operation(), Operation::Negotiate);
        let err = client
            .hub("chat")
            .negotiate(NegotiateOptions::default().claim("aud", "elsewhere"))
            .unwrap_err();
        assert_eq!(err.operation(), Operation::Negotiate);
        assert!(err.to_string().contains("`aud`"), "{err}");
    }
}

//! `HubClient`: every operation on one hub. Each method checks its input and makes one
//! [`Call`]; what each API version does with it is in `api/`. Sends are here, membership and
//! existence checks in `membership.rs`, closing connections in `close.rs`.

use super::api::{Call, Target};
use super::error::Error;
use super::message::{validate_group_name, validate_hub_name, validate_id, Message};
use super::options::SendOptions;
use super::service::ServiceClient;
use super::version::{ApiVersion, Operation};

mod close;
mod membership;
mod negotiate;

/// The operations on one hub. Obtained from [`ServiceClient::hub`]; cheap to clone.
///
/// Names are checked before anything is sent (hub: `^[A-Za-z][A-Za-z0-9_`,.[\]]{0,127}$`; group:
/// 1..1024 characters, not only white space; user and connection ids: not empty; message: a
/// target and at most 1 MB) unless the client was built with
/// [`local_validation(false)`](crate::ServiceClientBuilder::local_validation). Names may contain
/// any character: they are percent-encoded once in the request path.
///
/// Which API version offers which operation (and which are composed of several calls) is
/// tabulated on [`ApiVersion`]; an operation the version lacks fails with
/// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) before any network traffic.
///
/// ```
/// use azure_signalr_rest::{NegotiateOptions, ServiceClient};
///
/// let client = ServiceClient::from_connection_string(
///     "Endpoint=http://localhost;Port=8888;AccessKey=secret;Version=1.0;",
/// )
/// .unwrap();
/// let chat = client.hub("Chat");
/// let negotiate = chat.negotiate_local(NegotiateOptions::default().user_id("alice")).unwrap();
/// assert_eq!(negotiate.url, "http://localhost:8888/client/?hub=chat");
/// ```
#[derive(Clone, Debug)]
pub struct HubClient {
    pub(crate) service: ServiceClient,
    /// As given (validated per call).
    pub(crate) given: String,
    /// Lower-cased.
    pub(crate) name: String,
    /// Lower-cased, with the application prefix for versions without an `application` parameter.
    path_hub: String,
}

impl ServiceClient {
    /// The client for `hub` (lower-cased: hub names are case-insensitive). The name is checked
    /// when an operation is called.
    ///
    /// ```
    /// let client = azure_signalr_rest::ServiceClient::from_connection_string("Endpoint=https://h;AccessKey=k").unwrap();
    /// assert_eq!(client.hub("Chat").name(), "chat");
    /// ```
    pub fn hub(&self, hub: &str) -> HubClient {
        let lower = hub.to_lowercase();
        let path_hub = match (&self.shared.application, self.shared.version) {
            (Some(app), ApiVersion::V1 | ApiVersion::V1Preview) => format!("{app}_{lower}"),
            _ => lower.clone(),
        };
        HubClient {
            service: self.clone(),
            given: hub.to_owned(),
            name: lower,
            path_hub,
        }
    }
}

impl HubClient {
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

    /// The one way every operation reaches the service.
    async fn call(&self, call: Call<'_>) -> Result<reqwest::StatusCode, Error> {
        let shared = &self.service.shared;
        let to = Target {
            hub: &self.path_hub,
            application: shared.application.as_deref(),
        };
        match &self.service.fleet {
            Some(fleet) => fleet.call(&to, &self.name, call).await,
            None => shared.raw.send(&shared.executor, &to, &call).await,
        }
    }

    /// Checks the version and the hub name: the common start of every operation.
    fn begin(&self, operation: Operation) -> Result<(), Error> {
        self.service.shared.version.require(operation)?;
        if self.service.shared.local_validation {
            validate_hub_name(operation, "hub", &self.given)?;
        }
        Ok(())
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

    /// Sends `message` to every connection of the hub (except `excluded` ones of `options`).
    ///
    /// ```no_run
    /// # async fn run(client: azure_signalr_rest::ServiceClient) -> Result<(), azure_signalr_rest::Error> {
    /// use azure_signalr_rest::{Message, SendOptions};
    /// let hub = client.hub("chat");
    /// hub.broadcast(&Message::new("newMessage", ("hello",))?, None).await?;
    /// hub.broadcast(&Message::new("newMessage", ("not you",))?, Some(SendOptions::default().excluded(["conn-id"]))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn broadcast(
        &self,
        message: &Message,
        options: Option<SendOptions>,
    ) -> Result<(), Error> {
        let op = Operation::Broadcast;
        self.begin(op)?;
        self.check_message(op, message)?;
        let excluded = options.map(|o| o.excluded);
        let excluded = non_empty(&excluded);
        self.call(Call::Broadcast { message, excluded })
            .await
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
        self.call(Call::SendToUser { user, message })
            .await
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
    /// hub.send_to_users(["alice", "bob"], &Message::new("notify", ("meeting at 10",))?).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_to_users(
        &self,
        users: impl IntoIterator<Item = impl AsRef<str>>,
        message: &Message,
    ) -> Result<(), Error> {
        let op = Operation::SendToUsers;
        self.begin(op)?;
        let owned: Vec<_> = users.into_iter().collect();
        let users: Vec<&str> = owned.iter().map(AsRef::as_ref).collect();
        non_empty_list(op, "user list", &users)?;
        for user in &users {
            self.check_id(op, "user id", user)?;
        }
        self.check_message(op, message)?;
        let users = &users;
        self.call(Call::SendToUsers { users, message })
            .await
            .map(drop)
    }

    /// Sends `message` to every connection in `group` (except `excluded` ones of `options`).
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// use azure_signalr_rest::Message;
    /// hub.send_to_group("room 1", &Message::new("newMessage", ("hi room",))?, None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_to_group(
        &self,
        group: &str,
        message: &Message,
        options: Option<SendOptions>,
    ) -> Result<(), Error> {
        let op = Operation::SendToGroup;
        self.begin(op)?;
        self.check_group(op, group)?;
        self.check_message(op, message)?;
        let excluded = options.map(|o| o.excluded);
        let excluded = non_empty(&excluded);
        self.call(Call::SendToGroup {
            group,
            message,
            excluded,
        })
        .await
        .map(drop)
    }

    /// Sends `message` to every connection in each of `groups`, except `excluded` ones of
    /// `options`. 1.0-preview does it in one call (without exclusions, and when no name
    /// contains a comma); 1.0 and 2022-06-01 send to each group concurrently. A connection in
    /// two of the groups receives the message once per group, as with the service's own list
    /// send.
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// use azure_signalr_rest::Message;
    /// hub.send_to_groups(["a", "b"], &Message::new("tick", ())?, None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_to_groups(
        &self,
        groups: impl IntoIterator<Item = impl AsRef<str>>,
        message: &Message,
        options: Option<SendOptions>,
    ) -> Result<(), Error> {
        let op = Operation::SendToGroups;
        self.begin(op)?;
        let owned: Vec<_> = groups.into_iter().collect();
        let groups: Vec<&str> = owned.iter().map(AsRef::as_ref).collect();
        non_empty_list(op, "group list", &groups)?;
        for group in &groups {
            self.check_group(op, group)?;
        }
        self.check_message(op, message)?;
        let excluded = options.map(|o| o.excluded);
        let excluded = non_empty(&excluded);
        let groups = &groups;
        self.call(Call::SendToGroups {
            groups,
            message,
            excluded,
        })
        .await
        .map(drop)
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
        self.call(Call::SendToConnection {
            connection,
            message,
        })
        .await
        .map(drop)
    }
}

/// `None` for no exclusions, so no empty `excluded` parameter is sent.
fn non_empty(excluded: &Option<Vec<String>>) -> Option<&Vec<String>> {
    excluded.as_ref().and_then(non_empty_vec)
}

// `&Vec`: the raw clients take the list as `Option<&Vec<String>>`.
#[allow(clippy::ptr_arg)]
pub(super) fn non_empty_vec(excluded: &Vec<String>) -> Option<&Vec<String>> {
    (!excluded.is_empty()).then_some(excluded)
}

fn non_empty_list(operation: Operation, subject: &str, list: &[&str]) -> Result<(), Error> {
    if list.is_empty() {
        return Err(Error::invalid(operation, subject, "must not be empty"));
    }
    Ok(())
}

//! `HubClient`: every operation on one hub. Each method checks its input and makes one
//! [`Call`]; what each API version does with it is in `api/`.

use super::api::{Call, Target};
use super::error::{Error, ErrorKind};
use super::message::{validate_group_name, validate_hub_name, validate_id, Message};
use super::options::{AddUserOptions, CloseOptions, SendOptions};
use super::service::ServiceClient;
use super::version::{ApiVersion, Operation};

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
/// [`ErrorKind::Unsupported`] before any network traffic.
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
        shared.raw.send(&shared.executor, &to, &call).await
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
        self.call(Call::AddConnectionToGroup { connection, group })
            .await
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
        self.call(Call::RemoveConnectionFromGroup { connection, group })
            .await
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
        self.call(Call::RemoveConnectionFromAllGroups { connection })
            .await
            .map(drop)
    }

    /// Adds a user to a group: for the `ttl` of `options` (whole seconds; zero adds only the
    /// user's current connections), or long-lived.
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// use std::time::Duration;
    /// use azure_signalr_rest::AddUserOptions;
    /// hub.add_user_to_group("alice", "room 1", Some(AddUserOptions::default().ttl(Duration::from_secs(3600)))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_user_to_group(
        &self,
        user: &str,
        group: &str,
        options: Option<AddUserOptions>,
    ) -> Result<(), Error> {
        let op = Operation::AddUserToGroup;
        self.begin(op)?;
        self.check_id(op, "user id", user)?;
        self.check_group(op, group)?;
        let ttl = options
            .and_then(|o| o.ttl)
            .map(|d| {
                i32::try_from(d.as_secs()).map_err(|_| {
                    Error::invalid(op, "ttl", format!("must be at most {} seconds", i32::MAX))
                })
            })
            .transpose()?;
        self.call(Call::AddUserToGroup { user, group, ttl })
            .await
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
        self.call(Call::RemoveUserFromGroup { user, group })
            .await
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
        self.call(Call::RemoveUserFromAllGroups { user })
            .await
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
        self.exists(not_existed::USER, Call::UserExists { user })
            .await
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
        self.exists(not_existed::GROUP, Call::GroupExists { group })
            .await
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
        let call = Call::ConnectionExists { connection };
        self.exists(not_existed::CONNECTION, call).await
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
        let call = Call::UserInGroup { user, group };
        self.exists(not_existed::USER_IN_GROUP, call).await
    }

    /// 200 means yes; 404 means no only when it says so. 2022-06-01 names the missing thing in
    /// `x-ms-error-code` (`expected`): a 404 without it, or with another code, is an error, so
    /// a misrouted request (wrong endpoint, a proxy's 404) never reads as "does not exist".
    /// 1.0 publishes no error codes: there a 404 without a code means no, and one with another
    /// code is still an error.
    async fn exists(&self, expected: &str, call: Call<'_>) -> Result<bool, Error> {
        let bare_404_means_absent = self.service.shared.raw.bare_404_means_absent();
        match self.call(call).await {
            Ok(_) => Ok(true),
            Err(e) => match e.kind() {
                ErrorKind::NotFound { code, .. }
                    if code
                        .as_deref()
                        .map_or(bare_404_means_absent, |c| c.eq_ignore_ascii_case(expected)) =>
                {
                    Ok(false)
                }
                _ => Err(e),
            },
        }
    }

    /// Closes a connection; the client receives a Close message carrying the `reason` of
    /// `options`. Closing a connection that is already gone succeeds: the service's 404 with
    /// `Warning.Connection.NotExisted` is read as done, as the .NET SDK reads it (any other 404
    /// is an error).
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// use azure_signalr_rest::CloseOptions;
    /// hub.close_connection("conn-id", Some(CloseOptions::default().reason("kicked by admin"))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn close_connection(
        &self,
        connection: &str,
        options: Option<CloseOptions>,
    ) -> Result<(), Error> {
        let op = Operation::CloseConnection;
        self.begin(op)?;
        self.check_id(op, "connection id", connection)?;
        let options = options.unwrap_or_default();
        if !options.excluded.is_empty() {
            return Err(Error::invalid(
                op,
                "excluded",
                "applies to closing several connections, not one",
            ));
        }
        let reason = options.reason.as_deref();
        match self
            .call(Call::CloseConnection { connection, reason })
            .await
        {
            Err(e)
                if matches!(e.kind(), ErrorKind::NotFound { code: Some(code), .. }
                if code.eq_ignore_ascii_case(not_existed::CONNECTION)) =>
            {
                Ok(())
            }
            other => other.map(drop),
        }
    }

    /// Closes every connection of the hub except `excluded` ones of `options` (2022-06-01 only).
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// use azure_signalr_rest::CloseOptions;
    /// hub.close_all_connections(Some(CloseOptions::default().reason("maintenance"))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn close_all_connections(&self, options: Option<CloseOptions>) -> Result<(), Error> {
        let op = Operation::CloseAllConnections;
        self.begin(op)?;
        let options = options.unwrap_or_default();
        let (excluded, reason) = (non_empty_vec(&options.excluded), options.reason.as_deref());
        self.call(Call::CloseAllConnections { excluded, reason })
            .await
            .map(drop)
    }

    /// Closes every connection in `group` except `excluded` ones of `options` (2022-06-01 only).
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// hub.close_group_connections("room 1", None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn close_group_connections(
        &self,
        group: &str,
        options: Option<CloseOptions>,
    ) -> Result<(), Error> {
        let op = Operation::CloseGroupConnections;
        self.begin(op)?;
        self.check_group(op, group)?;
        let options = options.unwrap_or_default();
        let (excluded, reason) = (non_empty_vec(&options.excluded), options.reason.as_deref());
        self.call(Call::CloseGroupConnections {
            group,
            excluded,
            reason,
        })
        .await
        .map(drop)
    }

    /// Closes every connection of `user` except `excluded` ones of `options` (2022-06-01 only).
    ///
    /// ```no_run
    /// # async fn run(hub: azure_signalr_rest::HubClient) -> Result<(), azure_signalr_rest::Error> {
    /// use azure_signalr_rest::CloseOptions;
    /// hub.close_user_connections("alice", Some(CloseOptions::default().reason("signed out"))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn close_user_connections(
        &self,
        user: &str,
        options: Option<CloseOptions>,
    ) -> Result<(), Error> {
        let op = Operation::CloseUserConnections;
        self.begin(op)?;
        self.check_id(op, "user id", user)?;
        let options = options.unwrap_or_default();
        let (excluded, reason) = (non_empty_vec(&options.excluded), options.reason.as_deref());
        self.call(Call::CloseUserConnections {
            user,
            excluded,
            reason,
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
fn non_empty_vec(excluded: &Vec<String>) -> Option<&Vec<String>> {
    (!excluded.is_empty()).then_some(excluded)
}

fn non_empty_list(operation: Operation, subject: &str, list: &[&str]) -> Result<(), Error> {
    if list.is_empty() {
        return Err(Error::invalid(operation, subject, "must not be empty"));
    }
    Ok(())
}

/// The `x-ms-error-code` of each existence check's "no" (as the .NET server SDK expects them).
mod not_existed {
    pub(super) const CONNECTION: &str = "Warning.Connection.NotExisted";
    pub(super) const USER: &str = "Warning.User.NotExisted";
    pub(super) const GROUP: &str = "Warning.Group.NotExisted";
    pub(super) const USER_IN_GROUP: &str = "Info.User.NotInGroup";
}

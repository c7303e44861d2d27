//! Group membership and existence checks of `HubClient`.

use super::super::api::{not_existed, Call};
use super::super::error::{Error, ErrorKind};
use super::super::options::AddUserOptions;
use super::super::version::Operation;
use super::HubClient;

impl HubClient {
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
}

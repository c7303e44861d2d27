//! Closing client connections with `HubClient`.

use super::super::api::{not_existed, Call};
use super::super::error::{Error, ErrorKind};
use super::super::options::CloseOptions;
use super::super::version::Operation;
use super::{non_empty_vec, HubClient};

impl HubClient {
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

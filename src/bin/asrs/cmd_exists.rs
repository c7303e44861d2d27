//! `asrs exists`: whether a user, group or connection exists (exit 0: yes, 1: no).

use std::process::ExitCode;

use anyhow::Context as _;
use azure_signalr_rest::HubClient;
use clap::Subcommand;

use crate::connection::hub_client;
use crate::global::{GlobalArgs, RunnableCmd};

#[derive(Debug, PartialEq, Eq, Subcommand)]
pub(crate) enum ExistsCommand {
    /// Whether the user has a connection.
    User { id: String },
    /// Whether the group has a member connection.
    Group { name: String },
    /// Whether the connection is open.
    Connection {
        #[arg(value_name = "CONNECTION_ID", allow_hyphen_values = true)]
        id: String,
    },
    /// Whether the user is in the group.
    UserInGroup { group: String, user: String },
}

/// Exit status of `asrs exists` when the thing does not exist.
pub(crate) const EXIT_NOT_FOUND: u8 = 1;

impl ExistsCommand {
    /// What is checked, as printed after `exists`.
    pub(crate) fn describe(&self) -> String {
        match self {
            ExistsCommand::User { id } => format!("user {id}"),
            ExistsCommand::Group { name } => format!("group {name}"),
            ExistsCommand::Connection { id } => format!("connection {id}"),
            ExistsCommand::UserInGroup { group, user } => format!("user {user} in group {group}"),
        }
    }

    /// Makes the REST call: whether it exists.
    pub(crate) async fn check(&self, hub: &HubClient) -> Result<bool, azure_signalr_rest::Error> {
        match self {
            ExistsCommand::User { id } => hub.user_exists(id).await,
            ExistsCommand::Group { name } => hub.group_exists(name).await,
            ExistsCommand::Connection { id } => hub.connection_exists(id).await,
            ExistsCommand::UserInGroup { group, user } => hub.user_in_group(user, group).await,
        }
    }
}

impl RunnableCmd for ExistsCommand {
    async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let hub = hub_client(global)?;
        let exists = self
            .check(&hub)
            .await
            .with_context(|| format!("exists {}", self.describe()))?;
        println!("{exists}");
        Ok(if exists {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_NOT_FOUND)
        })
    }
}

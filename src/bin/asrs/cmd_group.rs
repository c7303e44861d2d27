//! `asrs group`: add users and connections to groups and remove them.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use azure_signalr_rest::{AddUserOptions, HubClient};
use clap::Subcommand;

use crate::connection::hub_client;
use crate::global::{GlobalArgs, RunnableCmd};

#[derive(Debug, PartialEq, Eq, Subcommand)]
pub(crate) enum GroupCommand {
    /// Add a user (all its connections, now and later) to a group.
    AddUser {
        group: String,
        user: String,
        /// Seconds of membership (0: only the user's current connections); default: long-lived.
        #[arg(long, value_name = "SECONDS")]
        ttl: Option<u64>,
    },
    /// Remove a user from a group.
    RemoveUser { group: String, user: String },
    /// Remove a user from every group.
    RemoveUserAll { user: String },
    /// Add a connection to a group (until the connection ends).
    AddConnection {
        group: String,
        #[arg(value_name = "CONNECTION_ID", allow_hyphen_values = true)]
        id: String,
    },
    /// Remove a connection from a group.
    RemoveConnection {
        group: String,
        #[arg(value_name = "CONNECTION_ID", allow_hyphen_values = true)]
        id: String,
    },
    /// Remove a connection from every group (API 2022-06-01).
    RemoveConnectionAll {
        #[arg(value_name = "CONNECTION_ID", allow_hyphen_values = true)]
        id: String,
    },
}

impl GroupCommand {
    /// What the command does, as printed before its outcome.
    pub(crate) fn describe(&self) -> String {
        match self {
            GroupCommand::AddUser { group, user, .. } => {
                format!("add user {user} to group {group}")
            }
            GroupCommand::RemoveUser { group, user } => {
                format!("remove user {user} from group {group}")
            }
            GroupCommand::RemoveUserAll { user } => format!("remove user {user} from all groups"),
            GroupCommand::AddConnection { group, id } => {
                format!("add connection {id} to group {group}")
            }
            GroupCommand::RemoveConnection { group, id } => {
                format!("remove connection {id} from group {group}")
            }
            GroupCommand::RemoveConnectionAll { id } => {
                format!("remove connection {id} from all groups")
            }
        }
    }

    /// Makes the REST call.
    pub(crate) async fn apply(&self, hub: &HubClient) -> Result<(), azure_signalr_rest::Error> {
        match self {
            GroupCommand::AddUser { group, user, ttl } => {
                hub.add_user_to_group(
                    user,
                    group,
                    ttl.map(|s| AddUserOptions::default().ttl(Duration::from_secs(s))),
                )
                .await
            }
            GroupCommand::RemoveUser { group, user } => {
                hub.remove_user_from_group(user, group).await
            }
            GroupCommand::RemoveUserAll { user } => hub.remove_user_from_all_groups(user).await,
            GroupCommand::AddConnection { group, id } => {
                hub.add_connection_to_group(id, group).await
            }
            GroupCommand::RemoveConnection { group, id } => {
                hub.remove_connection_from_group(id, group).await
            }
            GroupCommand::RemoveConnectionAll { id } => {
                hub.remove_connection_from_all_groups(id).await
            }
        }
    }
}

impl RunnableCmd for GroupCommand {
    async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let hub = hub_client(global)?;
        let what = self.describe();
        self.apply(&hub).await.with_context(|| what.clone())?;
        println!("{what}: accepted");
        Ok(ExitCode::SUCCESS)
    }
}

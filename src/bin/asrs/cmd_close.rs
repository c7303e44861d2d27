//! `asrs close`: close a connection, or every connection of a user, a group or the hub.

use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};

use crate::cmd_send::refs;
use crate::connection::hub_client;
use crate::global::{GlobalArgs, RunnableCmd};

#[derive(Debug, Args)]
pub struct CloseArgs {
    #[command(subcommand)]
    what: CloseWhat,
    /// Reason handed to the clients in their Close message.
    #[arg(long, global = true)]
    reason: Option<String>,
    /// A connection id to leave open (repeatable; not with `connection`).
    #[arg(
        long = "exclude",
        global = true,
        value_name = "CONNECTION_ID",
        allow_hyphen_values = true
    )]
    excluded: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum CloseWhat {
    /// One connection.
    Connection {
        #[arg(value_name = "CONNECTION_ID", allow_hyphen_values = true)]
        id: String,
    },
    /// Every connection of a user (API 2022-06-01).
    User { id: String },
    /// Every connection in a group (API 2022-06-01).
    Group { name: String },
    /// Every connection of the hub (API 2022-06-01).
    All,
}

impl RunnableCmd for CloseArgs {
    async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let reason = self.reason.as_deref();
        let excluded = refs(&self.excluded);
        if matches!(self.what, CloseWhat::Connection { .. }) && !excluded.is_empty() {
            bail!(
            "--exclude applies to closing a user, a group or all connections, not one connection"
        );
        }
        let hub = hub_client(global)?;
        let (what, result) = match &self.what {
            CloseWhat::Connection { id } => (
                format!("close connection {id}"),
                hub.close_connection(id, reason).await,
            ),
            CloseWhat::User { id } => (
                format!("close user {id}"),
                hub.close_user_connections(id, &excluded, reason).await,
            ),
            CloseWhat::Group { name } => (
                format!("close group {name}"),
                hub.close_group_connections(name, &excluded, reason).await,
            ),
            CloseWhat::All => (
                "close all".to_owned(),
                hub.close_all_connections(&excluded, reason).await,
            ),
        };
        result.with_context(|| what.clone())?;
        println!("{what}: accepted");
        Ok(ExitCode::SUCCESS)
    }
}

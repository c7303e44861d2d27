//! `asrs close`: close a connection, or every connection of a user, a group or the hub.

use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};

use crate::connection::hub_client;
use crate::global::{GlobalArgs, RunnableCmd};
use azure_signalr_rest::CloseOptions;

#[derive(Debug, Args)]
pub(crate) struct CloseArgs {
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
        let options = || {
            let options = CloseOptions::default().excluded(&self.excluded);
            Some(match &self.reason {
                Some(reason) => options.reason(reason),
                None => options,
            })
        };
        if matches!(self.what, CloseWhat::Connection { .. }) && !self.excluded.is_empty() {
            bail!(
            "--exclude applies to closing a user, a group or all connections, not one connection"
        );
        }
        let hub = hub_client(global)?;
        let (what, result) = match &self.what {
            CloseWhat::Connection { id } => (
                format!("close connection {id}"),
                hub.close_connection(id, options()).await,
            ),
            CloseWhat::User { id } => (
                format!("close user {id}"),
                hub.close_user_connections(id, options()).await,
            ),
            CloseWhat::Group { name } => (
                format!("close group {name}"),
                hub.close_group_connections(name, options()).await,
            ),
            CloseWhat::All => (
                "close all".to_owned(),
                hub.close_all_connections(options()).await,
            ),
        };
        result.with_context(|| what.clone())?;
        println!("{what}: accepted");
        Ok(ExitCode::SUCCESS)
    }
}

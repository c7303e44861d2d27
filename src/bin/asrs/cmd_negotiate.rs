//! `asrs negotiate`: print the `{"url","accessToken"}` a negotiate endpoint would hand a user.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use azure_signalr_rest::NegotiateOptions;
use clap::Args;

use crate::connection::negotiating_hub_client;
use crate::global::{GlobalArgs, RunnableCmd};

/// What `--user` and `--lifetime` ask of a client token.
pub(crate) fn client_options(user_id: Option<String>, lifetime: Duration) -> NegotiateOptions {
    let options = NegotiateOptions::default().lifetime(lifetime);
    match user_id {
        Some(user_id) => options.user_id(user_id),
        None => options,
    }
}

#[derive(Debug, Args)]
pub(crate) struct NegotiateArgs {
    /// The user the client connects as.
    #[arg(long, value_name = "ID")]
    user: Option<String>,
    /// Seconds until the client token expires.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    lifetime: u64,
}

impl RunnableCmd for NegotiateArgs {
    async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let response = negotiating_hub_client(global)
            .await?
            .negotiate(client_options(
                self.user,
                Duration::from_secs(self.lifetime),
            ))
            .await
            .context("negotiate")?;
        println!(
            "{}",
            serde_json::to_string(&response).expect("a negotiate response serializes")
        );
        Ok(ExitCode::SUCCESS)
    }
}

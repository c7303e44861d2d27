//! `asrs health`: whether the service answers its health check.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::connection::service_client;
use crate::global::{GlobalArgs, RunnableCmd};

/// `asrs health` takes no arguments of its own.
#[derive(Debug, Args)]
pub(crate) struct HealthArgs {}

impl RunnableCmd for HealthArgs {
    async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        service_client(global)?.health().await.context("health")?;
        println!("healthy");
        Ok(ExitCode::SUCCESS)
    }
}

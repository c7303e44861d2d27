//! `asrs health`: whether the service answers its health check; with several endpoints, each
//! one's answer, and which are down.

use std::process::ExitCode;

use anyhow::{bail, Context as _};
use azure_signalr_rest::ErrorKind;
use clap::Args;

use crate::connection::{endpoints, service_client};
use crate::global::{GlobalArgs, RunnableCmd};

/// `asrs health` takes no arguments of its own.
#[derive(Debug, Args)]
pub(crate) struct HealthArgs {}

impl RunnableCmd for HealthArgs {
    async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let client = service_client(global)?;
        if endpoints(global)?.plain {
            client.health().await.context("health")?;
            println!("healthy");
            return Ok(ExitCode::SUCCESS);
        }
        // Each endpoint on its own, all at once: one that hangs delays none of the others.
        let results = client.check_endpoints().await;
        let mut down = Vec::new();
        let total = results.len();
        for (status, result) in results {
            let verdict = match result {
                Ok(()) => "online".to_owned(),
                // The API version has no health check (1.0-preview): nothing to tell per endpoint.
                Err(error) if matches!(error.kind(), ErrorKind::Unsupported { .. }) => {
                    return Err(error).context("health");
                }
                Err(error) => {
                    down.push(status.name().to_owned());
                    format!("offline: {error}")
                }
            };
            println!(
                "{} ({}, {}): {verdict}",
                status.name(),
                status.kind(),
                status.rest_endpoint()
            );
        }
        if !down.is_empty() {
            bail!(
                "{} of {} endpoints offline: {}",
                down.len(),
                total,
                down.join(", ")
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

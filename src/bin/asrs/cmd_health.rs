//! `asrs health`: whether the service answers its health check; with several endpoints, each
//! one's answer, and which are down.

use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::Args;
use futures::future::join_all;

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
        // Each endpoint alone, all at once: one that hangs delays the answer, not the others'.
        let statuses = client.endpoints();
        let checks = statuses.iter().map(|status| {
            let one = client
                .endpoint(status.name())
                .expect("a client has each endpoint it lists");
            async move { one.health().await }
        });
        let results = join_all(checks).await;
        let mut down = Vec::new();
        for (status, result) in statuses.iter().zip(results) {
            let verdict = match result {
                Ok(()) => "online".to_owned(),
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
                statuses.len(),
                down.join(", ")
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

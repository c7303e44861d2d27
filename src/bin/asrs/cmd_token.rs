//! `asrs token`: print a client token, or a REST token for one request URL.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use azure_signalr_rest::{ServiceClient, TokenClaims};
use clap::Args;

use crate::cmd_negotiate::client_options;
use crate::connection::{negotiating_hub_client, service_client};
use crate::global::{GlobalArgs, RunnableCmd};

#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// A client token for the hub (what negotiate hands a client).
    #[arg(long, conflicts_with = "audience")]
    client: bool,
    /// A REST token for this request URL (the `aud` claim; the service checks it).
    #[arg(long, value_name = "URL")]
    audience: Option<String>,
    /// The user the token speaks for (the `asrs.s.uid` claim).
    #[arg(long, value_name = "ID")]
    user: Option<String>,
    /// Seconds until the token expires.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    lifetime: u64,
}

impl RunnableCmd for TokenArgs {
    async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let lifetime = Duration::from_secs(self.lifetime);
        let token = if self.client {
            negotiating_hub_client(global)
                .await?
                .negotiate(client_options(self.user, lifetime))
                .await
                .context("client token")?
                .access_token
        } else {
            let Some(audience) = self.audience else {
                bail!(
                    "say which token: --client for a client token of the hub, or --audience <URL> \
                 for a REST token valid for that request URL"
                );
            };
            let service = signer_for(service_client(global)?, &audience)?;
            let minter = service.token_minter().context(
                "REST tokens are signed with the access key; this connection string has none",
            )?;
            let mut claims = TokenClaims::new(audience, lifetime);
            if let Some(user) = self.user {
                claims = claims.user_id(user);
            }
            minter.mint(&claims).context("REST token")?
        };
        println!("{}", token.expose_secret());
        Ok(ExitCode::SUCCESS)
    }
}

/// The endpoint whose key signs a REST token for `audience`: the only one, or, of several, the
/// one the URL is on (each instance has its own key).
fn signer_for(service: ServiceClient, audience: &str) -> anyhow::Result<ServiceClient> {
    let endpoints = service.endpoints();
    if endpoints.len() == 1 {
        return Ok(service);
    }
    let on = |base: &str| {
        audience
            .strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
    };
    match endpoints.iter().find(|e| on(e.rest_endpoint())) {
        Some(e) => Ok(service
            .endpoint(e.name())
            .expect("a client has each endpoint it lists")),
        None => bail!(
            "the audience URL is on none of the endpoints ({}); a REST token is signed with \
             the key of the instance it is for",
            endpoints
                .iter()
                .map(|e| format!("{}: {}", e.name(), e.rest_endpoint()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

//! `asrs emulator ...`: the local emulator.

use anyhow::Context as _;
use azure_signalr_rest::emulator::{Emulator, DEFAULT_ACCESS_KEY};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum EmulatorCommand {
    /// Start the emulator and serve until Ctrl-C; prints the connection string first.
    Start(StartArgs),
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8888)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    ip: std::net::IpAddr,
    /// Access key that signs tokens (default: the well-known emulator key).
    #[arg(long, env = "ASRS_EMULATOR_ACCESS_KEY", hide_env_values = true)]
    access_key: Option<String>,
    /// URL receiving client invocations and connect/disconnect events.
    #[arg(long)]
    upstream: Option<String>,
}

pub async fn run(command: EmulatorCommand) -> anyhow::Result<()> {
    match command {
        EmulatorCommand::Start(args) => start(args).await,
    }
}

async fn start(args: StartArgs) -> anyhow::Result<()> {
    let mut builder = Emulator::builder()
        .bind(std::net::SocketAddr::new(args.ip, args.port).to_string())
        .access_key(
            args.access_key
                .unwrap_or_else(|| DEFAULT_ACCESS_KEY.to_string()),
        )
        // A standalone process has no inspection API: keeping a delivery record would only
        // cost every delivery a copy.
        .delivery_record(0);
    if let Some(upstream) = &args.upstream {
        builder = builder.upstream(upstream);
    }
    let handle = builder.start().await.context("starting the emulator")?;
    // Clients reach a loopback or all-interfaces listener through localhost.
    let host = if args.ip.is_loopback() || args.ip.is_unspecified() {
        "localhost".to_string()
    } else if args.ip.is_ipv6() {
        format!("[{}]", args.ip)
    } else {
        args.ip.to_string()
    };
    // The official emulator's form; the real port, even when 0 was asked for.
    println!(
        "Endpoint=http://{host};Port={};AccessKey={};Version=1.0;",
        handle.local_addr().port(),
        handle.access_key()
    );
    eprintln!(
        "Emulator listening on {}; press Ctrl-C to stop.",
        handle.endpoint()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    handle.shutdown().await;
    Ok(())
}

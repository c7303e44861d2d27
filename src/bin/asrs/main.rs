//! `asrs`: the command-line tool of azure-signalr-rest.

mod emulator;

use clap::{Parser, Subcommand};

/// Command-line tool for the Azure SignalR Service data-plane REST API.
#[derive(Debug, Parser)]
#[command(name = "asrs", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local emulator of the service.
    #[command(subcommand)]
    Emulator(emulator::EmulatorCommand),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Emulator(command) => emulator::run(command).await,
    }
}

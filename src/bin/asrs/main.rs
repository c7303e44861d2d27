//! `asrs`: the command-line tool of azure-signalr-rest.
//!
//! One module per job: `connection` finds the connection string and builds the clients,
//! `config` keeps the per-user config file, `commands` runs the one-shot REST commands,
//! `server` and `client` are the quickstart's two modes, `demo` runs everything on the embedded
//! emulator, `emulator` starts a standalone one.

mod client;
mod commands;
mod config;
mod connection;
mod demo;
mod emulator;
mod redact;
mod server;
mod signal;

use std::fmt;
use std::process::ExitCode;

use azure_signalr_rest::ApiVersion;
use clap::builder::TypedValueParser as _;
use clap::{ArgAction, Args, Parser, Subcommand};

/// Command-line tool for the Azure SignalR Service data-plane REST API, and a local emulator.
///
/// Global options may come before or after the subcommand.
#[derive(Parser)]
#[command(name = "asrs", version, about, disable_help_flag = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand accepts. `-h` names the hub, so help is `--help` only.
#[derive(Args)]
pub struct GlobalArgs {
    /// Connection string of the service (else the environment variables
    /// Azure__SignalR__ConnectionString or AZURE_SIGNALR_CONNECTION_STRING, else the config file).
    #[arg(short = 'c', long, global = true, value_name = "CONNECTION_STRING")]
    pub connection_string: Option<String>,
    /// Hub name (else the config file's `hub`).
    #[arg(short = 'h', long, global = true, value_name = "HUB")]
    pub hub: Option<String>,
    /// REST API version.
    #[arg(
        long,
        global = true,
        value_name = "VERSION",
        default_value = ApiVersion::default().as_str(),
        value_parser = clap::builder::PossibleValuesParser::new(ApiVersion::ALL.map(ApiVersion::as_str))
            .map(|s| s.parse::<ApiVersion>().expect("one of the possible values")),
    )]
    pub api_version: ApiVersion,
    /// Log what happens to standard error (-v: info, -vv: debug, -vvv: trace; RUST_LOG overrides).
    #[arg(short = 'v', long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Print help.
    #[arg(long, global = true, action = ArgAction::Help)]
    help: Option<bool>,
}

/// The connection string may hold an access key: never shown.
impl fmt::Debug for GlobalArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlobalArgs")
            .field(
                "connection_string",
                &self.connection_string.as_ref().map(|_| "<redacted>"),
            )
            .field("hub", &self.hub)
            .field("api_version", &self.api_version)
            .field("verbose", &self.verbose)
            .finish()
    }
}

#[derive(Subcommand)]
enum Command {
    /// Read commands from standard input and call the REST API (the quickstart's server mode).
    Server(server::ServerArgs),
    /// Connect as a user and print every message received (the quickstart's client mode).
    Client(client::ClientArgs),
    /// Send one message.
    Send(commands::SendArgs),
    /// Change group membership.
    #[command(subcommand)]
    Group(commands::GroupCommand),
    /// Check whether a user, group or connection exists (exit 0: yes, 1: no, 2: error).
    #[command(subcommand)]
    Exists(commands::ExistsCommand),
    /// Close client connections.
    Close(commands::CloseArgs),
    /// Check the service's health.
    Health,
    /// Print an access token (a client token, or a REST token for one request URL).
    Token(commands::TokenArgs),
    /// Print a negotiate response (`{"url","accessToken"}`) for a user.
    Negotiate(commands::NegotiateArgs),
    /// Read or change the per-user config file (connection string, hub).
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Run a local emulator of the service.
    #[command(subcommand)]
    Emulator(emulator::EmulatorCommand),
    /// Start an embedded emulator, connect listeners, exercise every operation and check that
    /// each listener received what it should (exit 0 only when everything arrived).
    Demo(demo::DemoArgs),
}

/// Exit status of a command that failed (`asrs exists` uses 1 for "does not exist").
pub const EXIT_ERROR: u8 = 2;

fn init_tracing(verbose: u8) {
    // Quiet by default: the command's own error line says what went wrong.
    let default = match verbose {
        0 => "error",
        1 => "info",
        2 => "info,azure_signalr_rest=debug,asrs=debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| redact::RedactingStderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match cli.command {
        Command::Server(args) => server::run(global, args).await,
        Command::Client(args) => client::run(global, args).await,
        Command::Send(args) => commands::send(global, args).await,
        Command::Group(command) => commands::group(global, command).await,
        Command::Exists(command) => commands::exists(global, command).await,
        Command::Close(args) => commands::close(global, args).await,
        Command::Health => commands::health(global).await,
        Command::Token(args) => commands::token(global, args),
        Command::Negotiate(args) => commands::negotiate(global, args),
        Command::Config(command) => config::run(command),
        Command::Emulator(command) => emulator::run(command).await.map(|()| ExitCode::SUCCESS),
        Command::Demo(args) => demo::run(args).await,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse_from(emulator::official_short_flags(std::env::args_os()));
    init_tracing(cli.global.verbose);
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// The error and its causes on one line, without the repetitions that arise when a message
/// already quotes its cause or a context restates the operation.
fn describe(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        match parts.last_mut() {
            Some(last) if last.contains(&text) => {}
            Some(last) if text.starts_with(last.as_str()) => *last = text,
            _ => parts.push(text),
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_before_or_after_the_subcommand() {
        for argv in [
            &[
                "asrs",
                "-c",
                "x",
                "-h",
                "chat",
                "--api-version",
                "1.0",
                "health",
            ][..],
            &[
                "asrs",
                "health",
                "-c",
                "x",
                "-h",
                "chat",
                "--api-version",
                "1.0",
            ][..],
            &[
                "asrs",
                "-c",
                "x",
                "health",
                "--hub",
                "chat",
                "--api-version=1.0",
            ][..],
        ] {
            let cli = Cli::try_parse_from(argv).unwrap();
            assert_eq!(cli.global.connection_string.as_deref(), Some("x"));
            assert_eq!(cli.global.hub.as_deref(), Some("chat"));
            assert_eq!(cli.global.api_version, ApiVersion::V1);
        }
        let cli = Cli::try_parse_from(["asrs", "group", "add-user", "g", "u", "-h", "x"]).unwrap();
        assert_eq!(cli.global.hub.as_deref(), Some("x"));
    }

    #[test]
    fn help_is_a_long_flag_only() {
        let err = Cli::try_parse_from(["asrs", "--help"]).err().unwrap();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
        let err = Cli::try_parse_from(["asrs", "send", "--help"])
            .err()
            .unwrap();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
        // `-h` wants a hub name.
        let err = Cli::try_parse_from(["asrs", "health", "-h"]).err().unwrap();
        assert_ne!(err.kind(), clap::error::ErrorKind::DisplayHelp);
    }

    #[test]
    fn errors_are_described_without_repetition() {
        let inner = anyhow::anyhow!("connection refused");
        let error = inner
            .context("broadcast: transport error: connection refused")
            .context("broadcast");
        assert_eq!(
            describe(&error),
            "broadcast: transport error: connection refused"
        );
        let error = anyhow::anyhow!("send_to_user: unauthorized (401)").context("send user alice");
        assert_eq!(
            describe(&error),
            "send user alice: send_to_user: unauthorized (401)"
        );
    }

    #[test]
    fn unknown_api_version_is_refused() {
        assert!(Cli::try_parse_from(["asrs", "health", "--api-version", "2"]).is_err());
    }

    #[test]
    fn debug_hides_the_connection_string() {
        let cli = Cli::try_parse_from(["asrs", "-c", "AccessKey=topsecret", "health"]).unwrap();
        assert!(!format!("{:?}", cli.global).contains("topsecret"));
    }
}

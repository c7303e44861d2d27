//! `asrs`: the command-line tool of azure-signalr-rest.
//!
//! `main` parses, sets up logging and hands the command to its `cmd_*` file, one per command
//! group, each implementing [`global::RunnableCmd`]. Beside them: `connection` finds the
//! connection string and builds the clients, `config` keeps the per-user config file,
//! `endpoint_spec` reads the forms that name several endpoints, `redact` keeps secrets out of
//! log lines, `signal` waits for Ctrl-C or SIGTERM.

mod cmd_client;
mod cmd_close;
mod cmd_config;
mod cmd_demo;
mod cmd_emulator;
mod cmd_exists;
mod cmd_group;
mod cmd_health;
mod cmd_negotiate;
mod cmd_send;
mod cmd_server;
mod cmd_token;
mod config;
mod connection;
mod demo_check;
mod emulator_limits;
mod emulator_settings;
mod endpoint_spec;
mod global;
mod redact;
mod signal;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use global::{GlobalArgs, RunnableCmd, EXIT_ERROR};

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

#[derive(Subcommand)]
enum Command {
    /// Read commands from standard input and call the REST API (the quickstart's server mode).
    Server(cmd_server::ServerArgs),
    /// Connect as a user and print every message received (the quickstart's client mode).
    Client(cmd_client::ClientArgs),
    /// Send one message.
    Send(cmd_send::SendArgs),
    /// Change group membership.
    #[command(subcommand)]
    Group(cmd_group::GroupCommand),
    /// Check whether a user, group or connection exists (exit 0: yes, 1: no, 2: error).
    #[command(subcommand)]
    Exists(cmd_exists::ExistsCommand),
    /// Close client connections.
    Close(cmd_close::CloseArgs),
    /// Check the service's health (of each endpoint, with several).
    Health(cmd_health::HealthArgs),
    /// Print an access token (a client token, or a REST token for one request URL).
    Token(cmd_token::TokenArgs),
    /// Print a negotiate response (`{"url","accessToken"}`) for a user.
    Negotiate(cmd_negotiate::NegotiateArgs),
    /// Read or change the per-user config file (connection string, hub; `show` lists endpoints).
    #[command(subcommand)]
    Config(cmd_config::ConfigCommand),
    /// Run a local emulator of the service.
    #[command(subcommand)]
    Emulator(cmd_emulator::EmulatorCommand),
    /// Start an embedded emulator (or several: --endpoints), connect listeners, exercise every
    /// operation and check that each listener received what it should (exit 0 only when
    /// everything arrived).
    Demo(cmd_demo::DemoArgs),
}

fn init_tracing(verbose: u8, allow_partial: bool) {
    // Quiet by default: the command's own error line says what went wrong. A call allowed to
    // reach only some endpoints succeeds, so the library's warning is what names the others.
    let default = match verbose {
        0 if allow_partial => "error,azure_signalr_rest::client::endpoints=warn",
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
        Command::Server(cmd) => cmd.run(global).await,
        Command::Client(cmd) => cmd.run(global).await,
        Command::Send(cmd) => cmd.run(global).await,
        Command::Group(cmd) => cmd.run(global).await,
        Command::Exists(cmd) => cmd.run(global).await,
        Command::Close(cmd) => cmd.run(global).await,
        Command::Health(cmd) => cmd.run(global).await,
        Command::Token(cmd) => cmd.run(global).await,
        Command::Negotiate(cmd) => cmd.run(global).await,
        Command::Config(cmd) => cmd.run(global).await,
        Command::Emulator(cmd) => cmd.run(global).await,
        Command::Demo(cmd) => cmd.run(global).await,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse_from(command_line(std::env::args_os()));
    init_tracing(cli.global.verbose, cli.global.allow_partial);
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// The command line as clap should read it (see the two functions).
fn command_line(args: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    global::gather_connection_strings(cmd_emulator::official_short_flags(args))
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
    use azure_signalr_rest::ApiVersion;
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
            assert_eq!(cli.global.connection_string, ["x"]);
            assert_eq!(cli.global.hub.as_deref(), Some("chat"));
            assert_eq!(cli.global.api_version, ApiVersion::V1);
        }
        let cli = Cli::try_parse_from(["asrs", "group", "add-user", "g", "u", "-h", "x"]).unwrap();
        assert_eq!(cli.global.hub.as_deref(), Some("x"));
    }

    #[test]
    fn connection_strings_add_up_before_and_after_the_subcommand() {
        let parse = |argv: &[&str]| {
            Cli::try_parse_from(command_line(argv.iter().map(Into::into)))
                .unwrap()
                .global
                .connection_string
        };
        for argv in [
            &["asrs", "-c", "a=x", "-c", "b=y", "health"][..],
            &["asrs", "health", "-c", "a=x", "--connection-string", "b=y"],
            &["asrs", "-c", "a=x", "health", "-c", "b=y"],
            &[
                "asrs",
                "-c",
                "a=x",
                "group",
                "add-user",
                "--connection-string=b=y",
                "g",
                "u",
            ],
        ] {
            assert_eq!(parse(argv), ["a=x", "b=y"], "{argv:?}");
        }
        // After `emulator start`, -c is its config file; after `--`, a value.
        let cli = Cli::try_parse_from(command_line(
            ["asrs", "-c", "a=x", "emulator", "start", "-c", "dir"].map(Into::into),
        ))
        .unwrap();
        assert_eq!(cli.global.connection_string, ["a=x"]);
        let cli = Cli::try_parse_from(command_line(
            ["asrs", "send", "user", "-c", "a=x", "--", "-c"].map(Into::into),
        ))
        .unwrap();
        assert_eq!(cli.global.connection_string, ["a=x"]);
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

    #[test]
    fn connection_ids_may_start_with_a_hyphen() {
        #[derive(Debug, clap::Parser)]
        enum Cli {
            Send(cmd_send::SendArgs),
            #[command(subcommand)]
            Group(cmd_group::GroupCommand),
            #[command(subcommand)]
            Exists(cmd_exists::ExistsCommand),
            Close(cmd_close::CloseArgs),
        }
        let id = "-xK9h1lKrUZ9gzTgKsyLcw";
        let parse = |argv: &[&str]| {
            let cli = <Cli as clap::Parser>::try_parse_from(argv)
                .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            format!("{cli:?}")
        };
        for argv in [
            &["t", "send", "connection", id, "--args", "[1]"][..],
            &["t", "send", "broadcast", "--exclude", id, "--args", "[1]"],
            &["t", "send", "group", "g", "--exclude", id],
            &["t", "send", "groups", "a,b", "--exclude", id],
            &["t", "group", "add-connection", "g", id],
            &["t", "group", "remove-connection", "g", id],
            &["t", "group", "remove-connection-all", id],
            &["t", "exists", "connection", id],
            &["t", "close", "connection", id, "--reason", "r"],
            &["t", "close", "all", "--exclude", id],
        ] {
            let parsed = parse(argv);
            assert!(parsed.contains(&format!("{id:?}")), "{argv:?}: {parsed}");
        }
        // The options after the id are still options.
        assert!(parse(&["t", "send", "connection", id, "--args", "[1]"]).contains(r#"Some("[1]")"#));
    }
}

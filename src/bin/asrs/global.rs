//! What every command shares: the global options and the trait each command group implements.
//! It imports no command file, so the `cmd_*` files and `main` depend on it, never the reverse.

use std::ffi::OsString;
use std::fmt;
use std::process::ExitCode;

use azure_signalr_rest::ApiVersion;
use clap::builder::TypedValueParser as _;
use clap::{ArgAction, Args};

/// A parsed command, ready to run. One implementation per `cmd_*.rs` file: `main` parses,
/// then hands the command the global options and returns its exit status.
pub(crate) trait RunnableCmd {
    /// Runs the command; an error is printed by `main` with exit status [`EXIT_ERROR`].
    async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode>;
}

/// Exit status of a command that failed (`asrs exists` uses 1 for "does not exist").
pub(crate) const EXIT_ERROR: u8 = 2;

/// Options every subcommand accepts. `-h` names the hub, so help is `--help` only.
#[derive(Args)]
pub(crate) struct GlobalArgs {
    /// Connection string of the service (else the environment variables
    /// Azure__SignalR__ConnectionString or AZURE_SIGNALR_CONNECTION_STRING, else the config file).
    /// Several service instances: repeat it as NAME=CONNECTION_STRING, with `:secondary` at the
    /// end for a standby (`-c east="Endpoint=...;" -c west="Endpoint=...;:secondary"`), or set
    /// `Azure__SignalR__Endpoints__<NAME>[__Secondary]` (or the same keys in the config file).
    #[arg(
        short = 'c',
        long,
        global = true,
        value_name = "[NAME=]CONNECTION_STRING[:secondary]",
        action = ArgAction::Append
    )]
    pub connection_string: Vec<String>,
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
    /// With several endpoints, a call that reached only some of them succeeds (the others are
    /// logged on standard error); without it, such a call fails naming each endpoint it missed.
    #[arg(long, global = true)]
    pub allow_partial: bool,
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
                &vec!["<redacted>"; self.connection_string.len()],
            )
            .field("hub", &self.hub)
            .field("api_version", &self.api_version)
            .field("allow_partial", &self.allow_partial)
            .field("verbose", &self.verbose)
            .finish()
    }
}

/// Moves every `-c VALUE`, `--connection-string VALUE` and `--connection-string=VALUE` to the
/// front of the command line (they are global options). Clap keeps only the values given on
/// one side of a subcommand when a global option is repeated on both; gathered before it, all
/// count. Runs after `emulator start`'s own `-c` became `--config`; stops at `--`.
pub(crate) fn gather_connection_strings(args: Vec<OsString>) -> Vec<OsString> {
    let mut args = args.into_iter();
    let mut front: Vec<OsString> = args.next().into_iter().collect();
    let mut rest = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--" {
            rest.push(arg);
            rest.extend(args.by_ref());
        } else if arg == "-c" || arg == "--connection-string" {
            match args.next() {
                Some(value) => front.extend([arg, value]),
                // No value: clap says so.
                None => rest.push(arg),
            }
        } else if arg
            .to_str()
            .is_some_and(|a| a.starts_with("--connection-string="))
        {
            front.push(arg);
        } else {
            rest.push(arg);
        }
    }
    front.extend(rest);
    front
}

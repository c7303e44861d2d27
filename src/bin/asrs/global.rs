//! What every command shares: the global options and the trait each command group implements.
//! It imports no command file, so the `cmd_*` files and `main` depend on it, never the reverse.

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

//! The one-shot commands: `send`, `group`, `exists`, `close`, `health`, `token`, `negotiate`.
//! Each makes its calls through `HubClient`/`ServiceClient`, prints one line on success and
//! returns the error otherwise (printed on standard error by `main`, exit status 2).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use azure_signalr_rest::{
    AddUserOptions, CloseOptions, HubClient, Message, NegotiateOptions, SendOptions, TokenClaims,
};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::connection::{hub_client, service_client};
use crate::GlobalArgs;

/// The client method the quickstart's clients listen on.
pub const SEND_MESSAGE_TARGET: &str = "SendMessage";
/// The text of a send when none is given.
pub const DEFAULT_TEXT: &str = "Hello from server";
/// The server name `asrs send` puts in a `SendMessage` when `--args` is not given.
pub const DEFAULT_SERVER_NAME: &str = "asrs";

/// The quickstart's message: `SendMessage(<server name>, <text>)`.
pub fn send_message(server: &str, text: &str) -> Message {
    Message::from_values(
        SEND_MESSAGE_TARGET,
        vec![Value::from(server), Value::from(text)],
    )
}

/// Who a send goes to. `describe` names it in output lines; `send` makes the one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    All {
        excluded: Vec<String>,
    },
    User(String),
    Users(Vec<String>),
    Group {
        name: String,
        excluded: Vec<String>,
    },
    Groups {
        names: Vec<String>,
        excluded: Vec<String>,
    },
    Connection(String),
}

impl Recipient {
    pub fn describe(&self) -> String {
        let excluding = |excluded: &[String]| {
            if excluded.is_empty() {
                String::new()
            } else {
                format!(" excluding {}", excluded.join(","))
            }
        };
        match self {
            Recipient::All { excluded } => format!("broadcast{}", excluding(excluded)),
            Recipient::User(id) => format!("send user {id}"),
            Recipient::Users(ids) => format!("send users {}", ids.join(",")),
            Recipient::Group { name, excluded } => {
                format!("send group {name}{}", excluding(excluded))
            }
            Recipient::Groups { names, excluded } => {
                format!("send groups {}{}", names.join(","), excluding(excluded))
            }
            Recipient::Connection(id) => format!("send connection {id}"),
        }
    }

    pub async fn send(
        &self,
        hub: &HubClient,
        message: &Message,
    ) -> Result<(), azure_signalr_rest::Error> {
        match self {
            Recipient::All { excluded } => hub.broadcast(message, exclude(excluded)).await,
            Recipient::User(id) => hub.send_to_user(id, message).await,
            Recipient::Users(ids) => hub.send_to_users(ids, message).await,
            Recipient::Group { name, excluded } => {
                hub.send_to_group(name, message, exclude(excluded)).await
            }
            Recipient::Groups { names, excluded } => {
                hub.send_to_groups(names, message, exclude(excluded)).await
            }
            Recipient::Connection(id) => hub.send_to_connection(id, message).await,
        }
    }
}

/// The send options excluding `excluded`.
fn exclude(excluded: &[String]) -> Option<SendOptions> {
    Some(SendOptions::default().excluded(excluded))
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(subcommand)]
    to: SendTo,
}

#[derive(Debug, Subcommand)]
enum SendTo {
    /// To every connection of the hub.
    Broadcast {
        #[command(flatten)]
        message: MessageArgs,
        #[command(flatten)]
        exclude: ExcludeArgs,
    },
    /// To every connection of a user.
    User {
        /// The user id.
        id: String,
        #[command(flatten)]
        message: MessageArgs,
    },
    /// To every connection of each user.
    Users {
        /// User ids, comma-separated.
        #[arg(value_delimiter = ',', required = true)]
        ids: Vec<String>,
        #[command(flatten)]
        message: MessageArgs,
    },
    /// To every connection in a group.
    Group {
        /// The group name.
        name: String,
        #[command(flatten)]
        message: MessageArgs,
        #[command(flatten)]
        exclude: ExcludeArgs,
    },
    /// To every connection in each group.
    Groups {
        /// Group names, comma-separated.
        #[arg(value_delimiter = ',', required = true)]
        names: Vec<String>,
        #[command(flatten)]
        message: MessageArgs,
        #[command(flatten)]
        exclude: ExcludeArgs,
    },
    /// To one connection.
    Connection {
        /// The connection id.
        #[arg(value_name = "CONNECTION_ID", allow_hyphen_values = true)]
        id: String,
        #[command(flatten)]
        message: MessageArgs,
    },
}

#[derive(Debug, Args)]
struct MessageArgs {
    /// The client method to invoke.
    #[arg(long, default_value = SEND_MESSAGE_TARGET)]
    target: String,
    /// Its arguments as a JSON array [default: ["asrs","Hello from server"]].
    #[arg(long, value_name = "JSON-ARRAY")]
    args: Option<String>,
}

impl MessageArgs {
    fn message(&self) -> anyhow::Result<Message> {
        let arguments = match &self.args {
            None => {
                let default = send_message(DEFAULT_SERVER_NAME, DEFAULT_TEXT);
                return Ok(Message::from_values(self.target.clone(), default.arguments));
            }
            Some(json) => parse_arguments(json)?,
        };
        Ok(Message::from_values(self.target.clone(), arguments))
    }
}

/// `--args`: a JSON array of any values.
fn parse_arguments(json: &str) -> anyhow::Result<Vec<Value>> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Array(values)) => Ok(values),
        Ok(_) => bail!(r#"--args must be a JSON array, e.g. '["hello", 42]'"#),
        Err(e) => bail!(r#"--args is not valid JSON ({e}); give an array, e.g. '["hello", 42]'"#),
    }
}

// Connection ids are base64url, so one in 64 starts with `-`: every argument that takes one
// accepts a leading hyphen rather than reading it as a flag.
#[derive(Debug, Args)]
struct ExcludeArgs {
    /// A connection id that must not receive it (repeatable).
    #[arg(
        long = "exclude",
        value_name = "CONNECTION_ID",
        allow_hyphen_values = true
    )]
    excluded: Vec<String>,
}

pub async fn send(global: &GlobalArgs, args: SendArgs) -> anyhow::Result<ExitCode> {
    let (recipient, message) = match args.to {
        SendTo::Broadcast { message, exclude } => (
            Recipient::All {
                excluded: exclude.excluded,
            },
            message,
        ),
        SendTo::User { id, message } => (Recipient::User(id), message),
        SendTo::Users { ids, message } => (Recipient::Users(ids), message),
        SendTo::Group {
            name,
            message,
            exclude,
        } => (
            Recipient::Group {
                name,
                excluded: exclude.excluded,
            },
            message,
        ),
        SendTo::Groups {
            names,
            message,
            exclude,
        } => (
            Recipient::Groups {
                names,
                excluded: exclude.excluded,
            },
            message,
        ),
        SendTo::Connection { id, message } => (Recipient::Connection(id), message),
    };
    let message = message.message()?;
    let hub = hub_client(global)?;
    let what = recipient.describe();
    recipient
        .send(&hub, &message)
        .await
        .with_context(|| what.clone())?;
    println!("{what}: accepted");
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
pub enum GroupCommand {
    /// Add a user (all its connections, now and later) to a group.
    AddUser {
        group: String,
        user: String,
        /// Seconds of membership (0: only the user's current connections); default: long-lived.
        #[arg(long, value_name = "SECONDS")]
        ttl: Option<u64>,
    },
    /// Remove a user from a group.
    RemoveUser { group: String, user: String },
    /// Remove a user from every group.
    RemoveUserAll { user: String },
    /// Add a connection to a group (until the connection ends).
    AddConnection {
        group: String,
        #[arg(value_name = "CONNECTION_ID", allow_hyphen_values = true)]
        id: String,
    },
    /// Remove a connection from a group.
    RemoveConnection {
        group: String,
        #[arg(value_name = "CONNECTION_ID", allow_hyphen_values = true)]
        id: String,
    },
    /// Remove a connection from every group (API 2022-06-01).
    RemoveConnectionAll {
        #[arg(value_name = "CONNECTION_ID", allow_hyphen_values = true)]
        id: String,
    },
}

impl GroupCommand {
    /// What the command does, as printed before its outcome.
    pub fn describe(&self) -> String {
        match self {
            GroupCommand::AddUser { group, user, .. } => {
                format!("add user {user} to group {group}")
            }
            GroupCommand::RemoveUser { group, user } => {
                format!("remove user {user} from group {group}")
            }
            GroupCommand::RemoveUserAll { user } => format!("remove user {user} from all groups"),
            GroupCommand::AddConnection { group, id } => {
                format!("add connection {id} to group {group}")
            }
            GroupCommand::RemoveConnection { group, id } => {
                format!("remove connection {id} from group {group}")
            }
            GroupCommand::RemoveConnectionAll { id } => {
                format!("remove connection {id} from all groups")
            }
        }
    }

    /// Makes the REST call.
    pub async fn apply(&self, hub: &HubClient) -> Result<(), azure_signalr_rest::Error> {
        match self {
            GroupCommand::AddUser { group, user, ttl } => {
                hub.add_user_to_group(
                    user,
                    group,
                    ttl.map(|s| AddUserOptions::default().ttl(Duration::from_secs(s))),
                )
                .await
            }
            GroupCommand::RemoveUser { group, user } => {
                hub.remove_user_from_group(user, group).await
            }
            GroupCommand::RemoveUserAll { user } => hub.remove_user_from_all_groups(user).await,
            GroupCommand::AddConnection { group, id } => {
                hub.add_connection_to_group(id, group).await
            }
            GroupCommand::RemoveConnection { group, id } => {
                hub.remove_connection_from_group(id, group).await
            }
            GroupCommand::RemoveConnectionAll { id } => {
                hub.remove_connection_from_all_groups(id).await
            }
        }
    }
}

pub async fn group(global: &GlobalArgs, command: GroupCommand) -> anyhow::Result<ExitCode> {
    let hub = hub_client(global)?;
    let what = command.describe();
    command.apply(&hub).await.with_context(|| what.clone())?;
    println!("{what}: accepted");
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, PartialEq, Eq, Subcommand)]
pub enum ExistsCommand {
    /// Whether the user has a connection.
    User { id: String },
    /// Whether the group has a member connection.
    Group { name: String },
    /// Whether the connection is open.
    Connection {
        #[arg(value_name = "CONNECTION_ID", allow_hyphen_values = true)]
        id: String,
    },
    /// Whether the user is in the group.
    UserInGroup { group: String, user: String },
}

/// Exit status of `asrs exists` when the thing does not exist.
pub const EXIT_NOT_FOUND: u8 = 1;

impl ExistsCommand {
    /// What is checked, as printed after `exists`.
    pub fn describe(&self) -> String {
        match self {
            ExistsCommand::User { id } => format!("user {id}"),
            ExistsCommand::Group { name } => format!("group {name}"),
            ExistsCommand::Connection { id } => format!("connection {id}"),
            ExistsCommand::UserInGroup { group, user } => format!("user {user} in group {group}"),
        }
    }

    /// Makes the REST call: whether it exists.
    pub async fn check(&self, hub: &HubClient) -> Result<bool, azure_signalr_rest::Error> {
        match self {
            ExistsCommand::User { id } => hub.user_exists(id).await,
            ExistsCommand::Group { name } => hub.group_exists(name).await,
            ExistsCommand::Connection { id } => hub.connection_exists(id).await,
            ExistsCommand::UserInGroup { group, user } => hub.user_in_group(user, group).await,
        }
    }
}

pub async fn exists(global: &GlobalArgs, command: ExistsCommand) -> anyhow::Result<ExitCode> {
    let hub = hub_client(global)?;
    let exists = command
        .check(&hub)
        .await
        .with_context(|| format!("exists {}", command.describe()))?;
    println!("{exists}");
    Ok(if exists {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NOT_FOUND)
    })
}

#[derive(Debug, Args)]
pub struct CloseArgs {
    #[command(subcommand)]
    what: CloseWhat,
    /// Reason handed to the clients in their Close message.
    #[arg(long, global = true)]
    reason: Option<String>,
    /// A connection id to leave open (repeatable; not with `connection`).
    #[arg(
        long = "exclude",
        global = true,
        value_name = "CONNECTION_ID",
        allow_hyphen_values = true
    )]
    excluded: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum CloseWhat {
    /// One connection.
    Connection {
        #[arg(value_name = "CONNECTION_ID", allow_hyphen_values = true)]
        id: String,
    },
    /// Every connection of a user (API 2022-06-01).
    User { id: String },
    /// Every connection in a group (API 2022-06-01).
    Group { name: String },
    /// Every connection of the hub (API 2022-06-01).
    All,
}

pub async fn close(global: &GlobalArgs, args: CloseArgs) -> anyhow::Result<ExitCode> {
    let excluded = &args.excluded;
    let options = || {
        let options = CloseOptions::default().excluded(&args.excluded);
        Some(match &args.reason {
            Some(reason) => options.reason(reason),
            None => options,
        })
    };
    if matches!(args.what, CloseWhat::Connection { .. }) && !excluded.is_empty() {
        bail!(
            "--exclude applies to closing a user, a group or all connections, not one connection"
        );
    }
    let hub = hub_client(global)?;
    let (what, result) = match &args.what {
        CloseWhat::Connection { id } => (
            format!("close connection {id}"),
            hub.close_connection(id, options()).await,
        ),
        CloseWhat::User { id } => (
            format!("close user {id}"),
            hub.close_user_connections(id, options()).await,
        ),
        CloseWhat::Group { name } => (
            format!("close group {name}"),
            hub.close_group_connections(name, options()).await,
        ),
        CloseWhat::All => (
            "close all".to_owned(),
            hub.close_all_connections(options()).await,
        ),
    };
    result.with_context(|| what.clone())?;
    println!("{what}: accepted");
    Ok(ExitCode::SUCCESS)
}

pub async fn health(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    service_client(global)?.health().await.context("health")?;
    println!("healthy");
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct TokenArgs {
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

pub fn token(global: &GlobalArgs, args: TokenArgs) -> anyhow::Result<ExitCode> {
    let lifetime = Duration::from_secs(args.lifetime);
    let token = if args.client {
        hub_client(global)?
            .negotiate_local(client_options(args.user, lifetime))
            .context("client token")?
            .access_token
    } else {
        let Some(audience) = args.audience else {
            bail!(
                "say which token: --client for a client token of the hub, or --audience <URL> \
                 for a REST token valid for that request URL"
            );
        };
        let service = service_client(global)?;
        let minter = service.token_minter().context(
            "REST tokens are signed with the access key; this connection string has none",
        )?;
        let mut claims = TokenClaims::new(audience, lifetime);
        if let Some(user) = args.user {
            claims = claims.user_id(user);
        }
        minter.mint(&claims).context("REST token")?
    };
    println!("{}", token.expose_secret());
    Ok(ExitCode::SUCCESS)
}

/// What `--user` and `--lifetime` ask of a client token.
fn client_options(user_id: Option<String>, lifetime: Duration) -> NegotiateOptions {
    let options = NegotiateOptions::default().lifetime(lifetime);
    match user_id {
        Some(user_id) => options.user_id(user_id),
        None => options,
    }
}

#[derive(Debug, Args)]
pub struct NegotiateArgs {
    /// The user the client connects as.
    #[arg(long, value_name = "ID")]
    user: Option<String>,
    /// Seconds until the client token expires.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    lifetime: u64,
}

pub fn negotiate(global: &GlobalArgs, args: NegotiateArgs) -> anyhow::Result<ExitCode> {
    let response = hub_client(global)?
        .negotiate_local(client_options(
            args.user,
            Duration::from_secs(args.lifetime),
        ))
        .context("negotiate")?;
    println!(
        "{}",
        serde_json::to_string(&response).expect("a negotiate response serializes")
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_must_be_a_json_array() {
        assert_eq!(
            parse_arguments(r#"["a", 1, {"b": null}]"#).unwrap(),
            vec![
                Value::from("a"),
                Value::from(1),
                serde_json::json!({"b": null})
            ]
        );
        assert!(parse_arguments(r#"{"a": 1}"#)
            .unwrap_err()
            .to_string()
            .contains("JSON array"));
        assert!(parse_arguments("[1,")
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
    }

    #[test]
    fn default_message_is_the_quickstarts() {
        let m = MessageArgs {
            target: SEND_MESSAGE_TARGET.into(),
            args: None,
        }
        .message()
        .unwrap();
        assert_eq!(m.target, "SendMessage");
        assert_eq!(
            m.arguments,
            vec![Value::from("asrs"), Value::from(DEFAULT_TEXT)]
        );
    }

    #[test]
    fn connection_ids_may_start_with_a_hyphen() {
        #[derive(Debug, clap::Parser)]
        enum Cli {
            Send(SendArgs),
            #[command(subcommand)]
            Group(GroupCommand),
            #[command(subcommand)]
            Exists(ExistsCommand),
            Close(CloseArgs),
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

    #[test]
    fn recipients_describe_themselves() {
        assert_eq!(
            Recipient::Groups {
                names: vec!["a".into(), "b".into()],
                excluded: vec!["c1".into()]
            }
            .describe(),
            "send groups a,b excluding c1"
        );
        assert_eq!(Recipient::All { excluded: vec![] }.describe(), "broadcast");
    }
}

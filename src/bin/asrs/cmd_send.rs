//! `asrs send`: one message to everyone, a user, users, a group, groups or a connection.
//! Also the quickstart's message and the recipients, which `server` and `demo` share.

use std::process::ExitCode;

use anyhow::{bail, Context as _};
use azure_signalr_rest::{HubClient, Message, SendOptions};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::connection::hub_client;
use crate::global::{GlobalArgs, RunnableCmd};

/// The client method the quickstart's clients listen on.
pub(crate) const SEND_MESSAGE_TARGET: &str = "SendMessage";
/// The text of a send when none is given.
pub(crate) const DEFAULT_TEXT: &str = "Hello from server";
/// The server name `asrs send` puts in a `SendMessage` when `--args` is not given.
pub(crate) const DEFAULT_SERVER_NAME: &str = "asrs";

/// The quickstart's message: `SendMessage(<server name>, <text>)`.
pub(crate) fn send_message(server: &str, text: &str) -> Message {
    Message::from_values(
        SEND_MESSAGE_TARGET,
        vec![Value::from(server), Value::from(text)],
    )
}

/// Who a send goes to. `describe` names it in output lines; `send` makes the one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recipient {
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
    pub(crate) fn describe(&self) -> String {
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

    pub(crate) async fn send(
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
pub(crate) struct SendArgs {
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

impl RunnableCmd for SendArgs {
    async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let (recipient, message) = match self.to {
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

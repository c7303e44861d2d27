//! `asrs server`: the quickstart's server mode. Reads one command per line from standard input,
//! makes the REST call and prints one line saying what happened. End of input (or `quit`)
//! exits 0; an unknown or malformed command is reported and the loop goes on.

use std::process::ExitCode;

use anyhow::Context as _;
use azure_signalr_rest::{CloseOptions, HubClient};
use clap::Args;
use rand::Rng as _;
use tokio::io::AsyncBufReadExt as _;

use crate::cmd_exists::ExistsCommand;
use crate::cmd_group::GroupCommand;
use crate::cmd_send::{send_message, Recipient, DEFAULT_TEXT};
use crate::connection::hub_client;
use crate::global::{GlobalArgs, RunnableCmd};

#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    // Help given as an attribute: rustdoc would read `<host>` as an HTML tag.
    #[arg(
        long,
        help = "Server name sent as the first argument of each `SendMessage` [default: <host>_<random>]"
    )]
    name: Option<String>,
}

/// The commands, one per line of `help`.
const HELP: &[&str] = &[
    "send user <id> [text]                send to every connection of a user",
    "send users <id,id,...> [text]        send to each user of the list",
    "send group <name> [text]             send to every connection in a group",
    "send groups <name,name,...> [text]   send to each group of the list",
    "send connection <id> [text]          send to one connection",
    "broadcast [text]                     send to every connection of the hub",
    "add user <user> <group> [ttl]        add a user to a group (ttl in seconds)",
    "remove user <user> <group>           remove a user from a group",
    "add connection <id> <group>          add a connection to a group",
    "remove connection <id> <group>       remove a connection from a group",
    "exists user|group|connection <name>  check existence (true/false)",
    "close connection <id> [reason]       close a client connection",
    "health                               check the service's health",
    "help                                 this list",
    "quit                                 exit (so does end of input)",
];

/// One parsed input line.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    Empty,
    Send {
        to: Recipient,
        text: String,
    },
    /// Group membership, as `asrs group` does it.
    Group(GroupCommand),
    /// A check, as `asrs exists` does it.
    Exists(ExistsCommand),
    Close {
        id: String,
        reason: Option<String>,
    },
    Health,
    Help,
    Quit,
}

/// Splits a line into words while keeping the untouched remainder (the free text).
struct Words<'a> {
    rest: &'a str,
}

impl<'a> Words<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest.trim_start();
        if s.is_empty() {
            self.rest = s;
            return None;
        }
        let end = s.find(char::is_whitespace).unwrap_or(s.len());
        let (word, rest) = s.split_at(end);
        self.rest = rest;
        Some(word)
    }

    fn rest(&self) -> &'a str {
        self.rest.trim()
    }

    fn text(&self) -> String {
        match self.rest() {
            "" => DEFAULT_TEXT.to_owned(),
            text => text.to_owned(),
        }
    }
}

fn list(words: &str) -> Vec<String> {
    words
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses a line; `Err` is the line to print (usage or unknown command).
fn parse(line: &str) -> Result<Line, String> {
    let mut words = Words { rest: line };
    let Some(command) = words.next() else {
        return Ok(Line::Empty);
    };
    let usage = |u: &str| format!("usage: {u}");
    let command = command.to_ascii_lowercase();
    if command == "broadcast" {
        // No kind word: everything after `broadcast` is the text.
        return Ok(Line::Send {
            to: Recipient::All { excluded: vec![] },
            text: words.text(),
        });
    }
    let kind = words.next().map(str::to_ascii_lowercase);
    match (command.as_str(), kind.as_deref()) {
        ("send", Some(kind @ ("user" | "users" | "group" | "groups" | "connection"))) => {
            let Some(name) = words.next() else {
                return Err(usage(&format!(
                    "send {kind} <{}> [text]",
                    match kind {
                        "user" | "connection" => "id",
                        "users" => "id,id,...",
                        "group" => "name",
                        _ => "name,name,...",
                    }
                )));
            };
            let to = match kind {
                "user" => Recipient::User(name.to_owned()),
                "users" => Recipient::Users(list(name)),
                "group" => Recipient::Group {
                    name: name.to_owned(),
                    excluded: vec![],
                },
                "groups" => Recipient::Groups {
                    names: list(name),
                    excluded: vec![],
                },
                _ => Recipient::Connection(name.to_owned()),
            };
            Ok(Line::Send {
                to,
                text: words.text(),
            })
        }
        ("send", _) => Err(usage(
            "send user|users|group|groups|connection <name> [text]",
        )),
        (verb @ ("add" | "remove"), Some("user")) => {
            let (Some(user), Some(group)) = (words.next(), words.next()) else {
                return Err(usage(if verb == "add" {
                    "add user <user> <group> [ttl]"
                } else {
                    "remove user <user> <group>"
                }));
            };
            let (user, group) = (user.to_owned(), group.to_owned());
            if verb == "remove" {
                return match words.rest() {
                    "" => Ok(Line::Group(GroupCommand::RemoveUser { group, user })),
                    _ => Err(usage("remove user <user> <group>")),
                };
            }
            let ttl = match words.rest() {
                "" => None,
                ttl => Some(
                    ttl.parse::<u64>()
                        .map_err(|_| usage("add user <user> <group> [ttl in whole seconds]"))?,
                ),
            };
            Ok(Line::Group(GroupCommand::AddUser { group, user, ttl }))
        }
        (verb @ ("add" | "remove"), Some("connection")) => {
            let (Some(id), Some(group), "") = (words.next(), words.next(), words.rest()) else {
                return Err(usage(&format!("{verb} connection <id> <group>")));
            };
            let (id, group) = (id.to_owned(), group.to_owned());
            Ok(Line::Group(if verb == "add" {
                GroupCommand::AddConnection { group, id }
            } else {
                GroupCommand::RemoveConnection { group, id }
            }))
        }
        ("add" | "remove", _) => Err(usage(&format!("{command} user|connection ..."))),
        ("exists", Some(kind @ ("user" | "group" | "connection"))) => {
            // Group names may hold spaces: the name is the rest of the line.
            let name = words.rest();
            if name.is_empty() {
                return Err(usage(&format!("exists {kind} <name>")));
            }
            let name = name.to_owned();
            Ok(Line::Exists(match kind {
                "user" => ExistsCommand::User { id: name },
                "group" => ExistsCommand::Group { name },
                _ => ExistsCommand::Connection { id: name },
            }))
        }
        ("exists", _) => Err(usage("exists user|group|connection <name>")),
        ("close", Some("connection")) => {
            let Some(id) = words.next() else {
                return Err(usage("close connection <id> [reason]"));
            };
            let reason = Some(words.rest()).filter(|r| !r.is_empty());
            Ok(Line::Close {
                id: id.to_owned(),
                reason: reason.map(str::to_owned),
            })
        }
        ("close", _) => Err(usage("close connection <id> [reason]")),
        ("health", None) => Ok(Line::Health),
        ("help" | "?", _) => Ok(Line::Help),
        ("quit" | "exit", None) => Ok(Line::Quit),
        _ => Err(format!(
            "unknown command `{}`; type `help` for the list",
            line.trim()
        )),
    }
}

/// Runs one command; the line to print.
async fn execute(hub: &HubClient, server_name: &str, line: Line) -> String {
    fn outcome(what: String, result: Result<(), azure_signalr_rest::Error>) -> String {
        match result {
            Ok(()) => format!("{what}: accepted"),
            Err(e) => format!("{what}: error: {e}"),
        }
    }
    match line {
        Line::Send { to, text } => {
            let result = to.send(hub, &send_message(server_name, &text)).await;
            outcome(to.describe(), result)
        }
        Line::Group(command) => outcome(command.describe(), command.apply(hub).await),
        Line::Exists(command) => {
            let what = command.describe();
            match command.check(hub).await {
                Ok(exists) => format!("exists {what}: {exists}"),
                Err(e) => format!("exists {what}: error: {e}"),
            }
        }
        Line::Close { id, reason } => outcome(
            format!("close connection {id}"),
            hub.close_connection(&id, reason.map(|r| CloseOptions::default().reason(r)))
                .await,
        ),
        Line::Health => match hub.service().health().await {
            Ok(()) => "health: healthy".to_owned(),
            Err(e) => format!("health: error: {e}"),
        },
        Line::Help => HELP.join("\n"),
        Line::Empty | Line::Quit => String::new(),
    }
}

/// `<host>_<8 hex digits>`, like the quickstart's server names.
fn default_server_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "asrs".to_owned());
    format!("{host}_{:08x}", rand::rng().random::<u32>())
}

impl RunnableCmd for ServerArgs {
    async fn run(self, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
        let hub = hub_client(global)?;
        let name = self.name.unwrap_or_else(default_server_name);
        println!(
        "Server {name} started on hub {}; type `help` for the commands, `quit` or end of input to exit.",
        hub.name()
    );
        let mut input = tokio::io::BufReader::new(tokio::io::stdin());
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            let read = input
                .read_until(b'\n', &mut buffer)
                .await
                .context("reading standard input")?;
            if read == 0 {
                break;
            }
            // A stray invalid byte should not end the session.
            let line = String::from_utf8_lossy(&buffer);
            match parse(&line) {
                Ok(Line::Empty) => {}
                Ok(Line::Quit) => break,
                Ok(line) => println!("{}", execute(&hub, &name, line).await),
                Err(message) => println!("{message}"),
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(to: Recipient, text: &str) -> Result<Line, String> {
        Ok(Line::Send {
            to,
            text: text.to_owned(),
        })
    }

    #[test]
    fn the_quickstarts_five_commands() {
        assert_eq!(
            parse("send user alice"),
            send(Recipient::User("alice".into()), DEFAULT_TEXT)
        );
        assert_eq!(
            parse("send users a,b, c"),
            send(Recipient::Users(vec!["a".into(), "b".into()]), "c")
        );
        assert_eq!(
            parse("  send group g1  good  morning "),
            send(
                Recipient::Group {
                    name: "g1".into(),
                    excluded: vec![]
                },
                "good  morning"
            )
        );
        assert_eq!(
            parse("send groups g1,g2"),
            send(
                Recipient::Groups {
                    names: vec!["g1".into(), "g2".into()],
                    excluded: vec![]
                },
                DEFAULT_TEXT
            )
        );
        assert_eq!(
            parse("broadcast hi all\n"),
            send(Recipient::All { excluded: vec![] }, "hi all")
        );
        assert_eq!(
            parse("broadcast"),
            send(Recipient::All { excluded: vec![] }, DEFAULT_TEXT)
        );
    }

    #[test]
    fn membership_existence_and_close() {
        assert_eq!(
            parse("add user u g 30"),
            Ok(Line::Group(GroupCommand::AddUser {
                user: "u".into(),
                group: "g".into(),
                ttl: Some(30)
            }))
        );
        assert_eq!(
            parse("add user u g"),
            Ok(Line::Group(GroupCommand::AddUser {
                user: "u".into(),
                group: "g".into(),
                ttl: None
            }))
        );
        assert!(parse("add user u g soon")
            .unwrap_err()
            .starts_with("usage:"));
        assert!(parse("add user u").unwrap_err().starts_with("usage:"));
        assert_eq!(
            parse("remove connection c1 g"),
            Ok(Line::Group(GroupCommand::RemoveConnection {
                id: "c1".into(),
                group: "g".into()
            }))
        );
        assert_eq!(
            parse("exists group my group"),
            Ok(Line::Exists(ExistsCommand::Group {
                name: "my group".into()
            }))
        );
        assert_eq!(
            parse("close connection c1 bye now"),
            Ok(Line::Close {
                id: "c1".into(),
                reason: Some("bye now".into())
            })
        );
        assert_eq!(parse("HEALTH"), Ok(Line::Health));
        assert_eq!(parse("quit"), Ok(Line::Quit));
        assert_eq!(parse("   "), Ok(Line::Empty));
    }

    #[test]
    fn unknown_and_incomplete_commands_say_so() {
        assert!(parse("dance")
            .unwrap_err()
            .starts_with("unknown command `dance`"));
        assert!(parse("send").unwrap_err().starts_with("usage:"));
        assert!(parse("send user")
            .unwrap_err()
            .starts_with("usage: send user <id>"));
        assert!(parse("exists planet x").unwrap_err().starts_with("usage:"));
    }
}

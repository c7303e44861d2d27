//! Every adapter answers `Unsupported` exactly for what its version's `support()` says it
//! lacks, and the documented table says what `support()` says.

use std::time::Duration;

use super::*;
use crate::{ErrorKind, Message, RetryPolicy, ServiceClient};

/// A sample call of every REST operation.
fn sample<'a>(op: Operation, message: &'a Message, names: &'a [&'a str]) -> Call<'a> {
    let (user, group, connection) = ("alice", "room", "conn");
    match op {
        Operation::Health => Call::Health,
        Operation::Broadcast => Call::Broadcast {
            message,
            excluded: None,
        },
        Operation::SendToUser => Call::SendToUser { user, message },
        Operation::SendToUsers => Call::SendToUsers {
            users: names,
            message,
        },
        Operation::SendToGroup => Call::SendToGroup {
            group,
            message,
            excluded: None,
        },
        Operation::SendToGroups => Call::SendToGroups {
            groups: names,
            message,
            excluded: None,
        },
        Operation::SendToConnection => Call::SendToConnection {
            connection,
            message,
        },
        Operation::AddConnectionToGroup => Call::AddConnectionToGroup { connection, group },
        Operation::RemoveConnectionFromGroup => {
            Call::RemoveConnectionFromGroup { connection, group }
        }
        Operation::RemoveConnectionFromAllGroups => {
            Call::RemoveConnectionFromAllGroups { connection }
        }
        Operation::AddUserToGroup => Call::AddUserToGroup {
            user,
            group,
            ttl: None,
        },
        Operation::RemoveUserFromGroup => Call::RemoveUserFromGroup { user, group },
        Operation::RemoveUserFromAllGroups => Call::RemoveUserFromAllGroups { user },
        Operation::UserExists => Call::UserExists { user },
        Operation::GroupExists => Call::GroupExists { group },
        Operation::ConnectionExists => Call::ConnectionExists { connection },
        Operation::UserInGroup => Call::UserInGroup { user, group },
        Operation::CloseConnection => Call::CloseConnection {
            connection,
            reason: None,
        },
        Operation::CloseAllConnections => Call::CloseAllConnections {
            excluded: None,
            reason: None,
        },
        Operation::CloseGroupConnections => Call::CloseGroupConnections {
            group,
            excluded: None,
            reason: None,
        },
        Operation::CloseUserConnections => Call::CloseUserConnections {
            user,
            excluded: None,
            reason: None,
        },
        other => panic!("{other} is not a REST operation"),
    }
}

/// For every operation and version: the adapter refuses (without traffic) exactly what
/// `support()` calls unsupported, and makes a request for everything else. The requests go to
/// a port nobody listens on, so "made a request" shows as a transport error.
#[tokio::test]
async fn adapters_refuse_exactly_what_support_says() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let message = Message::new("target", ("argument",)).unwrap();
    let names = ["alice", "bob"];
    let mut checked = 0;
    for version in ApiVersion::ALL {
        let client = ServiceClient::builder()
            .connection_string(
                &format!("Endpoint=http://127.0.0.1;Port={closed};AccessKey=k")
                    .parse()
                    .unwrap(),
            )
            .api_version(version)
            .retry_policy(RetryPolicy::none())
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let shared = &client.shared;
        let to = Target {
            hub: "chat",
            application: None,
        };
        for op in Operation::REST {
            let call = sample(op, &message, &names);
            assert_eq!(call.operation(), op);
            let err = shared
                .raw
                .send(&shared.executor, &to, &call)
                .await
                .unwrap_err();
            let refused = matches!(err.kind(), ErrorKind::Unsupported { .. });
            let unsupported = version.support(op) == Support::Unsupported;
            assert_eq!(refused, unsupported, "{op} on {version}: {err}");
            if !refused {
                assert!(
                    matches!(err.kind(), ErrorKind::Transport { .. }),
                    "{op} on {version}: {err}"
                );
            }
            assert_eq!(err.operation(), op, "{op} on {version}");
            checked += 1;
        }
    }
    assert_eq!(checked, ApiVersion::ALL.len() * Operation::REST.len());
}

/// The table in the rustdoc has a column for every version, and says what `support` says.
#[test]
fn documented_table_matches() {
    let table = include_str!("../versions.md");
    let cells = |line: &str| -> Vec<String> {
        let line = line.trim().trim_start_matches('|').trim_end_matches('|');
        line.split('|').map(|c| c.trim().to_owned()).collect()
    };
    let header = cells(
        table
            .lines()
            .find(|l| l.starts_with("| operation"))
            .expect("the table's header"),
    );
    let columns: Vec<(ApiVersion, usize)> = ApiVersion::ALL
        .into_iter()
        .map(|v| {
            let column = header.iter().position(|h| h == v.as_str());
            (v, column.unwrap_or_else(|| panic!("no column for {v}")))
        })
        .collect();
    let mut rows = 0;
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let cells = cells(line);
        let name = cells[0].trim_matches('`');
        let op = Operation::REST
            .into_iter()
            .find(|op| op.as_str() == name)
            .unwrap_or_else(|| panic!("unknown operation {name}"));
        for (version, column) in &columns {
            let expected = match cells[*column].as_str() {
                "native" => Support::Native,
                "composed" => Support::Composed,
                "—" => Support::Unsupported,
                other => panic!("unknown cell {other}"),
            };
            assert_eq!(version.support(op), expected, "{name} on {version}");
        }
        rows += 1;
    }
    assert_eq!(rows, Operation::REST.len());
}

#[test]
fn parse_versions() {
    assert_eq!(
        "1.0-preview".parse::<ApiVersion>().unwrap(),
        ApiVersion::V1Preview
    );
    assert_eq!(
        " 2022-06-01 ".parse::<ApiVersion>().unwrap(),
        ApiVersion::V2022_06_01
    );
    let err = "2.0".parse::<ApiVersion>().unwrap_err();
    assert!(err.to_string().contains("`2.0`"), "{err}");
}

#[test]
fn preview_has_only_the_five_sends() {
    let native: Vec<_> = Operation::REST
        .into_iter()
        .filter(|op| ApiVersion::V1Preview.support(*op) != Support::Unsupported)
        .collect();
    assert_eq!(
        native,
        [
            Operation::Broadcast,
            Operation::SendToUser,
            Operation::SendToUsers,
            Operation::SendToGroup,
            Operation::SendToGroups
        ]
    );
}

#[test]
fn latest_supports_everything() {
    for op in Operation::REST {
        assert_ne!(
            ApiVersion::V2022_06_01.support(op),
            Support::Unsupported,
            "{op}"
        );
    }
    let err = ApiVersion::V1
        .require(Operation::CloseUserConnections)
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::Unsupported {
            version: ApiVersion::V1
        }
    ));
}

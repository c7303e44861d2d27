//! API versions, the operations of the client, and which version offers which operation.

use std::fmt;
use std::str::FromStr;

use super::error::Error;

/// A version of the data-plane REST API.
///
#[doc = include_str!("versions.md")]
///
/// ```
/// use azure_signalr_rest::ApiVersion;
/// let v: ApiVersion = "1.0".parse().unwrap();
/// assert_eq!(v, ApiVersion::V1);
/// assert_eq!(ApiVersion::default(), ApiVersion::V2022_06_01);
/// assert_eq!(ApiVersion::V1Preview.to_string(), "1.0-preview");
/// assert!("2020-01-01".parse::<ApiVersion>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ApiVersion {
    /// `1.0-preview`: five send operations under `/api/v1-preview`, served on port 5002.
    V1Preview,
    /// `1.0`: sends, membership, existence checks and closing single connections under `/api/v1`.
    V1,
    /// `2022-06-01`: everything 1.0 has plus bulk close and `application`; the default.
    #[default]
    V2022_06_01,
}

impl ApiVersion {
    /// Every version, oldest first.
    ///
    /// ```
    /// assert_eq!(azure_signalr_rest::ApiVersion::ALL.len(), 3);
    /// ```
    pub const ALL: [ApiVersion; 3] = [
        ApiVersion::V1Preview,
        ApiVersion::V1,
        ApiVersion::V2022_06_01,
    ];

    /// The version as the service spells it.
    ///
    /// ```
    /// assert_eq!(azure_signalr_rest::ApiVersion::V2022_06_01.as_str(), "2022-06-01");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1Preview => "1.0-preview",
            ApiVersion::V1 => "1.0",
            ApiVersion::V2022_06_01 => "2022-06-01",
        }
    }

    /// How this version offers `operation`.
    ///
    /// ```
    /// use azure_signalr_rest::{ApiVersion, Operation, Support};
    /// assert_eq!(ApiVersion::V1.support(Operation::SendToUsers), Support::Composed);
    /// assert_eq!(ApiVersion::V1.support(Operation::CloseAllConnections), Support::Unsupported);
    /// assert_eq!(ApiVersion::V2022_06_01.support(Operation::CloseAllConnections), Support::Native);
    /// ```
    pub fn support(self, operation: Operation) -> Support {
        use ApiVersion::*;
        use Operation::*;
        use Support::*;
        match (self, operation) {
            (_, ParseConnectionString | BuildClient | BuildMessage | MintToken | Negotiate) => {
                Local
            }
            (V1Preview, Broadcast | SendToUser | SendToUsers | SendToGroup | SendToGroups) => {
                Native
            }
            (V1Preview, _) => Unsupported,
            (V1 | V2022_06_01, SendToUsers | SendToGroups) => Composed,
            (V1, RemoveConnectionFromAllGroups) => Unsupported,
            (V1, CloseAllConnections | CloseGroupConnections | CloseUserConnections) => Unsupported,
            (V1 | V2022_06_01, _) => Native,
        }
    }

    /// `Ok` when this version can do `operation`, else [`Error::Unsupported`].
    pub(crate) fn require(self, operation: Operation) -> Result<(), Error> {
        match self.support(operation) {
            Support::Unsupported => Err(self.unsupported(operation)),
            _ => Ok(()),
        }
    }

    /// [`Error::Unsupported`] for `operation` on this version.
    pub(crate) fn unsupported(self, operation: Operation) -> Error {
        Error::Unsupported {
            operation,
            version: self,
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApiVersion {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ApiVersion::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::invalid(
                    Operation::BuildClient,
                    "API version",
                    format!("`{s}` is not one of 1.0-preview, 1.0, 2022-06-01"),
                )
            })
    }
}

/// How an [`ApiVersion`] offers an [`Operation`].
///
/// ```
/// use azure_signalr_rest::{ApiVersion, Operation, Support};
/// assert_eq!(ApiVersion::V1Preview.support(Operation::SendToConnection), Support::Unsupported);
/// assert_eq!(ApiVersion::V1.support(Operation::Negotiate), Support::Local);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// One REST call of that version.
    Native,
    /// An exact equivalent made of several calls of that version (e.g. sending to several users
    /// as one concurrent send per user).
    Composed,
    /// Done locally, no REST call (parsing, token minting, negotiate).
    Local,
    /// Not available: the client answers [`Error::Unsupported`] without any network traffic.
    Unsupported,
}

/// Everything the client layer does, named once; used in errors, tracing spans and the
/// version-support table.
///
/// ```
/// use azure_signalr_rest::Operation;
/// assert_eq!(Operation::SendToUser.to_string(), "send_to_user");
/// assert!(Operation::Broadcast.is_send());
/// assert!(!Operation::UserExists.is_send());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Parsing a connection string.
    ParseConnectionString,
    /// Building a [`ServiceClient`](crate::ServiceClient).
    BuildClient,
    /// Building a [`Message`](crate::Message).
    BuildMessage,
    /// Minting a token with [`TokenMinter`](crate::TokenMinter).
    MintToken,
    /// Building a negotiate response for a client.
    Negotiate,
    /// Checking the service's health.
    Health,
    /// Sending to every connection of a hub.
    Broadcast,
    /// Sending to every connection of a user.
    SendToUser,
    /// Sending to several users.
    SendToUsers,
    /// Sending to every connection in a group.
    SendToGroup,
    /// Sending to several groups.
    SendToGroups,
    /// Sending to one connection.
    SendToConnection,
    /// Adding a connection to a group.
    AddConnectionToGroup,
    /// Removing a connection from a group.
    RemoveConnectionFromGroup,
    /// Removing a connection from every group.
    RemoveConnectionFromAllGroups,
    /// Adding a user to a group.
    AddUserToGroup,
    /// Removing a user from a group.
    RemoveUserFromGroup,
    /// Removing a user from every group.
    RemoveUserFromAllGroups,
    /// Whether a user has a connection.
    UserExists,
    /// Whether a group has a connection.
    GroupExists,
    /// Whether a connection exists.
    ConnectionExists,
    /// Whether a user is in a group.
    UserInGroup,
    /// Closing one connection.
    CloseConnection,
    /// Closing every connection of a hub.
    CloseAllConnections,
    /// Closing every connection in a group.
    CloseGroupConnections,
    /// Closing every connection of a user.
    CloseUserConnections,
}

impl Operation {
    /// Every REST operation of the client (the local ones excluded), in documentation order.
    ///
    /// ```
    /// use azure_signalr_rest::{ApiVersion, Operation, Support};
    /// let on_v1 = Operation::REST.iter().filter(|op| ApiVersion::V1.support(**op) != Support::Unsupported).count();
    /// assert_eq!(on_v1, 17);
    /// ```
    pub const REST: [Operation; 21] = [
        Operation::Health,
        Operation::Broadcast,
        Operation::SendToUser,
        Operation::SendToUsers,
        Operation::SendToGroup,
        Operation::SendToGroups,
        Operation::SendToConnection,
        Operation::AddConnectionToGroup,
        Operation::RemoveConnectionFromGroup,
        Operation::RemoveConnectionFromAllGroups,
        Operation::AddUserToGroup,
        Operation::RemoveUserFromGroup,
        Operation::RemoveUserFromAllGroups,
        Operation::UserExists,
        Operation::GroupExists,
        Operation::ConnectionExists,
        Operation::UserInGroup,
        Operation::CloseConnection,
        Operation::CloseAllConnections,
        Operation::CloseGroupConnections,
        Operation::CloseUserConnections,
    ];

    /// The operation's name, as the method that performs it is called.
    ///
    /// ```
    /// assert_eq!(azure_signalr_rest::Operation::CloseUserConnections.as_str(), "close_user_connections");
    /// ```
    pub fn as_str(self) -> &'static str {
        use Operation::*;
        match self {
            ParseConnectionString => "parse_connection_string",
            BuildClient => "build_client",
            BuildMessage => "build_message",
            MintToken => "mint_token",
            Negotiate => "negotiate",
            Health => "health",
            Broadcast => "broadcast",
            SendToUser => "send_to_user",
            SendToUsers => "send_to_users",
            SendToGroup => "send_to_group",
            SendToGroups => "send_to_groups",
            SendToConnection => "send_to_connection",
            AddConnectionToGroup => "add_connection_to_group",
            RemoveConnectionFromGroup => "remove_connection_from_group",
            RemoveConnectionFromAllGroups => "remove_connection_from_all_groups",
            AddUserToGroup => "add_user_to_group",
            RemoveUserFromGroup => "remove_user_from_group",
            RemoveUserFromAllGroups => "remove_user_from_all_groups",
            UserExists => "user_exists",
            GroupExists => "group_exists",
            ConnectionExists => "connection_exists",
            UserInGroup => "user_in_group",
            CloseConnection => "close_connection",
            CloseAllConnections => "close_all_connections",
            CloseGroupConnections => "close_group_connections",
            CloseUserConnections => "close_user_connections",
        }
    }

    /// Whether the operation delivers a message: repeating it after the service may have
    /// received it could deliver the message twice, so the retry policy treats it with care.
    ///
    /// ```
    /// use azure_signalr_rest::Operation;
    /// assert!(Operation::SendToGroups.is_send());
    /// assert!(!Operation::CloseConnection.is_send());
    /// ```
    pub fn is_send(self) -> bool {
        use Operation::*;
        matches!(
            self,
            Broadcast | SendToUser | SendToUsers | SendToGroup | SendToGroups | SendToConnection
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table in the rustdoc says what `support` says.
    #[test]
    fn documented_table_matches() {
        let table = include_str!("versions.md");
        let mut rows = 0;
        for line in table.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`');
            let op = Operation::REST
                .into_iter()
                .find(|op| op.as_str() == name)
                .unwrap_or_else(|| panic!("unknown operation {name}"));
            for (version, cell) in ApiVersion::ALL.into_iter().zip(&cells[2..5]) {
                let expected = match *cell {
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
        assert_eq!(
            ApiVersion::V2022_06_01.require(Operation::Health).ok(),
            Some(())
        );
        assert!(matches!(
            ApiVersion::V1.require(Operation::CloseUserConnections),
            Err(Error::Unsupported {
                version: ApiVersion::V1,
                ..
            })
        ));
    }
}

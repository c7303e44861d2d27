//! API versions, the operations of the client, and which version offers which operation.

use std::fmt;

/// Declares [`ApiVersion`]: one line per version (variant and the service's spelling). Adding a
/// version is this line, its spec in `specs/` and its adapter in `src/client/api/` (see the
/// README's layout section).
macro_rules! api_versions {
    ($($(#[$attr:meta])* $variant:ident = $spelling:literal,)+) => {
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
        #[non_exhaustive]
        pub enum ApiVersion {
            $($(#[$attr])* $variant,)+
        }

        impl ApiVersion {
            /// Every version, oldest first.
            pub const ALL: [ApiVersion; [$(stringify!($variant)),+].len()] =
                [$(ApiVersion::$variant),+];

            /// The version as the service spells it.
            ///
            /// ```
            /// assert_eq!(azure_signalr_rest::ApiVersion::V2022_06_01.as_str(), "2022-06-01");
            /// ```
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ApiVersion::$variant => $spelling,)+
                }
            }
        }
    };
}

api_versions! {
    /// `1.0-preview`: five send operations under `/api/v1-preview`, served on port 5002.
    V1Preview = "1.0-preview",
    /// `1.0`: sends, membership, existence checks and closing single connections under `/api/v1`.
    V1 = "1.0",
    /// `2022-06-01`: everything 1.0 has plus bulk close and `application`; the default.
    #[default]
    V2022_06_01 = "2022-06-01",
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
#[non_exhaustive]
pub enum Support {
    /// One REST call of that version.
    Native,
    /// An exact equivalent made of several calls of that version (e.g. sending to several users
    /// as one concurrent send per user).
    Composed,
    /// Done locally, no REST call (parsing, token minting, negotiate).
    Local,
    /// Not available: the client answers [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) without any network traffic.
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

//! One typed call: an operation with its arguments, by name, as the adapters of every API
//! version take it.

use super::super::error::{Error, ErrorKind};
use super::super::message::Message;
use super::super::version::{ApiVersion, Operation};

/// Where a call goes: the hub as it appears in the path, and the application.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target<'a> {
    /// Lower-cased; prefixed `<application>_` on versions without an `application` parameter.
    pub(crate) hub: &'a str,
    /// Lower-cased application name, for versions that take it as a parameter.
    pub(crate) application: Option<&'a str>,
}

/// Every REST operation with its arguments (already validated). Named fields, so an adapter
/// cannot take a user for a group.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Call<'a> {
    Health,
    Broadcast {
        message: &'a Message,
        excluded: Option<&'a Vec<String>>,
    },
    SendToUser {
        user: &'a str,
        message: &'a Message,
    },
    /// A native list send takes the names joined by commas (none contains one).
    SendToUsers {
        users: &'a [&'a str],
        message: &'a Message,
    },
    SendToGroup {
        group: &'a str,
        message: &'a Message,
        excluded: Option<&'a Vec<String>>,
    },
    SendToGroups {
        groups: &'a [&'a str],
        message: &'a Message,
        excluded: Option<&'a Vec<String>>,
    },
    SendToConnection {
        connection: &'a str,
        message: &'a Message,
    },
    AddConnectionToGroup {
        connection: &'a str,
        group: &'a str,
    },
    RemoveConnectionFromGroup {
        connection: &'a str,
        group: &'a str,
    },
    RemoveConnectionFromAllGroups {
        connection: &'a str,
    },
    AddUserToGroup {
        user: &'a str,
        group: &'a str,
        /// Whole seconds.
        ttl: Option<i32>,
    },
    RemoveUserFromGroup {
        user: &'a str,
        group: &'a str,
    },
    RemoveUserFromAllGroups {
        user: &'a str,
    },
    UserExists {
        user: &'a str,
    },
    GroupExists {
        group: &'a str,
    },
    ConnectionExists {
        connection: &'a str,
    },
    UserInGroup {
        user: &'a str,
        group: &'a str,
    },
    CloseConnection {
        connection: &'a str,
        reason: Option<&'a str>,
    },
    CloseAllConnections {
        excluded: Option<&'a Vec<String>>,
        reason: Option<&'a str>,
    },
    CloseGroupConnections {
        group: &'a str,
        excluded: Option<&'a Vec<String>>,
        reason: Option<&'a str>,
    },
    CloseUserConnections {
        user: &'a str,
        excluded: Option<&'a Vec<String>>,
        reason: Option<&'a str>,
    },
}

impl Call<'_> {
    /// The operation this call performs.
    pub(crate) fn operation(&self) -> Operation {
        match self {
            Call::Health => Operation::Health,
            Call::Broadcast { .. } => Operation::Broadcast,
            Call::SendToUser { .. } => Operation::SendToUser,
            Call::SendToUsers { .. } => Operation::SendToUsers,
            Call::SendToGroup { .. } => Operation::SendToGroup,
            Call::SendToGroups { .. } => Operation::SendToGroups,
            Call::SendToConnection { .. } => Operation::SendToConnection,
            Call::AddConnectionToGroup { .. } => Operation::AddConnectionToGroup,
            Call::RemoveConnectionFromGroup { .. } => Operation::RemoveConnectionFromGroup,
            Call::RemoveConnectionFromAllGroups { .. } => Operation::RemoveConnectionFromAllGroups,
            Call::AddUserToGroup { .. } => Operation::AddUserToGroup,
            Call::RemoveUserFromGroup { .. } => Operation::RemoveUserFromGroup,
            Call::RemoveUserFromAllGroups { .. } => Operation::RemoveUserFromAllGroups,
            Call::UserExists { .. } => Operation::UserExists,
            Call::GroupExists { .. } => Operation::GroupExists,
            Call::ConnectionExists { .. } => Operation::ConnectionExists,
            Call::UserInGroup { .. } => Operation::UserInGroup,
            Call::CloseConnection { .. } => Operation::CloseConnection,
            Call::CloseAllConnections { .. } => Operation::CloseAllConnections,
            Call::CloseGroupConnections { .. } => Operation::CloseGroupConnections,
            Call::CloseUserConnections { .. } => Operation::CloseUserConnections,
        }
    }

    /// The message this call sends, if it is a send.
    pub(crate) fn message(&self) -> Option<&Message> {
        match self {
            Call::Broadcast { message, .. }
            | Call::SendToUser { message, .. }
            | Call::SendToUsers { message, .. }
            | Call::SendToGroup { message, .. }
            | Call::SendToGroups { message, .. }
            | Call::SendToConnection { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The excluded connection ids, when the call has any.
    pub(crate) fn excluded(&self) -> Option<&Vec<String>> {
        match self {
            Call::Broadcast { excluded, .. }
            | Call::SendToGroup { excluded, .. }
            | Call::SendToGroups { excluded, .. }
            | Call::CloseAllConnections { excluded, .. }
            | Call::CloseGroupConnections { excluded, .. }
            | Call::CloseUserConnections { excluded, .. } => *excluded,
            _ => None,
        }
    }
}

/// The answer of an adapter to an operation its version lacks.
pub(crate) fn unsupported(operation: Operation, version: ApiVersion) -> Error {
    Error::new(operation, ErrorKind::Unsupported { version })
}

/// The `x-ms-error-code`s of a 404 that means "not there" (as the .NET server SDK reads them):
/// an existence check's "no", or an operation on a connection that does not exist.
pub(crate) mod not_existed {
    pub(crate) const CONNECTION: &str = "Warning.Connection.NotExisted";
    /// What 2022-06-01 answers a send to, or a group change of, a missing connection.
    pub(crate) const CONNECTION_ERROR: &str = "Error.Connection.NotExisted";
    pub(crate) const USER: &str = "Warning.User.NotExisted";
    pub(crate) const GROUP: &str = "Warning.Group.NotExisted";
    pub(crate) const USER_IN_GROUP: &str = "Info.User.NotInGroup";
}

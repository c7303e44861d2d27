//! What API version 1.0 does: sends, membership, existence checks and closing one connection
//! under `/api/v1`; the list sends are composed; no bulk close, no
//! `remove_connection_from_all_groups`. The hub carries the application prefix. It publishes
//! no error codes, so a bare 404 of an existence check means "does not exist".

use reqwest::StatusCode;

use super::super::error::Error;
use super::super::executor::Executor;
use super::super::message::Message;
use super::super::version::{ApiVersion, Operation, Support};
use super::call::{unsupported, Call, Target};
use crate::raw::v1::{types, Client};

/// This adapter's version.
pub(super) const VERSION: ApiVersion = ApiVersion::V1;

/// A 404 without an error code means "does not exist".
pub(super) const BARE_404_MEANS_ABSENT: bool = true;

/// 1.0 sends JSON bodies only.
pub(super) const TAKES_PAYLOADS: bool = false;

/// How 1.0 offers `operation`.
pub(super) fn support(operation: Operation) -> Support {
    use Operation::*;
    match operation {
        SendToUsers | SendToGroups => Support::Composed,
        RemoveConnectionFromAllGroups
        | CloseAllConnections
        | CloseGroupConnections
        | CloseUserConnections => Support::Unsupported,
        _ => Support::Native,
    }
}

fn body(message: &Message) -> types::PayloadMessage {
    types::PayloadMessage {
        target: Some(message.target.clone()),
        arguments: message.arguments.clone(),
    }
}

/// Makes `call` with the raw 1.0 client.
pub(super) async fn send(
    c: &Client,
    exec: &Executor,
    to: &Target<'_>,
    call: &Call<'_>,
) -> Result<StatusCode, Error> {
    let op = call.operation();
    let hub = to.hub;
    match *call {
        Call::Health => exec.run(op, "", || c.health_v1_get_health_status()).await,
        Call::Broadcast { message, excluded } => {
            let body = body(message);
            exec.run(op, hub, || c.hub_proxy_v1_broadcast(hub, excluded, &body))
                .await
        }
        Call::SendToUser { user, message } => {
            let body = body(message);
            exec.run(op, hub, || c.hub_proxy_v1_send_to_user(hub, user, &body))
                .await
        }
        Call::SendToGroup {
            group,
            message,
            excluded,
        } => {
            let body = body(message);
            exec.run(op, hub, || {
                c.hub_proxy_v1_send_to_group(hub, group, excluded, &body)
            })
            .await
        }
        Call::SendToConnection {
            connection,
            message,
        } => {
            let body = body(message);
            exec.run(op, hub, || {
                c.hub_proxy_v1_send_to_connection(hub, connection, &body)
            })
            .await
        }
        Call::AddConnectionToGroup { connection, group } => {
            exec.run(op, hub, || {
                c.hub_proxy_v1_add_connection_to_group(hub, group, connection)
            })
            .await
        }
        Call::RemoveConnectionFromGroup { connection, group } => {
            exec.run(op, hub, || {
                c.hub_proxy_v1_remove_connection_from_group(hub, group, connection)
            })
            .await
        }
        Call::AddUserToGroup { user, group, ttl } => {
            exec.run(op, hub, || {
                c.hub_proxy_v1_add_user_to_group(hub, group, user, ttl)
            })
            .await
        }
        Call::RemoveUserFromGroup { user, group } => {
            exec.run(op, hub, || {
                c.hub_proxy_v1_remove_user_from_group(hub, group, user)
            })
            .await
        }
        Call::RemoveUserFromAllGroups { user } => {
            exec.run(op, hub, || {
                c.hub_proxy_v1_remove_user_from_all_groups(hub, user)
            })
            .await
        }
        Call::UserExists { user } => {
            exec.run(op, hub, || c.hub_proxy_v1_check_user_existence(hub, user))
                .await
        }
        Call::GroupExists { group } => {
            exec.run(op, hub, || c.hub_proxy_v1_check_group_existence(hub, group))
                .await
        }
        Call::ConnectionExists { connection } => {
            exec.run(op, hub, || {
                c.hub_proxy_v1_check_connection_existence(hub, connection)
            })
            .await
        }
        Call::UserInGroup { user, group } => {
            exec.run(op, hub, || {
                c.hub_proxy_v1_check_user_in_group_existence(hub, group, user)
            })
            .await
        }
        Call::CloseConnection { connection, reason } => {
            exec.run(op, hub, || {
                c.hub_proxy_v1_close_connection(hub, connection, reason)
            })
            .await
        }
        Call::SendToUsers { .. }
        | Call::SendToGroups { .. }
        | Call::RemoveConnectionFromAllGroups { .. }
        | Call::CloseAllConnections { .. }
        | Call::CloseGroupConnections { .. }
        | Call::CloseUserConnections { .. } => Err(unsupported(op, VERSION)),
    }
}

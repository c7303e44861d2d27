//! What API version 2022-06-01 does: every operation natively except the list sends, which are
//! composed; `application` is a query parameter; pre-serialized messages go out as the binary
//! payload map. Its 404s name what is missing in `x-ms-error-code`.

use progenitor_client::encode_path;
use reqwest::StatusCode;

use super::super::error::Error;
use super::super::executor::Executor;
use super::super::message::Message;
use super::super::version::{ApiVersion, Operation, Support};
use super::call::{unsupported, Call, Target};
use crate::raw::v2022_06_01::{types, Client};

/// This adapter's version.
pub(super) const VERSION: ApiVersion = ApiVersion::V2022_06_01;

/// The `api-version` query value.
const API: &str = "2022-06-01";

/// A 404 means "does not exist" only with the check's own error code.
pub(super) const BARE_404_MEANS_ABSENT: bool = false;

/// Whether 2022-06-01 takes a pre-serialized message (the binary payload map).
pub(super) const TAKES_PAYLOADS: bool = true;

/// How 2022-06-01 offers `operation`.
pub(super) fn support(operation: Operation) -> Support {
    match operation {
        Operation::SendToUsers | Operation::SendToGroups => Support::Composed,
        _ => Support::Native,
    }
}

fn body(message: &Message) -> types::PayloadMessage {
    types::PayloadMessage {
        target: message.target.clone(),
        arguments: message.arguments.clone(),
    }
}

/// Makes `call` with the raw 2022-06-01 client.
pub(super) async fn send(
    c: &Client,
    exec: &Executor,
    to: &Target<'_>,
    call: &Call<'_>,
) -> Result<StatusCode, Error> {
    let op = call.operation();
    let (hub, app) = (to.hub, to.application);
    if let Some(message) = call.message().filter(|m| m.is_pre_serialized()) {
        return send_payloads(exec, to, call, message).await;
    }
    match *call {
        Call::Health => exec.run(op, "", || c.health_api_get_health_status(API)).await,
        Call::Broadcast { message, excluded } => {
            let body = body(message);
            exec.run(op, hub, || {
                c.signal_r_service_send_to_all(hub, API, app, excluded, &body)
            })
            .await
        }
        Call::SendToUser { user, message } => {
            let body = body(message);
            exec.run(op, hub, || {
                c.signal_r_service_send_to_user(hub, user, API, app, &body)
            })
            .await
        }
        Call::SendToGroup {
            group,
            message,
            excluded,
        } => {
            let body = body(message);
            exec.run(op, hub, || {
                c.signal_r_service_send_to_group(hub, group, API, app, excluded, &body)
            })
            .await
        }
        Call::SendToConnection {
            connection,
            message,
        } => {
            let body = body(message);
            exec.run(op, hub, || {
                c.signal_r_service_send_to_connection(hub, connection, API, app, &body)
            })
            .await
        }
        Call::AddConnectionToGroup { connection, group } => {
            exec.run(op, hub, || {
                c.signal_r_service_add_connection_to_group(hub, group, connection, API, app)
            })
            .await
        }
        Call::RemoveConnectionFromGroup { connection, group } => {
            exec.run(op, hub, || {
                c.signal_r_service_remove_connection_from_group(hub, group, connection, API, app)
            })
            .await
        }
        Call::RemoveConnectionFromAllGroups { connection } => {
            exec.run(op, hub, || {
                c.signal_r_service_remove_connection_from_all_groups(hub, connection, API, app)
            })
            .await
        }
        Call::AddUserToGroup { user, group, ttl } => {
            exec.run(op, hub, || {
                c.signal_r_service_add_user_to_group(hub, user, group, API, app, ttl)
            })
            .await
        }
        Call::RemoveUserFromGroup { user, group } => {
            exec.run(op, hub, || {
                c.signal_r_service_remove_user_from_group(hub, user, group, API, app)
            })
            .await
        }
        Call::RemoveUserFromAllGroups { user } => {
            exec.run(op, hub, || {
                c.signal_r_service_remove_user_from_all_groups(hub, user, API, app)
            })
            .await
        }
        Call::UserExists { user } => {
            exec.run(op, hub, || {
                c.signal_r_service_check_user_existence(hub, user, API, app)
            })
            .await
        }
        Call::GroupExists { group } => {
            exec.run(op, hub, || {
                c.signal_r_service_check_group_existence(hub, group, API, app)
            })
            .await
        }
        Call::ConnectionExists { connection } => {
            exec.run(op, hub, || {
                c.signal_r_service_check_connection_existence(hub, connection, API, app)
            })
            .await
        }
        Call::UserInGroup { user, group } => {
            exec.run(op, hub, || {
                c.signal_r_service_check_user_existence_in_group(hub, user, group, API, app)
            })
            .await
        }
        Call::CloseConnection { connection, reason } => {
            exec.run(op, hub, || {
                c.signal_r_service_close_connection(hub, connection, API, app, reason)
            })
            .await
        }
        Call::CloseAllConnections { excluded, reason } => {
            exec.run(op, hub, || {
                c.signal_r_service_close_all_connections(hub, API, app, excluded, reason)
            })
            .await
        }
        Call::CloseGroupConnections {
            group,
            excluded,
            reason,
        } => {
            exec.run(op, hub, || {
                c.signal_r_service_close_group_connections(hub, group, API, app, excluded, reason)
            })
            .await
        }
        Call::CloseUserConnections {
            user,
            excluded,
            reason,
        } => {
            exec.run(op, hub, || {
                c.signal_r_service_close_user_connections(hub, user, API, app, excluded, reason)
            })
            .await
        }
        Call::SendToUsers { .. } | Call::SendToGroups { .. } => Err(unsupported(op, VERSION)),
    }
}

/// A send whose body is the binary payload map, to the path the JSON send would use.
async fn send_payloads(
    exec: &Executor,
    to: &Target<'_>,
    call: &Call<'_>,
    message: &Message,
) -> Result<StatusCode, Error> {
    let op = call.operation();
    let hub = encode_path(to.hub);
    let path = match *call {
        Call::Broadcast { .. } => format!("/api/hubs/{hub}/:send"),
        Call::SendToUser { user, .. } => {
            format!("/api/hubs/{hub}/users/{}/:send", encode_path(user))
        }
        Call::SendToGroup { group, .. } => {
            format!("/api/hubs/{hub}/groups/{}/:send", encode_path(group))
        }
        Call::SendToConnection { connection, .. } => {
            format!("/api/hubs/{hub}/connections/{}/:send", encode_path(connection))
        }
        _ => {
            return Err(unsupported(op, VERSION))
        }
    };
    let body = message
        .payloads_body()
        .ok_or_else(|| Error::invalid(op, "message payloads", "are too large to send"))?;
    let excluded = call.excluded();
    exec.run(op, to.hub, || {
        exec.send_payloads(&path, API, to.application, excluded, &body)
    })
    .await
}

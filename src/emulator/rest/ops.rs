//! One function per REST operation, each given a checked [`Call`].

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};

use super::body;
use super::call::{non_empty, Call};
use super::errors::{code, ApiError};
use crate::emulator::state::Inner;
use crate::{ApiVersion, Operation};

type Answer = Result<StatusCode, ApiError>;

/// Does `operation` (the table's routes name REST operations only).
pub(super) async fn perform(
    operation: Operation,
    call: Call<'_>,
    headers: &HeaderMap,
    body: Body,
) -> Answer {
    use Operation::*;
    match operation {
        Broadcast | SendToUser | SendToUsers | SendToGroup | SendToGroups | SendToConnection => {
            send(call, headers, body).await
        }
        ConnectionExists => connection_exists(&call),
        UserExists => user_exists(&call),
        GroupExists => group_exists(&call),
        UserInGroup => user_in_group(&call),
        AddConnectionToGroup => add_connection_to_group(&call),
        RemoveConnectionFromGroup => remove_connection_from_group(&call),
        RemoveConnectionFromAllGroups => remove_connection_from_all_groups(&call),
        AddUserToGroup => add_user_to_group(&call),
        RemoveUserFromGroup => remove_user_from_group(&call),
        RemoveUserFromAllGroups => remove_user_from_all_groups(&call),
        CloseConnection => close_connection(&call),
        CloseAllConnections => close_all_connections(&call),
        CloseGroupConnections => close_group_connections(&call),
        CloseUserConnections => close_user_connections(&call),
        _ => Err(ApiError::not_found("NotFound", "no such API path")),
    }
}

/// `200` while serving, `503` once shutting down (no token needed).
pub(super) fn health(inner: &Inner) -> StatusCode {
    if inner.is_shutting_down() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

/// The sends: the recipients are checked before the body is read.
async fn send(call: Call<'_>, headers: &HeaderMap, body: Body) -> Answer {
    use Operation::*;
    let params = &call.params;
    match call.operation {
        SendToUser | SendToUsers => {
            if params.users.is_empty() {
                return Err(ApiError::bad_request("user id must not be empty"));
            }
            for user in &params.users {
                non_empty("user id", user)?;
            }
        }
        SendToGroup | SendToGroups => {
            if params.groups.is_empty() {
                return Err(ApiError::bad_request("group name must not be empty"));
            }
            for group in &params.groups {
                crate::validate_group_name(call.operation, group)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
            }
        }
        SendToConnection => {
            call.connection()?;
        }
        _ => {}
    }
    let bytes = body::read_body(body, headers).await?;
    let message = if call.version == ApiVersion::V2022_06_01 && body::is_binary_body(headers) {
        body::parse_payloads(&bytes)?
    } else {
        let (target, arguments) = body::parse_message(&bytes)?;
        crate::emulator::state::Outgoing::new(target, arguments)
    };
    let (inner, hub, excluded) = (call.inner, &call.hub, &call.query.excluded);
    match call.operation {
        SendToUser | SendToUsers => inner.send_users(hub, message, &params.users),
        SendToGroup | SendToGroups => inner.send_groups(hub, message, &params.groups, excluded),
        SendToConnection => inner.send_connection(hub, message, call.connection()?),
        _ => inner.send_all(hub, message, excluded),
    }
    Ok(StatusCode::ACCEPTED)
}

/// `200` when `exists`, else a `404` with the code the .NET SDK reads as "no" (any other 404
/// is an error to it).
fn found(exists: bool, code: &'static str, message: String) -> Answer {
    if exists {
        Ok(StatusCode::OK)
    } else {
        Err(ApiError::not_found(code, message))
    }
}

fn connection_exists(call: &Call) -> Answer {
    let conn = call.params.connection.as_deref().unwrap_or("");
    found(
        call.inner.connection_exists(&call.hub, conn),
        code::CONNECTION_NOT_EXISTED,
        format!("connection '{conn}' does not exist"),
    )
}

fn user_exists(call: &Call) -> Answer {
    let user = call.params.users.first().map_or("", String::as_str);
    found(
        call.inner.user_exists(&call.hub, user),
        code::USER_NOT_EXISTED,
        format!("user '{user}' has no connection"),
    )
}

fn group_exists(call: &Call) -> Answer {
    let group = call.group()?;
    found(
        call.inner.group_exists(&call.hub, group),
        code::GROUP_NOT_EXISTED,
        format!("group '{group}' has no connection"),
    )
}

fn user_in_group(call: &Call) -> Answer {
    let group = call.group()?;
    let user = call.params.users.first().map_or("", String::as_str);
    found(
        call.inner.user_in_group(&call.hub, group, user),
        code::USER_NOT_IN_GROUP,
        format!("user '{user}' is not in group '{group}'"),
    )
}

fn connection_missing(conn: &str) -> ApiError {
    ApiError::not_found(
        code::CONNECTION_NOT_EXISTED_ERROR,
        format!("connection '{conn}' does not exist"),
    )
}

fn add_connection_to_group(call: &Call) -> Answer {
    let group = call.group()?;
    let conn = call.params.connection.as_deref().unwrap_or("");
    if call.inner.add_conn_to_group(&call.hub, group, conn) {
        Ok(StatusCode::OK)
    } else {
        Err(connection_missing(conn))
    }
}

fn remove_connection_from_group(call: &Call) -> Answer {
    let group = call.group()?;
    let conn = call.params.connection.as_deref().unwrap_or("");
    if call.inner.remove_conn_from_group(&call.hub, group, conn) {
        Ok(StatusCode::OK)
    } else if call.inner.connection_exists(&call.hub, conn) {
        Err(ApiError::not_found(
            "NotFound",
            format!("connection '{conn}' is not in group '{group}'"),
        ))
    } else {
        Err(connection_missing(conn))
    }
}

fn remove_connection_from_all_groups(call: &Call) -> Answer {
    let conn = call.params.connection.as_deref().unwrap_or("");
    call.inner.remove_conn_from_all_groups(&call.hub, conn);
    Ok(StatusCode::OK)
}

fn add_user_to_group(call: &Call) -> Answer {
    let group = call.group()?;
    let user = call.user()?;
    let ttl = match call.query.ttl.as_deref() {
        None | Some("") => None,
        Some(t) => Some(t.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!(
                "ttl must be a whole number of seconds, 0 or more (got '{t}')"
            ))
        })?),
    };
    call.inner.add_user_to_group(&call.hub, group, user, ttl);
    Ok(call.status(StatusCode::OK, StatusCode::ACCEPTED))
}

fn remove_user_from_group(call: &Call) -> Answer {
    let group = call.group()?;
    let user = call.params.users.first().map_or("", String::as_str);
    call.inner.remove_user_from_group(&call.hub, group, user);
    Ok(call.status(StatusCode::NO_CONTENT, StatusCode::ACCEPTED))
}

fn remove_user_from_all_groups(call: &Call) -> Answer {
    let user = call.params.users.first().map_or("", String::as_str);
    call.inner.remove_user_from_all_groups(&call.hub, user);
    Ok(call.status(StatusCode::NO_CONTENT, StatusCode::OK))
}

fn close_connection(call: &Call) -> Answer {
    let conn = call.params.connection.as_deref().unwrap_or("");
    call.inner.close_connection(&call.hub, conn, call.reason());
    Ok(call.status(StatusCode::OK, StatusCode::ACCEPTED))
}

fn close_all_connections(call: &Call) -> Answer {
    let reason = call.query.reason.clone();
    call.inner
        .close_all(&call.hub, reason, &call.query.excluded);
    Ok(StatusCode::NO_CONTENT)
}

fn close_group_connections(call: &Call) -> Answer {
    let group = call.group()?;
    let reason = call.query.reason.clone();
    call.inner
        .close_group(&call.hub, group, reason, &call.query.excluded);
    Ok(StatusCode::NO_CONTENT)
}

fn close_user_connections(call: &Call) -> Answer {
    let user = call.params.users.first().map_or("", String::as_str);
    let reason = call.query.reason.clone();
    call.inner
        .close_user(&call.hub, user, reason, &call.query.excluded);
    Ok(StatusCode::NO_CONTENT)
}

//! What API version 1.0-preview does: the five sends under `/api/v1-preview`, with list sends
//! native (names joined by commas) and no `excluded` parameter, so a send with exclusions is
//! unsupported rather than sent to the excluded too. The hub carries the application prefix.

use reqwest::StatusCode;

use super::super::error::Error;
use super::super::executor::Executor;
use super::super::message::Message;
use super::super::version::{ApiVersion, Operation, Support};
use super::call::{unsupported, Call, Target};
use crate::raw::v1_preview::{types, Client};

/// This adapter's version.
pub(super) const VERSION: ApiVersion = ApiVersion::V1Preview;

/// No existence checks on this version.
pub(super) const BARE_404_MEANS_ABSENT: bool = false;

/// 1.0-preview sends JSON bodies only.
pub(super) const TAKES_PAYLOADS: bool = false;

/// How 1.0-preview offers `operation`.
pub(super) fn support(operation: Operation) -> Support {
    use Operation::*;
    match operation {
        Broadcast | SendToUser | SendToUsers | SendToGroup | SendToGroups => Support::Native,
        _ => Support::Unsupported,
    }
}

fn body(message: &Message) -> types::Message {
    types::Message {
        target: Some(message.target.clone()),
        arguments: message.arguments.clone(),
    }
}

/// Makes `call` with the raw 1.0-preview client.
pub(super) async fn send(
    c: &Client,
    exec: &Executor,
    to: &Target<'_>,
    call: &Call<'_>,
) -> Result<StatusCode, Error> {
    let op = call.operation();
    let hub = to.hub;
    if call.excluded().is_some() {
        return Err(unsupported(op, VERSION));
    }
    match *call {
        Call::Broadcast { message, .. } => {
            let body = body(message);
            exec.run(op, hub, || c.hub_proxy_v1_preview_broadcast(hub, &body))
                .await
        }
        Call::SendToUser { user, message } => {
            let body = body(message);
            exec.run(op, hub, || {
                c.hub_proxy_v1_preview_send_to_user(hub, user, &body)
            })
            .await
        }
        Call::SendToUsers { users, message } => {
            let (list, body) = (users.join(","), body(message));
            exec.run(op, hub, || {
                c.hub_proxy_v1_preview_send_to_users(hub, &list, &body)
            })
            .await
        }
        Call::SendToGroup { group, message, .. } => {
            let body = body(message);
            exec.run(op, hub, || {
                c.hub_proxy_v1_preview_send_to_group(hub, group, &body)
            })
            .await
        }
        Call::SendToGroups { groups, message, .. } => {
            let (list, body) = (groups.join(","), body(message));
            exec.run(op, hub, || {
                c.hub_proxy_v1_preview_send_to_groups(hub, &list, &body)
            })
            .await
        }
        _ => Err(unsupported(op, VERSION)),
    }
}

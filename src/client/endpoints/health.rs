//! Whether an endpoint is online: one health check, and marking the result (logged when it
//! changes). The schedule of the checks is the fleet's (`fleet.rs`).

use std::time::{Duration, Instant};

use super::EndpointStatus;
use crate::client::api::{Call, Target};
use crate::client::error::{Error, ErrorKind};
use crate::client::shared::Shared;

/// The service's `health` operation on `member`, bounded by `bound` (and by the client's
/// timeout), then marks the endpoint online or offline.
pub(super) async fn check(member: &Shared, bound: Duration) -> Result<(), Error> {
    let to = Target {
        hub: "",
        application: None,
    };
    let started = Instant::now();
    let call = member.raw.send(&member.executor, &to, &Call::Health);
    let result = match tokio::time::timeout(bound, call).await {
        Ok(answer) => answer.map(drop),
        Err(_) => Err(Error::new(
            Call::Health.operation(),
            ErrorKind::Timeout {
                timeout: bound,
                attempts: 1,
                elapsed: started.elapsed(),
            },
        )),
    };
    match &result {
        Ok(()) => mark(&member.status, true, None),
        Err(e) => mark(&member.status, false, Some(e)),
    }
    result
}

/// After a real call failed on `status`'s endpoint: no answer at all (the connection failed
/// or timed out) means it is offline now, without waiting for the next check.
pub(super) fn note_failure(status: &EndpointStatus, error: &Error) {
    if matches!(
        error.kind(),
        ErrorKind::Transport { .. } | ErrorKind::Timeout { .. }
    ) {
        mark(status, false, Some(error));
    }
}

/// Sets the endpoint's flag; a change is logged (back online at `info`, gone at `warn`).
pub(super) fn mark(status: &EndpointStatus, online: bool, why: Option<&Error>) {
    let was = status.set_online(online);
    match (was, online) {
        (false, true) => tracing::info!(endpoint = status.name(), "endpoint back online"),
        (true, false) => match why {
            Some(e) => tracing::warn!(endpoint = status.name(), error = %e, "endpoint offline"),
            None => tracing::warn!(endpoint = status.name(), "endpoint offline"),
        },
        _ => {}
    }
}

//! What a call over several endpoints returns, from each endpoint's answer: the
//! [`PartialDelivery`] policy, existence answers, and the error that names every endpoint
//! that failed (never a key or token: only names and the endpoints' own errors).

use reqwest::StatusCode;

use super::PartialDelivery;
use crate::client::error::{EndpointError, Error, ErrorKind};
use crate::client::version::Operation;

/// One endpoint's answer: its name and what it said.
pub(super) type Answer = (String, Result<StatusCode, Error>);

/// The error for an endpoint that was skipped because it is offline (logged at `warn`).
pub(super) fn skipped(name: &str, operation: Operation) -> Error {
    tracing::warn!(endpoint = name, %operation, "endpoint offline: skipped");
    Error::new(operation, ErrorKind::Offline)
}

/// Whether `error` is the 404 that means "not there" (one of `codes`, or without a code
/// where the API version sends none).
pub(super) fn is_absent(error: &Error, codes: &[&str], bare_404_means_absent: bool) -> bool {
    match error.kind() {
        ErrorKind::NotFound {
            code: Some(code), ..
        } => codes.iter().any(|c| c.eq_ignore_ascii_case(code)),
        ErrorKind::NotFound { code: None, .. } => bare_404_means_absent && !codes.is_empty(),
        _ => false,
    }
}

/// A message or change sent to several endpoints: `Ok` when each succeeded (or when the
/// router chose none); with some failed, what `policy` says; with none succeeded, an error.
pub(super) fn settle(
    operation: Operation,
    policy: PartialDelivery,
    answers: Vec<Answer>,
) -> Result<StatusCode, Error> {
    let mut status = None;
    let mut succeeded = Vec::new();
    let mut failed = Vec::new();
    for (endpoint, result) in answers {
        match result {
            Ok(s) => {
                status.get_or_insert(s);
                succeeded.push(endpoint);
            }
            Err(error) => failed.push(EndpointError { endpoint, error }),
        }
    }
    if failed.is_empty() {
        return Ok(status.unwrap_or(StatusCode::ACCEPTED));
    }
    match status {
        Some(status) if policy == PartialDelivery::Succeed => {
            warn_partial(operation, &failed);
            Ok(status)
        }
        _ => Err(Error::new(
            operation,
            ErrorKind::Endpoints { failed, succeeded },
        )),
    }
}

/// An existence check asked of several endpoints: yes (`Ok`) when one says yes; no (the
/// first "not there" answer, which the caller reads as `false`) when every one says no; an
/// error naming them when some could not answer, unless `policy` is `Succeed` and another
/// did answer no.
pub(super) fn settle_exists(
    operation: Operation,
    policy: PartialDelivery,
    answers: Vec<Answer>,
    absent: impl Fn(&Error) -> bool,
) -> Result<StatusCode, Error> {
    let mut no = None;
    let mut said_no = Vec::new();
    let mut failed = Vec::new();
    for (endpoint, result) in answers {
        match result {
            Ok(status) => return Ok(status),
            Err(error) if absent(&error) => {
                no.get_or_insert(error);
                said_no.push(endpoint);
            }
            Err(error) => failed.push(EndpointError { endpoint, error }),
        }
    }
    match no {
        Some(no) if failed.is_empty() => Err(no),
        Some(no) if policy == PartialDelivery::Succeed => {
            warn_partial(operation, &failed);
            Err(no)
        }
        _ if failed.is_empty() => Err(Error::new(
            operation,
            ErrorKind::NotFound {
                status: StatusCode::NOT_FOUND,
                message: "the router chose no endpoint to ask".into(),
                code: None,
            },
        )),
        _ => Err(Error::new(
            operation,
            ErrorKind::Endpoints {
                failed,
                succeeded: said_no,
            },
        )),
    }
}

fn warn_partial(operation: Operation, failed: &[EndpointError]) {
    for f in failed {
        tracing::warn!(endpoint = %f.endpoint, %operation, error = %f.error.kind(),
            "partial delivery: failed on this endpoint");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_found(code: &str) -> Error {
        Error::new(
            Operation::UserExists,
            ErrorKind::NotFound {
                status: StatusCode::NOT_FOUND,
                message: String::new(),
                code: Some(code.into()),
            },
        )
    }

    fn offline() -> Error {
        Error::new(Operation::UserExists, ErrorKind::Offline)
    }

    const NO: &[&str] = &["Warning.User.NotExisted"];

    #[test]
    fn exists_is_yes_if_any_no_only_if_all() {
        let absent = |e: &Error| is_absent(e, NO, false);
        let yes = settle_exists(
            Operation::UserExists,
            PartialDelivery::Fail,
            vec![
                ("a".into(), Err(not_found(NO[0]))),
                ("b".into(), Err(offline())),
                ("c".into(), Ok(StatusCode::OK)),
            ],
            absent,
        );
        assert_eq!(yes.unwrap(), StatusCode::OK);
        let unsure = settle_exists(
            Operation::UserExists,
            PartialDelivery::Fail,
            vec![
                ("a".into(), Err(not_found(NO[0]))),
                ("b".into(), Err(offline())),
            ],
            absent,
        )
        .unwrap_err();
        assert!(
            matches!(unsure.kind(), ErrorKind::Endpoints { .. }),
            "{unsure}"
        );
        let no = settle_exists(
            Operation::UserExists,
            PartialDelivery::Succeed,
            vec![
                ("a".into(), Err(not_found(NO[0]))),
                ("b".into(), Err(offline())),
            ],
            absent,
        )
        .unwrap_err();
        assert!(absent(&no));
        // A 404 with another code is a failure, not a no.
        let other = settle_exists(
            Operation::UserExists,
            PartialDelivery::Fail,
            vec![("a".into(), Err(not_found("Error.Other")))],
            absent,
        )
        .unwrap_err();
        assert!(matches!(other.kind(), ErrorKind::Endpoints { .. }));
    }

    #[test]
    fn partial_delivery_policy() {
        let answers = || {
            vec![
                ("a".to_string(), Ok(StatusCode::ACCEPTED)),
                ("b".to_string(), Err(offline())),
            ]
        };
        let op = Operation::Broadcast;
        let err = settle(op, PartialDelivery::Fail, answers()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "broadcast: failed on b (offline (skipped)); succeeded on a"
        );
        assert!(settle(op, PartialDelivery::Succeed, answers()).is_ok());
        let none = vec![("b".to_string(), Err(offline()))];
        assert!(settle(op, PartialDelivery::Succeed, none).is_err());
    }
}

//! The one error type of the client layer.

use std::time::Duration;

use reqwest::StatusCode;

use super::version::{ApiVersion, Operation};

/// Everything that can go wrong in the client layer.
///
/// Every variant names the [`Operation`] that failed; the variants that come from a response also
/// carry its HTTP status ([`Error::status`]). No variant ever carries an access key or a token:
/// messages quote the service's error text, never request headers.
///
/// ```
/// use azure_signalr_rest::{ConnectionString, Error, Operation};
///
/// let err = "Endpoint=https://x.service.signalr.net".parse::<ConnectionString>().unwrap_err();
/// assert_eq!(err.operation(), Operation::ParseConnectionString);
/// assert!(matches!(err, Error::InvalidInput { .. }));
/// assert!(err.to_string().contains("AccessKey"));
/// assert_eq!(err.status(), None);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input broke a rule before anything was sent: `subject` names what was wrong (a
    /// connection-string key, a hub name, a group name, the message body...), `rule` says which
    /// rule it broke.
    #[error("{operation}: invalid {subject}: {rule}")]
    InvalidInput {
        /// The operation that was refused.
        operation: Operation,
        /// What was invalid, e.g. "connection string key `Port`" or "hub name".
        subject: String,
        /// The rule that was broken.
        rule: String,
    },
    /// The chosen API version has no such operation, nor an exact equivalent. Returned before any
    /// network traffic.
    #[error("{operation} is not supported by API version {version}")]
    Unsupported {
        /// The operation that was asked for.
        operation: Operation,
        /// The API version the client uses.
        version: ApiVersion,
    },
    /// The bearer token could not be obtained (no access key to sign with, or the caller's
    /// Entra ID credential failed, or no signing key could be had from the service).
    #[error("{operation}: no credential: {message}")]
    Credential {
        /// The operation that needed the token.
        operation: Operation,
        /// Why no token could be had.
        message: String,
    },
    /// 401: the service did not accept the token (wrong key, expired, wrong audience).
    #[error("{operation}: unauthorized ({status}){}", describe_with(code, message))]
    Unauthorized {
        /// The operation that failed.
        operation: Operation,
        /// Always 401.
        status: StatusCode,
        /// The service's message, if any.
        message: String,
        /// The service's error code (`x-ms-error-code`), if it sent one.
        code: Option<String>,
    },
    /// 403: the token is valid but does not allow this call.
    #[error("{operation}: forbidden ({status}){}", describe_with(code, message))]
    Forbidden {
        /// The operation that failed.
        operation: Operation,
        /// Always 403.
        status: StatusCode,
        /// The service's message, if any.
        message: String,
        /// The service's error code (`x-ms-error-code`), if it sent one.
        code: Option<String>,
    },
    /// 404 from an operation for which "not found" is an error (existence checks answer `false`
    /// instead).
    #[error("{operation}: not found ({status}){}", describe_with(code, message))]
    NotFound {
        /// The operation that failed.
        operation: Operation,
        /// Always 404.
        status: StatusCode,
        /// The service's message, if any.
        message: String,
        /// The service's error code (`x-ms-error-code`), if it sent one.
        code: Option<String>,
    },
    /// 400 or another 4xx rejection (e.g. 413 for an oversized body): the service's message says
    /// which rule the request broke.
    #[error(
        "{operation}: rejected by the service ({status}){}",
        describe_with(code, message)
    )]
    BadRequest {
        /// The operation that failed.
        operation: Operation,
        /// The status the service answered with.
        status: StatusCode,
        /// The service's message.
        message: String,
        /// The service's error code (`x-ms-error-code`), if it sent one.
        code: Option<String>,
    },
    /// 429: the service is throttling; `retry_after` is its `Retry-After` hint when it sent one.
    #[error("{operation}: throttled ({status}){}", retry_hint(retry_after))]
    Throttled {
        /// The operation that failed.
        operation: Operation,
        /// Always 429.
        status: StatusCode,
        /// How long the service asked the caller to wait.
        retry_after: Option<Duration>,
        /// The service's error code (`x-ms-error-code`), if it sent one.
        code: Option<String>,
    },
    /// 5xx: the service failed.
    #[error(
        "{operation}: service error ({status}){}",
        describe_with(code, message)
    )]
    Server {
        /// The operation that failed.
        operation: Operation,
        /// The 5xx status.
        status: StatusCode,
        /// The service's message, if any.
        message: String,
        /// The service's error code (`x-ms-error-code`), if it sent one.
        code: Option<String>,
    },
    /// A status the operation does not document (e.g. a 3xx, or 2xx with an unreadable body).
    #[error(
        "{operation}: unexpected response ({status}){}",
        describe_with(code, message)
    )]
    UnexpectedStatus {
        /// The operation that failed.
        operation: Operation,
        /// The status received.
        status: StatusCode,
        /// The response body, if any.
        message: String,
        /// The service's error code (`x-ms-error-code`), if it sent one.
        code: Option<String>,
    },
    /// No response within the call's timeout (retries included).
    #[error(
        "{operation}: no response within the {timeout:?} timeout ({attempts} attempt{} in {elapsed:.1?})",
        if *attempts == 1 { "" } else { "s" }
    )]
    Timeout {
        /// The operation that timed out.
        operation: Operation,
        /// The call's timeout, which bounds all its attempts together.
        timeout: Duration,
        /// Attempts made, the last one cut off by the timeout.
        attempts: u32,
        /// Time from the start of the call to giving up.
        elapsed: Duration,
    },
    /// The request could not be sent or the response could not be read.
    #[error("{operation}: transport error: {source}")]
    Transport {
        /// The operation that failed.
        operation: Operation,
        /// The underlying HTTP client error (it names the URL, never headers).
        #[source]
        source: reqwest::Error,
    },
}

/// `: [code] message`, leaving out what the service did not send.
fn describe_with(code: &Option<String>, message: &str) -> String {
    match (code.as_deref(), message.is_empty()) {
        (None, true) => String::new(),
        (None, false) => format!(": {message}"),
        (Some(code), true) => format!(": [{code}]"),
        (Some(code), false) => format!(": [{code}] {message}"),
    }
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(", retry after {}s", d.as_secs_f64()),
        None => String::new(),
    }
}

impl Error {
    /// The operation that failed.
    ///
    /// ```
    /// use azure_signalr_rest::{ApiVersion, Error, Operation};
    /// let err = Error::Unsupported { operation: Operation::CloseAllConnections, version: ApiVersion::V1 };
    /// assert_eq!(err.operation(), Operation::CloseAllConnections);
    /// ```
    pub fn operation(&self) -> Operation {
        match self {
            Error::InvalidInput { operation, .. }
            | Error::Unsupported { operation, .. }
            | Error::Credential { operation, .. }
            | Error::Unauthorized { operation, .. }
            | Error::Forbidden { operation, .. }
            | Error::NotFound { operation, .. }
            | Error::BadRequest { operation, .. }
            | Error::Throttled { operation, .. }
            | Error::Server { operation, .. }
            | Error::UnexpectedStatus { operation, .. }
            | Error::Timeout { operation, .. }
            | Error::Transport { operation, .. } => *operation,
        }
    }

    /// The HTTP status the service answered with, when the error comes from a response.
    ///
    /// ```
    /// use azure_signalr_rest::{Error, Operation};
    /// let err = Error::Throttled {
    ///     operation: Operation::Broadcast,
    ///     status: reqwest::StatusCode::TOO_MANY_REQUESTS,
    ///     retry_after: None,
    ///     code: None,
    /// };
    /// assert_eq!(err.status().map(|s| s.as_u16()), Some(429));
    /// ```
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Unauthorized { status, .. }
            | Error::Forbidden { status, .. }
            | Error::NotFound { status, .. }
            | Error::BadRequest { status, .. }
            | Error::Throttled { status, .. }
            | Error::Server { status, .. }
            | Error::UnexpectedStatus { status, .. } => Some(*status),
            Error::Transport { source, .. } => source.status(),
            Error::InvalidInput { .. }
            | Error::Unsupported { .. }
            | Error::Credential { .. }
            | Error::Timeout { .. } => None,
        }
    }

    /// The service's error code, from the `x-ms-error-code` header of its answer (2022-06-01
    /// sends one with its errors, e.g. `Warning.User.NotExisted`; 1.0 does not). Codes are the
    /// service's own names, never anything from the request.
    ///
    /// ```
    /// use azure_signalr_rest::{Error, Operation};
    /// let err = Error::NotFound {
    ///     operation: Operation::AddConnectionToGroup,
    ///     status: reqwest::StatusCode::NOT_FOUND,
    ///     message: "connection 'c1' does not exist".into(),
    ///     code: Some("Error.Connection.NotExisted".into()),
    /// };
    /// assert_eq!(err.error_code(), Some("Error.Connection.NotExisted"));
    /// assert!(err.to_string().contains("[Error.Connection.NotExisted]"));
    /// ```
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Error::Unauthorized { code, .. }
            | Error::Forbidden { code, .. }
            | Error::NotFound { code, .. }
            | Error::BadRequest { code, .. }
            | Error::Throttled { code, .. }
            | Error::Server { code, .. }
            | Error::UnexpectedStatus { code, .. } => code.as_deref(),
            Error::InvalidInput { .. }
            | Error::Unsupported { .. }
            | Error::Credential { .. }
            | Error::Timeout { .. }
            | Error::Transport { .. } => None,
        }
    }

    /// Builds the error for a response status, the service's message and error code.
    pub(crate) fn from_status(
        operation: Operation,
        status: StatusCode,
        message: String,
        code: Option<String>,
        retry_after: Option<Duration>,
    ) -> Error {
        match status.as_u16() {
            401 => Error::Unauthorized {
                operation,
                status,
                message,
                code,
            },
            403 => Error::Forbidden {
                operation,
                status,
                message,
                code,
            },
            404 => Error::NotFound {
                operation,
                status,
                message,
                code,
            },
            429 => Error::Throttled {
                operation,
                status,
                retry_after,
                code,
            },
            400..=499 => Error::BadRequest {
                operation,
                status,
                message,
                code,
            },
            500..=599 => Error::Server {
                operation,
                status,
                message,
                code,
            },
            _ => Error::UnexpectedStatus {
                operation,
                status,
                message,
                code,
            },
        }
    }

    pub(crate) fn invalid(
        operation: Operation,
        subject: impl Into<String>,
        rule: impl Into<String>,
    ) -> Error {
        Error::InvalidInput {
            operation,
            subject: subject.into(),
            rule: rule.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_maps_to_variants() {
        let op = Operation::SendToUser;
        let cases = [
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (404, "NotFound"),
            (400, "BadRequest"),
            (413, "BadRequest"),
            (429, "Throttled"),
            (500, "Server"),
            (503, "Server"),
            (302, "UnexpectedStatus"),
        ];
        for (code, variant) in cases {
            let status = StatusCode::from_u16(code).unwrap();
            let err = Error::from_status(op, status, "msg".into(), None, None);
            assert!(format!("{err:?}").starts_with(variant), "{code} -> {err:?}");
            assert_eq!(err.status(), Some(status));
            assert_eq!(err.operation(), op);
        }
    }

    #[test]
    fn display_names_operation_status_and_message() {
        let err = Error::from_status(
            Operation::SendToGroup,
            StatusCode::BAD_REQUEST,
            "group name is too long".into(),
            None,
            None,
        );
        assert_eq!(
            err.to_string(),
            "send_to_group: rejected by the service (400 Bad Request): group name is too long"
        );
        let err = Error::from_status(
            Operation::Broadcast,
            StatusCode::TOO_MANY_REQUESTS,
            String::new(),
            None,
            Some(Duration::from_secs(3)),
        );
        assert_eq!(
            err.to_string(),
            "broadcast: throttled (429 Too Many Requests), retry after 3s"
        );
        let err = Error::from_status(
            Operation::UserExists,
            StatusCode::NOT_FOUND,
            "no such path".into(),
            Some("NotFound".into()),
            None,
        );
        assert_eq!(
            err.to_string(),
            "user_exists: not found (404 Not Found): [NotFound] no such path"
        );
        assert_eq!(err.error_code(), Some("NotFound"));
    }
}

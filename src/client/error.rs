//! The one error type of the client layer: the operation that failed plus what went wrong.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;

use super::version::{ApiVersion, Operation};

/// Something went wrong in the client layer: which [`Operation`] ([`Error::operation`]) and
/// what ([`Error::kind`]), shaped like `std::io::Error` and `reqwest::Error`.
///
/// No error ever carries an access key or a token: messages quote the service's error text,
/// never request headers.
///
/// ```
/// use azure_signalr_rest::{ConnectionString, ErrorKind, Operation};
///
/// let err = "Endpoint=https://x.service.signalr.net".parse::<ConnectionString>().unwrap_err();
/// assert_eq!(err.operation(), Operation::ParseConnectionString);
/// assert!(matches!(err.kind(), ErrorKind::InvalidInput { .. }));
/// assert!(err.to_string().contains("AccessKey"));
/// assert_eq!(err.status(), None);
/// ```
#[derive(Debug)]
pub struct Error {
    operation: Operation,
    kind: ErrorKind,
}

/// What went wrong; the variants that come from a response carry its HTTP status
/// ([`Error::status`]) and the service's error code ([`Error::error_code`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input broke a rule before anything was sent: `subject` names what was wrong (a
    /// connection-string key, a hub name, a group name, the message body...), `rule` says which
    /// rule it broke.
    #[error("invalid {subject}: {rule}")]
    InvalidInput {
        /// What was invalid, e.g. "connection string key `Port`" or "hub name".
        subject: String,
        /// The rule that was broken.
        rule: String,
    },
    /// The chosen API version has no such operation, nor an exact equivalent. Returned before any
    /// network traffic.
    #[error("not supported by API version {version}")]
    Unsupported {
        /// The API version the client uses.
        version: ApiVersion,
    },
    /// The bearer token could not be obtained (no access key to sign with, or the caller's
    /// Entra ID credential failed, or no signing key could be had from the service).
    #[error("no credential: {message}")]
    Credential {
        /// Why no token could be had.
        message: String,
    },
    /// 401: the service did not accept the token (wrong key, expired, wrong audience).
    #[error("unauthorized ({status}){}", describe_with(code, message))]
    Unauthorized {
        /// Always 401.
        status: StatusCode,
        /// The service's message, if any.
        message: String,
        /// The service's error code (`x-ms-error-code`), if it sent one.
        code: Option<String>,
    },
    /// 403: the token is valid but does not allow this call.
    #[error("forbidden ({status}){}", describe_with(code, message))]
    Forbidden {
        /// Always 403.
        status: StatusCode,
        /// The service's message, if any.
        message: String,
        /// The service's error code (`x-ms-error-code`), if it sent one.
        code: Option<String>,
    },
    /// 404 from an operation for which "not found" is an error (existence checks answer `false`
    /// instead).
    #[error("not found ({status}){}", describe_with(code, message))]
    NotFound {
        /// Always 404.
        status: StatusCode,
        /// The service's message, if any.
        message: String,
        /// The service's error code (`x-ms-error-code`), if it sent one.
        code: Option<String>,
    },
    /// 400 or another 4xx rejection (e.g. 413 for an oversized body): the service's message says
    /// which rule the request broke.
    #[error("rejected by the service ({status}){}", describe_with(code, message))]
    BadRequest {
        /// The status the service answered with.
        status: StatusCode,
        /// The service's message.
        message: String,
        /// The service's error code (`x-ms-error-code`), if it sent one.
        code: Option<String>,
    },
    /// 429: the service is throttling; `retry_after` is its `Retry-After` hint when it sent one.
    #[error("throttled ({status}){}", retry_hint(retry_after))]
    Throttled {
        /// Always 429.
        status: StatusCode,
        /// How long the service asked the caller to wait.
        retry_after: Option<Duration>,
        /// The service's error code (`x-ms-error-code`), if it sent one.
        code: Option<String>,
    },
    /// 5xx: the service failed.
    #[error("service error ({status}){}", describe_with(code, message))]
    Server {
        /// The 5xx status.
        status: StatusCode,
        /// The service's message, if any.
        message: String,
        /// The service's error code (`x-ms-error-code`), if it sent one.
        code: Option<String>,
    },
    /// A status the operation does not document (e.g. a 3xx, or 2xx with an unreadable body).
    #[error("unexpected response ({status}){}", describe_with(code, message))]
    UnexpectedStatus {
        /// The status received.
        status: StatusCode,
        /// The response body, if any.
        message: String,
        /// The service's error code (`x-ms-error-code`), if it sent one.
        code: Option<String>,
    },
    /// No response within the call's timeout (retries included).
    #[error(
        "no response within the {timeout:?} timeout ({attempts} attempt{} in {elapsed:.1?})",
        if *attempts == 1 { "" } else { "s" }
    )]
    Timeout {
        /// The call's timeout, which bounds all its attempts together.
        timeout: Duration,
        /// Attempts made, the last one cut off by the timeout.
        attempts: u32,
        /// Time from the start of the call to giving up.
        elapsed: Duration,
    },
    /// A call over several endpoints that did not succeed on all of them: each endpoint that
    /// failed (or was offline and skipped) with its error, and those that succeeded. Whether a
    /// partial success is an error at all is the client's
    /// [`PartialDelivery`](crate::PartialDelivery) policy.
    #[error("{}", describe_endpoints(failed, succeeded))]
    Endpoints {
        /// Each endpoint that failed, with why.
        failed: Vec<EndpointError>,
        /// The names of the endpoints on which the call succeeded.
        succeeded: Vec<String>,
    },
    /// The endpoint was offline at the last health check, so the call skipped it.
    #[error("offline (skipped)")]
    Offline,
    /// The request could not be sent or the response could not be read.
    #[error("transport error: {source}")]
    Transport {
        /// The underlying HTTP client error (it names the URL, never headers).
        #[source]
        source: reqwest::Error,
    },
}

/// One endpoint's failure in [`ErrorKind::Endpoints`]; the error names no key or token.
#[derive(Debug)]
#[non_exhaustive]
pub struct EndpointError {
    /// The endpoint's name.
    pub endpoint: String,
    /// What went wrong there.
    pub error: Error,
}

/// `failed on east (offline (skipped)); succeeded on west`.
fn describe_endpoints(failed: &[EndpointError], succeeded: &[String]) -> String {
    let failures: Vec<String> = failed
        .iter()
        .map(|f| format!("{} ({})", f.endpoint, f.error.kind))
        .collect();
    let mut text = format!("failed on {}", failures.join(", "));
    if !succeeded.is_empty() {
        text.push_str(&format!("; succeeded on {}", succeeded.join(", ")));
    }
    text
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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.operation, self.kind)
    }
}

impl std::error::Error for Error {
    // The kind is displayed with the error, so the chain goes on with the kind's own source.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

impl Error {
    /// An error of `kind` for `operation`.
    ///
    /// ```
    /// use azure_signalr_rest::{ApiVersion, Error, ErrorKind, Operation};
    /// let err = Error::new(Operation::CloseAllConnections, ErrorKind::Unsupported { version: ApiVersion::V1 });
    /// assert_eq!(err.to_string(), "close_all_connections: not supported by API version 1.0");
    /// ```
    pub fn new(operation: Operation, kind: ErrorKind) -> Error {
        Error { operation, kind }
    }

    /// The operation that failed.
    ///
    /// ```
    /// use azure_signalr_rest::{ApiVersion, Error, ErrorKind, Operation};
    /// let err = Error::new(Operation::CloseAllConnections, ErrorKind::Unsupported { version: ApiVersion::V1 });
    /// assert_eq!(err.operation(), Operation::CloseAllConnections);
    /// ```
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The same error, labelled with another operation (e.g. the composed operation a single
    /// call was part of).
    ///
    /// ```
    /// use azure_signalr_rest::{ApiVersion, Error, ErrorKind, Operation};
    /// let err = Error::new(Operation::SendToUser, ErrorKind::Unsupported { version: ApiVersion::V1 });
    /// assert_eq!(err.with_operation(Operation::SendToUsers).operation(), Operation::SendToUsers);
    /// ```
    pub fn with_operation(mut self, operation: Operation) -> Error {
        self.operation = operation;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// What went wrong, taken out of the error.
    pub fn into_kind(self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status the service answered with, when the error comes from a response.
    ///
    /// ```
    /// use azure_signalr_rest::{Error, ErrorKind, Operation};
    /// let err = Error::new(Operation::Broadcast, ErrorKind::Throttled {
    ///     status: reqwest::StatusCode::TOO_MANY_REQUESTS,
    ///     retry_after: None,
    ///     code: None,
    /// });
    /// assert_eq!(err.status().map(|s| s.as_u16()), Some(429));
    /// ```
    pub fn status(&self) -> Option<StatusCode> {
        use ErrorKind::*;
        match &self.kind {
            Unauthorized { status, .. }
            | Forbidden { status, .. }
            | NotFound { status, .. }
            | BadRequest { status, .. }
            | Throttled { status, .. }
            | Server { status, .. }
            | UnexpectedStatus { status, .. } => Some(*status),
            Transport { source } => source.status(),
            InvalidInput { .. }
            | Unsupported { .. }
            | Credential { .. }
            | Timeout { .. }
            | Endpoints { .. }
            | Offline => None,
        }
    }

    /// The service's error code, from the `x-ms-error-code` header of its answer (2022-06-01
    /// sends one with its errors, e.g. `Warning.User.NotExisted`; 1.0 does not). Codes are the
    /// service's own names, never anything from the request.
    ///
    /// ```
    /// use azure_signalr_rest::{Error, ErrorKind, Operation};
    /// let err = Error::new(Operation::AddConnectionToGroup, ErrorKind::NotFound {
    ///     status: reqwest::StatusCode::NOT_FOUND,
    ///     message: "connection 'c1' does not exist".into(),
    ///     code: Some("Error.Connection.NotExisted".into()),
    /// });
    /// assert_eq!(err.error_code(), Some("Error.Connection.NotExisted"));
    /// assert!(err.to_string().contains("[Error.Connection.NotExisted]"));
    /// ```
    pub fn error_code(&self) -> Option<&str> {
        use ErrorKind::*;
        match &self.kind {
            Unauthorized { code, .. }
            | Forbidden { code, .. }
            | NotFound { code, .. }
            | BadRequest { code, .. }
            | Throttled { code, .. }
            | Server { code, .. }
            | UnexpectedStatus { code, .. } => code.as_deref(),
            InvalidInput { .. }
            | Unsupported { .. }
            | Credential { .. }
            | Timeout { .. }
            | Endpoints { .. }
            | Offline
            | Transport { .. } => None,
        }
    }

    /// The service's `Retry-After` hint of a 429.
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.kind {
            ErrorKind::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the call ran out of time ([`ErrorKind::Timeout`]).
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, ErrorKind::Timeout { .. })
    }

    /// Builds the error for a response status, the service's message and error code.
    pub(crate) fn from_status(
        operation: Operation,
        status: StatusCode,
        message: String,
        code: Option<String>,
        retry_after: Option<Duration>,
    ) -> Error {
        use ErrorKind::*;
        let kind = match status.as_u16() {
            401 => Unauthorized {
                status,
                message,
                code,
            },
            403 => Forbidden {
                status,
                message,
                code,
            },
            404 => NotFound {
                status,
                message,
                code,
            },
            429 => Throttled {
                status,
                retry_after,
                code,
            },
            400..=499 => BadRequest {
                status,
                message,
                code,
            },
            500..=599 => Server {
                status,
                message,
                code,
            },
            _ => UnexpectedStatus {
                status,
                message,
                code,
            },
        };
        Error::new(operation, kind)
    }

    pub(crate) fn invalid(
        operation: Operation,
        subject: impl Into<String>,
        rule: impl Into<String>,
    ) -> Error {
        Error::new(
            operation,
            ErrorKind::InvalidInput {
                subject: subject.into(),
                rule: rule.into(),
            },
        )
    }

    pub(crate) fn credential(operation: Operation, message: impl Into<String>) -> Error {
        Error::new(
            operation,
            ErrorKind::Credential {
                message: message.into(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_maps_to_kinds() {
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
            assert!(
                format!("{:?}", err.kind()).starts_with(variant),
                "{code} -> {err:?}"
            );
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
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
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
        let relabelled = err.with_operation(Operation::SendToUsers);
        assert!(relabelled
            .to_string()
            .starts_with("send_to_users: not found"));
    }
}

//! How every REST call runs: through a raw client's method (chosen by the version's adapter),
//! with a per-request token, a timeout, retries, a tracing span and one error mapping.

use std::future::Future;
use std::time::Duration;

use progenitor_client::{Error as RawError, ResponseValue};
use reqwest::StatusCode;
use tracing::{field, Instrument};

use super::auth::Auth;
use super::error::{Error, ErrorKind};
use super::message::PAYLOADS_CONTENT_TYPE;
use super::retry::{Failure, RetryPolicy};
use super::version::{ApiVersion, Operation};
use crate::raw;

/// Longest service message quoted in an error.
const MAX_MESSAGE_CHARS: usize = 1024;

/// Runs REST calls: timeout, retries, a tracing span and one error mapping around each raw
/// call, whatever its version.
pub(crate) struct Executor {
    pub(crate) version: ApiVersion,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Duration,
    /// For the one request the raw clients cannot make (a binary send body).
    base_url: String,
    http: reqwest::Client,
    auth: Auth,
}

impl Executor {
    pub(crate) fn new(
        version: ApiVersion,
        base_url: &str,
        http: reqwest::Client,
        auth: Auth,
        retry: RetryPolicy,
        timeout: Duration,
    ) -> Executor {
        Executor {
            version,
            retry,
            timeout,
            base_url: base_url.to_owned(),
            http,
            auth,
        }
    }

    /// The HTTP client every request goes through.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The hook the raw clients run on every request: authorization and the SDK's headers.
    pub(crate) fn request_hook(&self) -> raw::RequestHook {
        raw::RequestHook::new(self.auth.clone())
    }

    /// One `:send` whose body is the binary payload map: built by hand because the generated
    /// clients only send JSON bodies, and otherwise made like theirs (same URL and query, same
    /// authorization hook, same answers), so [`Executor::run`] gives it the same timeout,
    /// retries and error mapping. `path` starts with `/api/hubs/` and has its segments
    /// percent-encoded.
    pub(crate) async fn send_payloads(
        &self,
        path: &str,
        api_version: &str,
        application: Option<&str>,
        excluded: Option<&Vec<String>>,
        body: &[u8],
    ) -> Result<ResponseValue<()>, RawError<()>> {
        let mut query: Vec<(&str, &str)> = vec![("api-version", api_version)];
        query.extend(application.map(|a| ("application", a)));
        query.extend(
            excluded
                .into_iter()
                .flatten()
                .map(|id| ("excluded", id.as_str())),
        );
        let mut request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .query(&query)
            .header(reqwest::header::CONTENT_TYPE, PAYLOADS_CONTENT_TYPE)
            .body(body.to_vec())
            .build()?;
        raw::PrepareRequest::prepare(&self.auth, &mut request)
            .await
            .map_err(RawError::Custom)?;
        let response = self.http.execute(request).await?;
        match response.status() {
            StatusCode::ACCEPTED => Ok(ResponseValue::empty(response)),
            _ => Err(RawError::UnexpectedResponse(response)),
        }
    }

    /// Runs `call` (one raw-client call) with timeout and retries; the status of the successful
    /// response, or the error of the last attempt.
    pub(crate) async fn run<F, Fut>(
        &self,
        operation: Operation,
        hub: &str,
        call: F,
    ) -> Result<StatusCode, Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<ResponseValue<()>, RawError<()>>>,
    {
        let span = tracing::info_span!(
            "signalr_rest",
            operation = %operation,
            hub = hub,
            version = %self.version,
            attempt = field::Empty,
            status = field::Empty,
        );
        async {
            // The timeout bounds the whole call: every attempt and every wait between them.
            let started = tokio::time::Instant::now();
            let deadline = started + self.timeout;
            let mut attempt = 1;
            loop {
                tracing::Span::current().record("attempt", attempt);
                let (error, failure) = match tokio::time::timeout_at(deadline, call()).await {
                    Ok(Ok(response)) => {
                        let status = response.status();
                        tracing::Span::current().record("status", status.as_u16());
                        tracing::debug!("accepted");
                        return Ok(status);
                    }
                    Ok(Err(raw_error)) => match classify(operation, raw_error).await {
                        Outcome::Success(status) => {
                            tracing::Span::current().record("status", status.as_u16());
                            tracing::debug!("accepted with an undocumented success status");
                            return Ok(status);
                        }
                        Outcome::Failed(error, failure) => (error, failure),
                    },
                    // No time is left for another attempt.
                    Err(_elapsed) => (
                        Error::new(
                            operation,
                            ErrorKind::Timeout {
                                timeout: self.timeout,
                                attempts: attempt,
                                elapsed: started.elapsed(),
                            },
                        ),
                        None,
                    ),
                };
                if let Some(status) = error.status() {
                    tracing::Span::current().record("status", status.as_u16());
                }
                let wait = failure.and_then(|f| self.retry.retry_after(operation, f, attempt));
                match wait {
                    Some(wait) if tokio::time::Instant::now() + wait >= deadline => {
                        tracing::debug!(
                            error = %error,
                            attempts = attempt,
                            elapsed = ?started.elapsed(),
                            "failed; no time left to retry"
                        );
                        return Err(error);
                    }
                    Some(wait) => {
                        tracing::warn!(error = %error, retry_in = ?wait, "attempt failed, retrying");
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                    }
                    None => {
                        tracing::debug!(error = %error, "failed");
                        return Err(error);
                    }
                }
            }
        }
        .instrument(span)
        .await
    }
}

enum Outcome {
    /// A 2xx the spec does not list: the service did what was asked.
    Success(StatusCode),
    /// The error, and how it failed if retrying could help.
    Failed(Error, Option<Failure>),
}

/// Maps a raw-client error to the client's error and its retry class.
async fn classify(operation: Operation, error: RawError<()>) -> Outcome {
    match error {
        RawError::CommunicationError(source) | RawError::ResponseBodyError(source) => {
            let failure = if source.is_connect() {
                Failure::NotSent
            } else {
                Failure::MaybeDelivered
            };
            Outcome::Failed(transport(operation, source), Some(failure))
        }
        RawError::InvalidUpgrade(source) => Outcome::Failed(transport(operation, source), None),
        RawError::UnexpectedResponse(response) => {
            let status = response.status();
            if status.is_success() {
                return Outcome::Success(status);
            }
            let retry_after = retry_after(response.headers());
            let code = error_code(response.headers());
            let message = read_message(response).await;
            failed_with(operation, status, message, code, retry_after)
        }
        RawError::ErrorResponse(response) => {
            let retry_after = retry_after(response.headers());
            let code = error_code(response.headers());
            failed_with(
                operation,
                response.status(),
                String::new(),
                code,
                retry_after,
            )
        }
        RawError::InvalidResponsePayload(_, e) => Outcome::Failed(
            Error::from_status(
                operation,
                StatusCode::OK,
                format!("unreadable response body: {e}"),
                None,
                None,
            ),
            None,
        ),
        // Raised by the request hook: no token could be had.
        RawError::Custom(message) => Outcome::Failed(Error::credential(operation, message), None),
        RawError::InvalidRequest(message) => {
            Outcome::Failed(Error::invalid(operation, "request", message), None)
        }
    }
}

fn transport(operation: Operation, source: reqwest::Error) -> Error {
    Error::new(operation, ErrorKind::Transport { source })
}

fn failed_with(
    operation: Operation,
    status: StatusCode,
    message: String,
    code: Option<String>,
    retry_after: Option<Duration>,
) -> Outcome {
    let failure = match status.as_u16() {
        429 => Some(Failure::Throttled { retry_after }),
        408 | 500..=599 => Some(Failure::MaybeDelivered),
        _ => None,
    };
    Outcome::Failed(
        Error::from_status(operation, status, message, code, retry_after),
        failure,
    )
}

/// Longest error code kept from `x-ms-error-code` (codes are short dotted names).
const MAX_CODE_CHARS: usize = 128;

/// The service's error code: `x-ms-error-code`, when it is short printable text.
fn error_code(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let code = headers.get("x-ms-error-code")?.to_str().ok()?.trim();
    (!code.is_empty() && code.len() <= MAX_CODE_CHARS).then(|| code.to_owned())
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the service).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The service's message: `message` of a JSON error body, else the text, shortened.
async fn read_message(response: reqwest::Response) -> String {
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            ["message", "Message", "error"]
                .iter()
                .find_map(|k| v.get(k).and_then(|m| m.as_str()).map(str::to_owned))
        })
        .unwrap_or(text);
    let message = message.trim();
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}...", &message[..cut]),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn retry_after_seconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn failure_classes() {
        let op = Operation::SendToUser;
        for (code, class) in [
            (400, None),
            (401, None),
            (404, None),
            (429, Some(Failure::Throttled { retry_after: None })),
            (500, Some(Failure::MaybeDelivered)),
            (503, Some(Failure::MaybeDelivered)),
        ] {
            match failed_with(
                op,
                StatusCode::from_u16(code).unwrap(),
                String::new(),
                None,
                None,
            ) {
                Outcome::Failed(_, f) => assert_eq!(f, class, "{code}"),
                Outcome::Success(_) => panic!("{code}"),
            }
        }
    }
}

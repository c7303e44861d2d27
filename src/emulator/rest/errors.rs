//! REST errors: the status, the code and the message, shaped per API version.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::ApiVersion;

/// The `x-ms-error-code` values of 404 answers that the .NET server SDK tells apart.
pub(crate) mod code {
    /// Connection existence check (the SDK also takes it as done when closing a connection).
    pub(crate) const CONNECTION_NOT_EXISTED: &str = "Warning.Connection.NotExisted";
    /// User existence check.
    pub(crate) const USER_NOT_EXISTED: &str = "Warning.User.NotExisted";
    /// Group existence check.
    pub(crate) const GROUP_NOT_EXISTED: &str = "Warning.Group.NotExisted";
    /// User-in-group check (the SDK asks with GET).
    pub(crate) const USER_NOT_IN_GROUP: &str = "Info.User.NotInGroup";
    /// Adding (or removing) a connection that does not exist to (from) a group.
    pub(crate) const CONNECTION_NOT_EXISTED_ERROR: &str = "Error.Connection.NotExisted";
}

/// The 2022-06-01 error body, fields in the published order. Absent fields are left out, not
/// `null`: the spec types them as a string and an array.
#[derive(serde::Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Vec<Value>>,
}

pub(super) struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The 2022-06-01 error code (also `x-ms-error-code`).
    pub code: &'static str,
    /// What went wrong, for the caller (never a token).
    pub message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// A `404` with `code`.
    pub(super) fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// The answer in `version`'s shape: 2022-06-01's `ErrorDetail` JSON, else plain text.
    pub(super) fn into_response(self, version: ApiVersion) -> Response {
        match version {
            ApiVersion::V2022_06_01 => {
                let body = ErrorDetail {
                    code: self.code,
                    message: &self.message,
                    target: None,
                    details: None,
                };
                let mut response = (self.status, axum::Json(body)).into_response();
                if let Ok(v) = HeaderValue::from_str(self.code) {
                    response.headers_mut().insert("x-ms-error-code", v);
                }
                response
            }
            _ => (
                self.status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                self.message,
            )
                .into_response(),
        }
    }
}

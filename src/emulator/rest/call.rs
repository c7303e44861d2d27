//! What every REST operation checks before it runs: header size, the token, `api-version`,
//! the hub and `application`; and the query parameters the operations read.

use std::collections::HashSet;

use axum::http::request::Parts;
use axum::http::{header, StatusCode};

use super::errors::ApiError;
use super::routes::{Matched, Params};
use crate::emulator::auth::{self, Audience};
use crate::emulator::state::Inner;
use crate::{ApiVersion, Operation};

/// The largest total size of REST request headers accepted.
const MAX_HEADERS: usize = 16 * 1024;

/// Query parameters that matter to the REST API.
#[derive(Debug, Default)]
pub(super) struct Query {
    pub excluded: HashSet<String>,
    pub application: Option<String>,
    pub reason: Option<String>,
    pub ttl: Option<String>,
    pub api_version: Option<String>,
}

impl Query {
    fn parse(raw: Option<&str>) -> Query {
        let mut q = Query::default();
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "excluded" => {
                    q.excluded.insert(v.into_owned());
                }
                "application" => q.application = Some(v.into_owned()),
                "reason" => q.reason = Some(v.into_owned()),
                "ttl" => q.ttl = Some(v.into_owned()),
                "api-version" => q.api_version = Some(v.into_owned()),
                _ => {}
            }
        }
        q
    }
}

/// An authenticated call to a hub, its names checked.
pub(super) struct Call<'a> {
    pub inner: &'a Inner,
    pub version: ApiVersion,
    pub operation: Operation,
    /// Lower-cased, `<application>_` prefixed when an application was given.
    pub hub: String,
    pub params: Params,
    pub query: Query,
}

impl<'a> Call<'a> {
    /// Checks the request; `None` for the health check, which needs neither token nor hub.
    pub(super) fn new(
        inner: &'a Inner,
        matched: Matched,
        parts: &Parts,
    ) -> Result<Option<Self>, ApiError> {
        let header_bytes: usize = parts
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum();
        if header_bytes > MAX_HEADERS {
            return Err(ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "RequestHeaderFieldsTooLarge",
                format!("request headers exceed the limit of {MAX_HEADERS} bytes"),
            ));
        }
        if matched.operation == Operation::Health {
            return Ok(None);
        }
        authenticate(inner, parts)?;
        let query = Query::parse(parts.uri.query());
        let version = matched.version;
        if version == ApiVersion::V2022_06_01
            && query.api_version.as_deref().is_none_or(str::is_empty)
        {
            return Err(ApiError::bad_request(
                "the api-version query parameter is required",
            ));
        }
        let raw_hub = matched.params.hub.clone().unwrap_or_default();
        let operation = matched.operation;
        let invalid = |e: crate::Error| ApiError::bad_request(e.to_string());
        crate::validate_hub_name(operation, "hub", &raw_hub).map_err(invalid)?;
        // The official emulator takes `application` on the 1.0 routes too; empty means none.
        let application = query
            .application
            .as_deref()
            .filter(|a| !a.is_empty() && version != ApiVersion::V1Preview);
        let hub = match application {
            Some(app) => {
                crate::validate_hub_name(operation, "application", app).map_err(invalid)?;
                format!("{app}_{raw_hub}").to_lowercase()
            }
            None => raw_hub.to_lowercase(),
        };
        Ok(Some(Call {
            inner,
            version,
            operation,
            hub,
            params: matched.params,
            query,
        }))
    }

    /// The captured `{group}`, checked (1 to 1024 characters, not only white space).
    pub(super) fn group(&self) -> Result<&str, ApiError> {
        let group = self.params.groups.first().map_or("", String::as_str);
        crate::validate_group_name(self.operation, group)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(group)
    }

    /// The captured `{user}`, not empty or only white space.
    pub(super) fn user(&self) -> Result<&str, ApiError> {
        let user = self.params.users.first().map_or("", String::as_str);
        non_empty("user id", user)?;
        Ok(user)
    }

    /// The captured `{connection}`, not empty or only white space.
    pub(super) fn connection(&self) -> Result<&str, ApiError> {
        let connection = self.params.connection.as_deref().unwrap_or("");
        non_empty("connection id", connection)?;
        Ok(connection)
    }

    /// The `reason` parameter, `None` when empty.
    pub(super) fn reason(&self) -> Option<String> {
        self.query.reason.clone().filter(|r| !r.is_empty())
    }

    /// A status that differs between 2022-06-01 and the older versions.
    pub(super) fn status(&self, v2022: StatusCode, older: StatusCode) -> StatusCode {
        if self.version == ApiVersion::V2022_06_01 {
            v2022
        } else {
            older
        }
    }
}

pub(super) fn non_empty(what: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        Err(ApiError::bad_request(format!("{what} must not be empty")))
    } else {
        Ok(())
    }
}

/// Checks the bearer token against the access key and the URL called.
fn authenticate(inner: &Inner, parts: &Parts) -> Result<(), ApiError> {
    let unauthorized =
        |reason: String| ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", reason);
    let token = auth::bearer_token(&parts.headers, &parts.uri, auth::TokenPlace::Header)
        .map_err(unauthorized)?;
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()));
    auth::verify(
        token.as_deref(),
        &inner.config.access_key,
        inner.config.entra.as_deref(),
        host.as_deref(),
        Audience::Rest {
            path: parts.uri.path(),
        },
    )
    .map_err(unauthorized)?;
    Ok(())
}

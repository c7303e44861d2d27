//! The data-plane REST API of the three published versions, on one port.
//!
//! Paths are matched segment by segment here rather than by the router: the 2022-06-01 API
//! has literal `:send` / `:closeConnections` segments, which axum 0.8 rejects in route
//! patterns unless its 0.7-migration checks are switched off; segments are compared after
//! percent-decoding (`%3Asend`, user ids with `/`); and the 1.0 API accepts two orders of
//! the same resources.
//!
//! Answers follow what Microsoft's .NET server SDK reads: 2022-06-01 errors are `ErrorDetail`
//! JSON with the same code in `x-ms-error-code`, and a 404 names what is missing with the codes
//! the SDK tells apart (see [`code`]); the user-in-group check answers GET (what the SDK uses)
//! as well as HEAD. A 2022-06-01 `:send` body may also be the SDK's binary payload map
//! (`application/octet-stream` or `application/x-msgpack`), delivered to each client as sent.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::auth::{self, Audience};
use super::state::{Inner, Outgoing};
use crate::protocol::{HubMessage, HubProtocol, Invocation};

/// The largest REST request body accepted.
const MAX_BODY: usize = 1024 * 1024;
const MAX_GROUP_CHARS: usize = 1024;
/// The largest total size of REST request headers accepted.
const MAX_HEADERS: usize = 16 * 1024;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(handle).with_state(inner)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Preview,
    V1,
    V2022,
}

#[derive(Debug)]
enum Op {
    Health,
    SendAll,
    SendUsers(Vec<String>),
    SendConnection(String),
    SendGroups(Vec<String>),
    ConnectionExists(String),
    CloseConnection(String),
    GroupExists(String),
    UserExists(String),
    AddConnToGroup { group: String, conn: String },
    RemoveConnFromGroup { group: String, conn: String },
    RemoveConnFromAllGroups(String),
    UserInGroup { group: String, user: String },
    AddUserToGroup { group: String, user: String },
    RemoveUserFromGroup { group: String, user: String },
    RemoveUserFromAllGroups(String),
    CloseAll,
    CloseGroup(String),
    CloseUser(String),
}

/// A matched request: which API version, which hub (raw, before validation) and what to do.
struct Route {
    version: Version,
    hub: Option<String>,
    op: Op,
}

enum Miss {
    NotFound,
    MethodNotAllowed,
}

/// The `x-ms-error-code` values of 404 answers that the .NET server SDK tells apart.
pub(crate) mod code {
    /// Connection existence check (the SDK also takes it as done when closing a connection).
    pub const CONNECTION_NOT_EXISTED: &str = "Warning.Connection.NotExisted";
    /// User existence check.
    pub const USER_NOT_EXISTED: &str = "Warning.User.NotExisted";
    /// Group existence check.
    pub const GROUP_NOT_EXISTED: &str = "Warning.Group.NotExisted";
    /// User-in-group check (the SDK asks with GET).
    pub const USER_NOT_IN_GROUP: &str = "Info.User.NotInGroup";
    /// Adding (or removing) a connection that does not exist to (from) a group.
    pub const CONNECTION_NOT_EXISTED_ERROR: &str = "Error.Connection.NotExisted";
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

struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    fn into_response(self, version: Version) -> Response {
        match version {
            Version::V2022 => {
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

fn decode_segment(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn match_route(method: &Method, path: &str) -> Result<Route, Miss> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let segs: Vec<String> = trimmed.split('/').map(decode_segment).collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let is = |m: &Method| method == m;
    let get_or_head = is(&Method::GET) || is(&Method::HEAD);
    let found = |version, hub: Option<&str>, op| {
        Ok(Route {
            version,
            hub: hub.map(str::to_string),
            op,
        })
    };
    let none = Err(Miss::MethodNotAllowed);
    use Version::*;
    match s.as_slice() {
        // ---- 1.0-preview ----
        ["api", "v1-preview", "hub", hub] => {
            if is(&Method::POST) {
                found(Preview, Some(hub), Op::SendAll)
            } else {
                none
            }
        }
        ["api", "v1-preview", "hub", hub, kind, list] if is(&Method::POST) => match *kind {
            "user" => found(Preview, Some(hub), Op::SendUsers(vec![list.to_string()])),
            "users" => found(Preview, Some(hub), Op::SendUsers(split_list(list))),
            "group" => found(Preview, Some(hub), Op::SendGroups(vec![list.to_string()])),
            "groups" => found(Preview, Some(hub), Op::SendGroups(split_list(list))),
            _ => Err(Miss::NotFound),
        },
        // ---- 1.0 ----
        ["api", "v1", "health"] => {
            if get_or_head {
                found(V1, None, Op::Health)
            } else {
                none
            }
        }
        ["api", "v1", "hubs", hub] => {
            if is(&Method::POST) {
                found(V1, Some(hub), Op::SendAll)
            } else {
                none
            }
        }
        ["api", "v1", "hubs", hub, "users", user] => match method {
            m if m == Method::POST => found(V1, Some(hub), Op::SendUsers(vec![user.to_string()])),
            _ if get_or_head => found(V1, Some(hub), Op::UserExists(user.to_string())),
            _ => none,
        },
        ["api", "v1", "hubs", hub, "connections", conn] => match method {
            m if m == Method::POST => found(V1, Some(hub), Op::SendConnection(conn.to_string())),
            m if m == Method::DELETE => found(V1, Some(hub), Op::CloseConnection(conn.to_string())),
            _ if get_or_head => found(V1, Some(hub), Op::ConnectionExists(conn.to_string())),
            _ => none,
        },
        ["api", "v1", "hubs", hub, "groups", group] => match method {
            m if m == Method::POST => found(V1, Some(hub), Op::SendGroups(vec![group.to_string()])),
            _ if get_or_head => found(V1, Some(hub), Op::GroupExists(group.to_string())),
            _ => none,
        },
        ["api", "v1", "hubs", hub, "groups", group, "connections", conn]
        | ["api", "v1", "hubs", hub, "connections", conn, "groups", group] => {
            let (group, conn) = (group.to_string(), conn.to_string());
            match method {
                m if m == Method::PUT => found(V1, Some(hub), Op::AddConnToGroup { group, conn }),
                m if m == Method::DELETE => {
                    found(V1, Some(hub), Op::RemoveConnFromGroup { group, conn })
                }
                _ => none,
            }
        }
        ["api", "v1", "hubs", hub, "groups", group, "users", user]
        | ["api", "v1", "hubs", hub, "users", user, "groups", group] => {
            let (group, user) = (group.to_string(), user.to_string());
            match method {
                m if m == Method::PUT => found(V1, Some(hub), Op::AddUserToGroup { group, user }),
                m if m == Method::DELETE => {
                    found(V1, Some(hub), Op::RemoveUserFromGroup { group, user })
                }
                _ if get_or_head => found(V1, Some(hub), Op::UserInGroup { group, user }),
                _ => none,
            }
        }
        ["api", "v1", "hubs", hub, "users", user, "groups"] => {
            if is(&Method::DELETE) {
                found(V1, Some(hub), Op::RemoveUserFromAllGroups(user.to_string()))
            } else {
                none
            }
        }
        // ---- 2022-06-01 ----
        ["api", "health"] => {
            if get_or_head {
                found(V2022, None, Op::Health)
            } else {
                none
            }
        }
        ["api", "hubs", hub, action @ (":send" | ":closeConnections")] => {
            if !is(&Method::POST) {
                return none;
            }
            let op = if *action == ":send" {
                Op::SendAll
            } else {
                Op::CloseAll
            };
            found(V2022, Some(hub), op)
        }
        ["api", "hubs", hub, "connections", conn] => match method {
            m if m == Method::DELETE => {
                found(V2022, Some(hub), Op::CloseConnection(conn.to_string()))
            }
            _ if get_or_head => found(V2022, Some(hub), Op::ConnectionExists(conn.to_string())),
            _ => none,
        },
        ["api", "hubs", hub, "connections", conn, ":send"] => {
            if is(&Method::POST) {
                found(V2022, Some(hub), Op::SendConnection(conn.to_string()))
            } else {
                none
            }
        }
        ["api", "hubs", hub, "connections", conn, "groups"] => {
            if is(&Method::DELETE) {
                found(
                    V2022,
                    Some(hub),
                    Op::RemoveConnFromAllGroups(conn.to_string()),
                )
            } else {
                none
            }
        }
        ["api", "hubs", hub, "groups", group] => {
            if get_or_head {
                found(V2022, Some(hub), Op::GroupExists(group.to_string()))
            } else {
                none
            }
        }
        ["api", "hubs", hub, "groups", group, action @ (":send" | ":closeConnections")] => {
            if !is(&Method::POST) {
                return none;
            }
            let op = if *action == ":send" {
                Op::SendGroups(vec![group.to_string()])
            } else {
                Op::CloseGroup(group.to_string())
            };
            found(V2022, Some(hub), op)
        }
        ["api", "hubs", hub, "groups", group, "connections", conn] => {
            let (group, conn) = (group.to_string(), conn.to_string());
            match method {
                m if m == Method::PUT => {
                    found(V2022, Some(hub), Op::AddConnToGroup { group, conn })
                }
                m if m == Method::DELETE => {
                    found(V2022, Some(hub), Op::RemoveConnFromGroup { group, conn })
                }
                _ => none,
            }
        }
        ["api", "hubs", hub, "users", user] => {
            if get_or_head {
                found(V2022, Some(hub), Op::UserExists(user.to_string()))
            } else {
                none
            }
        }
        ["api", "hubs", hub, "users", user, action @ (":send" | ":closeConnections")] => {
            if !is(&Method::POST) {
                return none;
            }
            let op = if *action == ":send" {
                Op::SendUsers(vec![user.to_string()])
            } else {
                Op::CloseUser(user.to_string())
            };
            found(V2022, Some(hub), op)
        }
        ["api", "hubs", hub, "users", user, "groups"] => {
            if is(&Method::DELETE) {
                found(
                    V2022,
                    Some(hub),
                    Op::RemoveUserFromAllGroups(user.to_string()),
                )
            } else {
                none
            }
        }
        ["api", "hubs", hub, "users", user, "groups", group] => {
            let (group, user) = (group.to_string(), user.to_string());
            match method {
                m if m == Method::PUT => {
                    found(V2022, Some(hub), Op::AddUserToGroup { group, user })
                }
                m if m == Method::DELETE => {
                    found(V2022, Some(hub), Op::RemoveUserFromGroup { group, user })
                }
                _ if get_or_head => found(V2022, Some(hub), Op::UserInGroup { group, user }),
                _ => none,
            }
        }
        _ => Err(Miss::NotFound),
    }
}

/// Hub and application names: `^[A-Za-z][A-Za-z0-9_`,.[\]]{0,127}$`.
pub(crate) fn valid_hub_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_alphabetic()
        && name.len() <= 128
        && chars
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '`' | ',' | '.' | '[' | ']'))
}

const HUB_RULE: &str = "must match ^[A-Za-z][A-Za-z0-9_`,.[\\]]{0,127}$";

fn check_group(group: &str) -> Result<(), ApiError> {
    let chars = group.chars().count();
    if chars == 0 || chars > MAX_GROUP_CHARS {
        return Err(ApiError::bad_request(format!(
            "group name must be 1 to {MAX_GROUP_CHARS} characters long (got {chars})"
        )));
    }
    if group.chars().all(char::is_whitespace) {
        return Err(ApiError::bad_request(
            "group name must not be only white space",
        ));
    }
    Ok(())
}

fn check_non_empty(what: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        Err(ApiError::bad_request(format!("{what} must not be empty")))
    } else {
        Ok(())
    }
}

/// Query parameters that matter to the REST API.
#[derive(Default)]
struct Query {
    excluded: HashSet<String>,
    application: Option<String>,
    reason: Option<String>,
    ttl: Option<String>,
    api_version: Option<String>,
}

fn parse_query(raw: Option<&str>) -> Query {
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

/// Binds `{"target", "arguments"}` with case-insensitive property names.
fn parse_message(body: &[u8]) -> Result<(String, Vec<Value>), ApiError> {
    let rule = "a send needs a JSON body with a non-empty \"target\"";
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(rule));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(ApiError::bad_request(
            "request body must be a JSON object {\"target\", \"arguments\"}",
        ));
    };
    let mut target = None;
    let mut arguments = Vec::new();
    for (k, v) in obj {
        if k.eq_ignore_ascii_case("target") {
            match v {
                Value::String(s) => target = Some(s),
                Value::Null => {}
                _ => return Err(ApiError::bad_request("\"target\" must be a string")),
            }
        } else if k.eq_ignore_ascii_case("arguments") {
            match v {
                Value::Array(a) => arguments = a,
                Value::Null => {}
                _ => return Err(ApiError::bad_request("\"arguments\" must be an array")),
            }
        }
    }
    match target {
        Some(t) if !t.trim().is_empty() => Ok((t, arguments)),
        _ => Err(ApiError::bad_request(rule)),
    }
}

/// Whether a 2022-06-01 send body is the per-protocol payload map (`application/x-msgpack` or
/// `application/octet-stream`, the latter being what the .NET SDK sends) rather than JSON.
fn is_binary_body(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let media = value.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/x-msgpack")
        || media.eq_ignore_ascii_case("application/octet-stream")
}

/// Decodes a binary send body: a MessagePack map from protocol name (`json`, `messagepack`;
/// str) to that protocol's complete serialized invocation (bin), as the .NET SDK's
/// `BinaryPayloadMessageContent` writes it. Each client then gets its protocol's bytes as
/// they are; a client whose protocol has no payload gets nothing (the SDK writes one payload
/// per protocol it was configured with and expects no conversion between them). Other
/// protocol names are skipped.
fn parse_payloads(body: &[u8]) -> Result<Arc<Outgoing>, ApiError> {
    use rmp::decode;
    let shape = "a binary send body must be a MessagePack map from protocol name (str) to \
                 serialized invocation (bin)";
    let bad = |what: String| ApiError::bad_request(format!("{shape}: {what}"));
    let mut rd = body;
    let entries = decode::read_map_len(&mut rd).map_err(|e| bad(format!("no map header ({e})")))?;
    fn take<'a>(rd: &mut &'a [u8], len: u32) -> Option<&'a [u8]> {
        let len = usize::try_from(len).ok()?;
        let value = rd.get(..len)?;
        *rd = &rd[len..];
        Some(value)
    }
    let truncated = || bad("truncated".into());
    let mut payloads: [Option<&[u8]>; 2] = [None, None];
    for _ in 0..entries {
        let len = decode::read_str_len(&mut rd)
            .map_err(|e| bad(format!("a key is not a string ({e})")))?;
        let name = take(&mut rd, len).ok_or_else(truncated)?;
        let len = decode::read_bin_len(&mut rd)
            .map_err(|e| bad(format!("a payload is not binary ({e})")))?;
        let payload = take(&mut rd, len).ok_or_else(truncated)?;
        let protocol = std::str::from_utf8(name)
            .ok()
            .and_then(HubProtocol::from_name);
        let slot = match protocol {
            Some(HubProtocol::Json) => &mut payloads[0],
            Some(HubProtocol::MessagePack) => &mut payloads[1],
            None => continue,
        };
        if slot.replace(payload).is_some() {
            return Err(bad(format!(
                "protocol '{}' appears twice",
                String::from_utf8_lossy(name)
            )));
        }
    }
    if !rd.is_empty() {
        return Err(bad(format!("{} bytes after the map", rd.len())));
    }
    let [json, msgpack] = payloads;
    if json.is_none() && msgpack.is_none() {
        return Err(ApiError::bad_request(
            "a binary send body needs a 'json' or a 'messagepack' payload",
        ));
    }
    // Each payload must be exactly one invocation, so a client's stream stays well formed.
    let invocation = |protocol: HubProtocol, bytes: &[u8]| -> Result<Invocation, ApiError> {
        let name = protocol.name();
        match protocol.decode_all(bytes) {
            Ok(mut messages) if messages.len() == 1 => match messages.pop() {
                Some(HubMessage::Invocation(inv)) if !inv.target.trim().is_empty() => Ok(inv),
                Some(HubMessage::Invocation(_)) => Err(ApiError::bad_request(format!(
                    "the '{name}' payload's invocation needs a non-empty target"
                ))),
                _ => Err(ApiError::bad_request(format!(
                    "the '{name}' payload must be an invocation message"
                ))),
            },
            Ok(messages) => Err(ApiError::bad_request(format!(
                "the '{name}' payload must hold exactly one message (found {})",
                messages.len()
            ))),
            Err(e) => Err(ApiError::bad_request(format!(
                "the '{name}' payload is not a valid {name} hub message: {e}"
            ))),
        }
    };
    let from_json = json.map(|b| invocation(HubProtocol::Json, b)).transpose()?;
    let from_msgpack = msgpack
        .map(|b| invocation(HubProtocol::MessagePack, b))
        .transpose()?;
    // The delivery record shows the JSON view when there is one.
    let Some(shown) = from_json.or(from_msgpack) else {
        return Err(ApiError::bad_request("no payload"));
    };
    Ok(Outgoing::pre_encoded(
        shown.target,
        shown.arguments,
        json.map(bytes::Bytes::copy_from_slice),
        msgpack.map(bytes::Bytes::copy_from_slice),
    ))
}

async fn read_body(body: Body, headers: &axum::http::HeaderMap) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            format!("request body exceeds the limit of {MAX_BODY} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map(|b| b.to_vec())
        .map_err(|_| too_large())
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let route = match match_route(&parts.method, parts.uri.path()) {
        Ok(route) => route,
        Err(miss) => {
            let version = if parts.uri.path().starts_with("/api/hubs")
                || parts.uri.path().starts_with("/api/health")
            {
                Version::V2022
            } else {
                Version::V1
            };
            let err = match miss {
                Miss::NotFound => {
                    ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such API path")
                }
                Miss::MethodNotAllowed => ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    format!("method {} is not allowed on this path", parts.method),
                ),
            };
            return err.into_response(version);
        }
    };
    let version = route.version;
    let header_bytes: usize = parts
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > MAX_HEADERS {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "RequestHeaderFieldsTooLarge",
            format!("request headers exceed the limit of {MAX_HEADERS} bytes"),
        )
        .into_response(version);
    }
    match execute(&inner, route, parts, body).await {
        Ok(status) => status.into_response(),
        Err(e) => {
            tracing::debug!(status = %e.status, reason = %e.message, "REST call rejected");
            let challenge = e.status == StatusCode::UNAUTHORIZED;
            let mut response = e.into_response(version);
            if challenge {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, auth::CHALLENGE);
            }
            response
        }
    }
}

async fn execute(
    inner: &Inner,
    route: Route,
    parts: axum::http::request::Parts,
    body: Body,
) -> Result<StatusCode, ApiError> {
    use Version::*;
    let version = route.version;
    if let Op::Health = route.op {
        return Ok(if inner.is_shutting_down() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        });
    }
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
        host.as_deref(),
        Audience::Rest {
            path: parts.uri.path(),
        },
    )
    .map_err(unauthorized)?;

    let query = parse_query(parts.uri.query());
    if version == V2022 && query.api_version.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(
            "the api-version query parameter is required",
        ));
    }
    let raw_hub = route.hub.unwrap_or_default();
    if !valid_hub_name(&raw_hub) {
        return Err(ApiError::bad_request(format!(
            "invalid hub name '{raw_hub}': hub names {HUB_RULE}"
        )));
    }
    // The official emulator takes `application` on the 1.0 routes too; empty means none.
    let hub = match (
        query.application.as_deref().filter(|a| !a.is_empty()),
        version,
    ) {
        (Some(app), V2022 | V1) => {
            if !valid_hub_name(app) {
                return Err(ApiError::bad_request(format!(
                    "invalid application name '{app}': application names {HUB_RULE}"
                )));
            }
            format!("{app}_{raw_hub}").to_lowercase()
        }
        _ => raw_hub.to_lowercase(),
    };

    // A 404 names what is missing in `x-ms-error-code` (2022-06-01): the .NET SDK reads an
    // existence check's 404 as "no" only with the code it expects, any other 404 is an error.
    let found = |exists: bool, code: &'static str, message: String| {
        if exists {
            Ok(StatusCode::OK)
        } else {
            Err(ApiError::new(StatusCode::NOT_FOUND, code, message))
        }
    };

    match route.op {
        Op::Health => Ok(StatusCode::OK), // answered above, before authentication
        Op::SendAll | Op::SendUsers(_) | Op::SendConnection(_) | Op::SendGroups(_) => {
            match &route.op {
                Op::SendUsers(users) => {
                    if users.is_empty() {
                        return Err(ApiError::bad_request("user id must not be empty"));
                    }
                    for u in users {
                        check_non_empty("user id", u)?;
                    }
                }
                Op::SendGroups(groups) => {
                    if groups.is_empty() {
                        return Err(ApiError::bad_request("group name must not be empty"));
                    }
                    for g in groups {
                        check_group(g)?;
                    }
                }
                Op::SendConnection(c) => check_non_empty("connection id", c)?,
                _ => {}
            }
            let body = read_body(body, &parts.headers).await?;
            let message = if version == V2022 && is_binary_body(&parts.headers) {
                parse_payloads(&body)?
            } else {
                let (target, arguments) = parse_message(&body)?;
                Outgoing::new(target, arguments)
            };
            match route.op {
                Op::SendAll => inner.send_all(&hub, message, &query.excluded),
                Op::SendUsers(users) => inner.send_users(&hub, message, &users),
                Op::SendConnection(conn) => inner.send_connection(&hub, message, &conn),
                Op::SendGroups(groups) => {
                    inner.send_groups(&hub, message, &groups, &query.excluded)
                }
                _ => {}
            }
            Ok(StatusCode::ACCEPTED)
        }
        Op::ConnectionExists(conn) => found(
            inner.connection_exists(&hub, &conn),
            code::CONNECTION_NOT_EXISTED,
            format!("connection '{conn}' does not exist"),
        ),
        Op::UserExists(user) => found(
            inner.user_exists(&hub, &user),
            code::USER_NOT_EXISTED,
            format!("user '{user}' has no connection"),
        ),
        Op::GroupExists(group) => {
            check_group(&group)?;
            found(
                inner.group_exists(&hub, &group),
                code::GROUP_NOT_EXISTED,
                format!("group '{group}' has no connection"),
            )
        }
        Op::UserInGroup { group, user } => {
            check_group(&group)?;
            found(
                inner.user_in_group(&hub, &group, &user),
                code::USER_NOT_IN_GROUP,
                format!("user '{user}' is not in group '{group}'"),
            )
        }
        Op::CloseConnection(conn) => {
            let reason = query.reason.filter(|r| !r.is_empty());
            inner.close_connection(&hub, &conn, reason);
            Ok(if version == V2022 {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            })
        }
        Op::AddConnToGroup { group, conn } => {
            check_group(&group)?;
            if inner.add_conn_to_group(&hub, &group, &conn) {
                Ok(StatusCode::OK)
            } else {
                Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    code::CONNECTION_NOT_EXISTED_ERROR,
                    format!("connection '{conn}' does not exist"),
                ))
            }
        }
        Op::RemoveConnFromGroup { group, conn } => {
            check_group(&group)?;
            if inner.remove_conn_from_group(&hub, &group, &conn) {
                Ok(StatusCode::OK)
            } else if inner.connection_exists(&hub, &conn) {
                Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("connection '{conn}' is not in group '{group}'"),
                ))
            } else {
                Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    code::CONNECTION_NOT_EXISTED_ERROR,
                    format!("connection '{conn}' does not exist"),
                ))
            }
        }
        Op::RemoveConnFromAllGroups(conn) => {
            inner.remove_conn_from_all_groups(&hub, &conn);
            Ok(StatusCode::OK)
        }
        Op::AddUserToGroup { group, user } => {
            check_group(&group)?;
            check_non_empty("user id", &user)?;
            let ttl = match query.ttl.as_deref() {
                None | Some("") => None,
                Some(t) => Some(t.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "ttl must be a whole number of seconds, 0 or more (got '{t}')"
                    ))
                })?),
            };
            inner.add_user_to_group(&hub, &group, &user, ttl);
            Ok(if version == V2022 {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            })
        }
        Op::RemoveUserFromGroup { group, user } => {
            check_group(&group)?;
            inner.remove_user_from_group(&hub, &group, &user);
            Ok(if version == V2022 {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::ACCEPTED
            })
        }
        Op::RemoveUserFromAllGroups(user) => {
            inner.remove_user_from_all_groups(&hub, &user);
            Ok(if version == V2022 {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::OK
            })
        }
        Op::CloseAll => {
            inner.close_all(&hub, query.reason, &query.excluded);
            Ok(StatusCode::NO_CONTENT)
        }
        Op::CloseGroup(group) => {
            check_group(&group)?;
            inner.close_group(&hub, &group, query.reason, &query.excluded);
            Ok(StatusCode::NO_CONTENT)
        }
        Op::CloseUser(user) => {
            inner.close_user(&hub, &user, query.reason, &query.excluded);
            Ok(StatusCode::NO_CONTENT)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hub_name_rule() {
        assert!(valid_hub_name("chat"));
        assert!(valid_hub_name("a_b`c,d.e[f]"));
        assert!(valid_hub_name(&"a".repeat(128)));
        assert!(!valid_hub_name(&"a".repeat(129)));
        assert!(!valid_hub_name("1chat"));
        assert!(!valid_hub_name("ch at"));
        assert!(!valid_hub_name(""));
        assert!(!valid_hub_name("chät"));
    }

    #[test]
    fn message_binding_is_case_insensitive() {
        let (t, a) = parse_message(br#"{"Target":"go","Arguments":[1,"x"]}"#)
            .ok()
            .unwrap();
        assert_eq!(t, "go");
        assert_eq!(a, vec![json!(1), json!("x")]);
        assert!(parse_message(br#"{"target":""}"#).is_err());
        assert!(parse_message(b"").is_err());
        assert!(parse_message(b"{").is_err());
        assert!(parse_message(br#"{"target":"a","arguments":{}}"#).is_err());
    }

    #[test]
    fn alternate_path_orders_match_the_same_operation() {
        let a = match_route(&Method::PUT, "/api/v1/hubs/h/groups/g/users/u")
            .ok()
            .unwrap();
        let b = match_route(&Method::PUT, "/api/v1/hubs/h/users/u/groups/g")
            .ok()
            .unwrap();
        for r in [a, b] {
            assert!(
                matches!(r.op, Op::AddUserToGroup { ref group, ref user } if group == "g" && user == "u")
            );
        }
        let r = match_route(&Method::POST, "/api/hubs/h/groups/g%20x/:send")
            .ok()
            .unwrap();
        assert!(matches!(r.op, Op::SendGroups(ref g) if g == &vec!["g x".to_string()]));
        assert!(matches!(
            match_route(&Method::GET, "/api/hubs/h/:send"),
            Err(Miss::MethodNotAllowed)
        ));
    }
}

//! The REST route table of the three published versions, and the matching of a request to it.
//!
//! Paths are matched segment by segment here rather than by axum's router: the 2022-06-01 API
//! has literal `:send` / `:closeConnections` segments, which axum 0.8 rejects in route
//! patterns unless its 0.7-migration checks are switched off; segments are compared after
//! percent-decoding (`%3Asend`, user ids with `/`); and 1.0 accepts two orders of the same
//! resources. `{name}` captures a segment; `Get` also answers HEAD.

use axum::http::Method;
use percent_encoding::percent_decode_str;

use crate::ApiVersion::{self, V1Preview, V1, V2022_06_01};
use crate::Operation::{self, *};

/// The methods of the table (`Get` stands for GET and HEAD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Get,
    Post,
    Put,
    Delete,
}
use Verb::{Delete, Get, Post, Put};

/// One line of the table.
struct Route {
    version: ApiVersion,
    verb: Verb,
    path: &'static str,
    operation: Operation,
}

const fn route(version: ApiVersion, verb: Verb, path: &'static str, operation: Operation) -> Route {
    Route {
        version,
        verb,
        path,
        operation,
    }
}

#[rustfmt::skip]
const ROUTES: &[Route] = &[
    // ---- 1.0-preview ----
    route(V1Preview, Post, "api/v1-preview/hub/{hub}", Broadcast),
    route(V1Preview, Post, "api/v1-preview/hub/{hub}/user/{user}", SendToUser),
    route(V1Preview, Post, "api/v1-preview/hub/{hub}/users/{users}", SendToUsers),
    route(V1Preview, Post, "api/v1-preview/hub/{hub}/group/{group}", SendToGroup),
    route(V1Preview, Post, "api/v1-preview/hub/{hub}/groups/{groups}", SendToGroups),
    // ---- 1.0 ----
    route(V1, Get,    "api/v1/health", Health),
    route(V1, Post,   "api/v1/hubs/{hub}", Broadcast),
    route(V1, Post,   "api/v1/hubs/{hub}/users/{user}", SendToUser),
    route(V1, Get,    "api/v1/hubs/{hub}/users/{user}", UserExists),
    route(V1, Post,   "api/v1/hubs/{hub}/connections/{connection}", SendToConnection),
    route(V1, Delete, "api/v1/hubs/{hub}/connections/{connection}", CloseConnection),
    route(V1, Get,    "api/v1/hubs/{hub}/connections/{connection}", ConnectionExists),
    route(V1, Post,   "api/v1/hubs/{hub}/groups/{group}", SendToGroup),
    route(V1, Get,    "api/v1/hubs/{hub}/groups/{group}", GroupExists),
    route(V1, Put,    "api/v1/hubs/{hub}/groups/{group}/connections/{connection}", AddConnectionToGroup),
    route(V1, Delete, "api/v1/hubs/{hub}/groups/{group}/connections/{connection}", RemoveConnectionFromGroup),
    route(V1, Put,    "api/v1/hubs/{hub}/connections/{connection}/groups/{group}", AddConnectionToGroup),
    route(V1, Delete, "api/v1/hubs/{hub}/connections/{connection}/groups/{group}", RemoveConnectionFromGroup),
    route(V1, Put,    "api/v1/hubs/{hub}/groups/{group}/users/{user}", AddUserToGroup),
    route(V1, Delete, "api/v1/hubs/{hub}/groups/{group}/users/{user}", RemoveUserFromGroup),
    route(V1, Get,    "api/v1/hubs/{hub}/groups/{group}/users/{user}", UserInGroup),
    route(V1, Put,    "api/v1/hubs/{hub}/users/{user}/groups/{group}", AddUserToGroup),
    route(V1, Delete, "api/v1/hubs/{hub}/users/{user}/groups/{group}", RemoveUserFromGroup),
    route(V1, Get,    "api/v1/hubs/{hub}/users/{user}/groups/{group}", UserInGroup),
    route(V1, Delete, "api/v1/hubs/{hub}/users/{user}/groups", RemoveUserFromAllGroups),
    // ---- 2022-06-01 ----
    route(V2022_06_01, Get,    "api/health", Health),
    route(V2022_06_01, Post,   "api/hubs/{hub}/:send", Broadcast),
    route(V2022_06_01, Post,   "api/hubs/{hub}/:closeConnections", CloseAllConnections),
    route(V2022_06_01, Delete, "api/hubs/{hub}/connections/{connection}", CloseConnection),
    route(V2022_06_01, Get,    "api/hubs/{hub}/connections/{connection}", ConnectionExists),
    route(V2022_06_01, Post,   "api/hubs/{hub}/connections/{connection}/:send", SendToConnection),
    route(V2022_06_01, Delete, "api/hubs/{hub}/connections/{connection}/groups", RemoveConnectionFromAllGroups),
    route(V2022_06_01, Get,    "api/hubs/{hub}/groups/{group}", GroupExists),
    route(V2022_06_01, Post,   "api/hubs/{hub}/groups/{group}/:send", SendToGroup),
    route(V2022_06_01, Post,   "api/hubs/{hub}/groups/{group}/:closeConnections", CloseGroupConnections),
    route(V2022_06_01, Put,    "api/hubs/{hub}/groups/{group}/connections/{connection}", AddConnectionToGroup),
    route(V2022_06_01, Delete, "api/hubs/{hub}/groups/{group}/connections/{connection}", RemoveConnectionFromGroup),
    route(V2022_06_01, Get,    "api/hubs/{hub}/users/{user}", UserExists),
    route(V2022_06_01, Post,   "api/hubs/{hub}/users/{user}/:send", SendToUser),
    route(V2022_06_01, Post,   "api/hubs/{hub}/users/{user}/:closeConnections", CloseUserConnections),
    route(V2022_06_01, Delete, "api/hubs/{hub}/users/{user}/groups", RemoveUserFromAllGroups),
    route(V2022_06_01, Put,    "api/hubs/{hub}/users/{user}/groups/{group}", AddUserToGroup),
    route(V2022_06_01, Delete, "api/hubs/{hub}/users/{user}/groups/{group}", RemoveUserFromGroup),
    route(V2022_06_01, Get,    "api/hubs/{hub}/users/{user}/groups/{group}", UserInGroup),
];

/// The path segments a route captured, percent-decoded (`None`: the route has no such segment).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Params {
    /// The hub, before validation.
    pub hub: Option<String>,
    /// `{user}`, or `{users}` split at commas.
    pub users: Vec<String>,
    /// `{group}`, or `{groups}` split at commas.
    pub groups: Vec<String>,
    pub connection: Option<String>,
}

/// A request matched to the table.
#[derive(Debug)]
pub(super) struct Matched {
    pub version: ApiVersion,
    pub operation: Operation,
    pub params: Params,
}

/// Why a request matched no route.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Miss {
    NotFound,
    /// The path is known, the method is not.
    MethodNotAllowed,
}

/// The version a path belongs to, for the shape of an error answer before any route matched.
pub(super) fn version_of(path: &str) -> ApiVersion {
    if path.starts_with("/api/hubs") || path.starts_with("/api/health") {
        V2022_06_01
    } else {
        V1
    }
}

/// The route of `method` and `path` (query excluded).
pub(super) fn find(method: &Method, path: &str) -> Result<Matched, Miss> {
    let verb = match *method {
        Method::GET | Method::HEAD => Some(Get),
        Method::POST => Some(Post),
        Method::PUT => Some(Put),
        Method::DELETE => Some(Delete),
        _ => None,
    };
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let segments: Vec<String> = trimmed
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let mut miss = Miss::NotFound;
    for route in ROUTES {
        let Some(params) = capture(route.path, &segments) else {
            continue;
        };
        if Some(route.verb) != verb {
            miss = Miss::MethodNotAllowed;
            continue;
        }
        return Ok(Matched {
            version: route.version,
            operation: route.operation,
            params,
        });
    }
    Err(miss)
}

/// The segments `pattern`'s `{name}`s capture, if `segments` fit it.
fn capture(pattern: &str, segments: &[String]) -> Option<Params> {
    if pattern.split('/').count() != segments.len() {
        return None;
    }
    let mut params = Params::default();
    for (expected, actual) in pattern.split('/').zip(segments) {
        match expected {
            "{hub}" => params.hub = Some(actual.clone()),
            "{user}" => params.users = vec![actual.clone()],
            "{users}" => params.users = split_list(actual),
            "{group}" => params.groups = vec![actual.clone()],
            "{groups}" => params.groups = split_list(actual),
            "{connection}" => params.connection = Some(actual.clone()),
            literal if literal == actual => {}
            _ => return None,
        }
    }
    Some(params)
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_path_orders_match_the_same_operation() {
        for path in [
            "/api/v1/hubs/h/groups/g/users/u",
            "/api/v1/hubs/h/users/u/groups/g",
        ] {
            let m = find(&Method::PUT, path).unwrap();
            assert_eq!(m.operation, AddUserToGroup);
            assert_eq!(
                (m.params.groups, m.params.users),
                (vec!["g".into()], vec!["u".into()])
            );
        }
        let m = find(&Method::POST, "/api/hubs/h/groups/g%20x/%3Asend").unwrap();
        assert_eq!(m.operation, SendToGroup);
        assert_eq!(m.version, V2022_06_01);
        assert_eq!(m.params.groups, vec!["g x".to_string()]);
        assert_eq!(
            find(&Method::GET, "/api/hubs/h/:send").unwrap_err(),
            Miss::MethodNotAllowed
        );
        assert_eq!(
            find(&Method::POST, "/api/hubs/h/:nope").unwrap_err(),
            Miss::NotFound
        );
        assert_eq!(
            find(&Method::HEAD, "/api/v1/health").unwrap().operation,
            Health
        );
    }

    #[test]
    fn every_route_is_an_operation_its_version_offers() {
        for r in ROUTES {
            assert_ne!(
                r.version.support(r.operation),
                crate::Support::Unsupported,
                "{} {}",
                r.version,
                r.path
            );
        }
    }
}

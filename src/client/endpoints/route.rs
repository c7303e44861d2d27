//! Which endpoints one call goes to, through the client's [`EndpointRouter`], and how the
//! answers are read. The mapping follows what Microsoft's server SDK does with the service
//! messages of each call in persistent mode.

use super::{EndpointRouter, EndpointStatus};
use crate::client::api::{not_existed, Call};

/// How a call is spread over the endpoints (indices in configuration order).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Route<'a> {
    /// Every endpoint, offline ones too: the health check itself.
    Health,
    /// A message or change for each listed endpoint; `Some(names)` narrows a list send (users
    /// or groups) to the names routed to that endpoint.
    Fan(Vec<(usize, Option<Vec<&'a str>>)>),
    /// An existence check: yes when one of them says yes, no when every one says no.
    Exists(Vec<usize>),
    /// An operation on one connection: find which of them has it, then act there only.
    Connection(Vec<usize>),
}

/// Where `call` goes among `endpoints` (every endpoint, in configuration order).
pub(super) fn route<'a>(
    call: &Call<'a>,
    hub: &str,
    router: &dyn EndpointRouter,
    endpoints: &[EndpointStatus],
) -> Route<'a> {
    let index = |chosen: Vec<&EndpointStatus>| indices(endpoints, &chosen);
    let user = |u: &str| index(router.endpoints_for_user(hub, u, endpoints));
    let group = |g: &str| index(router.endpoints_for_group(hub, g, endpoints));
    let connection = |c: &str| index(router.endpoints_for_connection(hub, c, endpoints));
    let fan = |targets: Vec<usize>| Route::Fan(targets.into_iter().map(|i| (i, None)).collect());
    match *call {
        Call::Health => Route::Health,
        Call::Broadcast { .. } | Call::CloseAllConnections { .. } => {
            fan(index(router.endpoints_for_broadcast(hub, endpoints)))
        }
        Call::SendToUser { user: u, .. }
        | Call::RemoveUserFromAllGroups { user: u }
        | Call::CloseUserConnections { user: u, .. } => fan(user(u)),
        Call::SendToUsers { users, .. } => split(endpoints.len(), users, user),
        Call::SendToGroup { group: g, .. } | Call::CloseGroupConnections { group: g, .. } => {
            fan(group(g))
        }
        Call::SendToGroups { groups, .. } => split(endpoints.len(), groups, group),
        // A user's membership lives where both the user and the group do.
        Call::AddUserToGroup {
            user: u, group: g, ..
        }
        | Call::RemoveUserFromGroup { user: u, group: g } => fan(both(user(u), group(g))),
        Call::UserExists { user: u } => Route::Exists(user(u)),
        Call::GroupExists { group: g } => Route::Exists(group(g)),
        Call::UserInGroup { user: u, group: g } => Route::Exists(both(user(u), group(g))),
        Call::ConnectionExists { connection: c } => Route::Exists(connection(c)),
        Call::SendToConnection { connection: c, .. }
        | Call::CloseConnection { connection: c, .. }
        | Call::RemoveConnectionFromAllGroups { connection: c } => Route::Connection(connection(c)),
        Call::AddConnectionToGroup {
            connection: c,
            group: g,
        }
        | Call::RemoveConnectionFromGroup {
            connection: c,
            group: g,
        } => Route::Connection(both(connection(c), group(g))),
    }
}

/// The same call, narrowed to `names` when it is a list send.
pub(super) fn narrowed<'b>(call: &Call<'b>, names: &'b [&'b str]) -> Call<'b> {
    match *call {
        Call::SendToUsers { message, .. } => Call::SendToUsers {
            users: names,
            message,
        },
        Call::SendToGroups {
            message, excluded, ..
        } => Call::SendToGroups {
            groups: names,
            message,
            excluded,
        },
        other => other,
    }
}

/// The `x-ms-error-code` of a 404 that means "not there" for `call` rather than a failure:
/// the answers Microsoft's SDK reads as `false`, and a connection missing from an endpoint.
pub(super) fn absent_codes(call: &Call<'_>) -> &'static [&'static str] {
    use not_existed::*;
    match call {
        Call::ConnectionExists { .. } | Call::CloseConnection { .. } => &[CONNECTION],
        Call::UserExists { .. } => &[USER],
        Call::GroupExists { .. } => &[GROUP],
        Call::UserInGroup { .. } => &[USER_IN_GROUP],
        Call::SendToConnection { .. }
        | Call::AddConnectionToGroup { .. }
        | Call::RemoveConnectionFromGroup { .. }
        | Call::RemoveConnectionFromAllGroups { .. } => &[CONNECTION, CONNECTION_ERROR],
        _ => &[],
    }
}

/// Positions of `chosen` among `endpoints` (by name: routers may hand back clones), each once,
/// in configuration order.
fn indices(endpoints: &[EndpointStatus], chosen: &[&EndpointStatus]) -> Vec<usize> {
    (0..endpoints.len())
        .filter(|&i| chosen.iter().any(|c| c.name() == endpoints[i].name()))
        .collect()
}

/// Endpoints in both lists.
fn both(a: Vec<usize>, b: Vec<usize>) -> Vec<usize> {
    a.into_iter().filter(|i| b.contains(i)).collect()
}

/// A list send: each endpoint gets the names routed to it (the union over the names).
fn split<'a>(count: usize, names: &[&'a str], route_one: impl Fn(&str) -> Vec<usize>) -> Route<'a> {
    let mut per_endpoint: Vec<Vec<&'a str>> = vec![Vec::new(); count];
    for name in names {
        for i in route_one(name) {
            per_endpoint[i].push(name);
        }
    }
    let whole = |subset: &Vec<&str>| subset.len() == names.len();
    Route::Fan(
        per_endpoint
            .into_iter()
            .enumerate()
            .filter(|(_, subset)| !subset.is_empty())
            .map(|(i, subset)| (i, (!whole(&subset)).then_some(subset)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::endpoints::{DefaultEndpointRouter, EndpointType};
    use crate::client::message::Message;

    fn endpoints() -> Vec<EndpointStatus> {
        ["a", "b", "c"]
            .iter()
            .map(|n| EndpointStatus::new(n, EndpointType::Primary, "http://h"))
            .collect()
    }

    /// Groups named after an endpoint go there only; others everywhere.
    #[derive(Debug)]
    struct ByName;
    impl EndpointRouter for ByName {
        fn negotiate_endpoint<'a>(
            &self,
            _: &str,
            _: &crate::NegotiateOptions,
            online: &'a [EndpointStatus],
        ) -> Option<&'a EndpointStatus> {
            online.first()
        }
        fn endpoints_for_group<'a>(
            &self,
            _: &str,
            group: &str,
            endpoints: &'a [EndpointStatus],
        ) -> Vec<&'a EndpointStatus> {
            let named: Vec<_> = endpoints.iter().filter(|e| e.name() == group).collect();
            if named.is_empty() {
                endpoints.iter().collect()
            } else {
                named
            }
        }
    }

    #[test]
    fn list_sends_are_split_per_endpoint() {
        let message = Message::new("t", ()).unwrap();
        let groups = ["a", "b", "all"];
        let call = Call::SendToGroups {
            groups: &groups,
            message: &message,
            excluded: None,
        };
        let split_route = route(&call, "hub", &ByName, &endpoints());
        assert_eq!(
            split_route,
            Route::Fan(vec![
                (0, Some(vec!["a", "all"])),
                (1, Some(vec!["b", "all"])),
                (2, Some(vec!["all"])),
            ])
        );
        let everywhere = ["x", "y"];
        let call = Call::SendToGroups {
            groups: &everywhere,
            message: &message,
            excluded: None,
        };
        let route = route(
            &call,
            "hub",
            &DefaultEndpointRouter::default(),
            &endpoints(),
        );
        assert_eq!(route, Route::Fan(vec![(0, None), (1, None), (2, None)]));
    }

    #[test]
    fn connection_group_changes_ask_where_the_group_lives() {
        let call = Call::AddConnectionToGroup {
            connection: "c1",
            group: "b",
        };
        assert_eq!(
            route(&call, "hub", &ByName, &endpoints()),
            Route::Connection(vec![1])
        );
        let call = Call::UserInGroup {
            user: "u",
            group: "c",
        };
        assert_eq!(
            route(&call, "hub", &ByName, &endpoints()),
            Route::Exists(vec![2])
        );
    }
}

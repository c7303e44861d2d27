//! Binding by operation: a raw method's name and its parameter order come from the operation
//! itself (HTTP method and path template), never from how a document happens to name or order
//! things.
//!
//! Why: the hand-written layer (`src/client/`) calls the generated methods by name and
//! position. progenitor names a method after the `operationId` and Microsoft's documents do not
//! keep those stable (the authored specs once said `SignalRService_SendToAll` where the published
//! document says `SignalR_Broadcast`). Keying on `(METHOD, path)` instead means any document
//! describing the same operation yields the same method, so a newly published description can be
//! dropped into `specs/` without touching the hand-written code.
//!
//! How: [`BINDINGS`] maps each published operation to its Rust method name. The
//! `bind-operations` rewrite replaces every `operationId` with that name (progenitor keeps a
//! snake_case name as it is), inlines path-level and `$ref` parameters into each operation and
//! sorts them canonically: path parameters in template order, then query, then header
//! parameters by name (progenitor orders its arguments the same way); paths are sorted too,
//! since methods come out in document order. So both the normalized document and the generated
//! code are independent of the source's names and order.
//!
//! An operation missing from the table still gets a method: its name is derived from the
//! operation ([`derived_name`], e.g. `POST /api/hubs/{hub}/:frob` gives
//! `post_api_hubs_hub_frob`), and [`unbound`] lists it so the build prints a warning. The
//! surface snapshot then fails `cargo test` until the new method is reviewed (and, if it
//! deserves a better name, added here).

use serde_json::{Map, Value};

/// One published operation and the name of its raw method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// The HTTP method, upper case.
    pub method: &'static str,
    /// The path template exactly as published.
    pub path: &'static str,
    /// The generated method's name.
    pub name: &'static str,
}

const fn b(method: &'static str, path: &'static str, name: &'static str) -> Binding {
    Binding { method, path, name }
}

/// Every published operation of every version. The names are the ones the raw clients have
/// always had, so the hand-written layer is unaffected by the switch to binding by operation.
#[rustfmt::skip]
pub const BINDINGS: &[Binding] = &[
    // 1.0-preview
    b("POST", "/api/v1-preview/hub/{hub}", "hub_proxy_v1_preview_broadcast"),
    b("POST", "/api/v1-preview/hub/{hub}/user/{id}", "hub_proxy_v1_preview_send_to_user"),
    b("POST", "/api/v1-preview/hub/{hub}/users/{userList}", "hub_proxy_v1_preview_send_to_users"),
    b("POST", "/api/v1-preview/hub/{hub}/group/{group}", "hub_proxy_v1_preview_send_to_group"),
    b("POST", "/api/v1-preview/hub/{hub}/groups/{groupList}", "hub_proxy_v1_preview_send_to_groups"),
    // 1.0
    b("HEAD", "/api/v1/health", "health_v1_get_health_status"),
    b("POST", "/api/v1/hubs/{hub}", "hub_proxy_v1_broadcast"),
    b("POST", "/api/v1/hubs/{hub}/users/{id}", "hub_proxy_v1_send_to_user"),
    b("POST", "/api/v1/hubs/{hub}/connections/{connectionId}", "hub_proxy_v1_send_to_connection"),
    b("GET", "/api/v1/hubs/{hub}/connections/{connectionId}", "hub_proxy_v1_get_connection_existence"),
    b("HEAD", "/api/v1/hubs/{hub}/connections/{connectionId}", "hub_proxy_v1_check_connection_existence"),
    b("DELETE", "/api/v1/hubs/{hub}/connections/{connectionId}", "hub_proxy_v1_close_connection"),
    b("POST", "/api/v1/hubs/{hub}/groups/{group}", "hub_proxy_v1_send_to_group"),
    b("GET", "/api/v1/hubs/{hub}/groups/{group}", "hub_proxy_v1_get_group_existence"),
    b("HEAD", "/api/v1/hubs/{hub}/groups/{group}", "hub_proxy_v1_check_group_existence"),
    b("GET", "/api/v1/hubs/{hub}/users/{user}", "hub_proxy_v1_get_user_existence"),
    b("HEAD", "/api/v1/hubs/{hub}/users/{user}", "hub_proxy_v1_check_user_existence"),
    b("PUT", "/api/v1/hubs/{hub}/groups/{group}/connections/{connectionId}", "hub_proxy_v1_add_connection_to_group"),
    b("DELETE", "/api/v1/hubs/{hub}/groups/{group}/connections/{connectionId}", "hub_proxy_v1_remove_connection_from_group"),
    b("GET", "/api/v1/hubs/{hub}/groups/{group}/users/{user}", "hub_proxy_v1_get_user_in_group_existence"),
    b("HEAD", "/api/v1/hubs/{hub}/groups/{group}/users/{user}", "hub_proxy_v1_check_user_in_group_existence"),
    b("PUT", "/api/v1/hubs/{hub}/groups/{group}/users/{user}", "hub_proxy_v1_add_user_to_group"),
    b("DELETE", "/api/v1/hubs/{hub}/groups/{group}/users/{user}", "hub_proxy_v1_remove_user_from_group"),
    b("DELETE", "/api/v1/hubs/{hub}/users/{user}/groups", "hub_proxy_v1_remove_user_from_all_groups"),
    // 2022-06-01
    b("HEAD", "/api/health", "health_api_get_health_status"),
    b("POST", "/api/hubs/{hub}/:send", "signal_r_service_send_to_all"),
    b("POST", "/api/hubs/{hub}/:closeConnections", "signal_r_service_close_all_connections"),
    b("DELETE", "/api/hubs/{hub}/connections/{connectionId}", "signal_r_service_close_connection"),
    b("HEAD", "/api/hubs/{hub}/connections/{connectionId}", "signal_r_service_check_connection_existence"),
    b("POST", "/api/hubs/{hub}/connections/{connectionId}/:send", "signal_r_service_send_to_connection"),
    b("DELETE", "/api/hubs/{hub}/connections/{connectionId}/groups", "signal_r_service_remove_connection_from_all_groups"),
    b("HEAD", "/api/hubs/{hub}/groups/{group}", "signal_r_service_check_group_existence"),
    b("POST", "/api/hubs/{hub}/groups/{group}/:closeConnections", "signal_r_service_close_group_connections"),
    b("POST", "/api/hubs/{hub}/groups/{group}/:send", "signal_r_service_send_to_group"),
    b("PUT", "/api/hubs/{hub}/groups/{group}/connections/{connectionId}", "signal_r_service_add_connection_to_group"),
    b("DELETE", "/api/hubs/{hub}/groups/{group}/connections/{connectionId}", "signal_r_service_remove_connection_from_group"),
    b("HEAD", "/api/hubs/{hub}/users/{user}", "signal_r_service_check_user_existence"),
    b("POST", "/api/hubs/{hub}/users/{user}/:closeConnections", "signal_r_service_close_user_connections"),
    b("POST", "/api/hubs/{hub}/users/{user}/:send", "signal_r_service_send_to_user"),
    b("DELETE", "/api/hubs/{hub}/users/{user}/groups", "signal_r_service_remove_user_from_all_groups"),
    b("PUT", "/api/hubs/{hub}/users/{user}/groups/{group}", "signal_r_service_add_user_to_group"),
    b("DELETE", "/api/hubs/{hub}/users/{user}/groups/{group}", "signal_r_service_remove_user_from_group"),
    b("HEAD", "/api/hubs/{hub}/users/{user}/groups/{group}", "signal_r_service_check_user_existence_in_group"),
];

/// The bound name of `METHOD path`, if the table knows the operation.
pub fn bound_name(method: &str, path: &str) -> Option<&'static str> {
    BINDINGS
        .iter()
        .find(|b| b.method.eq_ignore_ascii_case(method) && b.path == path)
        .map(|b| b.name)
}

/// A method name made from the operation alone: the HTTP method, then each word of the path
/// in snake_case (`POST /api/hubs/{hub}/:closeConnections` gives
/// `post_api_hubs_hub_close_connections`).
pub fn derived_name(method: &str, path: &str) -> String {
    let mut words = String::new();
    let mut prev_lower = false;
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower {
                words.push('_');
            }
            words.push(c.to_ascii_lowercase());
            prev_lower = !c.is_ascii_uppercase();
        } else {
            if !words.ends_with('_') {
                words.push('_');
            }
            prev_lower = false;
        }
    }
    format!(
        "{}_{}",
        method.to_ascii_lowercase(),
        words.trim_matches('_')
    )
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Names every operation by [`BINDINGS`] (or [`derived_name`]) and puts its parameters in
/// canonical order. `doc` is an OpenAPI 3.0 document.
pub fn bind(doc: &mut Value) -> usize {
    let components = doc.get("components").cloned().unwrap_or(Value::Null);
    let paths_order: Vec<String> = doc
        .get("paths")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let mut changed_ops = 0;
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return 0;
    };
    // Paths in lexical order: the generated methods follow the document's order.
    let mut sorted: Vec<(String, Value)> = std::mem::take(paths).into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let reordered = sorted.iter().map(|(p, _)| p).ne(paths_order.iter());
    paths.extend(sorted);
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        let shared = item.remove("parameters");
        let had_shared = shared.is_some();
        let shared: Vec<Value> = shared
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        let template = path_names(path);
        for (method, op) in item.iter_mut() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            let mut changed = had_shared;
            let upper = method.to_ascii_uppercase();
            let name = bound_name(&upper, path)
                .map(str::to_string)
                .unwrap_or_else(|| derived_name(&upper, path));
            if op.get("operationId").and_then(Value::as_str) != Some(&name) {
                changed = true;
            }
            // First, whether the document had it or not, so its position is canonical too.
            let rest = std::mem::take(op);
            op.insert("operationId".into(), Value::String(name));
            op.extend(rest.into_iter().filter(|(k, _)| k != "operationId"));
            let own: Vec<Value> = op
                .get("parameters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut params: Vec<Value> = Vec::new();
            // An operation's own parameter overrides a path-level one of the same name and place.
            for p in shared.iter().chain(own.iter()) {
                let p = resolve_parameter(&components, p);
                let key = (p.get("in").cloned(), p.get("name").cloned());
                params.retain(|q| (q.get("in").cloned(), q.get("name").cloned()) != key);
                params.push(p);
            }
            params.sort_by_key(|p| sort_key(p, &template));
            if !params.is_empty() || op.contains_key("parameters") {
                let params = Value::Array(params);
                if op.get("parameters") != Some(&params) {
                    op.insert("parameters".into(), params);
                    changed = true;
                }
            }
            changed_ops += usize::from(changed);
        }
    }
    changed_ops.max(usize::from(reordered))
}

/// `METHOD path -> name` for each operation of `doc` that [`BINDINGS`] does not know (its name
/// was derived).
pub fn unbound(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (path, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            let upper = method.to_ascii_uppercase();
            if METHODS.contains(&method.as_str()) && bound_name(&upper, path).is_none() {
                out.push(format!("{upper} {path} -> {}", derived_name(&upper, path)));
            }
        }
    }
    out
}

/// The `{name}`s of a path template, in order.
fn path_names(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

fn resolve_parameter(components: &Value, p: &Value) -> Value {
    let Some(reference) = p.get("$ref").and_then(Value::as_str) else {
        return p.clone();
    };
    reference
        .strip_prefix("#/components/parameters/")
        .and_then(|name| components.get("parameters")?.get(name))
        .cloned()
        .unwrap_or_else(|| p.clone())
}

/// Path parameters first, in template order; then query, header and cookie ones, by name.
fn sort_key(p: &Value, template: &[String]) -> (u8, usize, String) {
    let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
    let place = match p.get("in").and_then(Value::as_str) {
        Some("path") => 0,
        Some("query") => 1,
        Some("header") => 2,
        _ => 3,
    };
    let position = if place == 0 {
        template
            .iter()
            .position(|t| t == name)
            .unwrap_or(usize::MAX)
    } else {
        0
    };
    (place, position, name.to_string())
}

/// Checks that no two operations of `doc` ended up with the same name.
pub fn duplicate_names(doc: &Value) -> Vec<String> {
    let mut seen: Map<String, Value> = Map::new();
    let mut duplicates = Vec::new();
    for (path, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for (method, op) in item.as_object().into_iter().flatten() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            let here = format!("{} {path}", method.to_ascii_uppercase());
            match seen.get(id) {
                Some(first) => duplicates.push(format!(
                    "`{id}` names both {} and {here}",
                    first.as_str().unwrap_or_default()
                )),
                None => {
                    seen.insert(id.to_string(), Value::String(here));
                }
            }
        }
    }
    duplicates
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_names_are_unique_and_keys_are_unique() {
        let mut names: Vec<_> = BINDINGS.iter().map(|b| b.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), BINDINGS.len());
        let mut keys: Vec<_> = BINDINGS.iter().map(|b| (b.method, b.path)).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), BINDINGS.len());
    }

    #[test]
    fn derived_names_follow_method_and_path() {
        assert_eq!(
            derived_name("POST", "/api/hubs/{hub}/:closeConnections"),
            "post_api_hubs_hub_close_connections"
        );
        assert_eq!(
            derived_name("HEAD", "/api/v1-preview/hub/{hub}"),
            "head_api_v1_preview_hub_hub"
        );
        assert_eq!(
            derived_name("GET", "/api/hubs/{hub}/connections/{connectionId}"),
            "get_api_hubs_hub_connections_connection_id"
        );
    }

    fn doc(op_id: &str, params: Value) -> Value {
        json!({ "openapi": "3.0.1", "info": { "title": "t", "version": "1" },
            "components": { "parameters": { "Api": { "name": "api-version", "in": "query", "required": true, "schema": { "type": "string" } } } },
            "paths": { "/api/hubs/{hub}/groups/{group}/:send": {
                "parameters": [ { "name": "hub", "in": "path", "required": true, "schema": { "type": "string" } } ],
                "post": { "operationId": op_id, "parameters": params, "responses": {} }
            } } })
    }

    #[test]
    fn binding_ignores_operation_id_and_parameter_order() {
        let group = json!({ "name": "group", "in": "path", "required": true, "schema": { "type": "string" } });
        let excluded = json!({ "name": "excluded", "in": "query", "schema": { "type": "array", "items": { "type": "string" } } });
        let api = json!({ "$ref": "#/components/parameters/Api" });
        let mut a = doc("SignalR_GroupBroadcast", json!([group, excluded, api]));
        let mut b = doc("Whatever", json!([api, excluded, group]));
        assert_eq!(bind(&mut a), 1);
        bind(&mut b);
        assert_eq!(a, b);
        let op = &a["paths"]["/api/hubs/{hub}/groups/{group}/:send"];
        assert_eq!(op["post"]["operationId"], "signal_r_service_send_to_group");
        assert!(op.get("parameters").is_none());
        let names: Vec<_> = op["post"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["hub", "group", "api-version", "excluded"]);
    }

    #[test]
    fn an_unknown_operation_gets_a_derived_name_and_is_reported() {
        let mut d = json!({ "paths": { "/api/hubs/{hub}/:frob": { "post": { "operationId": "Frob", "responses": {} } } } });
        bind(&mut d);
        assert_eq!(
            unbound(&d),
            ["POST /api/hubs/{hub}/:frob -> post_api_hubs_hub_frob"]
        );
        assert_eq!(
            d["paths"]["/api/hubs/{hub}/:frob"]["post"]["operationId"],
            "post_api_hubs_hub_frob"
        );
    }

    #[test]
    fn duplicate_names_are_found() {
        let d = json!({ "paths": {
            "/a": { "get": { "operationId": "x" } },
            "/b": { "get": { "operationId": "x" } } } });
        assert_eq!(duplicate_names(&d), ["`x` names both GET /a and GET /b"]);
    }
}

//! The normalization pass: named rewrites that make a published OpenAPI 3.0 document
//! digestible by progenitor 0.15, without touching the document on disk.
//!
//! Each rewrite is small, says why it exists, and reports how many places it changed, so the
//! build log and `cargo xtask regen` can show what was done to which document.

use serde_json::{Map, Value};

/// One named rewrite of the normalization pass.
pub struct Rewrite {
    /// Short, stable name (shown in summaries).
    pub name: &'static str,
    /// Why progenitor needs it, in one line.
    pub reason: &'static str,
    /// Applies the rewrite in place and returns how many places changed.
    pub apply: fn(&mut Value) -> usize,
}

/// Every rewrite, in the order they run.
pub const REWRITES: &[Rewrite] = &[
    Rewrite {
        name: "canonical-api-version",
        reason: "documents spell a version `v1` or `1.0`; the generated client sends and reports \
                 the service's own name for it",
        apply: canonical_api_version_rewrite,
    },
    Rewrite {
        name: "bind-operations",
        reason: "the hand-written layer calls methods by operation (METHOD + path), not by the \
                 document's operationId or parameter order; see `bind`",
        apply: crate::bind::bind,
    },
    Rewrite {
        name: "json-request-body",
        reason: "progenitor 0.15 takes one request content type per operation; the raw client \
                 sends JSON, and binary bodies (MessagePack, octet-stream) are sent by hand",
        apply: json_request_body,
    },
    Rewrite {
        name: "drop-error-responses",
        reason:
            "progenitor takes one error body type per operation and panics on a text/plain \
                 body beside an empty one; the hand-written layer reads every non-2xx answer itself",
        apply: drop_error_responses,
    },
    Rewrite {
        name: "drop-success-bodies",
        reason: "successes are answered with an empty body, which a typed body would fail to \
                 decode; an operation listing 200 and 202 then has a single success type",
        apply: drop_success_bodies,
    },
    Rewrite {
        name: "lift-string-constraints",
        reason: "a pattern or length on a string makes progenitor emit a validated newtype (and \
                 need the regress crate); the hand-written layer checks hub, application and \
                 group names itself, before any request, on every version",
        apply: lift_string_constraints,
    },
    Rewrite {
        name: "drop-read-only-properties",
        reason: "read-only properties of a request body are never sent; as fields they would \
                 make callers fill in what the service sets",
        apply: drop_read_only_properties,
    },
    Rewrite {
        name: "request-properties-not-nullable",
        reason: "the client never sends null for a body property; a nullable one would make \
                 callers wrap every value in an Option",
        apply: request_properties_not_nullable,
    },
    Rewrite {
        name: "widen-bare-object-items",
        reason: "message arguments are any JSON values, but some documents type array items as a \
                 property-less (even closed) object, which would reject strings and numbers",
        apply: widen_bare_object_items,
    },
    Rewrite {
        name: "require-path-parameters",
        reason: "progenitor asserts that path parameters are required and panics otherwise",
        apply: require_path_parameters,
    },
    Rewrite {
        name: "drop-vendor-extensions",
        reason: "x-ms-* annotations steer Azure's generators, not progenitor; dropping them keeps \
                 the normalized snapshot to what the generated client is made from",
        apply: drop_vendor_extensions,
    },
];

/// What one rewrite did to a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The rewrite's name (as the normalization report lists it).
    pub name: &'static str,
    /// How many places of the document it changed.
    pub changes: usize,
}

/// Runs every rewrite over `doc` (an OpenAPI 3.0 document) and reports the ones that changed it.
pub fn normalize(doc: &mut Value) -> Vec<Applied> {
    REWRITES
        .iter()
        .map(|r| Applied {
            name: r.name,
            changes: (r.apply)(doc),
        })
        .filter(|a| a.changes > 0)
        .collect()
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Calls `f` on every operation object of the document.
fn for_each_operation(doc: &mut Value, mut f: impl FnMut(&mut Map<String, Value>)) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (key, op) in item.iter_mut() {
            if METHODS.contains(&key.as_str())
                && let Some(op) = op.as_object_mut()
            {
                f(op);
            }
        }
    }
}

/// The service's name for an API version that documents also spell another way
/// (`v1-preview` and `v1` in the published 1.0-preview and 1.0 descriptions).
pub fn canonical_api_version(version: &str) -> &str {
    match version {
        "v1-preview" => "1.0-preview",
        "v1" => "1.0",
        other => other,
    }
}

fn canonical_api_version_rewrite(doc: &mut Value) -> usize {
    let Some(version) = doc.pointer_mut("/info/version") else {
        return 0;
    };
    let Some(given) = version.as_str() else {
        return 0;
    };
    let canonical = canonical_api_version(given);
    if canonical == given {
        return 0;
    }
    *version = Value::String(canonical.to_string());
    1
}

fn is_json(media: &str) -> bool {
    let essence = media.split(';').next().unwrap_or_default().trim();
    essence == "application/json" || essence.ends_with("+json")
}

fn json_request_body(doc: &mut Value) -> usize {
    let mut changed = 0;
    for_each_operation(doc, |op| {
        let Some(content) = op
            .get_mut("requestBody")
            .and_then(|b| b.get_mut("content"))
            .and_then(Value::as_object_mut)
        else {
            return;
        };
        if content.len() > 1 && content.keys().any(|m| is_json(m)) {
            content.retain(|media, _| is_json(media));
            changed += 1;
        }
    });
    changed
}

fn lift_string_constraints(doc: &mut Value) -> usize {
    match doc {
        Value::Object(map) => {
            let mut changed = 0;
            if map.get("type").and_then(Value::as_str) == Some("string") {
                for key in ["pattern", "minLength", "maxLength"] {
                    changed += usize::from(map.remove(key).is_some());
                }
            }
            changed + map.values_mut().map(lift_string_constraints).sum::<usize>()
        }
        Value::Array(items) => items.iter_mut().map(lift_string_constraints).sum(),
        _ => 0,
    }
}

/// Applies `f` to each schema a request body uses: inline ones in place, `$ref`ed ones once
/// each in `components`.
fn for_each_request_schema(doc: &mut Value, mut f: impl FnMut(&mut Value) -> usize) -> usize {
    let mut referenced = Vec::new();
    let mut changed = 0;
    for_each_operation(doc, |op| {
        let Some(content) = op
            .get_mut("requestBody")
            .and_then(|b| b.get_mut("content"))
            .and_then(Value::as_object_mut)
        else {
            return;
        };
        for media in content.values_mut() {
            let Some(schema) = media.get_mut("schema") else {
                continue;
            };
            match schema.get("$ref").and_then(Value::as_str) {
                Some(r) => referenced.push(r.to_string()),
                None => changed += f(schema),
            }
        }
    });
    referenced.sort();
    referenced.dedup();
    for r in referenced {
        let pointer = r.strip_prefix('#').unwrap_or_default().to_string();
        if let Some(schema) = doc.pointer_mut(&pointer) {
            changed += f(schema);
        }
    }
    changed
}

fn drop_read_only_properties(doc: &mut Value) -> usize {
    for_each_request_schema(doc, drop_read_only)
}

fn request_properties_not_nullable(doc: &mut Value) -> usize {
    for_each_request_schema(doc, |schema| {
        let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            return 0;
        };
        props
            .values_mut()
            .filter_map(Value::as_object_mut)
            .map(|p| usize::from(p.remove("nullable").is_some()))
            .sum()
    })
}

fn drop_read_only(schema: &mut Value) -> usize {
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return 0;
    };
    let read_only: Vec<String> = props
        .iter()
        .filter(|(_, p)| p.get("readOnly") == Some(&Value::Bool(true)))
        .map(|(k, _)| k.clone())
        .collect();
    for name in &read_only {
        props.remove(name);
    }
    if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|r| !read_only.iter().any(|n| r.as_str() == Some(n)));
    }
    read_only.len()
}

fn is_success(code: &str) -> bool {
    code.starts_with('2')
}

fn drop_error_responses(doc: &mut Value) -> usize {
    let mut changed = 0;
    for_each_operation(doc, |op| {
        if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
            let before = responses.len();
            responses.retain(|code, _| is_success(code));
            changed += before - responses.len();
        }
    });
    changed
}

fn drop_success_bodies(doc: &mut Value) -> usize {
    let mut changed = 0;
    for_each_operation(doc, |op| {
        if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
            for (code, response) in responses.iter_mut() {
                if is_success(code)
                    && let Some(r) = response.as_object_mut()
                    && r.remove("content").is_some()
                {
                    changed += 1;
                }
            }
        }
    });
    changed
}

/// A schema that says "an object" and nothing about its contents.
fn is_bare_object(schema: &Value) -> bool {
    let Some(map) = schema.as_object() else {
        return false;
    };
    map.get("type").and_then(Value::as_str) == Some("object")
        && !map.contains_key("properties")
        && !map.contains_key("$ref")
        && !matches!(map.get("additionalProperties"), Some(Value::Object(_)))
}

fn widen_bare_object_items(doc: &mut Value) -> usize {
    fn walk(v: &mut Value) -> usize {
        let mut changed = 0;
        match v {
            Value::Object(map) => {
                let is_array = map.get("type").and_then(Value::as_str) == Some("array");
                if is_array && map.get("items").is_some_and(is_bare_object) {
                    let description = map.get("items").and_then(|i| i.get("description")).cloned();
                    let mut any = Map::new();
                    if let Some(d) = description {
                        any.insert("description".into(), d);
                    }
                    map.insert("items".into(), Value::Object(any));
                    changed += 1;
                }
                for child in map.values_mut() {
                    changed += walk(child);
                }
            }
            Value::Array(items) => {
                for child in items {
                    changed += walk(child);
                }
            }
            _ => {}
        }
        changed
    }
    walk(doc)
}

fn require_path_parameters(doc: &mut Value) -> usize {
    fn fix(params: Option<&mut Value>) -> usize {
        let mut changed = 0;
        for p in params.and_then(Value::as_array_mut).into_iter().flatten() {
            let Some(p) = p.as_object_mut() else { continue };
            let in_path = p.get("in").and_then(Value::as_str) == Some("path");
            if in_path && p.get("required") != Some(&Value::Bool(true)) {
                p.insert("required".into(), Value::Bool(true));
                changed += 1;
            }
        }
        changed
    }
    let mut changed = 0;
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            changed += fix(item.get_mut("parameters"));
        }
    }
    for_each_operation(doc, |op| changed += fix(op.get_mut("parameters")));
    changed
}

fn drop_vendor_extensions(doc: &mut Value) -> usize {
    match doc {
        Value::Object(map) => {
            let before = map.len();
            map.retain(|k, _| !k.starts_with("x-ms-"));
            let mut changed = before - map.len();
            for child in map.values_mut() {
                changed += drop_vendor_extensions(child);
            }
            changed
        }
        Value::Array(items) => items.iter_mut().map(drop_vendor_extensions).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc_with(op: Value) -> Value {
        json!({ "openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": { "/p/{id}": { "post": op } } })
    }

    #[test]
    fn drop_error_responses_keeps_only_2xx() {
        let mut doc = doc_with(json!({ "responses": {
            "202": { "description": "ok" },
            "400": { "description": "bad", "content": { "text/plain": { "schema": { "type": "string" } } } },
            "404": { "description": "missing" },
            "default": { "description": "error" }
        }}));
        assert_eq!(drop_error_responses(&mut doc), 3);
        let codes: Vec<_> = doc["paths"]["/p/{id}"]["post"]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(codes, ["202"]);
    }

    #[test]
    fn drop_success_bodies_empties_2xx_content() {
        let mut doc = doc_with(json!({ "responses": {
            "200": { "description": "ok", "content": { "application/json": { "schema": { "type": "object" } } } },
            "202": { "description": "accepted" }
        }}));
        assert_eq!(drop_success_bodies(&mut doc), 1);
        assert!(doc["paths"]["/p/{id}"]["post"]["responses"]["200"]
            .get("content")
            .is_none());
    }

    #[test]
    fn widen_bare_object_items_turns_closed_empty_object_into_any() {
        let mut doc = json!({ "components": { "schemas": { "M": { "type": "object", "properties": {
            "Arguments": { "type": "array", "items": { "type": "object", "additionalProperties": false } },
            "Typed": { "type": "array", "items": { "type": "object", "properties": { "a": { "type": "string" } } } },
            "Map": { "type": "array", "items": { "type": "object", "additionalProperties": { "type": "string" } } }
        }}}}});
        assert_eq!(widen_bare_object_items(&mut doc), 1);
        let props = &doc["components"]["schemas"]["M"]["properties"];
        assert_eq!(props["Arguments"]["items"], json!({}));
        assert_eq!(props["Typed"]["items"]["type"], "object");
        assert_eq!(props["Map"]["items"]["type"], "object");
    }

    #[test]
    fn require_path_parameters_marks_them_required() {
        let mut doc = doc_with(json!({ "parameters": [
            { "name": "id", "in": "path", "schema": { "type": "string" } },
            { "name": "q", "in": "query", "schema": { "type": "string" } }
        ], "responses": {} }));
        assert_eq!(require_path_parameters(&mut doc), 1);
        let params = &doc["paths"]["/p/{id}"]["post"]["parameters"];
        assert_eq!(params[0]["required"], true);
        assert!(params[1].get("required").is_none());
    }

    #[test]
    fn drop_vendor_extensions_removes_x_ms_keys_at_any_depth() {
        let mut doc = json!({
            "x-ms-parameterized-host": { "hostTemplate": "{Endpoint}" },
            "x-keep": 1,
            "paths": { "/p": { "get": { "x-ms-examples": {}, "responses": {} } } }
        });
        assert_eq!(drop_vendor_extensions(&mut doc), 2);
        assert!(doc.get("x-ms-parameterized-host").is_none());
        assert_eq!(doc["x-keep"], 1);
        assert!(doc["paths"]["/p"]["get"].get("x-ms-examples").is_none());
    }

    #[test]
    fn canonical_api_version_renames_published_aliases() {
        let mut doc = json!({ "info": { "version": "v1" } });
        assert_eq!(canonical_api_version_rewrite(&mut doc), 1);
        assert_eq!(doc["info"]["version"], "1.0");
        let mut doc = json!({ "info": { "version": "2022-06-01" } });
        assert_eq!(canonical_api_version_rewrite(&mut doc), 0);
        assert_eq!(canonical_api_version("v1-preview"), "1.0-preview");
    }

    #[test]
    fn json_request_body_keeps_only_json() {
        let mut doc = doc_with(json!({ "requestBody": { "content": {
            "application/json": { "schema": {} },
            "application/x-msgpack": { "schema": {} },
            "application/octet-stream": { "schema": {} }
        } }, "responses": {} }));
        assert_eq!(json_request_body(&mut doc), 1);
        let content = doc["paths"]["/p/{id}"]["post"]["requestBody"]["content"]
            .as_object()
            .unwrap();
        assert_eq!(content.keys().collect::<Vec<_>>(), ["application/json"]);
    }

    #[test]
    fn lift_string_constraints_leaves_plain_strings() {
        let mut doc = doc_with(json!({ "parameters": [
            { "name": "id", "in": "path", "schema": { "type": "string", "pattern": "^[A-Za-z]$", "maxLength": 10 } },
            { "name": "n", "in": "query", "schema": { "type": "integer", "maximum": 3 } }
        ], "responses": {} }));
        assert_eq!(lift_string_constraints(&mut doc), 2);
        let params = &doc["paths"]["/p/{id}"]["post"]["parameters"];
        assert_eq!(params[0]["schema"], json!({ "type": "string" }));
        assert_eq!(params[1]["schema"]["maximum"], 3);
    }

    #[test]
    fn drop_read_only_properties_of_request_bodies() {
        let mut doc = doc_with(json!({ "requestBody": { "content": { "application/json": {
            "schema": { "$ref": "#/components/schemas/M" } } } }, "responses": {} }));
        doc["components"] = json!({ "schemas": { "M": { "type": "object", "required": ["a", "raw"],
            "properties": { "a": { "type": "string" }, "raw": { "type": "boolean", "readOnly": true } } } } });
        assert_eq!(drop_read_only_properties(&mut doc), 1);
        let m = &doc["components"]["schemas"]["M"];
        assert!(m["properties"].get("raw").is_none());
        assert_eq!(m["required"], json!(["a"]));
    }

    #[test]
    fn request_properties_not_nullable_drops_the_flag() {
        let mut doc = doc_with(json!({ "requestBody": { "content": { "application/json": {
            "schema": { "type": "object", "properties": {
                "Arguments": { "type": "array", "items": {}, "nullable": true },
                "Target": { "type": "string" } } } } } }, "responses": {} }));
        assert_eq!(request_properties_not_nullable(&mut doc), 1);
        let schema = &doc["paths"]["/p/{id}"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
        assert!(schema["properties"]["Arguments"].get("nullable").is_none());
    }

    #[test]
    fn normalize_reports_only_rewrites_that_changed_something() {
        let mut doc = doc_with(
            json!({ "responses": { "202": { "description": "ok" }, "400": { "description": "bad" } } }),
        );
        let applied = normalize(&mut doc);
        assert_eq!(
            applied,
            [
                Applied {
                    name: "bind-operations",
                    changes: 1
                },
                Applied {
                    name: "drop-error-responses",
                    changes: 1
                }
            ]
        );
    }
}

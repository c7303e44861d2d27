//! A version-neutral listing of a document's operations, and the difference between two
//! listings. Used by `cargo xtask spec-diff` and by tests that check the specs against the
//! published list of operations.
//!
//! The listing covers what a caller of the service depends on: paths and methods, parameters
//! (place, name, type, required, pattern and length limits), request content types, and per
//! response code its content types, headers and body schema (by name and properties, which is
//! how error schemas are compared). Prose (descriptions, summaries) and `operationId`s are left
//! out: the raw clients bind by operation, not by name (see [`crate::bind`]).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// One parameter as the published listings describe it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Parameter {
    /// `path`, `query`, `header` or `body`.
    pub location: String,
    /// The parameter's name as sent.
    pub name: String,
    /// Its schema type (`string`, `integer`, ...).
    pub ty: String,
    /// Whether the caller must send it.
    pub required: bool,
    /// The regular expression a string must match, if any.
    pub pattern: Option<String>,
    /// The shortest string allowed, if limited.
    pub min_length: Option<u64>,
    /// The longest string allowed, if limited.
    pub max_length: Option<u64>,
}

impl Parameter {
    /// The published notation plus the constraints, for diffs.
    pub fn describe(&self) -> String {
        let mut text = self.to_string();
        if let Some(p) = &self.pattern {
            text.push_str(&format!(" pattern={p}"));
        }
        if self.min_length.is_some() || self.max_length.is_some() {
            let bound = |b: Option<u64>| b.map(|n| n.to_string()).unwrap_or_default();
            text.push_str(&format!(
                " length={}..{}",
                bound(self.min_length),
                bound(self.max_length)
            ));
        }
        text
    }
}

/// What one response code of an operation carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// Media types of the body, in document order.
    pub content_types: Vec<String>,
    /// Header names, sorted.
    pub headers: Vec<String>,
    /// The body schema: its name (when referenced) and property names, e.g.
    /// `ErrorDetail{code,details,inner,message,target}`; empty without a body.
    pub schema: String,
}

impl fmt::Display for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location == "body" {
            return write!(f, "body:{}", self.name);
        }
        let req = if self.required {
            "required"
        } else {
            "optional"
        };
        write!(f, "{}:{}:{}:{}", self.location, self.name, self.ty, req)
    }
}

/// One operation: what a caller sends and which status codes it may get back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The published `operationId`.
    pub operation_id: String,
    /// Its parameters, in a stable order.
    pub parameters: Vec<Parameter>,
    /// Media types of the request body, in document order.
    pub request_content_types: Vec<String>,
    /// Response codes, in document order.
    pub responses: Vec<String>,
    /// Per response code, what it carries.
    pub response_details: BTreeMap<String, Response>,
}

/// Operations keyed by `(METHOD, path)`.
pub type Operations = BTreeMap<(String, String), Operation>;

/// Lists the operations of an OpenAPI 3.0 document (upgrade Swagger 2.0 first).
/// Body parameters are named as the spec names them (`x-body-name`-free documents use `body`).
pub fn list(doc: &Value) -> Operations {
    let mut out = Operations::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for (path, item) in paths {
        let shared = item.get("parameters").and_then(Value::as_array);
        for (method, op) in item.as_object().into_iter().flatten() {
            if !matches!(
                method.as_str(),
                "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
            ) {
                continue;
            }
            let mut parameters: BTreeMap<(String, String), Parameter> = BTreeMap::new();
            let own = op.get("parameters").and_then(Value::as_array);
            for p in shared
                .into_iter()
                .flatten()
                .chain(own.into_iter().flatten())
            {
                let p = resolve(doc, p);
                let location = str_of(p, "in");
                let name = str_of(p, "name");
                let ty = p
                    .get("schema")
                    .map(|s| type_name(doc, s))
                    .unwrap_or_default();
                let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
                let schema = p.get("schema").map(|s| resolve(doc, s));
                let constraint = |key: &str| schema.and_then(|s| s.get(key));
                parameters.insert(
                    (location.clone(), name.clone()),
                    Parameter {
                        location,
                        name,
                        ty,
                        required,
                        pattern: constraint("pattern")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        min_length: constraint("minLength").and_then(Value::as_u64),
                        max_length: constraint("maxLength").and_then(Value::as_u64),
                    },
                );
            }
            let mut parameters: Vec<Parameter> = parameters.into_values().collect();
            let body = op.get("requestBody").map(|b| resolve(doc, b));
            if body.is_some() {
                parameters.push(Parameter {
                    location: "body".into(),
                    name: "message".into(),
                    ty: String::new(),
                    required: true,
                    pattern: None,
                    min_length: None,
                    max_length: None,
                });
            }
            let request_content_types = body
                .and_then(|b| b.get("content"))
                .and_then(Value::as_object)
                .map(|c| c.keys().cloned().collect())
                .unwrap_or_default();
            let mut responses = Vec::new();
            let mut response_details = BTreeMap::new();
            for (code, r) in op
                .get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                responses.push(code.clone());
                response_details.insert(code.clone(), response(doc, resolve(doc, r)));
            }
            out.insert(
                (method.to_uppercase(), path.clone()),
                Operation {
                    operation_id: str_of(op, "operationId"),
                    parameters,
                    request_content_types,
                    responses,
                    response_details,
                },
            );
        }
    }
    out
}

fn response(doc: &Value, r: &Value) -> Response {
    let content = r.get("content").and_then(Value::as_object);
    let mut headers: Vec<String> = r
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| h.keys().cloned().collect())
        .unwrap_or_default();
    headers.sort();
    // Every media type of a response shares one schema in these documents; the first stands
    // for all.
    let schema = content
        .and_then(|c| c.values().next())
        .and_then(|m| m.get("schema"))
        .map(|s| schema_summary(doc, s))
        .unwrap_or_default();
    Response {
        content_types: content
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default(),
        headers,
        schema,
    }
}

/// `Name{prop,prop}` for a referenced object schema, `{prop,prop}` for an inline one, the type
/// otherwise.
fn schema_summary(doc: &Value, schema: &Value) -> String {
    let name = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or_default();
    let resolved = resolve(doc, schema);
    match resolved.get("properties").and_then(Value::as_object) {
        Some(props) => {
            let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
            names.sort();
            format!("{name}{{{}}}", names.join(","))
        }
        None if !name.is_empty() => name.to_string(),
        None => type_name(doc, resolved),
    }
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|p| doc.pointer(p))
            .unwrap_or(v),
        None => v,
    }
}

fn type_name(doc: &Value, schema: &Value) -> String {
    let schema = resolve(doc, schema);
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => {
            let item = schema
                .get("items")
                .map(|i| type_name(doc, i))
                .unwrap_or_default();
            format!("{item}[]")
        }
        Some(t) => t.to_string(),
        None => String::new(),
    }
}

/// What differs between two listings.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Operations only the new listing has.
    pub added: Vec<String>,
    /// Operations only the old listing has.
    pub removed: Vec<String>,
    /// Operations both have, described differently.
    pub changed: Vec<String>,
}

impl Diff {
    /// Whether the listings agree.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.added {
            writeln!(f, "+ {line}")?;
        }
        for line in &self.removed {
            writeln!(f, "- {line}")?;
        }
        for line in &self.changed {
            writeln!(f, "~ {line}")?;
        }
        Ok(())
    }
}

/// Compares `new` against `old`: operations, their parameters and their response codes.
pub fn diff(old: &Operations, new: &Operations) -> Diff {
    let mut d = Diff::default();
    for (key, op) in new {
        let label = format!("{} {}", key.0, key.1);
        match old.get(key) {
            None => d.added.push(format!("{label} ({})", op.operation_id)),
            Some(before) => {
                for p in &op.parameters {
                    match before
                        .parameters
                        .iter()
                        .find(|q| q.location == p.location && q.name == p.name)
                    {
                        None => d
                            .changed
                            .push(format!("{label}: parameter added {}", p.describe())),
                        Some(q) if q != p => d.changed.push(format!(
                            "{label}: parameter changed {} -> {}",
                            q.describe(),
                            p.describe()
                        )),
                        Some(_) => {}
                    }
                }
                for q in &before.parameters {
                    if !op
                        .parameters
                        .iter()
                        .any(|p| p.location == q.location && p.name == q.name)
                    {
                        d.changed
                            .push(format!("{label}: parameter removed {}", q.describe()));
                    }
                }
                if op.request_content_types != before.request_content_types {
                    d.changed.push(format!(
                        "{label}: request content types {} -> {}",
                        list_text(&before.request_content_types),
                        list_text(&op.request_content_types)
                    ));
                }
                let (mut old_codes, mut new_codes) =
                    (before.responses.clone(), op.responses.clone());
                old_codes.sort();
                new_codes.sort();
                if old_codes != new_codes {
                    d.changed.push(format!(
                        "{label}: responses {} -> {}",
                        before.responses.join(","),
                        op.responses.join(",")
                    ));
                }
                for (code, now) in &op.response_details {
                    let Some(was) = before.response_details.get(code) else {
                        continue;
                    };
                    let mut note = |what: &str, a: String, b: String| {
                        if a != b {
                            d.changed
                                .push(format!("{label}: response {code} {what} {a} -> {b}"));
                        }
                    };
                    note(
                        "content types",
                        list_text(&was.content_types),
                        list_text(&now.content_types),
                    );
                    note("headers", list_text(&was.headers), list_text(&now.headers));
                    note(
                        "schema",
                        text_or_none(&was.schema),
                        text_or_none(&now.schema),
                    );
                }
            }
        }
    }
    for (key, op) in old {
        if !new.contains_key(key) {
            d.removed
                .push(format!("{} {} ({})", key.0, key.1, op.operation_id));
        }
    }
    d
}

fn list_text(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".into()
    } else {
        items.join(",")
    }
}

fn text_or_none(text: &str) -> String {
    if text.is_empty() {
        "(none)".into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(extra_param: bool, codes: &[&str]) -> Value {
        let mut params = vec![
            json!({ "name": "hub", "in": "path", "required": true, "schema": { "type": "string" } }),
        ];
        if extra_param {
            params.push(json!({ "name": "excluded", "in": "query", "schema": { "type": "array", "items": { "type": "string" } } }));
        }
        let responses: serde_json::Map<String, Value> = codes
            .iter()
            .map(|c| (c.to_string(), json!({ "description": "" })))
            .collect();
        json!({ "paths": { "/api/hubs/{hub}": { "post": {
            "operationId": "Broadcast", "parameters": params,
            "requestBody": { "content": {} }, "responses": responses
        } } } })
    }

    #[test]
    fn lists_parameters_in_published_notation() {
        let ops = list(&doc(true, &["202", "400"]));
        let op = &ops[&("POST".to_string(), "/api/hubs/{hub}".to_string())];
        let params: Vec<String> = op.parameters.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            params,
            [
                "path:hub:string:required",
                "query:excluded:string[]:optional",
                "body:message"
            ]
        );
        assert_eq!(op.responses, ["202", "400"]);
    }

    #[test]
    fn diff_reports_parameter_and_response_changes() {
        let old = list(&doc(true, &["202", "400"]));
        let new = list(&doc(false, &["202"]));
        let d = diff(&old, &new);
        assert_eq!(
            d.changed,
            [
                "POST /api/hubs/{hub}: parameter removed query:excluded:string[]:optional",
                "POST /api/hubs/{hub}: responses 202,400 -> 202"
            ]
        );
        assert!(d.added.is_empty() && d.removed.is_empty());
        assert!(diff(&old, &old).is_empty());
    }

    #[test]
    fn diff_reports_content_types_headers_error_schemas_and_patterns() {
        let op = |hub_schema: Value, media: &[&str], header: bool, error_props: Value| {
            let content: serde_json::Map<String, Value> = media
                .iter()
                .map(|m| {
                    (
                        m.to_string(),
                        json!({ "schema": { "$ref": "#/components/schemas/Msg" } }),
                    )
                })
                .collect();
            let mut default = json!({ "description": "", "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/ErrorDetail" } } } });
            if header {
                default["headers"] =
                    json!({ "x-ms-error-code": { "schema": { "type": "string" } } });
            }
            json!({
                "components": { "schemas": { "ErrorDetail": { "type": "object", "properties": error_props } } },
                "paths": { "/api/hubs/{hub}/:send": { "post": {
                    "parameters": [ { "name": "hub", "in": "path", "required": true, "schema": hub_schema } ],
                    "requestBody": { "content": content },
                    "responses": { "202": { "description": "" }, "default": default }
                } } }
            })
        };
        let published = op(
            json!({ "type": "string", "pattern": "^[A-Za-z]+$" }),
            &["application/json", "application/x-msgpack"],
            true,
            json!({ "code": {}, "message": {} }),
        );
        let authored = op(
            json!({ "type": "string" }),
            &["application/json"],
            false,
            json!({ "code": {} }),
        );
        let d = diff(&list(&authored), &list(&published));
        assert_eq!(
            d.changed,
            [
                "POST /api/hubs/{hub}/:send: parameter changed path:hub:string:required -> path:hub:string:required pattern=^[A-Za-z]+$",
                "POST /api/hubs/{hub}/:send: request content types application/json -> application/json,application/x-msgpack",
                "POST /api/hubs/{hub}/:send: response default headers (none) -> x-ms-error-code",
                "POST /api/hubs/{hub}/:send: response default schema ErrorDetail{code} -> ErrorDetail{code,message}",
            ]
        );
        assert!(diff(&list(&published), &list(&published)).is_empty());
    }
}

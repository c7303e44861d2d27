//! A version-neutral listing of a document's operations, and the difference between two
//! listings. Used by `cargo xtask spec-diff` and by tests that check the specs against the
//! published list of operations.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// One parameter as the published listings describe it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Parameter {
    pub location: String,
    pub name: String,
    pub ty: String,
    pub required: bool,
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
    pub operation_id: String,
    pub parameters: Vec<Parameter>,
    pub responses: Vec<String>,
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
                parameters.insert(
                    (location.clone(), name.clone()),
                    Parameter {
                        location,
                        name,
                        ty,
                        required,
                    },
                );
            }
            let mut parameters: Vec<Parameter> = parameters.into_values().collect();
            if op.get("requestBody").is_some() {
                parameters.push(Parameter {
                    location: "body".into(),
                    name: "message".into(),
                    ty: String::new(),
                    required: true,
                });
            }
            let responses = op
                .get("responses")
                .and_then(Value::as_object)
                .map(|r| r.keys().cloned().collect())
                .unwrap_or_default();
            out.insert(
                (method.to_uppercase(), path.clone()),
                Operation {
                    operation_id: str_of(op, "operationId"),
                    parameters,
                    responses,
                },
            );
        }
    }
    out
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
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

impl Diff {
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
                        None => d.changed.push(format!("{label}: parameter added {p}")),
                        Some(q) if q != p => d
                            .changed
                            .push(format!("{label}: parameter changed {q} -> {p}")),
                        Some(_) => {}
                    }
                }
                for q in &before.parameters {
                    if !op
                        .parameters
                        .iter()
                        .any(|p| p.location == q.location && p.name == q.name)
                    {
                        d.changed.push(format!("{label}: parameter removed {q}"));
                    }
                }
                if op.responses != before.responses {
                    d.changed.push(format!(
                        "{label}: responses {} -> {}",
                        before.responses.join(","),
                        op.responses.join(",")
                    ));
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
}

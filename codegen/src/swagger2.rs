//! Upgrade of a Swagger 2.0 document to OpenAPI 3.0, in memory.
//!
//! Covers what API descriptions of this service use: path, query, header and body parameters
//! (global ones referenced with `$ref` are inlined), `collectionFormat`, schemas under
//! `definitions`, response bodies and headers, `consumes`/`produces`, API-key and basic security
//! schemes, and `x-ms-parameterized-host`. Vendor extensions are carried over untouched; dropping
//! them is the normalizer's decision, not the upgrade's.

use serde_json::{json, Map, Value};

use crate::SpecError;

/// Upgrades `doc` (Swagger 2.0) to an OpenAPI 3.0.3 document.
pub fn upgrade(doc: &Value) -> Result<Value, SpecError> {
    let root = doc
        .as_object()
        .ok_or_else(|| SpecError::document("the document is not a JSON object"))?;

    let mut out = Map::new();
    out.insert("openapi".into(), json!("3.0.3"));
    out.insert(
        "info".into(),
        root.get("info").cloned().unwrap_or_else(|| json!({})),
    );
    out.insert("servers".into(), Value::Array(servers(root)));

    let consumes = string_list(root.get("consumes"));
    let produces = string_list(root.get("produces"));

    let mut paths = Map::new();
    if let Some(src_paths) = root.get("paths").and_then(Value::as_object) {
        for (path, item) in src_paths {
            paths.insert(
                path.clone(),
                path_item(doc, path, item, &consumes, &produces)?,
            );
        }
    }
    out.insert("paths".into(), Value::Object(paths));

    let mut components = Map::new();
    if let Some(defs) = root.get("definitions").and_then(Value::as_object) {
        let schemas = defs
            .iter()
            .map(|(name, schema)| (name.clone(), schema_v3(schema)))
            .collect();
        components.insert("schemas".into(), Value::Object(schemas));
    }
    if let Some(defs) = root.get("securityDefinitions").and_then(Value::as_object) {
        let mut schemes = Map::new();
        for (name, def) in defs {
            schemes.insert(name.clone(), security_scheme(name, def)?);
        }
        components.insert("securitySchemes".into(), Value::Object(schemes));
    }
    out.insert("components".into(), Value::Object(components));

    for key in ["security", "tags", "externalDocs"] {
        if let Some(v) = root.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    for (key, v) in root {
        if key.starts_with("x-") {
            out.insert(key.clone(), v.clone());
        }
    }
    Ok(Value::Object(out))
}

fn servers(root: &Map<String, Value>) -> Vec<Value> {
    let base_path = root.get("basePath").and_then(Value::as_str).unwrap_or("");
    if let Some(template) = root
        .get("x-ms-parameterized-host")
        .and_then(|h| h.get("hostTemplate"))
        .and_then(Value::as_str)
    {
        return vec![json!({ "url": format!("{template}{base_path}") })];
    }
    let Some(host) = root.get("host").and_then(Value::as_str) else {
        return Vec::new();
    };
    let schemes = string_list(root.get("schemes"));
    let schemes = if schemes.is_empty() {
        vec!["https".to_string()]
    } else {
        schemes
    };
    schemes
        .iter()
        .map(|scheme| json!({ "url": format!("{scheme}://{host}{base_path}") }))
        .collect()
}

fn path_item(
    doc: &Value,
    path: &str,
    item: &Value,
    consumes: &[String],
    produces: &[String],
) -> Result<Value, SpecError> {
    let item = item
        .as_object()
        .ok_or_else(|| SpecError::document(format!("path {path} is not an object")))?;
    let shared_params = item
        .get("parameters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();

    let mut out = Map::new();
    for (key, value) in item {
        match key.as_str() {
            "get" | "put" | "post" | "delete" | "options" | "head" | "patch" => {
                let op = operation(doc, path, key, value, &shared_params, consumes, produces)?;
                out.insert(key.clone(), op);
            }
            "parameters" => {}
            other => {
                out.insert(other.to_string(), value.clone());
            }
        }
    }
    Ok(Value::Object(out))
}

fn operation(
    doc: &Value,
    path: &str,
    method: &str,
    op: &Value,
    shared_params: &[Value],
    consumes: &[String],
    produces: &[String],
) -> Result<Value, SpecError> {
    let src = op.as_object().ok_or_else(|| {
        SpecError::document(format!("{} {path} is not an object", method.to_uppercase()))
    })?;
    let op_name = src
        .get("operationId")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{} {path}", method.to_uppercase()));
    let fail = |reason: String| SpecError::operation(&op_name, reason);

    let consumes = match string_list(src.get("consumes")) {
        v if v.is_empty() => consumes.to_vec(),
        v => v,
    };
    let produces = match string_list(src.get("produces")) {
        v if v.is_empty() => produces.to_vec(),
        v => v,
    };

    // Operation parameters override path-level ones with the same name and location.
    let mut params: Vec<Value> = Vec::new();
    let own = src
        .get("parameters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for raw in shared_params.iter().chain(own.iter()) {
        let p = resolve_ref(doc, raw).map_err(&fail)?;
        let key = (p.get("name").cloned(), p.get("in").cloned());
        params.retain(|q| (q.get("name").cloned(), q.get("in").cloned()) != key);
        params.push(p);
    }

    let mut out = Map::new();
    for (key, value) in src {
        match key.as_str() {
            "parameters" | "responses" | "consumes" | "produces" | "schemes" => {}
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }

    let mut v3_params = Vec::new();
    for p in &params {
        match p.get("in").and_then(Value::as_str) {
            Some("body") => {
                // Every media type the operation consumes takes the same body schema; choosing
                // among them is the normalizer's decision.
                let media: Vec<String> = if consumes.is_empty() {
                    vec!["application/json".into()]
                } else {
                    consumes.clone()
                };
                let schema = p.get("schema").map(schema_v3).unwrap_or_else(|| json!({}));
                let content: Map<String, Value> = media
                    .into_iter()
                    .map(|m| (m, json!({ "schema": schema.clone() })))
                    .collect();
                let mut body = Map::new();
                if let Some(d) = p.get("description") {
                    body.insert("description".into(), d.clone());
                }
                body.insert(
                    "required".into(),
                    json!(p.get("required").and_then(Value::as_bool).unwrap_or(false)),
                );
                body.insert("content".into(), Value::Object(content));
                out.insert("requestBody".into(), Value::Object(body));
            }
            Some("path" | "query" | "header") => v3_params.push(parameter_v3(p)),
            Some(other) => {
                return Err(fail(format!(
                    "parameter location `{other}` is not supported by the upgrade"
                )))
            }
            None => return Err(fail("a parameter has no `in`".into())),
        }
    }
    if !v3_params.is_empty() {
        out.insert("parameters".into(), Value::Array(v3_params));
    }

    let mut responses = Map::new();
    if let Some(src_responses) = src.get("responses").and_then(Value::as_object) {
        for (code, response) in src_responses {
            let response = resolve_ref(doc, response).map_err(&fail)?;
            responses.insert(code.clone(), response_v3(&response, &produces));
        }
    }
    out.insert("responses".into(), Value::Object(responses));
    Ok(Value::Object(out))
}

/// Follows a local `$ref` (global parameters and responses of Swagger 2.0) to its target.
fn resolve_ref(doc: &Value, v: &Value) -> Result<Value, String> {
    let Some(reference) = v.get("$ref").and_then(Value::as_str) else {
        return Ok(v.clone());
    };
    let pointer = reference
        .strip_prefix('#')
        .ok_or_else(|| format!("external reference `{reference}` is not supported"))?;
    doc.pointer(pointer)
        .cloned()
        .ok_or_else(|| format!("reference `{reference}` points nowhere"))
}

fn parameter_v3(p: &Value) -> Value {
    let mut out = Map::new();
    let mut schema = Map::new();
    for (key, value) in p.as_object().into_iter().flatten() {
        match key.as_str() {
            "name" | "in" | "description" | "required" => {
                out.insert(key.clone(), value.clone());
            }
            "collectionFormat" => match value.as_str() {
                Some("multi") => {
                    out.insert("style".into(), json!("form"));
                    out.insert("explode".into(), json!(true));
                }
                Some("csv") | None => {
                    out.insert("style".into(), json!("form"));
                    out.insert("explode".into(), json!(false));
                }
                Some("ssv") => {
                    out.insert("style".into(), json!("spaceDelimited"));
                }
                Some("pipes") => {
                    out.insert("style".into(), json!("pipeDelimited"));
                }
                Some(_) => {}
            },
            "type" | "format" | "items" | "enum" | "default" | "minimum" | "maximum"
            | "minLength" | "maxLength" | "pattern" | "minItems" | "maxItems" => {
                schema.insert(key.clone(), schema_v3(value));
            }
            k if k.starts_with("x-") => {
                out.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    if p.get("in").and_then(Value::as_str) == Some("path") {
        out.insert("required".into(), json!(true));
    }
    out.insert("schema".into(), Value::Object(schema));
    Value::Object(out)
}

fn response_v3(response: &Value, produces: &[String]) -> Value {
    let mut out = Map::new();
    out.insert(
        "description".into(),
        response
            .get("description")
            .cloned()
            .unwrap_or_else(|| json!("")),
    );
    if let Some(schema) = response.get("schema") {
        let schema = schema_v3(schema);
        let media: Vec<String> = if produces.is_empty() {
            vec!["application/json".into()]
        } else {
            produces.to_vec()
        };
        let content: Map<String, Value> = media
            .into_iter()
            .map(|m| (m, json!({ "schema": schema.clone() })))
            .collect();
        out.insert("content".into(), Value::Object(content));
    }
    if let Some(headers) = response.get("headers").and_then(Value::as_object) {
        let headers: Map<String, Value> = headers
            .iter()
            .map(|(name, h)| {
                let mut header = Map::new();
                let mut schema = h.clone();
                if let Some(o) = schema.as_object_mut() {
                    // The description and vendor extensions describe the header, not its value.
                    let keys: Vec<String> = o
                        .keys()
                        .filter(|k| *k == "description" || k.starts_with("x-"))
                        .cloned()
                        .collect();
                    for key in keys {
                        if let Some(v) = o.remove(&key) {
                            header.insert(key, v);
                        }
                    }
                }
                header.insert("schema".into(), schema_v3(&schema));
                (name.clone(), Value::Object(header))
            })
            .collect();
        out.insert("headers".into(), Value::Object(headers));
    }
    for (key, v) in response.as_object().into_iter().flatten() {
        if key.starts_with("x-") {
            out.insert(key.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// Rewrites a Swagger 2.0 schema into its OpenAPI 3.0 form: references move to
/// `#/components/schemas`, and `x-nullable` becomes `nullable`.
fn schema_v3(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                match key.as_str() {
                    "$ref" => {
                        let r = value.as_str().unwrap_or_default();
                        let r = r
                            .strip_prefix("#/definitions/")
                            .map(|name| format!("#/components/schemas/{name}"))
                            .unwrap_or_else(|| r.to_string());
                        out.insert(key.clone(), json!(r));
                    }
                    "x-nullable" => {
                        out.insert("nullable".into(), value.clone());
                    }
                    "properties" | "definitions" => {
                        let props = value
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(k, v)| (k.clone(), schema_v3(v)))
                            .collect();
                        out.insert(key.clone(), Value::Object(props));
                    }
                    "example" | "enum" | "default" => {
                        out.insert(key.clone(), value.clone());
                    }
                    _ => {
                        out.insert(key.clone(), schema_v3(value));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(schema_v3).collect()),
        other => other.clone(),
    }
}

fn security_scheme(name: &str, def: &Value) -> Result<Value, SpecError> {
    let kind = def.get("type").and_then(Value::as_str).unwrap_or_default();
    let mut out = Map::new();
    match kind {
        "apiKey" => {
            out.insert("type".into(), json!("apiKey"));
            for key in ["name", "in", "description"] {
                if let Some(v) = def.get(key) {
                    out.insert(key.into(), v.clone());
                }
            }
        }
        "basic" => {
            out.insert("type".into(), json!("http"));
            out.insert("scheme".into(), json!("basic"));
        }
        "oauth2" => {
            let flow = match def.get("flow").and_then(Value::as_str) {
                Some("implicit") => "implicit",
                Some("password") => "password",
                Some("application") => "clientCredentials",
                _ => "authorizationCode",
            };
            let mut f = Map::new();
            for (src, dst) in [
                ("authorizationUrl", "authorizationUrl"),
                ("tokenUrl", "tokenUrl"),
            ] {
                if let Some(v) = def.get(src) {
                    f.insert(dst.into(), v.clone());
                }
            }
            f.insert(
                "scopes".into(),
                def.get("scopes").cloned().unwrap_or_else(|| json!({})),
            );
            out.insert("type".into(), json!("oauth2"));
            out.insert("flows".into(), json!({ flow: f }));
        }
        other => {
            return Err(SpecError::document(format!(
                "security scheme `{name}` has unsupported type `{other}`"
            )))
        }
    }
    Ok(Value::Object(out))
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        json!({
            "swagger": "2.0",
            "info": { "title": "t", "version": "2022-06-01" },
            "x-ms-parameterized-host": { "hostTemplate": "{Endpoint}" },
            "consumes": ["application/json"],
            "produces": ["application/json"],
            "parameters": {
                "ApiVersion": { "name": "api-version", "in": "query", "required": true, "type": "string" }
            },
            "paths": {
                "/api/hubs/{hub}/:send": {
                    "post": {
                        "operationId": "Send",
                        "parameters": [
                            { "name": "hub", "in": "path", "required": true, "type": "string" },
                            { "name": "excluded", "in": "query", "type": "array",
                              "items": { "type": "string" }, "collectionFormat": "multi" },
                            { "$ref": "#/parameters/ApiVersion" },
                            { "name": "message", "in": "body", "required": true,
                              "schema": { "$ref": "#/definitions/Msg" } }
                        ],
                        "responses": {
                            "202": { "description": "ok", "schema": { "$ref": "#/definitions/Resp" } },
                            "default": { "description": "error" }
                        }
                    }
                }
            },
            "definitions": {
                "Msg": { "type": "object", "properties": { "target": { "type": "string" } } },
                "Resp": { "type": "object" }
            }
        })
    }

    #[test]
    fn moves_body_parameter_into_request_body() {
        let v3 = upgrade(&sample()).unwrap();
        let op = &v3["paths"]["/api/hubs/{hub}/:send"]["post"];
        assert_eq!(
            op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Msg"
        );
        assert_eq!(op["requestBody"]["required"], true);
        let names: Vec<_> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["hub", "excluded", "api-version"]);
    }

    #[test]
    fn every_consumed_media_type_gets_the_body_schema() {
        let mut doc = sample();
        doc["paths"]["/api/hubs/{hub}/:send"]["post"]["consumes"] =
            json!(["application/json", "application/x-msgpack"]);
        doc["paths"]["/api/hubs/{hub}/:send"]["post"]["responses"]["default"]["headers"] =
            json!({ "x-ms-error-code": { "type": "string", "x-ms-client-name": "ErrorCode" } });
        let v3 = upgrade(&doc).unwrap();
        let op = &v3["paths"]["/api/hubs/{hub}/:send"]["post"];
        let content = op["requestBody"]["content"].as_object().unwrap();
        assert_eq!(
            content.keys().collect::<Vec<_>>(),
            ["application/json", "application/x-msgpack"]
        );
        assert_eq!(
            content["application/x-msgpack"]["schema"]["$ref"],
            "#/components/schemas/Msg"
        );
        let header = &op["responses"]["default"]["headers"]["x-ms-error-code"];
        assert_eq!(header["schema"], json!({ "type": "string" }));
        assert_eq!(header["x-ms-client-name"], "ErrorCode");
    }

    #[test]
    fn multi_collection_format_becomes_exploded_form() {
        let v3 = upgrade(&sample()).unwrap();
        let excluded = &v3["paths"]["/api/hubs/{hub}/:send"]["post"]["parameters"][1];
        assert_eq!(excluded["style"], "form");
        assert_eq!(excluded["explode"], true);
        assert_eq!(excluded["schema"]["type"], "array");
        assert_eq!(excluded["schema"]["items"]["type"], "string");
    }

    #[test]
    fn inlines_global_parameter_references() {
        let v3 = upgrade(&sample()).unwrap();
        let api_version = &v3["paths"]["/api/hubs/{hub}/:send"]["post"]["parameters"][2];
        assert_eq!(api_version["name"], "api-version");
        assert_eq!(api_version["required"], true);
        assert_eq!(api_version["schema"]["type"], "string");
    }

    #[test]
    fn definitions_become_component_schemas() {
        let v3 = upgrade(&sample()).unwrap();
        assert!(v3["components"]["schemas"]["Msg"].is_object());
        let ok = &v3["paths"]["/api/hubs/{hub}/:send"]["post"]["responses"]["202"];
        assert_eq!(
            ok["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Resp"
        );
        assert_eq!(v3["servers"][0]["url"], "{Endpoint}");
    }

    #[test]
    fn dangling_reference_names_the_operation() {
        let mut doc = sample();
        doc["paths"]["/api/hubs/{hub}/:send"]["post"]["parameters"][2]["$ref"] =
            json!("#/parameters/Missing");
        let err = upgrade(&doc).unwrap_err().to_string();
        assert!(err.contains("Send"), "{err}");
        assert!(err.contains("#/parameters/Missing"), "{err}");
    }
}

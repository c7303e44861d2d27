//! The spec pipeline behind `build.rs` and `cargo xtask`: read a published API description
//! (Swagger 2.0 or OpenAPI 3.0.x, recognized by content), upgrade it to OpenAPI 3.0 in memory,
//! normalize what progenitor cannot take, and generate a raw client with progenitor.
//!
//! Failures never panic: they come back as a [`SpecError`] naming the file, the operation (when
//! one is to blame) and the reason. progenitor itself may panic on input it does not expect;
//! such a panic is caught, and the operation that causes it is found by generating each
//! operation on its own.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use serde_json::Value;

pub mod bind;
pub mod normalize;
pub mod operations;
pub mod surface;
pub mod swagger2;

/// Why a spec could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The document, when the error is about one file.
    pub file: Option<PathBuf>,
    /// The operation (method and path, or `operationId`) at fault, if one is.
    pub operation: Option<String>,
    /// What is wrong, in a sentence.
    pub reason: String,
}

impl SpecError {
    /// An error about the document as a whole.
    pub fn document(reason: impl Into<String>) -> Self {
        Self {
            file: None,
            operation: None,
            reason: reason.into(),
        }
    }

    /// An error about one operation.
    pub fn operation(operation: &str, reason: impl Into<String>) -> Self {
        Self {
            file: None,
            operation: Some(operation.to_string()),
            reason: reason.into(),
        }
    }

    fn in_file(mut self, file: &Path) -> Self {
        self.file.get_or_insert_with(|| file.to_path_buf());
        self
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if let Some(op) = &self.operation {
            write!(f, "operation `{op}`: ")?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for SpecError {}

/// The format a document was published in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// Swagger 2.0 (`"swagger": "2.0"`), upgraded before use.
    Swagger2,
    /// OpenAPI 3.0.x, used as it is.
    OpenApi3,
}

/// A published document, upgraded to OpenAPI 3.0 but not yet normalized.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The format it was published in.
    pub format: SourceFormat,
    /// The document as OpenAPI 3.0.
    pub openapi: Value,
}

impl Spec {
    /// The API version the document describes: its `info.version`, in the service's spelling
    /// (`v1` is `1.0`, see [`normalize::canonical_api_version`]).
    pub fn api_version(&self) -> &str {
        normalize::canonical_api_version(
            self.openapi
                .pointer("/info/version")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )
    }
}

/// Reads a spec file and upgrades it to OpenAPI 3.0 when it is Swagger 2.0.
pub fn load(path: &Path) -> Result<Spec, SpecError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SpecError::document(format!("cannot read: {e}")).in_file(path))?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| SpecError::document(format!("not valid JSON: {e}")).in_file(path))?;
    parse(&doc).map_err(|e| e.in_file(path))
}

/// Recognizes a document by its content and upgrades Swagger 2.0 to OpenAPI 3.0.
pub fn parse(doc: &Value) -> Result<Spec, SpecError> {
    if let Some(v) = doc.get("swagger").and_then(Value::as_str) {
        if v != "2.0" {
            return Err(SpecError::document(format!(
                "Swagger version `{v}` is not supported (only 2.0)"
            )));
        }
        return Ok(Spec {
            format: SourceFormat::Swagger2,
            openapi: swagger2::upgrade(doc)?,
        });
    }
    match doc.get("openapi").and_then(Value::as_str) {
        Some(v) if v.starts_with("3.0.") => Ok(Spec {
            format: SourceFormat::OpenApi3,
            openapi: doc.clone(),
        }),
        Some(v) => Err(SpecError::document(format!(
            "OpenAPI version `{v}` is not supported (progenitor 0.15 reads 3.0.x)"
        ))),
        None => Err(SpecError::document(
            "neither a `swagger` nor an `openapi` version field: not an API description",
        )),
    }
}

/// A raw client generated from one spec.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The API version (`info.version`).
    pub api_version: String,
    /// `info.title` and `info.description`, for the module's documentation.
    pub title: String,
    /// See `title`.
    pub description: String,
    /// The normalized OpenAPI 3.0 document the client was generated from.
    pub normalized: Value,
    /// The rewrites that changed the document.
    pub applied: Vec<normalize::Applied>,
    /// Operations [`bind::BINDINGS`] does not know, as `METHOD path -> derived name`: each is
    /// a new method that deserves a review (and maybe a table entry).
    pub derived: Vec<String>,
    /// The generated Rust module, formatted.
    pub code: String,
    /// The generated public surface, one entry per operation (see [`surface::render`]).
    pub surface: String,
}

/// Loads, normalizes and generates the raw client for one spec file.
pub fn generate_file(path: &Path) -> Result<Generated, SpecError> {
    let spec = load(path)?;
    generate(spec).map_err(|e| e.in_file(path))
}

/// Normalizes a loaded spec and generates its raw client.
pub fn generate(spec: Spec) -> Result<Generated, SpecError> {
    let api_version = spec.api_version().to_string();
    let mut normalized = spec.openapi;
    let applied = normalize::normalize(&mut normalized);
    if let Some(clash) = bind::duplicate_names(&normalized).into_iter().next() {
        return Err(SpecError::document(format!(
            "two operations get the same method name: {clash}; give one an entry in \
             codegen/src/bind.rs"
        )));
    }
    let derived = bind::unbound(&normalized);
    sort_keys(&mut normalized);

    let tokens = run_progenitor(&normalized).map_err(|reason| {
        blame_operation(&normalized).unwrap_or_else(|| SpecError::document(reason))
    })?;
    let file: syn::File = syn::parse2(tokens)
        .map_err(|e| SpecError::document(format!("generated code does not parse: {e}")))?;
    let text = |p: &str| {
        normalized
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(Generated {
        api_version,
        title: text("/info/title"),
        description: text("/info/description"),
        surface: surface::render(&file),
        code: prettyplease::unparse(&file),
        applied,
        derived,
        normalized,
    })
}

/// Puts every object's keys in lexical order, so neither the generated code nor the normalized
/// snapshot depends on how a document orders its keys.
fn sort_keys(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (_, child) in entries.iter_mut() {
                sort_keys(child);
            }
            map.extend(entries);
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// The Rust module name for a spec file: its stem with `-` and `.` turned into `_`
/// (`v1-preview.json` becomes `v1_preview`).
pub fn module_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>()
        .to_lowercase();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("v{name}")
    } else {
        name
    }
}

fn settings() -> progenitor::GenerationSettings {
    let mut settings = progenitor::GenerationSettings::default();
    settings
        .with_interface(progenitor::InterfaceStyle::Positional)
        // Every raw client carries the crate's request hook, so the hand-written layer can sign
        // each request for its own URL without the raw layer knowing about keys.
        .with_inner_type(quote::quote!(crate::raw::RequestHook))
        .with_pre_hook_async(quote::quote!(crate::raw::RequestHook::before_send));
    settings
}

/// Runs progenitor, turning its panics into errors.
fn run_progenitor(doc: &Value) -> Result<proc_macro2::TokenStream, String> {
    let spec: openapiv3::OpenAPI = serde_json::from_value(doc.clone())
        .map_err(|e| format!("not a valid OpenAPI 3.0 document: {e}"))?;
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        progenitor::Generator::new(&settings()).generate_tokens(&spec)
    }));
    panic::set_hook(previous);
    match result {
        Ok(Ok(tokens)) => Ok(tokens),
        Ok(Err(e)) => Err(format!("progenitor: {e}")),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(format!("progenitor panicked: {msg}"))
        }
    }
}

/// Generates each operation on its own to find the first that progenitor rejects.
fn blame_operation(doc: &Value) -> Option<SpecError> {
    let paths = doc.get("paths")?.as_object()?;
    for (path, item) in paths {
        for (method, op) in item.as_object()? {
            if op.get("responses").is_none() {
                continue;
            }
            let mut single = doc.clone();
            let mut only_item = serde_json::Map::new();
            if let Some(shared) = item.get("parameters") {
                only_item.insert("parameters".into(), shared.clone());
            }
            only_item.insert(method.clone(), op.clone());
            single["paths"] = serde_json::json!({ path: only_item });
            if let Err(reason) = run_progenitor(&single) {
                // Named as published: the operationId here is already the bound one.
                let id = format!("{} {path}", method.to_uppercase());
                return Some(SpecError::operation(&id, reason));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn module_names_are_rust_identifiers() {
        assert_eq!(
            module_name(Path::new("specs/v1-preview.json")),
            "v1_preview"
        );
        assert_eq!(
            module_name(Path::new("specs/v2022-06-01.json")),
            "v2022_06_01"
        );
        assert_eq!(module_name(Path::new("2024.json")), "v2024");
    }

    #[test]
    fn rejects_documents_of_unknown_format() {
        let err = parse(&json!({ "openapi": "3.1.0" })).unwrap_err();
        assert!(err.reason.contains("3.1.0"), "{err}");
        let err = parse(&json!({ "info": {} })).unwrap_err();
        assert!(err.reason.contains("not an API description"), "{err}");
    }

    #[test]
    fn a_progenitor_failure_names_the_operation() {
        // A cookie parameter is something progenitor refuses.
        let doc = json!({
            "openapi": "3.0.1",
            "info": { "title": "t", "version": "1" },
            "paths": {
                "/a": { "get": { "operationId": "Same", "responses": { "200": { "description": "" } } } },
                "/b": { "get": { "operationId": "Same", "responses": { "200": { "description": "" } } },
                        "post": { "operationId": "Bad", "parameters": [
                            { "name": "c", "in": "cookie", "schema": { "type": "string" } }
                        ], "responses": { "200": { "description": "" } } } }
            }
        });
        let err = generate(parse(&doc).unwrap()).unwrap_err();
        assert_eq!(err.operation.as_deref(), Some("POST /b"), "{err}");
        assert!(err.reason.contains("progenitor"), "{err}");
    }
}

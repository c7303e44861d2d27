//! Guards the generated raw clients: their public surface and the normalized documents they are
//! made from are snapshots, and the specs describe exactly the operations the service publishes.
//!
//! After an intended change to a spec, the normalization or progenitor, run `cargo xtask regen`
//! and review the snapshot diff.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const GENERATED: &str = concat!(env!("OUT_DIR"), "/raw");

/// The generated files ending in `suffix`, as (module, contents), sorted by module.
fn generated(suffix: &str) -> Vec<(String, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(GENERATED)
        .expect("build.rs output")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            let module = name.trim_end_matches(suffix).to_string();
            (module, std::fs::read_to_string(&p).expect("readable"))
        })
        .collect()
}

fn specs() -> Vec<PathBuf> {
    let mut specs: Vec<PathBuf> = std::fs::read_dir("specs")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    specs.sort();
    specs
}

#[test]
fn one_raw_module_per_spec() {
    let modules: BTreeSet<String> = generated(".surface.txt").into_iter().map(|m| m.0).collect();
    let expected: BTreeSet<String> = specs()
        .iter()
        .map(|p| asrs_codegen::module_name(p))
        .collect();
    assert_eq!(modules, expected);
    assert!(
        expected.contains("v1_preview")
            && expected.contains("v1")
            && expected.contains("v2022_06_01")
    );
}

#[test]
fn generated_surface_matches_snapshot() {
    for (module, surface) in generated(".surface.txt") {
        insta::assert_snapshot!(format!("{module}_surface"), surface);
    }
}

#[test]
fn normalized_document_matches_snapshot() {
    for (module, json) in generated(".openapi.json") {
        insta::assert_snapshot!(format!("{module}_openapi"), json);
    }
}

/// `(version, METHOD, path)` -> `(parameters, response codes)` as the service publishes them.
type Published = std::collections::BTreeMap<(String, String, String), (Vec<String>, Vec<String>)>;

fn published() -> Published {
    let text = std::fs::read_to_string(Path::new("tests/data/published-operations.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let mut params: Vec<String> = cols[3].split_whitespace().map(str::to_string).collect();
            params.sort();
            let codes = cols[4].split(',').map(str::to_string).collect();
            (
                (
                    cols[0].to_string(),
                    cols[1].to_string(),
                    cols[2].to_string(),
                ),
                (params, codes),
            )
        })
        .collect()
}

#[test]
fn specs_describe_exactly_the_published_operations() {
    let mut described = Published::new();
    for path in specs() {
        let spec = asrs_codegen::load(&path).unwrap();
        let version = spec.api_version().to_string();
        for ((method, route), op) in asrs_codegen::operations::list(&spec.openapi) {
            let mut params: Vec<String> = op.parameters.iter().map(|p| p.to_string()).collect();
            params.sort();
            let mut codes = op.responses.clone();
            codes.sort();
            described.insert((version.clone(), method, route), (params, codes));
        }
    }
    let mut published = published();
    for (_, codes) in published.values_mut() {
        codes.sort();
    }
    let missing: Vec<_> = published
        .keys()
        .filter(|k| !described.contains_key(*k))
        .collect();
    let extra: Vec<_> = described
        .keys()
        .filter(|k| !published.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "operations missing from specs/: {missing:?}"
    );
    assert!(extra.is_empty(), "operations not published: {extra:?}");
    for (key, want) in &published {
        assert_eq!(&described[key], want, "{key:?}");
    }
}

#[test]
fn every_published_operation_has_a_generated_method() {
    let surfaces: Vec<(String, String)> = generated(".surface.txt");
    let module_of = |version: &str| match version {
        "1.0-preview" => "v1_preview",
        "1.0" => "v1",
        "2022-06-01" => "v2022_06_01",
        other => panic!("unknown version {other}"),
    };
    for (version, method, route) in published().keys() {
        let surface = &surfaces
            .iter()
            .find(|(m, _)| m == module_of(version))
            .unwrap()
            .1;
        let heading = format!("{method} {route}\n");
        assert!(
            surface.contains(&heading),
            "{version}: no generated method for {method} {route}"
        );
    }
}

/// A copy of `doc` (as published: Swagger 2.0 or OpenAPI 3.0) with every `operationId`
/// replaced or removed and every parameter list and the paths in another order.
fn scrambled(doc: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let mut doc = doc.clone();
    let paths = doc["paths"].as_object_mut().expect("paths");
    let mut entries: Vec<(String, Value)> = std::mem::take(paths).into_iter().collect();
    entries.reverse();
    for (i, (_, item)) in entries.iter_mut().enumerate() {
        for (method, op) in item.as_object_mut().expect("path item").iter_mut() {
            if method == "parameters" {
                continue;
            }
            let op = op.as_object_mut().expect("operation");
            if i % 3 == 0 {
                op.remove("operationId");
            } else {
                op.insert(
                    "operationId".into(),
                    Value::from(format!("Renamed{i}_{method}")),
                );
            }
            if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                params.reverse();
                let len = params.len();
                params.rotate_left(i % len.max(1));
            }
        }
    }
    paths.extend(entries);
    doc
}

fn build_output(module: &str, suffix: &str) -> String {
    std::fs::read_to_string(format!("{GENERATED}/{module}{suffix}")).expect("build.rs output")
}

/// Binding by operation: the hand-written layer calls raw methods by name and position, so a
/// document that names and orders things differently must yield the very same code.
#[test]
fn generated_code_depends_on_operations_not_on_ids_or_parameter_order() {
    for path in specs() {
        let module = asrs_codegen::module_name(&path);
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let scrambled = scrambled(&doc);
        assert_ne!(scrambled, doc);
        let generated = asrs_codegen::parse(&scrambled)
            .and_then(asrs_codegen::generate)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(generated.derived.is_empty(), "{:?}", generated.derived);
        assert_eq!(
            generated.surface,
            build_output(&module, ".surface.txt"),
            "{module}: surface"
        );
        assert!(
            generated.code == build_output(&module, ".rs"),
            "{module}: the generated code differs"
        );
        assert!(
            serde_json::to_string_pretty(&generated.normalized).unwrap()
                == build_output(&module, ".openapi.json"),
            "{module}: the normalized document differs"
        );
    }
}

/// A new operation gets a method named after itself and shows up in the surface, so the
/// surface snapshot fails `cargo test` until it is reviewed.
#[test]
fn an_operation_added_to_a_spec_changes_the_surface() {
    let path = Path::new("specs/v2022-06-01.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let send = doc["paths"]["/api/hubs/{hub}/:send"].clone();
    doc["paths"]["/api/hubs/{hub}/:frob"] = send;
    let generated = asrs_codegen::parse(&doc)
        .and_then(asrs_codegen::generate)
        .unwrap();
    assert_eq!(
        generated.derived,
        ["POST /api/hubs/{hub}/:frob -> post_api_hubs_hub_frob"]
    );
    let before = build_output("v2022_06_01", ".surface.txt");
    assert_ne!(generated.surface, before);
    assert!(generated
        .surface
        .contains("POST /api/hubs/{hub}/:frob\n  post_api_hubs_hub_frob\n"));
}

/// `lift-string-constraints` removes the published patterns and lengths from the generated
/// code; these are the rules it may remove, because `validate_hub_name` and
/// `validate_group_name` enforce them before any request. A published document with another
/// rule fails here, to be looked at by hand.
#[test]
fn lifted_constraints_are_the_ones_enforced_by_hand() {
    const HUB_RULE: &str = "^[A-Za-z][A-Za-z0-9_`,.[\\]]{0,127}$";
    const GROUP_RULE: &str = "^(?!\\s+$).+$";
    let mut seen = BTreeSet::new();
    for path in specs() {
        let spec = asrs_codegen::load(&path).unwrap();
        for ((method, route), op) in asrs_codegen::operations::list(&spec.openapi) {
            for p in &op.parameters {
                let rule = match (p.name.as_str(), &p.pattern, p.min_length, p.max_length) {
                    (_, None, None, None) => continue,
                    ("hub" | "application", Some(r), None, None) if r == HUB_RULE => "hub",
                    ("group", Some(r), Some(1), Some(1024)) if r == GROUP_RULE => "group",
                    ("group", None, Some(1), Some(1024)) => "group",
                    ("user", None, Some(1), Some(1024)) => "user id",
                    ("connectionId", None, Some(1), None) => "connection id",
                    _ => panic!(
                        "{} {method} {route}: parameter {} has a rule no hand-written check \
                         is known to enforce: {p:?}",
                        spec.api_version(),
                        p.name
                    ),
                };
                seen.insert((spec.api_version().to_string(), p.name.clone(), rule));
            }
        }
    }
    // The 2022-06-01 document publishes both rules, on hub, application and group.
    for name in ["hub", "application", "group"] {
        let rule = if name == "group" { "group" } else { "hub" };
        assert!(
            seen.contains(&("2022-06-01".to_string(), name.to_string(), rule)),
            "{name}: {seen:?}"
        );
    }

    use azure_signalr_rest::{validate_group_name, validate_hub_name, Operation};
    let op = Operation::Broadcast;
    for ok in ["a", "Chat_1", "a`,.[]", &"a".repeat(128)] {
        assert!(validate_hub_name(op, "hub", ok).is_ok(), "{ok}");
    }
    for bad in ["", "1a", "_a", "a b", "a-b", "ä", &"a".repeat(129)] {
        assert!(validate_hub_name(op, "application", bad).is_err(), "{bad}");
    }
    // Ids: `validate_id`, unit-tested in src/client/message.rs (user ids 1..1024 characters,
    // connection ids non-empty).
    assert!(validate_group_name(op, "room 1").is_ok());
    for bad in ["", "  ", &"g".repeat(1025)] {
        assert!(validate_group_name(op, bad).is_err(), "{bad:?}");
    }
}

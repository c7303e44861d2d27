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

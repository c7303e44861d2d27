//! The source stays readable: no import cycle between the files of the library or of `asrs`,
//! and the emulator's files and `HubClient`'s under 500 lines.
//!
//! An edge A -> B is any path in A's code (not its comments) naming B's module through
//! `super::` or `crate::`; a path ending in an item rather than a module names the file that
//! declares or re-exports it (its parent module's file).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

type Module = Vec<String>;

/// Every `.rs` file under `dir`, by module path (`["emulator", "state", "hubs"]`; `[]` for the
/// crate root `lib.rs` or `main.rs`), leaving out the directory `skip` (another crate's).
fn modules(dir: &Path, prefix: &[String], skip: Option<&str>, out: &mut BTreeMap<Module, PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() && prefix.is_empty() && skip == Some(name.as_str()) {
            continue;
        }
        if path.is_dir() {
            let mut sub = prefix.to_vec();
            sub.push(name);
            modules(&path, &sub, None, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut module = prefix.to_vec();
            if !(name == "mod" || (prefix.is_empty() && (name == "lib" || name == "main"))) {
                module.push(name);
            }
            out.insert(module, path);
        }
    }
}

/// Module paths named by `super::...` or `crate::...` in `code`, resolved from
/// `module` (the file's own module path).
fn named_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    for start in 0..code.len() {
        // Paths are ASCII: skip positions inside a multi-byte character (a string literal's).
        let Some(rest) = code.get(start..) else {
            continue;
        };
        let boundary = start == 0
            || !(bytes[start - 1].is_ascii_alphanumeric()
                || bytes[start - 1] == b'_'
                || bytes[start - 1] == b':');
        if !boundary {
            continue;
        }
        let (mut base, tail) = if let Some(tail) = rest.strip_prefix("crate::") {
            (Vec::new(), tail)
        } else if rest.starts_with("super::") {
            // Each `super` is the parent of the module (of `x.rs` or of `x/mod.rs` alike).
            let mut base = module.to_vec();
            let mut tail = rest;
            while let Some(t) = tail.strip_prefix("super::") {
                base.pop();
                tail = t;
            }
            (base, tail)
        } else {
            continue;
        };
        // Take the identifier segments, and the first segment of each `{...}` group.
        let mut segments = Vec::new();
        let mut t = tail;
        loop {
            let ident: String = t
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if ident.is_empty() {
                break;
            }
            segments.push(ident.clone());
            t = &t[ident.len()..];
            match t.strip_prefix("::") {
                Some(next) => t = next,
                None => break,
            }
        }
        if t.starts_with('{') {
            let inner = &t[1..t.find('}').unwrap_or(t.len())];
            for item in inner.split(',') {
                let item = item.trim().split("::").next().unwrap_or("").trim();
                if !item.is_empty() && item != "self" {
                    let mut s = segments.clone();
                    s.push(item.to_string());
                    let mut full = base.clone();
                    full.extend(s);
                    found.push(full);
                }
            }
        }
        base.extend(segments);
        found.push(base);
    }
    found
}

/// Drops `//` comments (doc comments included) so that links in prose are not edges.
fn code_only(source: &str) -> String {
    source
        .lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The edges between the files of one crate.
fn import_edges(files: &BTreeMap<Module, PathBuf>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, path) in files {
        let code = code_only(&std::fs::read_to_string(path).unwrap());
        // Test modules may reach into their parent (`use super::*`): only real code counts.
        let code = code.split("#[cfg(test)]").next().unwrap_or("");
        for named in named_paths(code, module) {
            // The longest prefix that is a file is the file named.
            let target = (0..=named.len())
                .rev()
                .map(|n| named[..n].to_vec())
                .find(|p| files.contains_key(p));
            if let Some(target) = target.filter(|t| t != module) {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    edges
}

/// Panics with the first cycle a depth-first search finds.
fn assert_no_cycle(files: &BTreeMap<Module, PathBuf>, edges: &BTreeMap<Module, BTreeSet<Module>>) {
    fn visit(
        node: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        stack: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(i) = stack.iter().position(|n| n == node) {
            panic!("import cycle: {:?}", &stack[i..]);
        }
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, stack, done);
        }
        stack.pop();
        done.insert(node.clone());
    }
    let mut done = BTreeSet::new();
    for module in files.keys() {
        visit(module, edges, &mut Vec::new(), &mut done);
    }
}

fn module(path: &str) -> Module {
    path.split("::").map(str::to_string).collect()
}

#[test]
fn library_files_import_no_cycle() {
    let mut files = BTreeMap::new();
    modules(Path::new(SRC), &[], Some("bin"), &mut files);
    assert!(files.len() > 40, "{files:?}");
    let edges = import_edges(&files);
    // The check sees edges at all (a parser that found none would pass anything).
    assert!(edges[&module("emulator::rest::ops")].contains(&module("emulator::state")));
    assert!(edges[&module("client::builder")].contains(&module("client::executor")));
    assert_no_cycle(&files, &edges);
}

#[test]
fn cli_files_import_no_cycle() {
    let mut files = BTreeMap::new();
    modules(&Path::new(SRC).join("bin/asrs"), &[], None, &mut files);
    assert!(files.len() > 10, "{files:?}");
    let edges = import_edges(&files);
    assert!(
        edges[&module("cmd_send")].contains(&module("global")),
        "{edges:#?}"
    );
    assert_no_cycle(&files, &edges);
}

#[test]
fn emulator_and_hub_client_files_are_small() {
    let mut files = BTreeMap::new();
    modules(Path::new(SRC), &[], Some("bin"), &mut files);
    let checked: Vec<_> = files
        .iter()
        .filter(|(m, _)| {
            m.first().is_some_and(|m| m == "emulator") || m.starts_with(&module("client::hub"))
        })
        .collect();
    assert!(checked.len() > 20, "{checked:?}");
    for (module, path) in checked {
        let lines = std::fs::read_to_string(path).unwrap().lines().count();
        assert!(lines < 500, "{module:?} has {lines} lines");
    }
}

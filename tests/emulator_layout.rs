//! The emulator's source stays readable: every file under 500 lines, and no import cycle
//! between its files.
//!
//! An edge A -> B is any path in A's code (not its comments) naming B's module through
//! `super::` or `crate::emulator::`; a path ending in an item rather than a module names the
//! file that declares or re-exports it (its parent module's file).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/emulator");

/// Every `.rs` file under `dir`, by module path (`["state", "hubs"]`; `[]` for `mod.rs`).
fn modules(dir: &Path, prefix: &[String], out: &mut BTreeMap<Vec<String>, PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut sub = prefix.to_vec();
            sub.push(name);
            modules(&path, &sub, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut module = prefix.to_vec();
            if name != "mod" {
                module.push(name);
            }
            out.insert(module, path);
        }
    }
}

/// Module paths named by `super::...` or `crate::emulator::...` in `code`, resolved from
/// `module` (the file's own module path).
fn named_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    for start in 0..code.len() {
        let rest = &code[start..];
        let boundary = start == 0
            || !(bytes[start - 1].is_ascii_alphanumeric()
                || bytes[start - 1] == b'_'
                || bytes[start - 1] == b':');
        if !boundary {
            continue;
        }
        let (mut base, tail) = if let Some(tail) = rest.strip_prefix("crate::emulator::") {
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

#[test]
fn emulator_files_are_small_and_import_no_cycle() {
    let mut files = BTreeMap::new();
    modules(Path::new(ROOT), &[], &mut files);
    assert!(files.len() > 5, "{files:?}");
    for (module, path) in &files {
        let lines = std::fs::read_to_string(path).unwrap().lines().count();
        assert!(lines < 500, "{module:?} has {lines} lines");
    }
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, path) in &files {
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
    // Depth-first search for a back edge.
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
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
        visit(module, &edges, &mut Vec::new(), &mut done);
    }
    // The check sees edges at all (a parser that found none would pass anything).
    assert!(
        edges
            .get(&vec!["rest".to_string(), "ops".to_string()])
            .is_some_and(|e| e.contains(&vec!["state".to_string()])),
        "{edges:#?}"
    );
}

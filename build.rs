//! Generates one raw client module per spec in `specs/` (see `codegen/` for the pipeline).
//!
//! Output, in `$OUT_DIR/raw/`: `<module>.rs` (the client), `<module>.surface.txt` (its public
//! surface) and `<module>.openapi.json` (the normalized document), plus `mod.rs` declaring
//! every module. A spec the pipeline cannot use fails the build with the file, the operation and
//! the reason.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=specs");
    if let Err(message) = run() {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let out_dir =
        PathBuf::from(std::env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?).join("raw");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;

    let mut specs: Vec<PathBuf> = std::fs::read_dir("specs")
        .map_err(|e| format!("specs/: {e}"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    specs.sort();
    if specs.is_empty() {
        return Err("specs/ holds no *.json API description".into());
    }

    let mut modules = String::new();
    for spec in &specs {
        println!("cargo:rerun-if-changed={}", spec.display());
        let generated = asrs_codegen::generate_file(spec).map_err(|e| e.to_string())?;
        let module = asrs_codegen::module_name(spec);
        for new in &generated.derived {
            // Not in codegen/src/bind.rs: named after itself; the surface snapshot shows it.
            println!(
                "cargo:warning={}: operation not in the binding table, method derived: {new}",
                spec.display()
            );
        }
        write(&out_dir, &format!("{module}.rs"), &generated.code)?;
        write(
            &out_dir,
            &format!("{module}.surface.txt"),
            &generated.surface,
        )?;
        let normalized = serde_json::to_string_pretty(&generated.normalized)
            .map_err(|e| format!("{}: {e}", spec.display()))?;
        write(&out_dir, &format!("{module}.openapi.json"), &normalized)?;

        let rewrites: Vec<String> = generated
            .applied
            .iter()
            .map(|a| format!("`{}` ({})", a.name, a.changes))
            .collect();
        let _ = writeln!(
            modules,
            "/// {title}, API version `{version}`: raw client generated from `{file}`.\n///\n\
             /// {description}\n///\n/// Normalization applied: {rewrites}.\n\
             pub mod {module} {{ include!(concat!(env!(\"OUT_DIR\"), \"/raw/{module}.rs\")); }}\n",
            title = generated.title,
            version = generated.api_version,
            file = spec.display(),
            description = generated.description.replace('\n', "\n/// "),
            rewrites = if rewrites.is_empty() {
                "none".to_string()
            } else {
                rewrites.join(", ")
            },
        );
    }
    write(&out_dir, "mod.rs", &modules)
}

fn write(dir: &Path, name: &str, contents: &str) -> Result<(), String> {
    let path = dir.join(name);
    std::fs::write(&path, contents).map_err(|e| format!("{}: {e}", path.display()))
}

//! Repository checks written as ordinary tests (rust-analyzer's tidy habit): the library's modules depend on each
//! other one way only, as ARCHITECTURE.md draws it, and no source file grows past the size a reader can hold.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module of `src/` and the modules of this crate it may name (`crate::<module>`). A module may
/// always use itself, `error` (the `Error`/`Result` re-exported at the root), `progress` and `pool`. The order is the
/// layering of ARCHITECTURE.md, lowest first.
const LAYERS: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("progress", &[]),
    ("pool", &[]),
    ("results", &[]),
    ("fetch", &[]),
    ("data", &["results", "fetch"]),
    ("plot", &["results", "data"]),
    ("sampling", &["data", "fetch"]),
    ("models", &["data", "results"]),
    ("ssl", &["data", "models", "results"]),
    ("config", &["data", "models", "ssl", "results"]),
    ("train", &["data", "models", "ssl", "config", "results"]),
    ("eval", &["data", "models", "ssl", "train", "config", "results", "plot"]),
    ("report", &["data", "results", "plot"]),
    (
        "reproduce",
        &["data", "fetch", "models", "ssl", "train", "config", "eval", "results", "plot", "report"],
    ),
];

/// The crate-root items every module may use.
const ROOT_ITEMS: &[&str] = &["Error", "Result", "error", "progress", "pool", "self"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file under `src/` belongs to (`src/data/fake/eurosat.rs` -> `data`), or None for the
/// crate root and the binaries.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy().to_string();
    match first.as_str() {
        "lib.rs" | "bin" | "main.rs" => None,
        name => Some(name.trim_end_matches(".rs").to_string()),
    }
}

/// Every `crate::<name>` a piece of code names, including each first name inside `crate::{a, b::c}`; comments and
/// doc comments are skipped.
fn crate_names(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(pos) = rest.find("crate::") {
            let after = &rest[pos + "crate::".len()..];
            let preceded_by_ident = rest[..pos]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            if !preceded_by_ident {
                if let Some(group) = after.strip_prefix('{') {
                    let end = group.find('}').unwrap_or(group.len());
                    for item in group[..end].split(',') {
                        let first = item.trim().split("::").next().unwrap_or("").trim();
                        if !first.is_empty() {
                            names.insert(first.to_string());
                        }
                    }
                } else {
                    let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if !name.is_empty() {
                        names.insert(name);
                    }
                }
            }
            rest = after;
        }
    }
    names
}

#[test]
fn modules_depend_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let Some(deps) = allowed.get(module.as_str()) else {
            violations.push(format!(
                "{}: module `{module}` is not in tests/tidy.rs LAYERS; add it where it belongs",
                file.display()
            ));
            continue;
        };
        let code = std::fs::read_to_string(file).unwrap();
        for name in crate_names(&code) {
            let ok = name == module || ROOT_ITEMS.contains(&name.as_str()) || deps.contains(&name.as_str());
            if !ok {
                violations.push(format!("{}: `{module}` uses `crate::{name}`", file.display()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "dependencies must point one way (tests/tidy.rs LAYERS, ARCHITECTURE.md):\n{}",
        violations.join("\n")
    );
}

#[test]
fn crate_names_reads_paths_and_groups_and_skips_comments() {
    let code = "use crate::data::Image;\nuse crate::{Error, results::writer};\n// crate::eval in a comment\n\
                let x = crate::models::seeded(0, f); let y = mycrate::other;";
    let names: Vec<String> = crate_names(code).into_iter().collect();
    assert_eq!(names, ["Error", "data", "models", "results"]);
}

/// Largest non-test part of a source file (lines before its `#[cfg(test)]` module), in lines.
const MAX_CODE_LINES: usize = 650;

#[test]
fn no_source_file_is_too_long() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("xtask/src"), &mut files);
    let mut long = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let code_lines = text.lines().take_while(|l| !l.starts_with("#[cfg(test)]")).count();
        if code_lines > MAX_CODE_LINES {
            long.push(format!("{}: {code_lines} lines before its tests", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "split these along their seams (at most {MAX_CODE_LINES} lines of code per file):\n{}",
        long.join("\n")
    );
}

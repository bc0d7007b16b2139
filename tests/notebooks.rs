//! Repository checks of `notebooks/` (issue 8): every notebook is valid JSON with no outputs or execution counts in
//! git, runs on the project's `caco-rust` kernel, and starts by `:dep`ending the library by path. Executing them
//! needs evcxr and Jupyter: `cargo xtask notebooks`.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn notebooks() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("notebooks");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("notebooks/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ipynb"))
        .collect();
    found.sort();
    found
}

fn code_cells(nb: &Value) -> Vec<&Value> {
    nb["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .filter(|c| c["cell_type"] == "code")
        .collect()
}

fn source(cell: &Value) -> String {
    match &cell["source"] {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect(),
        _ => String::new(),
    }
}

#[test]
fn notebooks_are_stripped_and_use_the_project_kernel() {
    let found = notebooks();
    assert!(found.len() >= 4, "expected the four notebooks, found {found:?}");
    for path in found {
        let nb: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
        assert_eq!(nb["metadata"]["kernelspec"]["name"], "caco-rust", "{}", path.display());
        let cells = code_cells(&nb);
        for (i, cell) in cells.iter().enumerate() {
            assert!(
                cell["outputs"].as_array().is_some_and(|o| o.is_empty()) && cell["execution_count"].is_null(),
                "{}: code cell {i} has outputs; run `cargo xtask notebooks --strip`",
                path.display()
            );
        }
        let first = source(cells.first().expect("a code cell"));
        assert!(
            first.contains(":dep caco = { path = \"..\", default-features = false"),
            "{}: the first code cell should :dep the library by path without libtorch, found {first:?}",
            path.display()
        );
    }
}

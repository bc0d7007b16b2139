//! Helpers shared by the integration tests that run the real `caco` binary.
#![allow(dead_code)]

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `caco <args>` from the repository root (where the committed configs are).
pub fn caco(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_caco"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("caco runs")
}

/// Standard output of a run that must succeed; on failure both streams are shown.
pub fn ok(out: &Output) -> String {
    ok_both(out).0
}

/// (stdout, stderr) of a run that must succeed.
pub fn ok_both(out: &Output) -> (String, String) {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "caco failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// Every file under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// A zip of every file under `dir`, each named `<prefix>/<relative path>` (EuroSAT.zip's layout with `2750`).
pub fn zip_dir(dir: &Path, prefix: &str) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for file in files_under(dir) {
        let relative = file.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
        zip.start_file(format!("{prefix}/{relative}"), options).unwrap();
        zip.write_all(&std::fs::read(&file).unwrap()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

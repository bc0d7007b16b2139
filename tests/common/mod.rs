//! Helpers shared by the integration tests that run the real `caco` binary.
#![allow(dead_code)]

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

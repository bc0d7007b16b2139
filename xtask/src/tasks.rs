//! Tasks that run cargo after setup: `test`, and everything forwarded to the `caco` binary.

use anyhow::Result;
use xshell::{cmd, Shell};

use crate::setup::{ensure, project_root};

fn shell() -> Result<(Shell, crate::setup::Setup)> {
    let setup = ensure(false)?;
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    sh.set_var("LIBTORCH", &setup.libtorch);
    Ok((sh, setup))
}

/// `cargo xtask test`: every test of the workspace.
pub fn test(args: &[String]) -> Result<()> {
    let (sh, _) = shell()?;
    let nextest = cmd!(sh, "cargo nextest --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok();
    if nextest {
        cmd!(sh, "cargo nextest run --workspace --no-fail-fast {args...}").run()?;
    } else {
        cmd!(sh, "cargo test --workspace --no-fail-fast {args...}").run()?;
    }
    Ok(())
}

/// `cargo xtask <cmd> args`: `caco <cmd> args`, built first.
pub fn caco(command: &str, args: &[String]) -> Result<()> {
    let (sh, _) = shell()?;
    cmd!(sh, "cargo run --quiet --bin caco -- {command} {args...}").run()?;
    Ok(())
}

/// `cargo xtask caco args`: the binary with arbitrary arguments.
pub fn caco_raw(args: &[String]) -> Result<()> {
    let (sh, _) = shell()?;
    cmd!(sh, "cargo run --quiet --bin caco -- {args...}").run()?;
    Ok(())
}

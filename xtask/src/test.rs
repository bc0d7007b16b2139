//! `cargo xtask test`: every test of the workspace, as `.ci/run` calls it.

use anyhow::Result;
use xshell::cmd;

use crate::setup::cargo_shell;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Passed on to `cargo nextest run` (or `cargo test`), e.g. `--test cli`
    #[arg(value_name = "ARGS", allow_hyphen_values = true)]
    pub args: Vec<String>,
    /// Arguments after `--`, passed on after a `--` (to the test binaries)
    #[arg(value_name = "TEST-ARGS", last = true)]
    pub test_args: Vec<String>,
}

impl Args {
    /// What the runner gets, `--` included where it was given.
    pub fn runner_args(self) -> Vec<String> {
        let Args { mut args, test_args } = self;
        if !test_args.is_empty() {
            args.push("--".into());
            args.extend(test_args);
        }
        args
    }
}

pub fn run(args: Args) -> Result<()> {
    let sh = cargo_shell()?;
    let args = args.runner_args();
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

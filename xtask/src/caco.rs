//! Tasks that run the `caco` binary (`reproduce-table`, `pretrain`, `eval`, `data ...`, `caco`), built first.

use anyhow::Result;
use xshell::cmd;

use crate::setup::cargo_shell;

/// The arguments of a `caco` command, passed on unchanged; `--help` too, so that the binary's help shows its flags.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
#[command(disable_help_flag = true)]
pub struct Forward {
    /// Flags and arguments of the caco command (`--help` shows them)
    #[arg(value_name = "ARGS", trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `caco <command...> <args...>` through `cargo run`, from the repository root.
pub fn run(command: &[&str], forward: &Forward) -> Result<()> {
    let sh = cargo_shell()?;
    let args = &forward.args;
    cmd!(sh, "cargo run --quiet --bin caco -- {command...} {args...}").run()?;
    Ok(())
}

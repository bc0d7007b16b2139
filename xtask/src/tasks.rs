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

/// `cargo xtask import-weights <checkpoint> --out <file.safetensors> [--prefix encoder_q]`: the checkpoint is read
/// by PyTorch (in .venv-bench, which holds the complete wheel) into an .npz, then mapped by `caco import-weights`.
pub fn import_weights(args: &[String]) -> Result<()> {
    let (sh, _) = shell()?;
    let Some((checkpoint, rest)) = args.split_first() else {
        anyhow::bail!("usage: cargo xtask import-weights <checkpoint.ckpt|.pth> --out <backbone.safetensors> [--prefix encoder_q]");
    };
    let python = crate::bench::bench_python(&sh)?;
    let npz = std::env::temp_dir().join(format!("caco-import-{}.npz", std::process::id()));
    cmd!(sh, "{python} xtask/scripts/export_state_dict.py {checkpoint} {npz}").run()?;
    let result = cmd!(
        sh,
        "cargo run --quiet --bin caco -- import-weights --npz {npz} {rest...}"
    )
    .run();
    let _ = std::fs::remove_file(&npz);
    Ok(result?)
}

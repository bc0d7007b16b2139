//! `cargo xtask import-weights <checkpoint> --out <file.safetensors>`: the checkpoint is read by PyTorch (in
//! .venv-bench, which holds the complete wheel) into an .npz, then mapped by `caco import-weights`.

use std::path::PathBuf;

use anyhow::Result;
use xshell::cmd;

use crate::setup::cargo_shell;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// SeCo or CACo checkpoint (.ckpt or .pth)
    #[arg(value_name = "CHECKPOINT")]
    checkpoint: PathBuf,
    /// Backbone to write, torchvision names
    #[arg(long, value_name = "FILE.safetensors")]
    out: PathBuf,
    /// Key prefix of the encoder to import
    #[arg(long, default_value = "encoder_q")]
    prefix: String,
}

pub fn run(args: Args) -> Result<()> {
    let sh = cargo_shell()?;
    let Args {
        checkpoint,
        out,
        prefix,
    } = args;
    let python = crate::bench::bench_python(&sh)?;
    let npz = std::env::temp_dir().join(format!("caco-import-{}.npz", std::process::id()));
    cmd!(sh, "{python} xtask/scripts/export_state_dict.py {checkpoint} {npz}").run()?;
    let result = cmd!(
        sh,
        "cargo run --quiet --bin caco -- import-weights --npz {npz} --out {out} --prefix {prefix}"
    )
    .run();
    let _ = std::fs::remove_file(&npz);
    Ok(result?)
}

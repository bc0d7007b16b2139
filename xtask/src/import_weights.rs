//! `cargo xtask import-weights <checkpoint> --out <file.safetensors>`: builds caco and runs `caco import-weights`,
//! which reads the PyTorch checkpoint in Rust (no Python) and writes the backbone with its contract.

use std::path::PathBuf;

use anyhow::Result;
use xshell::cmd;

use crate::setup::cargo_shell;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// SeCo/CACo Lightning checkpoint (.ckpt) or a ResNet state dict (.pth)
    #[arg(value_name = "CHECKPOINT")]
    checkpoint: PathBuf,
    /// Backbone to write, torchvision names
    #[arg(long, value_name = "FILE.safetensors")]
    out: PathBuf,
    /// Key prefix of the encoder to import [default: detected, encoder_q first]
    #[arg(long)]
    prefix: Option<String>,
    /// Input band names in order, recorded in the metadata (e.g. B4,B3,B2)
    #[arg(long, value_name = "B,B,...")]
    bands: Option<String>,
    /// Normalisation the weights were trained with: imagenet, scale=<s>, per-band=<means>/<stds>
    #[arg(long, value_name = "NORM")]
    normalization: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let sh = cargo_shell()?;
    let Args {
        checkpoint,
        out,
        prefix,
        bands,
        normalization,
    } = args;
    let mut extra = Vec::new();
    for (flag, value) in [("--prefix", prefix), ("--bands", bands), ("--normalization", normalization)] {
        if let Some(value) = value {
            extra.push(flag.to_string());
            extra.push(value);
        }
    }
    cmd!(
        sh,
        "cargo run --quiet --bin caco -- import-weights {checkpoint} --out {out} {extra...}"
    )
    .run()?;
    Ok(())
}

//! `caco import-weights --npz <file> --out <backbone.safetensors>`: a published checkpoint's query encoder
//! (SeCo/CACo `encoder_q.*`) mapped to torchvision names. `cargo xtask import-weights` converts .ckpt/.pth to .npz.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use caco::models::weights::import_backbone;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The checkpoint's state dict as .npz
    #[arg(long, value_name = "FILE")]
    npz: PathBuf,
    /// Backbone to write, torchvision names
    #[arg(long, value_name = "FILE.safetensors")]
    out: PathBuf,
    /// Key prefix of the encoder to import
    #[arg(long, default_value = "encoder_q")]
    prefix: String,
}

pub fn run(args: Args) -> Result<()> {
    let Args { npz, out, prefix } = args;
    let named = tch::Tensor::read_npz(&npz).with_context(|| format!("reading {}", npz.display()))?;
    let (tensors, report) = import_backbone(&named, &prefix)?;
    eprintln!(
        "{} with {} input bands: {} tensors imported, {} keys outside `{prefix}` ignored",
        report
            .arch
            .map_or("a backbone of unknown depth".to_string(), |a| format!("{a:?}").to_lowercase()),
        report.in_channels,
        tensors.len(),
        report.n_ignored
    );
    for name in &report.missing {
        eprintln!("  missing: {name}");
    }
    for name in &report.unexpected {
        eprintln!("  unexpected: {name}");
    }
    for (name, got, want) in &report.shape_mismatch {
        eprintln!("  shape mismatch: {name}: checkpoint {got:?}, backbone {want:?}");
    }
    if !report.missing.is_empty() || !report.shape_mismatch.is_empty() {
        bail!("the checkpoint does not cover the backbone (see above); nothing written");
    }
    tch::Tensor::write_safetensors(&tensors, &out)?;
    eprintln!("wrote {} (use it as `weights` of a table row)", out.display());
    Ok(())
}

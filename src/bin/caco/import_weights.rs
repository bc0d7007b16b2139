//! `caco import-weights <checkpoint> --out <backbone.safetensors>`: a PyTorch checkpoint's ResNet (SeCo/CACo
//! Lightning `.ckpt` query encoder `encoder_q.*`, CACo's `.pth` export, torchgeo/timm ResNet state dicts) read
//! without Python, mapped to torchvision names and written with its contract (arch, bands, normalisation) in the
//! safetensors metadata.

use std::path::PathBuf;

use anyhow::{bail, Result};
use caco::data::Normalization;
use caco::models::weights::{import_checkpoint, write_backbone, BackboneContract};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// PyTorch checkpoint: a state dict (.pth) or a Lightning checkpoint (.ckpt)
    #[arg(value_name = "CHECKPOINT")]
    checkpoint: PathBuf,
    /// Backbone to write, torchvision names
    #[arg(long, value_name = "FILE.safetensors")]
    out: PathBuf,
    /// Key prefix of the encoder to import [default: the first of encoder_q, (none), model, backbone, encoder,
    /// module holding a ResNet conv1]
    #[arg(long)]
    prefix: Option<String>,
    /// Input band names in order, recorded in the metadata (e.g. B4,B3,B2); their count must match the weights
    #[arg(long, value_delimiter = ',', value_name = "B,B,...")]
    bands: Vec<String>,
    /// Normalisation the weights were trained with, recorded in the metadata: imagenet (SeCo/CACo RGB), scale=<s>
    /// (x / s), per-band=<means>/<stds> (comma-separated)
    #[arg(long, value_name = "NORM", value_parser = crate::shared::parse_normalization)]
    normalization: Option<Normalization>,
    /// Method recorded in the metadata [default: import:<checkpoint file name>]
    #[arg(long)]
    method: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let Args {
        checkpoint,
        out,
        prefix,
        bands,
        normalization,
        method,
    } = args;
    let (tensors, report, prefix) = import_checkpoint(&checkpoint, prefix.as_deref())?;
    let arch = report.arch.map_or("a backbone of unknown depth", |a| a.name());
    let shown = if prefix.is_empty() { "(no prefix)".to_string() } else { format!("`{prefix}`") };
    eprintln!(
        "{arch} with {} input bands under {shown}: {} tensors imported, {} other keys ignored (outside it, or fc)",
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
    if !bands.is_empty() && bands.len() as i64 != report.in_channels {
        bail!(
            "--bands names {} bands ({}), but the checkpoint's conv1 takes {}",
            bands.len(),
            bands.join(","),
            report.in_channels
        );
    }
    if let Some(n) = &normalization {
        n.validate(report.in_channels as usize)?;
    }
    let Some(arch) = report.arch else {
        bail!("the checkpoint's architecture could not be told from its tensors");
    };
    let file_name = checkpoint.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
    let contract = BackboneContract {
        arch,
        in_channels: report.in_channels,
        bands,
        normalization,
        stretch: None,
        method: Some(method.unwrap_or(format!("import:{file_name}"))),
    };
    write_backbone(&out, &tensors, &contract)?;
    eprintln!("wrote {} ({}); use it as `weights` of a table row", out.display(), contract.describe());
    if contract.normalization.is_none() {
        eprintln!("  no --normalization given: evaluations use their config's normalisation for these weights");
    }
    Ok(())
}

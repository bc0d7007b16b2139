//! `caco export-weights <backbone.safetensors> --format pth|safetensors --out <file>`: a caco backbone for other
//! tools. `pth` is a torchvision ResNet state dict that `torch.load` reads (`resnet18().load_state_dict(sd,
//! strict=False)` then reports only `fc.weight` and `fc.bias` missing); `safetensors` rewrites the file with its
//! contract (arch, bands, normalisation) in the metadata.

use std::path::PathBuf;

use anyhow::{Context, Result};
use caco::models::checkpoint::write_pth;
use caco::models::weights::{read_contract, write_backbone};

#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
enum Format {
    /// torch.save zip of an OrderedDict with torchvision names (no fc)
    Pth,
    /// safetensors with the backbone's contract in the metadata
    Safetensors,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A caco backbone (`<run>/backbone.safetensors` or the output of `caco import-weights`)
    #[arg(value_name = "BACKBONE")]
    backbone: PathBuf,
    /// Output format
    #[arg(long, value_enum)]
    format: Format,
    /// File to write
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let Args { backbone, format, out } = args;
    let contract = read_contract(&backbone)?;
    let mut tensors = tch::Tensor::read_safetensors(&backbone)
        .with_context(|| format!("reading {} (expected a backbone .safetensors)", backbone.display()))?;
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    match format {
        Format::Pth => {
            // torchvision's BatchNorm keeps a step counter caco does not; 0 lets strict loading find every key.
            let counters: Vec<(String, tch::Tensor)> = tensors
                .iter()
                .filter_map(|(name, _)| name.strip_suffix(".running_mean"))
                .map(|bn| (format!("{bn}.num_batches_tracked"), tch::Tensor::from(0i64)))
                .collect();
            tensors.extend(counters);
            tensors.sort_by(|a, b| a.0.cmp(&b.0));
            write_pth(&out, &tensors)?;
        }
        Format::Safetensors => match &contract {
            Some(c) => write_backbone(&out, &tensors, c)?,
            None => anyhow::bail!(
                "{} records no contract (arch, bands, normalisation); re-import it with `caco import-weights` and \
                 --bands/--normalization, or re-run the pre-training that wrote it",
                backbone.display()
            ),
        },
    }
    let what = contract.map(|c| c.describe()).unwrap_or_else(|| "no contract recorded".into());
    eprintln!("wrote {} ({} tensors; {what})", out.display(), tensors.len());
    Ok(())
}

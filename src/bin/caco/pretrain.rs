//! `caco pretrain` and `caco change-check`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use caco::config::{ExperimentConfig, PretrainConfig};
use caco::ssl::caco::{change_check, read_export};
use caco::train::{pretrain, PretrainOptions};

use crate::Args;

pub fn run(mut args: Args) -> Result<()> {
    let config_path = PathBuf::from(
        args.positional()
            .context("pretrain needs a config, e.g. experiments/pretrain/caco-r18-cpu.toml")?,
    );
    let config = PretrainConfig::load(&config_path)?;
    let run_dir = PathBuf::from(
        args.value("--run-dir")?
            .unwrap_or_else(|| format!("runs/{}", config.name)),
    );
    let max_steps = args
        .value("--max-steps")?
        .map(|v| v.parse())
        .transpose()
        .context("--max-steps: a number")?;
    let options = PretrainOptions {
        resume: args.switch("--resume"),
        max_steps,
        quiet: args.switch("--quiet"),
    };
    args.finish()?;
    let summary = pretrain(&config, &run_dir, &options)?;
    eprintln!(
        "{}: {} steps, {} epochs{}; median {:.1} images/s; backbone at {}",
        config.name,
        summary.steps,
        summary.epochs_done,
        if summary.stopped_early {
            " (stopped early; --resume continues)"
        } else {
            ""
        },
        summary.images_per_s,
        summary.backbone.display()
    );
    Ok(())
}

/// Mechanism check of a CACo run against eurosat-seasons' truth.csv, for every exported epoch.
pub fn change_check_cmd(mut args: Args) -> Result<()> {
    let run_dir = PathBuf::from(args.value("--run")?.context("change-check needs --run <run dir>")?);
    let truth_path = PathBuf::from(
        args.value("--truth")?
            .unwrap_or_else(|| "derived/eurosat-seasons/truth.csv".into()),
    );
    args.finish()?;
    let truth = caco::data::seasons::read_truth(&truth_path)?;
    let changed: Vec<bool> = truth.iter().map(|t| t.changed).collect();
    let mut exports: Vec<PathBuf> = std::fs::read_dir(run_dir.join("caco"))
        .with_context(|| format!("{} has no caco/ exports (is it a CACo run?)", run_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    exports.sort();
    if exports.is_empty() {
        bail!("no caco_epoch_*.csv in {}", run_dir.join("caco").display());
    }
    println!("| epoch | AUROC ratio vs truth | changed labelled changed | unchanged labelled changed | items seen |");
    println!("|---|---|---|---|---|");
    for (epoch, path) in exports.iter().enumerate() {
        let (ratio, label) = read_export(path)?;
        if ratio.len() != 2 * changed.len() {
            bail!(
                "{} has {} items, truth has {} locations",
                path.display(),
                ratio.len(),
                changed.len()
            );
        }
        let c = change_check(epoch, &ratio, &label, &changed);
        println!(
            "| {} | {:.3} | {:.1} % | {:.1} % | {} |",
            c.epoch,
            c.auroc,
            100.0 * c.changed_labelled_changed,
            100.0 * c.unchanged_labelled_changed,
            c.n_seen
        );
    }
    Ok(())
}

/// `caco import-weights --npz <file> --out <backbone.safetensors> [--prefix encoder_q]`.
pub fn import_weights(mut args: Args) -> Result<()> {
    use caco::models::weights::import_backbone;
    let npz = PathBuf::from(
        args.value("--npz")?
            .context("import-weights needs --npz <state dict as .npz>")?,
    );
    let out = PathBuf::from(
        args.value("--out")?
            .context("import-weights needs --out <file.safetensors>")?,
    );
    let prefix = args.value("--prefix")?.unwrap_or_else(|| "encoder_q".into());
    args.finish()?;
    let named = tch::Tensor::read_npz(&npz).with_context(|| format!("reading {}", npz.display()))?;
    let (tensors, report) = import_backbone(&named, &prefix)?;
    eprintln!(
        "{:?} with {} input bands: {} tensors imported, {} keys outside `{prefix}` ignored",
        report.arch.map(|a| format!("{a:?}")).unwrap_or_default(),
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
